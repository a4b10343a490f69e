package istio

import (
	"strings"
	"testing"

	securityapi "istio.io/api/security/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/model"
)

func testPolicy() *model.Policy {
	return &model.Policy{
		Namespace: "shop", Name: "p", Mode: ztv1.ModeEnforce, TrustDomain: "example.org",
		Target: model.Target{Kind: model.TargetService, Namespace: "shop", Name: "inventory",
			PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "inventory"}}},
		Ports:   []model.Port{{Port: intstr.FromString("http"), Number: 8080, Protocol: "TCP"}},
		Callers: []model.Caller{{Index: 0, Kind: model.CallerServiceAccount, Namespace: "pay", Name: "a", ServiceAccounts: []string{"a"}}},
	}
}

// TestCompile covers what the golden files cannot reach through the resolver, and the
// decisions each skip message explains.
func TestCompile(t *testing.T) {
	tests := map[string]struct {
		edit    func(*model.Policy)
		skipped string // a word of the skip message; "" when not skipped
		check   func(*testing.T, *securityv1.AuthorizationPolicy, string)
	}{
		"enforce: identities in the policy's trust domain, the pods' port number": {
			edit: func(*model.Policy) {},
			check: func(t *testing.T, ap *securityv1.AuthorizationPolicy, _ string) {
				r := ap.Spec.Rules[0]
				if got := r.From[0].Source.Principals; len(got) != 1 || got[0] != "example.org/ns/pay/sa/a" {
					t.Errorf("principals %v", got)
				}
				if got := r.To[0].Operation.Ports; len(got) != 1 || got[0] != "8080" {
					t.Errorf("ports %v", got)
				}
				if ap.Spec.Action != securityapi.AuthorizationPolicy_ALLOW || len(ap.Annotations) > 0 {
					t.Errorf("action %v annotations %v", ap.Spec.Action, ap.Annotations)
				}
			},
		},
		"audit: dry-run annotation": {
			edit: func(p *model.Policy) { p.Mode = ztv1.ModeAudit },
			check: func(t *testing.T, ap *securityv1.AuthorizationPolicy, _ string) {
				if ap.Annotations[DryRunAnnotation] != "true" {
					t.Errorf("annotations %v", ap.Annotations)
				}
			},
		},
		"every port: a rule without operations": {
			edit: func(p *model.Policy) { p.Ports, p.AllPorts = nil, true },
			check: func(t *testing.T, ap *securityv1.AuthorizationPolicy, _ string) {
				if len(ap.Spec.Rules) != 1 || len(ap.Spec.Rules[0].To) != 0 {
					t.Errorf("rules %v", ap.Spec.Rules)
				}
			},
		},
		"an empty podSelector target: no selector (the whole namespace)": {
			edit: func(p *model.Policy) {
				p.Target = model.Target{Kind: model.TargetPodSelector, Namespace: "shop", PodSelector: &metav1.LabelSelector{}}
			},
			check: func(t *testing.T, ap *securityv1.AuthorizationPolicy, _ string) {
				if ap.Spec.Selector != nil {
					t.Errorf("selector %v", ap.Spec.Selector)
				}
			},
		},
		"a caller without identity is denied, named in Denied": {
			edit: func(p *model.Policy) {
				p.Callers = append(p.Callers, model.Caller{Index: 1, Kind: model.CallerService, Namespace: "pay", Name: "web",
					PodSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"app": "web"}}},
					MeshGaps:     []string{"it selects the pods of no Deployment"}})
			},
			check: func(t *testing.T, ap *securityv1.AuthorizationPolicy, msg string) {
				if len(ap.Spec.Rules) != 1 || !strings.Contains(msg, "from[1] (Service pay/web)") {
					t.Errorf("rules %v denied %q", ap.Spec.Rules, msg)
				}
			},
		},
		"a Service caller resolved to its workloads' ServiceAccount is authorized": {
			edit: func(p *model.Policy) {
				p.Callers = []model.Caller{{Index: 0, Kind: model.CallerService, Namespace: "pay", Name: "web",
					PodSelectors:    []metav1.LabelSelector{{MatchLabels: map[string]string{"app": "web"}}},
					ServiceAccounts: []string{"web"}}}
			},
			check: func(t *testing.T, ap *securityv1.AuthorizationPolicy, _ string) {
				if got := ap.Spec.Rules[0].From[0].Source.Principals; len(got) != 1 || got[0] != "example.org/ns/pay/sa/web" {
					t.Errorf("principals %v", got)
				}
			},
		},
		"UDP ports are left to others": {
			edit: func(p *model.Policy) {
				p.Ports = append(p.Ports, model.Port{Port: intstr.FromInt32(53), Number: 53, Protocol: "UDP"})
			},
			check: func(t *testing.T, ap *securityv1.AuthorizationPolicy, msg string) {
				if got := ap.Spec.Rules[0].To[0].Operation.Ports; len(got) != 1 || got[0] != "8080" || !strings.Contains(msg, "53/UDP") {
					t.Errorf("ports %v message %q", got, msg)
				}
			},
		},
		"a named port of unknown number: isolated, the port denied": {
			edit: func(p *model.Policy) { p.Ports[0] = model.Port{Port: intstr.FromString("web-http"), Protocol: "TCP"} },
			check: func(t *testing.T, ap *securityv1.AuthorizationPolicy, msg string) {
				if len(ap.Spec.Rules) != 0 || !strings.Contains(msg, "web-http") {
					t.Errorf("rules %v denied %q", ap.Spec.Rules, msg)
				}
			},
		},
		"only UDP: TCP isolated, as NetworkPolicy isolates": {
			edit: func(p *model.Policy) {
				p.Ports = []model.Port{{Port: intstr.FromInt32(53), Number: 53, Protocol: "UDP"}}
			},
			check: func(t *testing.T, ap *securityv1.AuthorizationPolicy, msg string) {
				if len(ap.Spec.Rules) != 0 || !strings.Contains(msg, "TCP only") {
					t.Errorf("rules %v message %q", ap.Spec.Rules, msg)
				}
			},
		},
		"no caller Istio can express: isolated, allow-nothing": {
			edit: func(p *model.Policy) {
				p.Callers = []model.Caller{{Kind: model.CallerPodSelector, Namespace: "shop",
					PodSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"a": "b"}}}, MeshGaps: []string{"no workload"}}}
			},
			check: func(t *testing.T, ap *securityv1.AuthorizationPolicy, msg string) {
				if len(ap.Spec.Rules) != 0 || ap.Spec.Selector == nil || !strings.Contains(msg, "does not admit from[0]") {
					t.Errorf("rules %v selector %v denied %q", ap.Spec.Rules, ap.Spec.Selector, msg)
				}
			},
		},
		"a workload whose ServiceAccount others share: denied": {
			edit: func(p *model.Policy) {
				p.Callers = []model.Caller{{Kind: model.CallerWorkload, WorkloadKind: ztv1.WorkloadDeployment, Namespace: "shop", Name: "web",
					MeshGaps: []string{"Deployment/web runs as ServiceAccount shop/default, which Deployment/batch also runs as"}}}
			},
			check: func(t *testing.T, ap *securityv1.AuthorizationPolicy, msg string) {
				if len(ap.Spec.Rules) != 0 || !strings.Contains(msg, "Deployment/batch") {
					t.Errorf("rules %v denied %q", ap.Spec.Rules, msg)
				}
			},
		},
		"kubernetesAPI is RBAC's": {
			edit: func(p *model.Policy) { p.Target = model.Target{Kind: model.TargetKubernetesAPI, Namespace: "shop"} }, skipped: "RBAC",
		},
		"external CIDRs are not mesh workloads": {
			edit: func(p *model.Policy) {
				p.Target = model.Target{Kind: model.TargetExternal, Namespace: "shop", CIDRs: []string{"192.0.2.0/24"}}
			},
			skipped: "egress",
		},
		"matchExpressions without workloads: nothing Istio could select": {
			edit: func(p *model.Policy) {
				p.Target.PodSelector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "t", Operator: metav1.LabelSelectorOpExists}}
			},
			skipped: "matchExpressions",
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
			if tc.skipped != "" {
				if !res.Skipped || len(res.Objects) > 0 || !strings.Contains(res.Message, tc.skipped) {
					t.Fatalf("skipped=%v objects=%d message=%q; want a skip mentioning %q", res.Skipped, len(res.Objects), res.Message, tc.skipped)
				}
				return
			}
			if res.Skipped || len(res.Objects) != 1 {
				t.Fatalf("skipped=%v objects=%d message=%q", res.Skipped, len(res.Objects), res.Message)
			}
			ap := res.Objects[0].(*securityv1.AuthorizationPolicy)
			if ap.Name != "zt-in.p" || ap.Namespace != "shop" || ap.Kind != "AuthorizationPolicy" || ap.APIVersion != "security.istio.io/v1" {
				t.Fatalf("object %s %s %s/%s", ap.APIVersion, ap.Kind, ap.Namespace, ap.Name)
			}
			tc.check(t, ap, res.Message+" | "+strings.Join(res.Denied, "; "))
		})
	}
}

func TestCompileBaseline(t *testing.T) {
	tests := map[string]struct {
		mesh *ztv1.BaselineMesh
		want []string
	}{
		"no mesh part":             {nil, nil},
		"strict":                   {&ztv1.BaselineMesh{MTLS: ztv1.MTLSStrict}, []string{"PeerAuthentication zt-baseline.b.mtls STRICT"}},
		"permissive":               {&ztv1.BaselineMesh{MTLS: ztv1.MTLSPermissive}, []string{"PeerAuthentication zt-baseline.b.mtls PERMISSIVE"}},
		"default deny, mTLS unset": {&ztv1.BaselineMesh{DefaultDeny: true}, []string{"AuthorizationPolicy zt-baseline.b.deny"}},
		"strict and default deny":  {&ztv1.BaselineMesh{MTLS: ztv1.MTLSStrict, DefaultDeny: true}, []string{"PeerAuthentication zt-baseline.b.mtls STRICT", "AuthorizationPolicy zt-baseline.b.deny"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			objs, err := New().CompileBaseline(&model.Baseline{Name: "b", Namespace: "ns", Mesh: tc.mesh})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range objs {
				switch x := o.(type) {
				case *securityv1.PeerAuthentication:
					got = append(got, "PeerAuthentication "+x.Name+" "+x.Spec.Mtls.Mode.String())
				case *securityv1.AuthorizationPolicy:
					if x.Spec.Selector != nil || len(x.Spec.Rules) > 0 || x.Spec.Action != securityapi.AuthorizationPolicy_ALLOW {
						t.Errorf("deny policy is not allow-nothing: %v", x.Spec.String())
					}
					got = append(got, "AuthorizationPolicy "+x.Name)
				}
				if o.GetNamespace() != "ns" || o.GetLabels()[ztv1.LabelBaseline] != "b" {
					t.Errorf("%s: namespace %q labels %v", o.GetName(), o.GetNamespace(), o.GetLabels())
				}
			}
			if strings.Join(got, "; ") != strings.Join(tc.want, "; ") {
				t.Errorf("got %v; want %v", got, tc.want)
			}
		})
	}
}
