package semantics_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/inventory/static"
)

// TestSamples renders config/samples with --backends all and checks that every policy is
// Ready, that no backend is Partial and every network backend enforces the policies, and
// that the samples' HTTP rules are enforced at L7.
//
// The samples' intent (config/samples/zerotrust_v1alpha1_serviceaccesspolicy.yaml):
//   - payment-reads-inventory: pods of Service payments/payment (Deployment payment, as
//     ServiceAccount payment) may GET /items and /items/* on Service shop/inventory's port
//     http (the pods' container port http, 8080);
//   - monitoring-scrapes-inventory: every pod of namespace monitoring may reach Deployment
//     shop/inventory's port metrics (9090), any request.
//
// Nothing else reaches inventory: the baseline denies ingress and egress in shop and
// payments.
func TestSamples(t *testing.T) {
	inv, err := static.LoadInventory([]string{"../../config/samples"}, nil, "default")
	if err != nil {
		t.Fatal(err)
	}
	r := renderInventory(t, inv)
	if len(r.Policies) != 2 {
		t.Fatalf("got %d policies, want the samples' 2", len(r.Policies))
	}
	states := map[string]map[ztv1.Backend]ztv1.BackendState{}
	for _, p := range r.Policies {
		o := p.Output
		if !o.Ready.Status || o.Ready.Reason != compiler.ReasonEnforced {
			t.Errorf("%s/%s: Ready %v %s: %s", p.Namespace, p.Name, o.Ready.Status, o.Ready.Reason, o.Ready.Message)
		}
		states[p.Name] = map[ztv1.Backend]ztv1.BackendState{}
		for _, br := range o.Backends {
			states[p.Name][br.Backend] = br.State
			want := ztv1.BackendApplied
			if br.Backend == ztv1.BackendRBAC {
				want = ztv1.BackendSkipped // not a kubernetesAPI target
			}
			if br.State != want {
				t.Errorf("%s/%s: %s is %s, want %s: %s", p.Namespace, p.Name, br.Backend, br.State, want, br.Message)
			}
			if br.Message != "" {
				t.Logf("%s/%s: %s %s: %s", p.Namespace, p.Name, br.Backend, br.State, br.Message)
			}
		}
	}

	inventory := dest{
		name: "shop/inventory", ns: "shop", sa: "default",
		labels:    map[string]string{"app": "inventory", "pod-template-hash": "8d4f"},
		ports:     []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}, {Name: "metrics", ContainerPort: 9090, Protocol: corev1.ProtocolTCP}},
		probePort: 0,
	}
	payment := peer{name: "payments/payment", ns: "payments", labels: map[string]string{"app": "payment", "pod-template-hash": "1a2b"}, sa: "payment", ip: "10.1.0.31"}
	prometheus := peer{name: "monitoring/prometheus", ns: "monitoring", labels: map[string]string{"app": "prometheus"}, sa: "prometheus", ip: "10.1.0.41"}
	stranger := peer{name: "payments/stranger", ns: "payments", labels: map[string]string{"app": "stranger"}, sa: "stranger", ip: "10.1.0.32"}
	neighbour := peer{name: "shop/cart", ns: "shop", labels: map[string]string{"app": "cart"}, sa: "default", ip: "10.1.0.51"}
	outside := peer{name: "external 203.0.113.7", ip: "203.0.113.7", external: true}

	type call struct {
		from    peer
		port    int32
		req     httpReq
		allowed bool
	}
	calls := []call{
		{payment, 8080, httpReq{"GET", "/items"}, true},
		{payment, 8080, httpReq{"GET", "/items/42"}, true},
		{payment, 8080, httpReq{"POST", "/admin"}, false},
		{payment, 8080, httpReq{"POST", "/items"}, false},
		{payment, 8080, httpReq{"GET", "/admin"}, false},
		{payment, 8080, httpReq{"DELETE", "/items/42"}, false},
		{payment, 8080, httpReq{"GET", "/itemsX"}, false},
		{payment, 8080, httpReq{"", ""}, false},
		{payment, 9090, httpReq{"GET", "/metrics"}, false},
		{payment, 80, httpReq{"GET", "/items"}, false},
		{prometheus, 9090, httpReq{"GET", "/metrics"}, true},
		{prometheus, 9090, httpReq{"POST", "/anything"}, true},
		{prometheus, 8080, httpReq{"GET", "/items"}, false},
		{stranger, 8080, httpReq{"GET", "/items"}, false},
		{stranger, 9090, httpReq{"GET", "/metrics"}, false},
		{neighbour, 8080, httpReq{"GET", "/items"}, false},
		{neighbour, 9090, httpReq{"GET", "/metrics"}, false},
		{outside, 8080, httpReq{"GET", "/items"}, false},
	}
	// Every layer must enforce the samples; Istio and Linkerd must have an evaluator.
	evaluated := map[ztv1.Backend]bool{}
	for _, j := range judges(r) {
		if j.eval == nil {
			t.Logf("%s: no evaluator yet; judged on state only", j.backend)
			continue
		}
		evaluated[j.backend] = true
		for _, c := range calls {
			if j.skipPort != nil && j.skipPort(scenario{}, inventory, c.port) {
				continue
			}
			want := c.allowed
			if !j.l7 {
				// NetworkPolicy enforces ports and callers only.
				want = c.from.name == payment.name && c.port == 8080 || c.from.name == prometheus.name && c.port == 9090
			}
			got, why := j.eval(c.from, inventory, c.port, c.req)
			if got != want || unjudged(why) {
				t.Errorf("%s: %s -> %s:%d %s: allowed=%v, want %v (%s)", j, c.from.name, inventory.name, c.port, c.req, got, want, why)
			}
		}
	}
	for _, b := range []ztv1.Backend{ztv1.BackendIstio, ztv1.BackendLinkerd} {
		if !evaluated[b] {
			t.Errorf("%s: the samples' HTTP rules are not judged at L7 (no evaluator)", b)
		}
	}
}
