package networkpolicy

import (
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/model"
)

func testPolicy() *model.Policy {
	return &model.Policy{
		Namespace: "shop", Name: "p", Mode: ztv1.ModeEnforce, TrustDomain: "cluster.local",
		Target: model.Target{Kind: model.TargetService, Namespace: "shop", Name: "inventory",
			PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "inventory"}}},
		Ports: []model.Port{{Port: intstr.FromString("http"), Protocol: "TCP"}},
		Callers: []model.Caller{{Index: 0, Kind: model.CallerPodSelector, Namespace: "shop",
			PodSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"app": "a"}}}}},
	}
}

// TestBackendCompile covers what the golden files cannot reach through the resolver.
func TestBackendCompile(t *testing.T) {
	tests := map[string]struct {
		edit    func(*model.Policy)
		skipped bool
		names   []string
	}{
		"enforce": {edit: func(*model.Policy) {}, names: []string{"zt-in.p"}},
		"audit has no NetworkPolicy form": {
			edit: func(p *model.Policy) { p.Mode = ztv1.ModeAudit }, skipped: true,
		},
		"kubernetesAPI is RBAC's": {
			edit: func(p *model.Policy) { p.Target = model.Target{Kind: model.TargetKubernetesAPI, Namespace: "shop"} }, skipped: true,
		},
		"no peers: no ingress policy (it would isolate the target)": {
			edit: func(p *model.Policy) {
				p.Callers = []model.Caller{{Kind: model.CallerServiceAccount, Namespace: "shop", Name: "idle", ServiceAccounts: []string{"idle"}}}
			},
		},
		"egress only where denied": {
			edit: func(p *model.Policy) {
				p.Callers = append(p.Callers, model.Caller{Index: 1, Kind: model.CallerNamespace, Namespace: "locked", AllPods: true})
				p.EgressDenied = []string{"locked"}
			},
			names: []string{"zt-out.shop.p.1", "zt-in.p"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := testPolicy()
			tc.edit(p)
			res, err := New().Compile(p)
			if err != nil {
				t.Fatal(err)
			}
			if res.Skipped != tc.skipped || (res.Skipped && (res.Message == "" || len(res.Objects) > 0)) {
				t.Fatalf("skipped=%v message=%q objects=%d; want skipped=%v", res.Skipped, res.Message, len(res.Objects), tc.skipped)
			}
			var names []string
			for _, o := range res.Objects {
				names = append(names, o.GetName())
			}
			if len(names) != len(tc.names) {
				t.Fatalf("objects %v; want %v", names, tc.names)
			}
			for i := range names {
				if names[i] != tc.names[i] {
					t.Fatalf("objects %v; want %v", names, tc.names)
				}
			}
		})
	}
}

func TestEvaluate(t *testing.T) {
	tcp := corev1.ProtocolTCP
	np := func(ns, name string, sel map[string]string, types []networkingv1.PolicyType, in []networkingv1.NetworkPolicyIngressRule, eg []networkingv1.NetworkPolicyEgressRule) networkingv1.NetworkPolicy {
		return networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: sel}, PolicyTypes: types, Ingress: in, Egress: eg}}
	}
	http := intstr.FromString("http")
	policies := []networkingv1.NetworkPolicy{
		np("shop", "deny", nil, []networkingv1.PolicyType{"Ingress", "Egress"}, nil, nil),
		np("shop", "in", map[string]string{"app": "db"}, []networkingv1.PolicyType{"Ingress"}, []networkingv1.NetworkPolicyIngressRule{{
			Ports: []networkingv1.NetworkPolicyPort{{Port: &http, Protocol: &tcp}},
			From: []networkingv1.NetworkPolicyPeer{
				{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}}},
				{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"10.1.0.0/16"}}},
				{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "ops"}}},
			},
		}}, nil),
		// No policyTypes: Ingress, plus Egress because it has egress rules.
		np("other", "legacy", nil, nil, nil, []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "192.0.2.0/24"}}}}}),
	}
	pod := func(ns string, l map[string]string, nsl map[string]string) Endpoint {
		all := map[string]string{corev1.LabelMetadataName: ns}
		for k, v := range nsl {
			all[k] = v
		}
		return Endpoint{Namespace: ns, NamespaceLabels: all, PodLabels: l, Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}
	}
	db := pod("shop", map[string]string{"app": "db"}, nil)
	tests := map[string]struct {
		src, dst Endpoint
		port     Port
		allowed  bool
	}{
		"pod in the same namespace, named port resolved from the number": {src: pod("open", nil, nil), dst: db, port: Port{Number: 8080}, allowed: false},
		"api pod, but its egress is denied":                              {src: pod("shop", map[string]string{"app": "api"}, nil), dst: db, port: Port{Number: 8080}},
		"ops namespace, unisolated egress":                               {src: pod("ops", nil, map[string]string{"team": "ops"}), dst: db, port: Port{Number: 8080}, allowed: true},
		"ops namespace, wrong port":                                      {src: pod("ops", nil, map[string]string{"team": "ops"}), dst: db, port: Port{Number: 9090}},
		"ops namespace, wrong protocol":                                  {src: pod("ops", nil, map[string]string{"team": "ops"}), dst: db, port: Port{Number: 8080, Protocol: corev1.ProtocolUDP}},
		"external address in the block":                                  {src: Endpoint{IP: netip.MustParseAddr("10.2.3.4")}, dst: db, port: Port{Name: "http"}, allowed: true},
		"external address in the exception":                              {src: Endpoint{IP: netip.MustParseAddr("10.1.3.4")}, dst: db, port: Port{Name: "http"}},
		"legacy policy without policyTypes isolates egress":              {src: pod("other", nil, nil), dst: Endpoint{IP: netip.MustParseAddr("198.51.100.1")}, port: Port{Number: 443}},
		"legacy policy allows its block":                                 {src: pod("other", nil, nil), dst: Endpoint{IP: netip.MustParseAddr("192.0.2.1")}, port: Port{Number: 443}, allowed: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			v := Evaluate(policies, tc.src, tc.dst, tc.port)
			if v.Allowed() != tc.allowed {
				t.Fatalf("allowed = %v; want %v (%+v)", v.Allowed(), tc.allowed, v)
			}
		})
	}
}
