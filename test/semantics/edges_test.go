package semantics_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

// edgeCluster adds to the matrix's cluster a workload that serves UDP only (app/dns) and a
// Service whose pods no workload describes (app/ghost: bare pods, probes unknown).
func edgeCluster() string {
	base := scenario{target: targetWorkload, caller: callerWorkload, port: portNumeric, sa: saOwn}
	return base.cluster() + `---
apiVersion: apps/v1
kind: Deployment
metadata: {name: dns, namespace: app}
spec:
  selector: {matchLabels: {app: dns}}
  template:
    metadata: {labels: {app: dns}}
    spec:
      serviceAccountName: api
      containers: [{name: main, image: registry.example/dns:1, ports: [{name: dns, containerPort: 5353, protocol: UDP}]}]
---
apiVersion: v1
kind: Service
metadata: {name: ghost, namespace: app}
spec:
  selector: {app: ghost}
  ports: [{name: web, port: 80, targetPort: 8080}]
`
}

// TestFailClosedEdges checks the fail-closed rule on the cases the documentation exempts
// or treats specially: a mesh backend is Applied or Partial whenever the target selects
// pods, except Linkerd for a policy that opens UDP ports only on pods that declare no TCP
// port, and Istio for a matchExpressions target that selects no workload.
func TestFailClosedEdges(t *testing.T) {
	const (
		applied = ztv1.BackendApplied
		partial = ztv1.BackendPartial
		skipped = ztv1.BackendSkipped
	)
	web := scenario{sa: saOwn}.peers()[0]
	batch := scenario{sa: saOwn}.peers()[1]
	ghost := dest{name: "app/ghost (bare pod)", ns: targetNS, sa: "default", labels: map[string]string{"app": "ghost"},
		ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}
	api := scenario{}.dests()[0]

	type verdict struct {
		backend ztv1.Backend
		from    peer
		to      dest
		port    int32
		req     httpReq
		allowed bool
	}
	tests := []struct {
		name   string
		spec   string
		states map[ztv1.Backend]ztv1.BackendState
		// denied: a substring each Denied sentence of a Partial backend must hold.
		denied string
		// messages: a substring the message of a backend must hold.
		messages map[ztv1.Backend]string
		verdicts []verdict
	}{
		{
			name: "UDP only: Linkerd has nothing to proxy (documented)",
			spec: `target: {workload: {kind: Deployment, name: dns}}
  from: [{workload: {kind: Deployment, name: web}, namespace: client}]
  ports: [{port: 5353, protocol: UDP}]`,
			states: map[ztv1.Backend]ztv1.BackendState{ztv1.BackendNetworkPolicy: applied, ztv1.BackendIstio: applied, ztv1.BackendLinkerd: skipped, ztv1.BackendCilium: applied},
		},
		{
			name: "matchExpressions selecting no workload: Istio cannot select (documented)",
			spec: `target: {podSelector: {matchExpressions: [{key: app, operator: In, values: [ghost]}]}}
  from: [{workload: {kind: Deployment, name: web}, namespace: client}]
  ports: [{port: 8080}]`,
			states: map[ztv1.Backend]ztv1.BackendState{ztv1.BackendNetworkPolicy: applied, ztv1.BackendIstio: skipped, ztv1.BackendLinkerd: applied, ztv1.BackendCilium: applied},
			verdicts: []verdict{
				{ztv1.BackendLinkerd, web, ghost, 8080, httpReq{"GET", "/"}, true},
				{ztv1.BackendLinkerd, batch, ghost, 8080, httpReq{"GET", "/"}, false},
				{ztv1.BackendCilium, batch, ghost, 8080, httpReq{"GET", "/"}, false},
			},
		},
		{
			name: "Service of bare pods with HTTP rules: isolated by every mesh",
			spec: `target: {service: ghost}
  from: [{workload: {kind: Deployment, name: web}, namespace: client}]
  ports: [{port: 80, http: [{methods: [GET], paths: [/items]}]}]`,
			states:   map[ztv1.Backend]ztv1.BackendState{ztv1.BackendNetworkPolicy: applied, ztv1.BackendIstio: applied, ztv1.BackendLinkerd: applied, ztv1.BackendCilium: applied},
			messages: map[ztv1.Backend]string{ztv1.BackendLinkerd: "not the HTTP methods and paths"},
			verdicts: []verdict{
				{ztv1.BackendIstio, web, ghost, 8080, httpReq{"GET", "/items"}, true},
				{ztv1.BackendIstio, web, ghost, 8080, httpReq{"POST", "/items"}, false},
				{ztv1.BackendIstio, batch, ghost, 8080, httpReq{"GET", "/items"}, false},
				{ztv1.BackendLinkerd, web, ghost, 8080, httpReq{"GET", "/items"}, true},
				// Documented (package linkerd): the probes of pods no workload describes are
				// unknown, so Linkerd attaches no HTTPRoute and admits every request of the
				// callers; the state stays Applied and the message says so.
				{ztv1.BackendLinkerd, web, ghost, 8080, httpReq{"POST", "/items"}, true},
				{ztv1.BackendLinkerd, batch, ghost, 8080, httpReq{"GET", "/items"}, false},
				{ztv1.BackendCilium, web, ghost, 8080, httpReq{"GET", "/items"}, true},
				{ztv1.BackendCilium, web, ghost, 8080, httpReq{"POST", "/items"}, false},
			},
		},
		{
			name: "a caller selecting no workload: meshes deny it and isolate the target",
			spec: `target: {workload: {kind: Deployment, name: api}}
  from: [{podSelector: {matchLabels: {app: nobody}}, namespace: client}]
  ports: [{port: 8080}]`,
			states: map[ztv1.Backend]ztv1.BackendState{ztv1.BackendNetworkPolicy: applied, ztv1.BackendIstio: partial, ztv1.BackendLinkerd: partial, ztv1.BackendCilium: applied},
			denied: "from[0]",
			verdicts: []verdict{
				{ztv1.BackendIstio, web, api, 8080, httpReq{"GET", "/"}, false},
				{ztv1.BackendLinkerd, web, api, 8080, httpReq{"GET", "/"}, false},
				{ztv1.BackendNetworkPolicy, web, api, 8080, httpReq{"GET", "/"}, false},
			},
		},
		{
			name: "a port name no workload declares: Istio cannot number it (documented)",
			spec: `target: {podSelector: {matchLabels: {app: api}}}
  from: [{workload: {kind: Deployment, name: web}, namespace: client}]
  ports: [{port: grpc}]`,
			states: map[ztv1.Backend]ztv1.BackendState{ztv1.BackendNetworkPolicy: applied, ztv1.BackendIstio: partial, ztv1.BackendLinkerd: applied, ztv1.BackendCilium: applied},
			denied: `port "grpc"`,
			verdicts: []verdict{
				{ztv1.BackendIstio, web, api, 8080, httpReq{"GET", "/"}, false},
				{ztv1.BackendLinkerd, web, api, 8080, httpReq{"GET", "/"}, false},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			world := edgeCluster() + "---\napiVersion: zerotrust.dev/v1alpha1\nkind: ServiceAccessPolicy\nmetadata: {name: edge, namespace: app}\nspec:\n  " + tc.spec + "\n"
			r := render(t, world, tc.name)
			if len(r.Policies) != 1 {
				t.Fatalf("got %d policy results", len(r.Policies))
			}
			states := map[ztv1.Backend]ztv1.BackendState{}
			for _, br := range r.Policies[0].Output.Backends {
				states[br.Backend] = br.State
				if want, ok := tc.states[br.Backend]; ok && br.State != want {
					t.Errorf("%s: %s, want %s (%s)", br.Backend, br.State, want, br.Message)
				}
				if br.State == partial {
					for _, d := range br.Denied {
						if !strings.Contains(d, tc.denied) {
							t.Errorf("%s: Denied %q does not name %s", br.Backend, d, tc.denied)
						}
					}
				}
				if m, ok := tc.messages[br.Backend]; ok && !strings.Contains(br.Message, m) {
					t.Errorf("%s: message %q does not say %q", br.Backend, br.Message, m)
				}
				if br.State == skipped && br.Message == "" {
					t.Errorf("%s: Skipped without a reason", br.Backend)
				}
			}
			for _, j := range judges(r) {
				for _, v := range tc.verdicts {
					if v.backend != j.backend || j.variant != "" {
						continue
					}
					got, why := j.eval(v.from, v.to, v.port, v.req)
					if got != v.allowed || unjudged(why) {
						t.Errorf("%s (%s): %s -> %s:%d %s: allowed=%v, want %v (%s)", j, states[j.backend], v.from.name, v.to.name, v.port, v.req, got, v.allowed, why)
					}
				}
			}
		})
	}
}
