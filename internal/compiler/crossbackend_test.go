package compiler_test

import (
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/networkpolicy"
	"github.com/zerotrust-dev/zerotrust-operator/internal/inventory/static"
)

const crossBackendWorld = `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec: {containers: [{name: c, image: i, ports: [{name: http, containerPort: 8080}, {name: metrics, containerPort: 9090}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {serviceAccountName: web, containers: [{name: c, image: i}]}
---
apiVersion: zerotrust.dev/v1alpha1
kind: ServiceAccessPolicy
metadata: {name: reads, namespace: shop}
spec:
  target: {workload: {kind: Deployment, name: api}}
  from: [{workload: {kind: Deployment, name: web}}]
  ports:
    - {port: http, http: [{methods: [GET], paths: [/items]}]}
    - {port: metrics}
`

// TestNetworkPolicyLeavesHTTPPortsToCilium: the compiler tells every backend which others
// enforce the compilation, so that the NetworkPolicy backend leaves the ports with HTTP
// rules to Cilium only where Cilium runs (and is implemented by the registry): a backend
// that is listed but not implemented enforces nothing, and the NetworkPolicy keeps the
// port.
func TestNetworkPolicyLeavesHTTPPortsToCilium(t *testing.T) {
	inv, err := static.FromYAML([]byte(crossBackendWorld), "-", "default")
	if err != nil {
		t.Fatal(err)
	}
	policies := inv.Policies()
	if len(policies) != 1 {
		t.Fatalf("got %d policies", len(policies))
	}
	tests := map[string]struct {
		registry compiler.Registry
		backends []ztv1.Backend
		ports    string
		message  string
	}{
		"NetworkPolicy alone":            {compiler.DefaultRegistry(), []ztv1.Backend{ztv1.BackendNetworkPolicy}, "http,metrics", ""},
		"NetworkPolicy and Istio":        {compiler.DefaultRegistry(), []ztv1.Backend{ztv1.BackendNetworkPolicy, ztv1.BackendIstio, ztv1.BackendLinkerd}, "http,metrics", ""},
		"NetworkPolicy and Cilium":       {compiler.DefaultRegistry(), []ztv1.Backend{ztv1.BackendNetworkPolicy, ztv1.BackendCilium}, "metrics", "admitted by Cilium at L7: http/TCP"},
		"Cilium first":                   {compiler.DefaultRegistry(), []ztv1.Backend{ztv1.BackendCilium, ztv1.BackendNetworkPolicy}, "metrics", "admitted by Cilium at L7: http/TCP"},
		"Cilium listed, not implemented": {compiler.NewRegistry(networkpolicy.New()), []ztv1.Backend{ztv1.BackendNetworkPolicy, ztv1.BackendCilium}, "http,metrics", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			out, err := tc.registry.Compile(inv, compiler.Input{Policy: &policies[0], Now: defaultNow, Options: compiler.Options{Backends: tc.backends}})
			if err != nil {
				t.Fatal(err)
			}
			for _, br := range out.Backends {
				if br.Backend != ztv1.BackendNetworkPolicy {
					continue
				}
				if br.State != ztv1.BackendApplied {
					t.Fatalf("NetworkPolicy is %s: %s", br.State, br.Message)
				}
				if (tc.message == "") != (br.Message == "") || !strings.Contains(br.Message, tc.message) {
					t.Errorf("message %q; want %q", br.Message, tc.message)
				}
				if len(br.Objects) != 1 {
					t.Fatalf("got %d objects", len(br.Objects))
				}
				np := br.Objects[0].(*networkingv1.NetworkPolicy)
				if len(np.Spec.Ingress) != 1 {
					t.Fatalf("ingress rules %+v; want one", np.Spec.Ingress)
				}
				var ports []string
				for _, p := range np.Spec.Ingress[0].Ports {
					ports = append(ports, p.Port.String())
				}
				if got := strings.Join(ports, ","); got != tc.ports {
					t.Errorf("ingress ports %s; want %s", got, tc.ports)
				}
			}
			if !out.Ready.Status || !strings.Contains(out.Ready.Message, tc.message) {
				t.Errorf("Ready %v: %s; want it to say %q", out.Ready.Status, out.Ready.Message, tc.message)
			}
		})
	}
}
