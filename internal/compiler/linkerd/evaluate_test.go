package linkerd

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/model"
)

// Fixtures: the pods of Deployment shop/api (apiWorkload: http 8080 with probe /healthz,
// admin 9000 with probe /live, metrics 9090), and callers in namespace pay.

func id(ns, sa string) string { return Identity(ns, sa, "") }

var (
	callerA   = model.Caller{Index: 0, Kind: model.CallerServiceAccount, Namespace: "pay", Name: "a", ServiceAccounts: []string{"a"}}
	callerB   = model.Caller{Index: 0, Kind: model.CallerWorkload, WorkloadKind: ztv1.WorkloadDeployment, Namespace: "pay", Name: "b", ServiceAccounts: []string{"b"}}
	sharedSA  = model.Caller{Index: 1, Kind: model.CallerWorkload, WorkloadKind: ztv1.WorkloadDeployment, Namespace: "pay", Name: "legacy", MeshGaps: []string{"Deployment pay/legacy runs as ServiceAccount default, which Deployment pay/other also runs as"}}
	opsNS     = model.Caller{Index: 0, Kind: model.CallerNamespace, Namespace: "ops", AllPods: true}
	office    = model.Caller{Index: 1, Kind: model.CallerCIDR, CIDR: "203.0.113.0/24"}
	promSA    = model.Caller{Index: 0, Kind: model.CallerService, Namespace: "mon", Name: "prometheus", ServiceAccounts: []string{"prometheus"}}
	apiLabels = map[string]string{"app": "api"}
)

// target builds the target of kind k over the api workload (no workload when bare).
func target(k model.TargetKind, bare bool) model.Target {
	t := model.Target{Kind: k, Namespace: "shop", PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}}}
	switch k {
	case model.TargetWorkload:
		t.Name, t.WorkloadKind = "api", ztv1.WorkloadDeployment
	case model.TargetService:
		t.Name = "api"
	}
	if !bare {
		w := apiWorkload()
		t.Workloads, t.Probes, t.ProbesKnown = []model.Workload{w}, w.Probes, true
	}
	return t
}

func policy(name string, t model.Target, ports []model.Port, callers ...model.Caller) *model.Policy {
	return &model.Policy{Namespace: "shop", Name: name, Mode: ztv1.ModeEnforce, TrustDomain: "cluster.local", Target: t, Ports: ports, Callers: callers}
}

func port(p intstr.IntOrString, number int32, rules ...ztv1.HTTPRule) model.Port {
	return model.Port{Port: p, Number: number, Protocol: "TCP", HTTP: rules}
}

func rule(method string, paths ...string) ztv1.HTTPRule {
	r := ztv1.HTTPRule{Paths: paths}
	if method != "" {
		r.Methods = []ztv1.HTTPMethod{ztv1.HTTPMethod(method)}
	}
	return r
}

func get(ident string, p int32, path string) Request {
	return Request{Identity: ident, Port: p, Method: "GET", Path: path}
}

func req(ident, method string, p int32, path string) Request {
	return Request{Identity: ident, Port: p, Method: method, Path: path}
}

func probe(p int32, path string) Request {
	return Request{Probe: true, SourceIP: "10.20.0.1", Port: p, Method: "GET", Path: path}
}

type evalCase struct {
	name string
	req  Request
	want bool
}

// TestEvaluateCompiled: for every target kind, named and numeric ports, callers with own
// and shared ServiceAccounts, with and without HTTP rules, the declared requests are
// admitted by the objects Compile generates, and nothing else is; the kubelet's probes
// keep working; and policies on the same pods and port compose (the union of their
// objects, the shared Servers appearing once per policy).
func TestEvaluateCompiled(t *testing.T) {
	a, b := id("pay", "a"), id("pay", "b")
	tests := []struct {
		name       string
		policies   []*model.Policy
		defaultPol string
		dst        *Destination // the api pods when nil
		denied     []string     // words every Denied entry of the policies (in order) contains
		cases      []evalCase
	}{
		{
			name: "workload target, named port, HTTP rules, own ServiceAccount",
			policies: []*model.Policy{policy("p", target(model.TargetWorkload, false),
				[]model.Port{port(intstr.FromString("http"), 8080, rule("GET", "/items/*"))}, callerA)},
			cases: []evalCase{
				{"declared", get(a, 8080, "/items/1"), true},
				{"declared, query string", get(a, 8080, "/items/1?x=1"), true},
				{"undeclared method", req(a, "POST", 8080, "/items/1"), false},
				{"undeclared path", get(a, 8080, "/other"), false},
				{"prefix without its slash", get(a, 8080, "/items"), false},
				{"TCP, not HTTP", Request{Identity: a, Port: 8080}, false},
				{"other caller", get(b, 8080, "/items/1"), false},
				{"no identity", Request{SourceIP: "10.1.1.1", Port: 8080, Method: "GET", Path: "/items/1"}, false},
				{"probe on the routed port", probe(8080, "/healthz"), true},
				{"probe path by a caller without identity", Request{SourceIP: "10.1.1.1", Port: 8080, Method: "GET", Path: "/healthz"}, true},
				{"undeclared port", get(a, 9090, "/metrics"), false},
				{"isolated port", get(a, 9000, "/"), false},
				{"probe on an isolated port", probe(9000, "/live"), true},
			},
		},
		{
			name: "Service target, numeric port, workload callers: own ServiceAccount admitted, shared one denied",
			policies: []*model.Policy{policy("p", target(model.TargetService, false),
				[]model.Port{{Port: intstr.FromInt32(8080), Number: 8080, ServicePort: 80, Protocol: "TCP", HTTP: []ztv1.HTTPRule{rule("POST", "/orders")}}},
				callerB, sharedSA)},
			denied: []string{"Linkerd does not admit from[1] (Deployment pay/legacy)"},
			cases: []evalCase{
				{"declared", req(b, "POST", 8080, "/orders"), true},
				{"undeclared method", get(b, 8080, "/orders"), false},
				{"exact path only", req(b, "POST", 8080, "/orders/1"), false},
				{"the shared ServiceAccount", req(id("pay", "default"), "POST", 8080, "/orders"), false},
				{"probes of the selected workload", probe(8080, "/healthz"), true},
				{"isolated port", req(b, "POST", 9000, "/orders"), false},
			},
		},
		{
			name: "podSelector target, numeric open port, namespace and CIDR callers",
			policies: []*model.Policy{policy("p", target(model.TargetPodSelector, false),
				[]model.Port{port(intstr.FromInt32(9000), 9000)}, opsNS, office)},
			cases: []evalCase{
				{"namespace caller, any request", req(id("ops", "x"), "DELETE", 9000, "/anything"), true},
				{"namespace caller, TCP", Request{Identity: id("ops", "y"), Port: 9000}, true},
				{"CIDR caller", Request{SourceIP: "203.0.113.7", Port: 9000, Method: "GET", Path: "/"}, true},
				{"CIDR caller, TCP", Request{SourceIP: "203.0.113.7", Port: 9000}, true},
				{"outside the CIDR", Request{SourceIP: "198.51.100.7", Port: 9000, Method: "GET", Path: "/"}, false},
				{"another namespace", get(id("pay", "a"), 9000, "/"), false},
				{"probe on the open port", probe(9000, "/live"), true},
				{"probe on an isolated port", probe(8080, "/healthz"), true},
				{"isolated port", get(id("ops", "x"), 8080, "/"), false},
			},
		},
		{
			name: "podSelector target, named port, HTTP rules, Service caller",
			policies: []*model.Policy{policy("p", target(model.TargetPodSelector, false),
				[]model.Port{port(intstr.FromString("metrics"), 9090, rule("GET", "/metrics"))}, promSA)},
			cases: []evalCase{
				{"declared", get(id("mon", "prometheus"), 9090, "/metrics"), true},
				{"undeclared path", get(id("mon", "prometheus"), 9090, "/debug"), false},
				{"other port", get(id("mon", "prometheus"), 8080, "/metrics"), false},
				{"probes elsewhere", probe(8080, "/healthz"), true},
			},
		},
		{
			name: "Service target selecting no workload: ports and callers enforced, methods and paths not",
			policies: []*model.Policy{policy("p", target(model.TargetService, true),
				[]model.Port{port(intstr.FromInt32(8080), 8080, rule("GET", "/items/*"))}, callerA)},
			cases: []evalCase{
				{"declared", get(a, 8080, "/items/1"), true},
				{"undeclared method: admitted, said in Message", req(a, "POST", 8080, "/items/1"), true},
				{"other caller", get(b, 8080, "/items/1"), false},
				{"probe: Linkerd's own", probe(8080, "/healthz"), true},
				{"an undeclared port is not known", get(b, 9000, "/"), true},
			},
		},
		{
			name:       "no caller Linkerd can express: isolated, everything denied, probes kept",
			policies:   []*model.Policy{policy("p", target(model.TargetWorkload, false), []model.Port{port(intstr.FromString("http"), 8080, rule("GET", "/items/*"))}, sharedSA)},
			defaultPol: "all-unauthenticated",
			denied:     []string{"Linkerd does not admit from[1]"},
			cases: []evalCase{
				{"the shared ServiceAccount", get(id("pay", "default"), 8080, "/items/1"), false},
				{"anyone", Request{SourceIP: "10.1.1.1", Port: 8080, Method: "GET", Path: "/items/1"}, false},
				{"probe", probe(8080, "/healthz"), true},
				{"isolated port", Request{SourceIP: "10.1.1.1", Port: 9090}, false},
			},
		},
		{
			name: "every port: each declared port open to the callers",
			policies: []*model.Policy{func() *model.Policy {
				p := policy("p", target(model.TargetWorkload, false), nil, callerA)
				p.AllPorts = true
				return p
			}()},
			defaultPol: "deny",
			cases: []evalCase{
				{"http", req(a, "PUT", 8080, "/x"), true},
				{"admin", Request{Identity: a, Port: 9000}, true},
				{"metrics", get(a, 9090, "/metrics"), true},
				{"undeclared port: default policy", get(a, 7000, "/"), false},
				{"other caller", get(b, 8080, "/"), false},
				{"probes", probe(8080, "/healthz"), true},
				{"probes on admin", probe(9000, "/live"), true},
			},
		},
		{
			name: "two policies on one port: open (A) and HTTP rules (B)",
			policies: []*model.Policy{
				policy("open", target(model.TargetWorkload, false), []model.Port{port(intstr.FromString("http"), 8080)}, callerA),
				policy("rules", target(model.TargetService, false), []model.Port{port(intstr.FromInt32(8080), 8080, rule("GET", "/items/*"))}, callerB),
			},
			cases: []evalCase{
				{"A anywhere", req(a, "POST", 8080, "/other"), true},
				{"A on B's route", get(a, 8080, "/items/1"), true},
				{"A over TCP", Request{Identity: a, Port: 8080}, true},
				{"B on its route", get(b, 8080, "/items/1"), true},
				{"B elsewhere", get(b, 8080, "/other"), false},
				{"B, other method", req(b, "POST", 8080, "/items/1"), false},
				{"B over TCP", Request{Identity: b, Port: 8080}, false},
				{"probes", probe(8080, "/healthz"), true},
				{"B on another port, isolated by both", get(b, 9000, "/"), false},
			},
		},
		{
			name: "two policies on one port, both with HTTP rules",
			policies: []*model.Policy{
				policy("reads", target(model.TargetWorkload, false), []model.Port{port(intstr.FromString("http"), 8080, rule("GET", "/a/*"))}, callerA),
				policy("writes", target(model.TargetPodSelector, false), []model.Port{port(intstr.FromString("http"), 8080, rule("POST", "/b"))}, callerB),
			},
			cases: []evalCase{
				{"A on its route", get(a, 8080, "/a/1"), true},
				{"B on its route", req(b, "POST", 8080, "/b"), true},
				{"A on B's route", req(a, "POST", 8080, "/b"), false},
				{"B on A's route", get(b, 8080, "/a/1"), false},
				{"neither", get(a, 8080, "/c"), false},
				{"probes", probe(8080, "/healthz"), true},
			},
		},
		{
			name: "two policies on different ports of the same pods",
			policies: []*model.Policy{
				policy("web", target(model.TargetWorkload, false), []model.Port{port(intstr.FromString("http"), 8080)}, callerA),
				policy("admin", target(model.TargetWorkload, false), []model.Port{port(intstr.FromInt32(9000), 9000)}, callerB),
			},
			cases: []evalCase{
				{"A on its port", get(a, 8080, "/"), true},
				{"B on its port", get(b, 9000, "/"), true},
				{"A on B's port", get(a, 9000, "/"), false},
				{"B on A's port", get(b, 8080, "/"), false},
				{"nobody on metrics", get(a, 9090, "/"), false},
				{"probes", probe(9000, "/live"), true},
			},
		},
		{
			name: "a named port that two workloads number differently: one Server by name, each workload's probes",
			policies: []*model.Policy{func() *model.Policy {
				t := target(model.TargetPodSelector, false)
				w2 := apiWorkload()
				w2.Name, w2.PodLabels = "api-v2", map[string]string{"app": "api", "version": "2"}
				w2.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8081}}
				w2.Probes = []model.Probe{{Port: 8081, PortName: "http", Path: "/v2/healthz"}}
				t.Workloads = append(t.Workloads, w2)
				t.Probes = append(t.Probes, w2.Probes...)
				return policy("p", t, []model.Port{port(intstr.FromString("http"), 0, rule("GET", "/items/*"))}, callerA)
			}()},
			dst: &Destination{Namespace: "shop", Labels: map[string]string{"app": "api", "version": "2"},
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8081}}, DefaultPolicy: "deny"},
			cases: []evalCase{
				{"declared, on the v2 number", get(a, 8081, "/items/1"), true},
				{"undeclared path", get(a, 8081, "/x"), false},
				{"other caller", get(b, 8081, "/items/1"), false},
				{"the v2 probe", probe(8081, "/v2/healthz"), true},
			},
		},
		{
			name: "audit: everything admitted (and flagged)",
			policies: []*model.Policy{func() *model.Policy {
				p := policy("p", target(model.TargetWorkload, false), []model.Port{port(intstr.FromString("http"), 8080, rule("GET", "/items/*"))}, callerA)
				p.Mode = ztv1.ModeAudit
				return p
			}()},
			cases: []evalCase{
				{"declared", get(a, 8080, "/items/1"), true},
				{"undeclared", req(b, "POST", 8080, "/x"), true},
				{"another port: the default policy", get(b, 9090, "/"), true},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var objs []client.Object
			var denied []string
			for _, p := range tc.policies {
				res, err := New().Compile(p)
				if err != nil {
					t.Fatal(err)
				}
				if res.Skipped {
					t.Fatalf("policy %s skipped: %s", p.Name, res.Message)
				}
				objs = append(objs, res.Objects...)
				denied = append(denied, res.Denied...)
			}
			if len(denied) != len(tc.denied) {
				t.Fatalf("denied %q; want %d entries like %q", denied, len(tc.denied), tc.denied)
			}
			for i, d := range tc.denied {
				if !strings.Contains(denied[i], d) {
					t.Errorf("denied[%d] %q; want it to mention %q", i, denied[i], d)
				}
			}
			dst := Destination{Namespace: "shop", Labels: apiLabels, Ports: apiWorkload().Ports, DefaultPolicy: tc.defaultPol}
			if tc.dst != nil {
				dst = *tc.dst
			}
			for _, c := range tc.cases {
				got, why := Evaluate(objs, dst, c.req)
				if got != c.want {
					t.Errorf("%s: %+v: allowed=%v (%s); want %v", c.name, c.req, got, why, c.want)
				}
			}
		})
	}
}

// TestEvaluateSemantics covers Linkerd's rules on objects written by hand.
func TestEvaluateSemantics(t *testing.T) {
	server := func(name string, port any, access string) *unstructured.Unstructured {
		return newObject(ServerVersion, "Server", "ns", name, nil, map[string]any{
			"podSelector": map[string]any{"matchLabels": map[string]any{"app": "x"}}, "port": port, "proxyProtocol": "unknown", "accessPolicy": access})
	}
	route := func(name, srv string, matches ...map[string]any) *unstructured.Unstructured {
		ms := make([]any, 0, len(matches))
		for _, m := range matches {
			ms = append(ms, m)
		}
		return newObject(HTTPRouteVersion, "HTTPRoute", "ns", name, nil, routeSpec(srv, []any{map[string]any{"matches": ms}}))
	}
	match := func(method, typ, value string) map[string]any {
		m := map[string]any{"path": map[string]any{"type": typ, "value": value}}
		if method != "" {
			m["method"] = method
		}
		return m
	}
	mtls := func(name string, refs ...map[string]any) *unstructured.Unstructured {
		rs := make([]any, 0, len(refs))
		for _, r := range refs {
			rs = append(rs, r)
		}
		return newObject(MeshTLSAuthenticationVersion, "MeshTLSAuthentication", "ns", name, nil, map[string]any{"identityRefs": rs})
	}
	allow := func(name, kind, target, authnKind, authn string) *unstructured.Unstructured {
		return authorizationPolicy("ns", name, nil, ref(Group, kind, target), ref(Group, authnKind, authn))
	}
	sa := func(ns, name string) map[string]any {
		return map[string]any{"kind": "ServiceAccount", "namespace": ns, "name": name}
	}
	nsRef := func(name string) map[string]any { return map[string]any{"kind": "Namespace", "name": name} }
	netAuthn := newObject(NetworkAuthenticationVersion, "NetworkAuthentication", "ns", "office", nil, map[string]any{
		"networks": []any{map[string]any{"cidr": "192.0.2.0/24", "except": []any{"192.0.2.128/25"}}}})

	dst := Destination{Namespace: "ns", Labels: map[string]string{"app": "x"}, Ports: apiWorkload().Ports}
	u, v := id("ns", "u"), id("ns", "v")
	tests := []struct {
		name string
		objs []*unstructured.Unstructured
		dst  func(Destination) Destination
		req  Request
		want bool
		why  string // a word of why
	}{
		{name: "no Server: default all-unauthenticated", req: get("", 8080, "/"), want: true, why: "default inbound policy"},
		{name: "no Server: default deny", dst: func(d Destination) Destination { d.DefaultPolicy = "deny"; return d }, req: get(u, 8080, "/"), want: false},
		{name: "no Server: default deny admits probes", dst: func(d Destination) Destination { d.DefaultPolicy = "deny"; return d }, req: probe(8080, "/healthz"), want: true},
		{name: "no Server: all-authenticated", dst: func(d Destination) Destination { d.DefaultPolicy = "all-authenticated"; return d }, req: get("", 8080, "/"), want: false},
		{name: "no Server: cluster-unauthenticated", dst: func(d Destination) Destination { d.DefaultPolicy = "cluster-unauthenticated"; return d },
			req: Request{SourceIP: "10.0.0.9", Port: 8080}, want: true},
		{name: "Server without authorization denies", objs: []*unstructured.Unstructured{server("s", int64(8080), "deny")}, req: get(u, 8080, "/"), want: false, why: "no authorization"},
		{name: "a named Server port resolves through the pod's ports", objs: []*unstructured.Unstructured{server("s", "http", "deny")}, req: get(u, 8080, "/"), want: false},
		{name: "a named Server port another port does not match", objs: []*unstructured.Unstructured{server("s", "http", "deny")}, req: get(u, 9090, "/"), want: true, why: "no Server"},
		{name: "audit Server admits", objs: []*unstructured.Unstructured{server("s", int64(8080), "audit")}, req: get(v, 8080, "/"), want: true, why: "audit"},
		{name: "of two Servers the first by name applies", objs: []*unstructured.Unstructured{server("b", int64(8080), "deny"), server("a", int64(8080), "audit")},
			req: get(v, 8080, "/"), want: true, why: "Server ns/a"},
		{name: "Server authorization", objs: []*unstructured.Unstructured{server("s", int64(8080), "deny"), mtls("m", sa("ns", "u")), allow("ap", "Server", "s", "MeshTLSAuthentication", "m")},
			req: get(u, 8080, "/"), want: true, why: "AuthorizationPolicy ns/ap"},
		{name: "an authorization whose authentication is absent is ignored", objs: []*unstructured.Unstructured{server("s", int64(8080), "deny"), allow("ap", "Server", "s", "MeshTLSAuthentication", "m")},
			req: get(u, 8080, "/"), want: false},
		{name: "a Namespace identityRef", objs: []*unstructured.Unstructured{server("s", int64(8080), "deny"), mtls("m", nsRef("pay")), allow("ap", "Server", "s", "MeshTLSAuthentication", "m")},
			req: get(id("pay", "anyone"), 8080, "/"), want: true},
		{name: "a Namespace identityRef, another namespace", objs: []*unstructured.Unstructured{server("s", int64(8080), "deny"), mtls("m", nsRef("pay")), allow("ap", "Server", "s", "MeshTLSAuthentication", "m")},
			req: get(id("payments", "x"), 8080, "/"), want: false},
		{name: "a network", objs: []*unstructured.Unstructured{server("s", int64(8080), "deny"), netAuthn, allow("ap", "Server", "s", "NetworkAuthentication", "office")},
			req: Request{SourceIP: "192.0.2.1", Port: 8080}, want: true},
		{name: "a network's exception", objs: []*unstructured.Unstructured{server("s", int64(8080), "deny"), netAuthn, allow("ap", "Server", "s", "NetworkAuthentication", "office")},
			req: Request{SourceIP: "192.0.2.200", Port: 8080}, want: false},
		{name: "probes on a Server without routes", objs: []*unstructured.Unstructured{server("s", int64(8080), "deny")}, req: probe(8080, "/healthz"), want: true, why: "default probe route"},
		{name: "probes on a Server with routes need a route", objs: []*unstructured.Unstructured{server("s", int64(8080), "deny"), route("r", "s", match("GET", "Exact", "/x"))},
			req: probe(8080, "/healthz"), want: false, why: "404"},
		{name: "a route without authorization", objs: []*unstructured.Unstructured{server("s", int64(8080), "deny"), mtls("m", sa("ns", "u")), route("r", "s", match("GET", "Exact", "/x"))},
			req: get(u, 8080, "/x"), want: false},
		{name: "Server authorizations apply on routes", objs: []*unstructured.Unstructured{server("s", int64(8080), "deny"), mtls("m", sa("ns", "u")),
			allow("ap", "Server", "s", "MeshTLSAuthentication", "m"), route("r", "s", match("GET", "Exact", "/x"))},
			req: get(u, 8080, "/x"), want: true},
		{name: "Server authorizations apply on routes, which must match", objs: []*unstructured.Unstructured{server("s", int64(8080), "deny"), mtls("m", sa("ns", "u")),
			allow("ap", "Server", "s", "MeshTLSAuthentication", "m"), route("r", "s", match("GET", "Exact", "/x"))},
			req: get(u, 8080, "/y"), want: false},
		{name: "route authorization", objs: []*unstructured.Unstructured{server("s", int64(8080), "deny"), mtls("m", sa("ns", "u")),
			allow("ap", "HTTPRoute", "r", "MeshTLSAuthentication", "m"), route("r", "s", match("GET", "Exact", "/x"))},
			req: get(u, 8080, "/x"), want: true},
		{name: "a longer prefix wins", objs: []*unstructured.Unstructured{server("s", int64(8080), "deny"), mtls("m", sa("ns", "u")),
			allow("ap", "HTTPRoute", "a", "MeshTLSAuthentication", "m"), route("a", "s", match("", "PathPrefix", "/")), route("b", "s", match("", "PathPrefix", "/x"))},
			req: get(u, 8080, "/x/y"), want: false, why: "ns/b"},
		{name: "a prefix matches whole segments", objs: []*unstructured.Unstructured{server("s", int64(8080), "deny"), mtls("m", sa("ns", "u")),
			allow("ap", "HTTPRoute", "a", "MeshTLSAuthentication", "m"), route("a", "s", match("", "PathPrefix", "/")), route("b", "s", match("", "PathPrefix", "/x"))},
			req: get(u, 8080, "/xy"), want: true, why: "ns/a"},
		{name: "a method beats no method", objs: []*unstructured.Unstructured{server("s", int64(8080), "deny"), route("a", "s", match("", "PathPrefix", "/")), route("b", "s", match("GET", "PathPrefix", "/"))},
			req: get(u, 8080, "/"), want: false, why: "ns/b"},
		{name: "exact and regular expression tie: the first by name", objs: []*unstructured.Unstructured{server("s", int64(8080), "deny"),
			route("b", "s", match("GET", "Exact", "/x/1")), route("a", "s", match("GET", "RegularExpression", "/x/.*"))},
			req: get(u, 8080, "/x/1"), want: false, why: "ns/a"},
		{name: "the older route wins a tie", objs: []*unstructured.Unstructured{server("s", int64(8080), "deny"),
			func() *unstructured.Unstructured {
				r := route("b", "s", match("GET", "Exact", "/x"))
				r.SetCreationTimestamp(metav1.Unix(100, 0))
				return r
			}(),
			func() *unstructured.Unstructured {
				r := route("a", "s", match("GET", "Exact", "/x"))
				r.SetCreationTimestamp(metav1.Unix(200, 0))
				return r
			}()},
			req: get(u, 8080, "/x"), want: false, why: "ns/b"},
		{name: "a TCP connection is decided by the Server's authorizations", objs: []*unstructured.Unstructured{server("s", int64(8080), "deny"), mtls("m", sa("ns", "u")),
			allow("ap", "HTTPRoute", "r", "MeshTLSAuthentication", "m"), route("r", "s", match("", "PathPrefix", "/"))},
			req: Request{Identity: u, Port: 8080}, want: false, why: "TCP"},
		{name: "conflicting copies of one object", objs: []*unstructured.Unstructured{server("s", int64(8080), "deny"), server("s", int64(8080), "audit")},
			req: get(u, 8080, "/"), want: false, why: "two different Server"},
		{name: "header matches are not modelled", objs: []*unstructured.Unstructured{server("s", int64(8080), "deny"),
			route("r", "s", map[string]any{"headers": []any{map[string]any{"name": "x", "value": "y"}}})},
			req: get(u, 8080, "/"), want: false, why: "not modelled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := dst
			if tc.dst != nil {
				d = tc.dst(d)
			}
			var objs []client.Object
			for _, o := range tc.objs {
				objs = append(objs, o)
			}
			got, why := Evaluate(objs, d, tc.req)
			if got != tc.want || !strings.Contains(why, tc.why) {
				t.Errorf("allowed=%v (%s); want %v, mentioning %q", got, why, tc.want, tc.why)
			}
		})
	}
}
