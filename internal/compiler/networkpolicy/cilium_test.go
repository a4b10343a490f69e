package networkpolicy

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/cilium"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/model"
)

// TestCiliumLeavesHTTPPorts: with Cilium among the backends, the ingress NetworkPolicy does
// not open the ports that carry HTTP rules (Cilium would let that L4 rule void the
// CiliumNetworkPolicy's HTTP rules), never writes a rule without ports in their place, and
// says so; egress and every other port are as without Cilium.
func TestCiliumLeavesHTTPPorts(t *testing.T) {
	getItems := []ztv1.HTTPRule{{Methods: []ztv1.HTTPMethod{"GET"}, Paths: []string{"/items"}}}
	http := model.Port{Port: intstr.FromString("http"), Number: 8080, Protocol: "TCP", HTTP: getItems}
	metrics := model.Port{Port: intstr.FromInt32(9090), Number: 9090, Protocol: "TCP"}
	withCilium := []ztv1.Backend{ztv1.BackendNetworkPolicy, ztv1.BackendCilium}

	tests := map[string]struct {
		backends []ztv1.Backend
		ports    []model.Port
		allPorts bool
		egress   bool
		// rules: nil means no ingress rule at all; each entry is the ports of the one rule
		// ("" for a rule without ports: every port).
		rules []string
		// note: a substring of the message, "" for no message.
		note string
	}{
		"without Cilium every port is opened": {
			backends: []ztv1.Backend{ztv1.BackendNetworkPolicy, ztv1.BackendIstio},
			ports:    []model.Port{http, metrics}, rules: []string{"9090/TCP,http/TCP"},
		},
		"with Cilium the HTTP port is left out": {
			backends: withCilium, ports: []model.Port{http, metrics}, rules: []string{"9090/TCP"},
			note: "ports with HTTP rules are admitted by Cilium at L7: http/TCP (",
		},
		"with Cilium and only HTTP ports there is no rule (never one without ports)": {
			backends: withCilium, ports: []model.Port{http}, rules: nil,
			note: "admitted by Cilium at L7: http/TCP (the ingress NetworkPolicy leaves them out: Cilium enforces NetworkPolicies too, and an L4 rule there would void those HTTP rules); the ingress NetworkPolicy admits nothing and only isolates the target",
		},
		"an open entry of the same port (by number) opens it": {
			backends: withCilium, ports: []model.Port{http, {Port: intstr.FromInt32(8080), Number: 8080, Protocol: "TCP"}},
			rules: []string{"8080/TCP,http/TCP"},
		},
		"an HTTP rule matching every request opens the port": {
			backends: withCilium, ports: []model.Port{{Port: intstr.FromString("http"), Number: 8080, Protocol: "TCP", HTTP: []ztv1.HTTPRule{{}}}},
			rules: []string{"http/TCP"},
		},
		"both entries of a port with HTTP rules are left out": {
			backends: withCilium,
			ports:    []model.Port{http, metrics, {Port: intstr.FromInt32(8080), Number: 8080, Protocol: "TCP", HTTP: []ztv1.HTTPRule{{Methods: []ztv1.HTTPMethod{"POST"}}}}},
			rules:    []string{"9090/TCP"}, note: "at L7: 8080/TCP, http/TCP (",
		},
		"a policy opening every port keeps its rule without ports": {
			backends: withCilium, allPorts: true, rules: []string{""},
		},
		"egress keeps the HTTP port": {
			backends: withCilium, ports: []model.Port{http, metrics}, egress: true, rules: []string{"9090/TCP"},
			note: "admitted by Cilium at L7: http/TCP",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := testPolicy()
			p.Backends = tc.backends
			p.Ports, p.AllPorts = tc.ports, tc.allPorts
			if tc.egress {
				p.EgressDenied = []string{"shop"}
			}
			res, err := New().Compile(p)
			if err != nil {
				t.Fatal(err)
			}
			if (tc.note == "") != (res.Message == "") || !strings.Contains(res.Message, tc.note) {
				t.Errorf("message %q; want %q", res.Message, tc.note)
			}
			var in, out *networkingv1.NetworkPolicy
			for _, o := range res.Objects {
				np := o.(*networkingv1.NetworkPolicy)
				switch np.Name {
				case "zt-in.p":
					in = np
				default:
					out = np
				}
			}
			if in == nil {
				t.Fatal("no ingress NetworkPolicy: the target must stay isolated")
			}
			if len(in.Spec.PolicyTypes) != 1 || in.Spec.PolicyTypes[0] != networkingv1.PolicyTypeIngress {
				t.Errorf("policyTypes %v; want [Ingress]", in.Spec.PolicyTypes)
			}
			var got []string
			for _, r := range in.Spec.Ingress {
				if len(r.From) == 0 {
					t.Errorf("ingress rule without peers: %+v", r)
				}
				got = append(got, portList(r.Ports))
			}
			if strings.Join(got, "|") != strings.Join(tc.rules, "|") || (got == nil) != (tc.rules == nil) {
				t.Errorf("ingress rules' ports %q; want %q", got, tc.rules)
			}
			if tc.egress {
				if out == nil || len(out.Spec.Egress) != 1 {
					t.Fatalf("no egress NetworkPolicy with one rule: %+v", out)
				}
				if got := portList(out.Spec.Egress[0].Ports); got != "9090/TCP,http/TCP" {
					t.Errorf("egress ports %q; want every port of the policy", got)
				}
			}
		})
	}
}

func portList(ports []networkingv1.NetworkPolicyPort) string {
	var out []string
	for _, p := range ports {
		out = append(out, p.Port.String()+"/"+string(*p.Protocol))
	}
	return strings.Join(out, ",")
}

// TestCiliumEnforcesHTTPRules judges the NetworkPolicy and the CiliumNetworkPolicy of one
// policy together, as Cilium enforces them: the HTTP rules hold, other ports stay open.
func TestCiliumEnforcesHTTPRules(t *testing.T) {
	p := testPolicy()
	p.Backends = []ztv1.Backend{ztv1.BackendNetworkPolicy, ztv1.BackendCilium}
	p.Ports = []model.Port{
		{Port: intstr.FromString("http"), Number: 8080, Protocol: "TCP", HTTP: []ztv1.HTTPRule{{Methods: []ztv1.HTTPMethod{"GET"}, Paths: []string{"/items"}}}},
		{Port: intstr.FromInt32(9090), Number: 9090, Protocol: "TCP"},
	}
	var objs []client.Object
	for _, b := range []model.Backend{New(), cilium.New()} {
		res, err := b.Compile(p)
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, res.Objects...)
	}
	dst := cilium.Peer{Namespace: "shop", NamespaceLabels: map[string]string{corev1.LabelMetadataName: "shop"}, Labels: map[string]string{"app": "inventory"},
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}, {Name: "metrics", ContainerPort: 9090, Protocol: corev1.ProtocolTCP}}}
	caller := cilium.Peer{Namespace: "shop", NamespaceLabels: map[string]string{corev1.LabelMetadataName: "shop"}, Labels: map[string]string{"app": "a"}}
	other := cilium.Peer{Namespace: "shop", NamespaceLabels: map[string]string{corev1.LabelMetadataName: "shop"}, Labels: map[string]string{"app": "b"}}
	for _, tc := range []struct {
		src          cilium.Peer
		port         int32
		method, path string
		allowed      bool
	}{
		{caller, 8080, "GET", "/items", true},
		{caller, 8080, "POST", "/items", false},
		{caller, 8080, "", "", false},
		{caller, 9090, "POST", "/anything", true},
		{other, 8080, "GET", "/items", false},
		{other, 9090, "GET", "/metrics", false},
	} {
		ok, why := cilium.Evaluate(objs, cilium.Request{Source: tc.src, Destination: dst, Port: tc.port, Method: tc.method, Path: tc.path})
		if ok != tc.allowed {
			t.Errorf("%v -> :%d %s %s: allowed=%v, want %v (%s)", tc.src.Labels, tc.port, tc.method, tc.path, ok, tc.allowed, why)
		}
	}
	// Without the fix's decision (Cilium not known to the NetworkPolicy backend) the L4
	// rule admits POST: the leak this guards against.
	p.Backends = nil
	res, err := New().Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	cnp, err := cilium.New().Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := cilium.Evaluate(append(res.Objects, cnp.Objects...), cilium.Request{Source: caller, Destination: dst, Port: 8080, Method: "POST", Path: "/items"}); !ok {
		t.Error("the evaluator does not see the leak it must catch: a NetworkPolicy L4 rule should void the HTTP rules")
	}
}
