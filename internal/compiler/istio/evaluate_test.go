package istio_test

import (
	"fmt"
	"testing"
	"time"

	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/istio"
	"github.com/zerotrust-dev/zerotrust-operator/internal/inventory/static"
)

type (
	request  = istio.Request
	workload = istio.Destination
)

func evaluate(t *testing.T, policies []*securityv1.AuthorizationPolicy, w workload, r request) bool {
	t.Helper()
	objs := make([]client.Object, len(policies))
	for i := range policies {
		objs[i] = policies[i]
	}
	ok, _ := istio.Evaluate(objs, w, r)
	return ok
}

// world is a cluster and the policies its owners wrote. The expected verdicts of the
// scenarios below are read from these policies' intent, not from what the backend made of
// them.
const world = `
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {mesh: locked}}
---
apiVersion: v1
kind: Namespace
metadata: {name: payments}
---
apiVersion: v1
kind: Namespace
metadata: {name: monitoring}
---
apiVersion: v1
kind: Namespace
metadata: {name: open}
---
apiVersion: zerotrust.dev/v1alpha1
kind: ZeroTrustBaseline
metadata: {name: locked}
spec:
  namespaceSelector: {matchLabels: {mesh: locked}}
  mesh: {mtls: Strict, defaultDeny: true}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: reporting, namespace: payments}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: admin, namespace: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: checkout, namespace: shop}
spec:
  selector: {matchLabels: {app: checkout}}
  template:
    metadata: {labels: {app: checkout}}
    spec: {serviceAccountName: checkout, containers: [{name: c, image: i}]}
---
apiVersion: v1
kind: Service
metadata: {name: inventory, namespace: shop}
spec:
  selector: {app: inventory}
  ports:
    - {name: http, port: 80, targetPort: 8080}
    - {name: metrics, port: 9090}
---
# checkout (a workload), reporting (a ServiceAccount in another namespace), every workload
# of monitoring and one external network may read items, on the pods' port 8080; reporting
# may also post orders; all of them may scrape metrics on 9090.
apiVersion: zerotrust.dev/v1alpha1
kind: ServiceAccessPolicy
metadata: {name: inventory-api, namespace: shop}
spec:
  target: {service: inventory}
  from:
    - {workload: {kind: Deployment, name: checkout}}
    - {serviceAccount: reporting, namespace: payments}
    - {namespace: monitoring}
    - {cidr: 203.0.113.0/24}
  ports:
    - port: http
      http:
        - methods: [GET, HEAD]
          paths: [/items, /items/*]
    - port: 9090
---
apiVersion: zerotrust.dev/v1alpha1
kind: ServiceAccessPolicy
metadata: {name: inventory-orders, namespace: shop}
spec:
  target: {service: inventory}
  from: [{serviceAccount: reporting, namespace: payments}]
  ports:
    - port: http
      http: [{methods: [POST], paths: [/orders]}]
---
# admin may do anything under /admin/ on the same pods.
apiVersion: zerotrust.dev/v1alpha1
kind: ServiceAccessPolicy
metadata: {name: inventory-admin, namespace: shop}
spec:
  target: {podSelector: {matchLabels: {app: inventory}}}
  from: [{serviceAccount: admin}]
  ports:
    - port: 8080
      http: [{paths: [/admin/*]}]
---
# Audit: blocks nothing on the ledger pods of the open namespace.
apiVersion: zerotrust.dev/v1alpha1
kind: ServiceAccessPolicy
metadata: {name: ledger-audit, namespace: open}
spec:
  mode: Audit
  target: {podSelector: {matchLabels: {app: ledger}}}
  from: [{serviceAccount: reporting, namespace: payments}]
  ports: [{port: 8080}]
`

// TestIstioVerdicts renders the world's policies and baseline with the Istio backend and
// checks, for calls of every kind of caller, that Istio allows a call exactly when a
// ServiceAccessPolicy (or the absence of any, outside the locked namespace) grants it.
func TestIstioVerdicts(t *testing.T) {
	inv, err := static.FromYAML([]byte(world), "world", "default")
	if err != nil {
		t.Fatal(err)
	}
	r, err := inv.Render(time.Date(2026, 6, 15, 10, 0, 0, 0, time.UTC), compiler.Options{Backends: []ztv1.Backend{ztv1.BackendIstio}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range r.Policies {
		if !p.Output.Ready.Status {
			t.Fatalf("%s/%s not Ready: %s", p.Namespace, p.Name, p.Output.Ready.Message)
		}
	}
	var aps []*securityv1.AuthorizationPolicy
	for _, o := range r.Objects {
		if ap, ok := o.(*securityv1.AuthorizationPolicy); ok {
			aps = append(aps, ap)
		}
	}
	if len(aps) != 5 {
		t.Fatalf("got %d AuthorizationPolicies; want 4 policies and the baseline's allow-nothing", len(aps))
	}

	inventory := workload{Namespace: "shop", Labels: map[string]string{"app": "inventory", "pod-template-hash": "x"}}
	checkoutPod := workload{Namespace: "shop", Labels: map[string]string{"app": "checkout"}}
	ledger := workload{Namespace: "open", Labels: map[string]string{"app": "ledger"}}
	other := workload{Namespace: "open", Labels: map[string]string{"app": "other"}}
	const (
		checkout   = "cluster.local/ns/shop/sa/checkout"
		reporting  = "cluster.local/ns/payments/sa/reporting"
		admin      = "cluster.local/ns/shop/sa/admin"
		prometheus = "cluster.local/ns/monitoring/sa/prometheus"
		stranger   = "cluster.local/ns/payments/sa/stranger"
		inCluster  = "10.1.2.3"
	)
	tests := map[string]struct {
		to      workload
		req     request
		allowed bool
	}{
		// inventory-api: GET and HEAD on /items and under /items/, on the pods' port 8080.
		"checkout reads an item":               {inventory, request{checkout, inCluster, 8080, "GET", "/items/42"}, true},
		"checkout lists items":                 {inventory, request{checkout, inCluster, 8080, "HEAD", "/items"}, true},
		"checkout: /itemsX is not under items": {inventory, request{checkout, inCluster, 8080, "GET", "/itemsX"}, false},
		"checkout may not delete items":        {inventory, request{checkout, inCluster, 8080, "DELETE", "/items/42"}, false},
		"checkout may not post orders":         {inventory, request{checkout, inCluster, 8080, "POST", "/orders"}, false},
		"the Service port is not the pod port": {inventory, request{checkout, inCluster, 80, "GET", "/items"}, false},
		"checkout scrapes metrics":             {inventory, request{checkout, inCluster, 9090, "GET", "/metrics"}, true},
		"an unlisted port is closed":           {inventory, request{checkout, inCluster, 7070, "GET", "/items"}, false},
		// reporting: items (inventory-api) and orders (inventory-orders), nothing else.
		"reporting reads an item":        {inventory, request{reporting, inCluster, 8080, "GET", "/items/1"}, true},
		"reporting posts an order":       {inventory, request{reporting, inCluster, 8080, "POST", "/orders"}, true},
		"reporting: /orders/1 is exact":  {inventory, request{reporting, inCluster, 8080, "POST", "/orders/1"}, false},
		"reporting may not read /admin/": {inventory, request{reporting, inCluster, 8080, "GET", "/admin/users"}, false},
		// monitoring: any workload of the namespace, same grants as checkout.
		"monitoring reads items":          {inventory, request{prometheus, inCluster, 8080, "GET", "/items"}, true},
		"monitoring scrapes metrics":      {inventory, request{prometheus, inCluster, 9090, "GET", "/metrics"}, true},
		"monitoring may not post":         {inventory, request{prometheus, inCluster, 8080, "POST", "/items"}, false},
		"another identity is not granted": {inventory, request{stranger, inCluster, 8080, "GET", "/items"}, false},
		// the external network, by the peer's address (no mesh identity).
		"the external network reads items":    {inventory, request{"", "203.0.113.9", 8080, "GET", "/items/7"}, true},
		"another address is not granted":      {inventory, request{"", "198.51.100.9", 8080, "GET", "/items/7"}, false},
		"an in-cluster plaintext peer is not": {inventory, request{"", inCluster, 9090, "GET", "/metrics"}, false},
		// admin: anything under /admin/ on 8080, nothing else.
		"admin deletes a user":       {inventory, request{admin, inCluster, 8080, "DELETE", "/admin/users/1"}, true},
		"admin: /admin is not under": {inventory, request{admin, inCluster, 8080, "GET", "/admin"}, false},
		"admin may not read items":   {inventory, request{admin, inCluster, 8080, "GET", "/items"}, false},
		"admin may not scrape":       {inventory, request{admin, inCluster, 9090, "GET", "/metrics"}, false},
		// the locked namespace denies what no policy grants; elsewhere nothing is restricted.
		"no policy grants access to checkout in the locked namespace": {checkoutPod, request{reporting, inCluster, 8080, "GET", "/"}, false},
		"an audited workload blocks nothing":                          {ledger, request{stranger, inCluster, 8080, "DELETE", "/"}, true},
		"an unrestricted namespace allows":                            {other, request{"", inCluster, 80, "GET", "/"}, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := evaluate(t, aps, tc.to, tc.req); got != tc.allowed {
				t.Errorf("allowed = %v; want %v (%s)", got, tc.allowed, fmt.Sprint(tc.req))
			}
		})
	}
}
