package linkerd

import (
	"fmt"
	"reflect"
	"regexp"
	"sort"
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

// apiWorkload is the Deployment shop/api: port http 8080 (probe /healthz), admin 9000
// (probe /live) and metrics 9090, running as ServiceAccount api.
func apiWorkload() model.Workload {
	return model.Workload{Kind: ztv1.WorkloadDeployment, Namespace: "shop", Name: "api", PodLabels: map[string]string{"app": "api"}, ServiceAccount: "api",
		Ports: []corev1.ContainerPort{
			{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
			{Name: "admin", ContainerPort: 9000, Protocol: corev1.ProtocolTCP},
			{Name: "metrics", ContainerPort: 9090},
		},
		Probes: []model.Probe{{Port: 8080, PortName: "http", Path: "/healthz"}, {Port: 9000, PortName: "admin", Path: "/live"}},
	}
}

func testPolicy() *model.Policy {
	w := apiWorkload()
	return &model.Policy{
		Namespace: "shop", Name: "p", Mode: ztv1.ModeEnforce, TrustDomain: "cluster.local",
		Target: model.Target{Kind: model.TargetWorkload, Namespace: "shop", Name: "api", WorkloadKind: ztv1.WorkloadDeployment,
			PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}},
			ProbesKnown: true, Probes: w.Probes, Workloads: []model.Workload{w}},
		Ports: []model.Port{{Port: intstr.FromString("http"), Number: 8080, Protocol: "TCP",
			HTTP: []ztv1.HTTPRule{{Methods: []ztv1.HTTPMethod{"GET"}, Paths: []string{"/items/*"}}}}},
		Callers: []model.Caller{{Index: 0, Kind: model.CallerServiceAccount, Namespace: "pay", Name: "a", ServiceAccounts: []string{"a"}}},
	}
}

// names lists objects as "Kind name"; Servers, whose names are hashes, last, as
// "Server <port>" followed by " audit" when their accessPolicy is audit, sorted.
func names(objs []*unstructured.Unstructured) []string {
	var out, servers []string
	for _, o := range objs {
		if o.GetKind() == "Server" {
			spec := o.Object["spec"].(map[string]any)
			s := fmt.Sprintf("Server %v", spec["port"])
			if spec["accessPolicy"] == "audit" {
				s += " audit"
			}
			servers = append(servers, s)
			continue
		}
		out = append(out, o.GetKind()+" "+o.GetName())
	}
	sort.Strings(servers)
	return append(out, servers...)
}

func unstructuredObjects(t *testing.T, objs []client.Object) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, o := range objs {
		out = append(out, o.(*unstructured.Unstructured))
	}
	return out
}

// servers are the Servers of the target's declared ports: http, which the policy opens,
// and admin and metrics, which isolate the others.
var servers = []string{"Server admin", "Server http", "Server metrics"}

func with(objs []string, more ...string) []string {
	return append(append([]string(nil), objs...), more...)
}

// TestCompile covers what the golden files cannot reach through the resolver.
func TestCompile(t *testing.T) {
	tests := map[string]struct {
		edit    func(*model.Policy)
		skipped string // a word of the skip message; "" when not skipped
		objects []string
		message string
		denied  []string // words of Result.Denied, in order; nil when nothing is denied
	}{
		"routes and probe routes on a port with HTTP rules": {
			edit: func(*model.Policy) {},
			objects: with([]string{
				"MeshTLSAuthentication zt-in.p.callers", "AuthorizationPolicy zt-in.p.http.mesh",
				"AuthorizationPolicy zt-in.p.http.probes", "HTTPRoute zt-in.p.http.probes", "HTTPRoute zt-in.p.http.routes",
				"NetworkAuthentication zt-in.p.probes",
			}, servers...),
		},
		"an open port: Server authorization, a catch-all route and the probe route": {
			edit: func(p *model.Policy) { p.Ports[0].HTTP = nil },
			objects: with([]string{
				"MeshTLSAuthentication zt-in.p.callers", "AuthorizationPolicy zt-in.p.http.mesh",
				"AuthorizationPolicy zt-in.p.http.probes", "HTTPRoute zt-in.p.http.probes", "HTTPRoute zt-in.p.http.routes",
				"NetworkAuthentication zt-in.p.probes",
			}, servers...),
		},
		"a rule for every request on every path is an open port": {
			edit: func(p *model.Policy) { p.Ports[0].HTTP = []ztv1.HTTPRule{{Paths: []string{"/*"}}} },
			objects: with([]string{
				"MeshTLSAuthentication zt-in.p.callers", "AuthorizationPolicy zt-in.p.http.mesh",
				"AuthorizationPolicy zt-in.p.http.probes", "HTTPRoute zt-in.p.http.probes", "HTTPRoute zt-in.p.http.routes",
				"NetworkAuthentication zt-in.p.probes",
			}, servers...),
		},
		"an open port without probes: the catch-all route only": {
			edit: func(p *model.Policy) {
				p.Ports = []model.Port{{Port: intstr.FromInt32(9090), Number: 9090, Protocol: "TCP"}}
			},
			objects: []string{
				"AuthorizationPolicy zt-in.p.9090.mesh", "HTTPRoute zt-in.p.9090.routes", "MeshTLSAuthentication zt-in.p.callers",
				"Server admin", "Server http", "Server metrics",
			},
		},
		"an opaque open port: Server authorization only": {
			edit: func(p *model.Policy) {
				p.Ports = []model.Port{{Port: intstr.FromInt32(5432), Number: 5432, Protocol: "TCP"}}
			},
			objects: []string{"AuthorizationPolicy zt-in.p.5432.mesh", "MeshTLSAuthentication zt-in.p.callers", "Server 5432", "Server admin", "Server http", "Server metrics"},
		},
		"HTTP rules on an opaque port are denied": {
			edit: func(p *model.Policy) {
				p.Ports[0] = model.Port{Port: intstr.FromInt32(6379), Number: 6379, Protocol: "TCP", HTTP: p.Ports[0].HTTP}
			},
			objects: []string{"MeshTLSAuthentication zt-in.p.callers", "Server 6379", "Server admin", "Server http", "Server metrics"},
			denied:  []string{"Linkerd does not admit the callers on port 6379: Linkerd treats port 6379 as opaque"},
		},
		"probes unknown: the port is enforced without routes, with a note": {
			edit: func(p *model.Policy) {
				p.Target.Kind, p.Target.ProbesKnown, p.Target.Probes, p.Target.Workloads = model.TargetPodSelector, false, nil, nil
			},
			objects: []string{"MeshTLSAuthentication zt-in.p.callers", "AuthorizationPolicy zt-in.p.http.mesh", "Server http"},
			message: "not the HTTP methods and paths",
		},
		"CIDR callers get an authorization of their own": {
			edit: func(p *model.Policy) {
				p.Ports[0].HTTP = nil
				p.Target.ProbesKnown = false
				p.Callers = append(p.Callers, model.Caller{Index: 1, Kind: model.CallerCIDR, CIDR: "203.0.113.0/24"})
			},
			objects: with([]string{
				"MeshTLSAuthentication zt-in.p.callers", "NetworkAuthentication zt-in.p.callers",
				"AuthorizationPolicy zt-in.p.http.mesh", "AuthorizationPolicy zt-in.p.http.network",
			}, servers...),
		},
		"a probe path the rules also match is reported": {
			edit: func(p *model.Policy) { p.Ports[0].HTTP[0].Paths = []string{"/health*"} },
			objects: with([]string{"MeshTLSAuthentication zt-in.p.callers", "AuthorizationPolicy zt-in.p.http.mesh", "AuthorizationPolicy zt-in.p.http.probes",
				"HTTPRoute zt-in.p.http.probes", "HTTPRoute zt-in.p.http.routes", "NetworkAuthentication zt-in.p.probes"}, servers...),
			message: "probe GET /healthz on port http is also matched",
		},
		"audit: audit Servers, authorizations on them, no routes": {
			edit: func(p *model.Policy) { p.Mode = ztv1.ModeAudit },
			objects: []string{"MeshTLSAuthentication zt-in.p.callers", "AuthorizationPolicy zt-in.p.http.mesh",
				"Server http audit"},
			message: "HTTP methods and paths are not audited",
		},
		"kubernetesAPI is RBAC's": {
			edit: func(p *model.Policy) { p.Target = model.Target{Kind: model.TargetKubernetesAPI, Namespace: "shop"} }, skipped: "RBAC",
		},
		"external CIDRs": {
			edit: func(p *model.Policy) {
				p.Target = model.Target{Kind: model.TargetExternal, Namespace: "shop", CIDRs: []string{"192.0.2.0/24"}}
			},
			skipped: "egress",
		},
		"every port: a Server per declared TCP port, each authorized": {
			edit: func(p *model.Policy) { p.Ports, p.AllPorts = nil, true },
			objects: []string{
				"AuthorizationPolicy zt-in.p.8080.mesh", "AuthorizationPolicy zt-in.p.8080.probes", "HTTPRoute zt-in.p.8080.probes", "HTTPRoute zt-in.p.8080.routes",
				"AuthorizationPolicy zt-in.p.9000.mesh", "AuthorizationPolicy zt-in.p.9000.probes", "HTTPRoute zt-in.p.9000.probes", "HTTPRoute zt-in.p.9000.routes",
				"AuthorizationPolicy zt-in.p.9090.mesh", "HTTPRoute zt-in.p.9090.routes",
				"MeshTLSAuthentication zt-in.p.callers", "NetworkAuthentication zt-in.p.probes",
				"Server admin", "Server http", "Server metrics",
			},
			message: "declare (8080, 9000, 9090)",
		},
		"every port of a target that declares none is denied": {
			edit: func(p *model.Policy) {
				p.Ports, p.AllPorts = nil, true
				p.Target.Workloads[0].Ports = nil
			},
			denied: []string{"Linkerd cannot know the ports; list the ports in spec.ports"},
		},
		"only UDP: the declared TCP ports are isolated": {
			edit: func(p *model.Policy) {
				p.Ports = []model.Port{{Port: intstr.FromInt32(53), Number: 53, Protocol: "UDP"}}
			},
			objects: []string{"MeshTLSAuthentication zt-in.p.callers", "Server admin", "Server http", "Server metrics"},
			message: "TCP only",
		},
		"only UDP, no declared TCP port": {
			edit: func(p *model.Policy) {
				p.Ports = []model.Port{{Port: intstr.FromInt32(53), Number: 53, Protocol: "UDP"}}
				p.Target.Workloads = nil
			}, skipped: "TCP only",
		},
		"no caller Linkerd can express: the target is isolated, everything denied": {
			edit: func(p *model.Policy) {
				p.Callers = []model.Caller{{Kind: model.CallerPodSelector, Namespace: "shop",
					PodSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"a": "b"}}},
					MeshGaps:     []string{"no workload runs its pods"}}}
			},
			objects: servers,
			denied:  []string{"Linkerd does not admit from[0] (pods a=b in namespace shop): no workload runs its pods"},
		},
		"a caller without identity or gaps is denied too": {
			edit: func(p *model.Policy) {
				p.Callers = []model.Caller{{Index: 2, Kind: model.CallerService, Namespace: "shop", Name: "web"}}
			},
			objects: servers,
			denied:  []string{"Linkerd does not admit from[2] (Service shop/web): it has no mesh identity"},
		},
		"a partly expressible caller: its own ServiceAccounts authorized, the rest denied": {
			edit: func(p *model.Policy) {
				p.Ports[0].HTTP = nil
				p.Callers = []model.Caller{{Index: 1, Kind: model.CallerService, Namespace: "pay", Name: "web", ServiceAccounts: []string{"web"},
					MeshGaps: []string{"Deployment pay/legacy runs as ServiceAccount default, which other workloads share"}}}
			},
			objects: with([]string{
				"MeshTLSAuthentication zt-in.p.callers", "AuthorizationPolicy zt-in.p.http.mesh",
				"AuthorizationPolicy zt-in.p.http.probes", "HTTPRoute zt-in.p.http.probes", "HTTPRoute zt-in.p.http.routes",
				"NetworkAuthentication zt-in.p.probes",
			}, servers...),
			denied: []string{"Linkerd does not admit from[1] (Service pay/web): Deployment pay/legacy"},
		},
		"more matches than an HTTPRoute holds: the port is denied, still isolated": {
			edit: func(p *model.Policy) {
				var paths []string
				for i := 0; i < 16; i++ {
					paths = append(paths, "/p"+strings.Repeat("x", i))
				}
				p.Ports[0].HTTP = []ztv1.HTTPRule{{Methods: []ztv1.HTTPMethod{"GET", "PUT", "POST", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "CONNECT"}, Paths: paths}}
			},
			objects: with([]string{"MeshTLSAuthentication zt-in.p.callers"}, servers...),
			denied:  []string{"Linkerd does not admit the callers on port http: 144 method and path combinations"},
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
				if !res.Skipped || len(res.Objects) > 0 || len(res.Denied) > 0 || !strings.Contains(res.Message, tc.skipped) {
					t.Fatalf("skipped=%v objects=%d denied=%v message=%q; want a skip mentioning %q", res.Skipped, len(res.Objects), res.Denied, res.Message, tc.skipped)
				}
				return
			}
			if res.Skipped {
				t.Fatalf("skipped: %s", res.Message)
			}
			objs := unstructuredObjects(t, res.Objects)
			if got := names(objs); !reflect.DeepEqual(got, tc.objects) {
				t.Errorf("objects\n%q\nwant\n%q", got, tc.objects)
			}
			if !strings.Contains(res.Message, tc.message) {
				t.Errorf("message %q; want it to mention %q", res.Message, tc.message)
			}
			if len(res.Denied) != len(tc.denied) {
				t.Fatalf("denied %q; want %d entries like %q", res.Denied, len(tc.denied), tc.denied)
			}
			for i, d := range tc.denied {
				if !strings.Contains(res.Denied[i], d) || !strings.Contains(res.Denied[i], "Linkerd") {
					t.Errorf("denied[%d] %q; want it to mention %q", i, res.Denied[i], d)
				}
			}
			checkObjects(t, p, objs)
		})
	}
}

// checkObjects checks what every generated object must satisfy: Servers are shared
// (named by their spec, labelled by no policy), everything else is the policy's, and every
// reference names a generated object.
func checkObjects(t *testing.T, p *model.Policy, objs []*unstructured.Unstructured) {
	t.Helper()
	generated := map[string]bool{}
	for _, o := range objs {
		generated[o.GetKind()+"/"+o.GetName()] = true
	}
	for _, o := range objs {
		spec := o.Object["spec"].(map[string]any)
		if o.GetNamespace() != p.Namespace {
			t.Errorf("%s %s in namespace %q", o.GetKind(), o.GetName(), o.GetNamespace())
		}
		switch o.GetKind() {
		case "Server":
			if o.GetName() != ServerName(spec) || !reflect.DeepEqual(o.GetLabels(), SharedLabels()) {
				t.Errorf("Server %s: not shared: labels %v", o.GetName(), o.GetLabels())
			}
			for _, f := range []string{"podSelector", "port", "proxyProtocol", "accessPolicy"} {
				if _, ok := spec[f]; !ok {
					t.Errorf("Server %s: %s not set", o.GetName(), f)
				}
			}
		case "HTTPRoute":
			for _, pr := range spec["parentRefs"].([]any) {
				m := pr.(map[string]any)
				if m["group"] != Group || m["kind"] != "Server" || !generated["Server/"+m["name"].(string)] {
					t.Errorf("HTTPRoute %s: parent %v", o.GetName(), m)
				}
			}
			fallthrough
		default:
			if !reflect.DeepEqual(o.GetLabels(), model.PolicyLabels(p, ztv1.BackendLinkerd)) {
				t.Errorf("%s %s: labels %v", o.GetKind(), o.GetName(), o.GetLabels())
			}
		}
		if o.GetKind() == "AuthorizationPolicy" {
			tr := spec["targetRef"].(map[string]any)
			if !generated[tr["kind"].(string)+"/"+tr["name"].(string)] {
				t.Errorf("AuthorizationPolicy %s: target %v not generated", o.GetName(), tr)
			}
			for _, r := range spec["requiredAuthenticationRefs"].([]any) {
				m := r.(map[string]any)
				if !generated[m["kind"].(string)+"/"+m["name"].(string)] {
					t.Errorf("AuthorizationPolicy %s: authentication %v not generated", o.GetName(), m)
				}
			}
		}
	}
}

// TestServersAreShared: policies on the same pods and port generate the same Server,
// whatever their target kind, how they name the port, and how they write the selector;
// and the Server differs where Linkerd must see two (another port, another access policy).
func TestServersAreShared(t *testing.T) {
	server := func(edit func(*model.Policy)) *unstructured.Unstructured {
		t.Helper()
		p := testPolicy()
		edit(p)
		res, err := New().Compile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range unstructuredObjects(t, res.Objects) {
			if o.GetKind() == "Server" && o.Object["spec"].(map[string]any)["port"] == "http" {
				return o
			}
		}
		t.Fatalf("no Server for port http among %q", names(unstructuredObjects(t, res.Objects)))
		return nil
	}
	base := server(func(*model.Policy) {})
	same := map[string]func(*model.Policy){
		"another policy name and callers": func(p *model.Policy) {
			p.Name = "q"
			p.Callers = []model.Caller{{Kind: model.CallerCIDR, CIDR: "192.0.2.0/24"}}
		},
		"a Service target numbering the port": func(p *model.Policy) {
			p.Target.Kind, p.Target.Name = model.TargetService, "api"
			p.Ports = []model.Port{{Port: intstr.FromInt32(8080), Number: 8080, ServicePort: 80, Protocol: "TCP"}}
		},
		"a policy that does not open the port (isolation)": func(p *model.Policy) {
			p.Ports = []model.Port{{Port: intstr.FromInt32(9000), Number: 9000, Protocol: "TCP"}}
		},
		"DryRun": func(p *model.Policy) { p.Mode = ztv1.ModeDryRun },
	}
	for name, edit := range same {
		if got := server(edit); !reflect.DeepEqual(got, base) {
			t.Errorf("%s: Server\n%v\nwant\n%v", name, got.Object, base.Object)
		}
	}
	if got := server(func(p *model.Policy) { p.Mode = ztv1.ModeAudit }); got.GetName() == base.GetName() {
		t.Errorf("an audit Server has the enforcing Server's name %s", got.GetName())
	}

	exprs := func(order []metav1.LabelSelectorRequirement) map[string]any {
		return selector(&metav1.LabelSelector{MatchExpressions: order})
	}
	a := metav1.LabelSelectorRequirement{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"b", "a"}}
	b := metav1.LabelSelectorRequirement{Key: "tier", Operator: metav1.LabelSelectorOpExists}
	if x, y := exprs([]metav1.LabelSelectorRequirement{a, b}), exprs([]metav1.LabelSelectorRequirement{b, a, a}); !reflect.DeepEqual(x, y) {
		t.Errorf("one selector written in two orders: %v and %v", x, y)
	}
}

// TestServerPort: a port is written by the name of its container port when that name is
// unambiguous on the target's workloads, else by number.
func TestServerPort(t *testing.T) {
	w1 := apiWorkload()
	w2 := apiWorkload()
	w2.Name = "api2"
	w2.Ports = []corev1.ContainerPort{{Name: "web", ContainerPort: 8080}, {ContainerPort: 9000}}
	w3 := apiWorkload()
	w3.Name = "api3"
	w3.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8081}}
	tests := []struct {
		ws   []model.Workload
		port intstr.IntOrString
		want intstr.IntOrString
	}{
		{[]model.Workload{w1}, intstr.FromInt32(8080), intstr.FromString("http")},
		{[]model.Workload{w1}, intstr.FromString("http"), intstr.FromString("http")},
		{[]model.Workload{w1}, intstr.FromInt32(7000), intstr.FromInt32(7000)},
		{nil, intstr.FromInt32(8080), intstr.FromInt32(8080)},
		{[]model.Workload{w1, w2}, intstr.FromInt32(8080), intstr.FromInt32(8080)}, // two names
		{[]model.Workload{w1, w2}, intstr.FromInt32(9000), intstr.FromInt32(9000)}, // one unnamed
		{[]model.Workload{w1, w3}, intstr.FromInt32(8080), intstr.FromInt32(8080)}, // http is 8081 elsewhere
	}
	for _, tc := range tests {
		if got := serverPort(tc.ws, tc.port); got != tc.want {
			t.Errorf("%s over %s: %s; want %s", tc.port.String(), model.WorkloadRefs(tc.ws), got.String(), tc.want.String())
		}
	}
}

// TestPathMatch: every API path becomes a match that admits exactly the paths the API
// admits (HTTPAllows), given how Linkerd evaluates each match type: Exact compares the
// whole path, RegularExpression must match the whole path, and PathPrefix "/" admits all.
func TestPathMatch(t *testing.T) {
	tests := []struct {
		path    string
		typ     string
		matches []string
		misses  []string
	}{
		{"/items", "Exact", []string{"/items"}, []string{"/items/", "/items/1", "/itemsx"}},
		{"/items/*", "RegularExpression", []string{"/items/", "/items/1", "/items/a/b"}, []string{"/items", "/itemsx", "/x/items/1"}},
		{"/items*", "RegularExpression", []string{"/items", "/items2", "/items/1"}, []string{"/item", "/x/items"}},
		{"/*", "PathPrefix", nil, nil},
		{"/v1.0/c++/*", "RegularExpression", []string{"/v1.0/c++/x"}, []string{"/v1x0/c++/x", "/v1.0/cc/x"}},
	}
	for _, tc := range tests {
		typ, value := pathMatch(tc.path)
		if typ != tc.typ {
			t.Errorf("%s: type %s; want %s", tc.path, typ, tc.typ)
			continue
		}
		if typ != "RegularExpression" {
			continue
		}
		re := regexp.MustCompile("^(?:" + value + ")$")
		for _, m := range tc.matches {
			if !re.MatchString(m) {
				t.Errorf("%s (%s) does not match %s", tc.path, value, m)
			}
		}
		for _, m := range tc.misses {
			if re.MatchString(m) {
				t.Errorf("%s (%s) matches %s", tc.path, value, m)
			}
		}
	}
}

func TestNamespaceAnnotations(t *testing.T) {
	deny := map[string]string{DefaultInboundPolicyAnnotation: "deny"}
	tests := map[string]struct {
		mesh *ztv1.BaselineMesh
		want map[string]string
	}{
		"no mesh part":             {nil, nil},
		"permissive":               {&ztv1.BaselineMesh{MTLS: ztv1.MTLSPermissive}, nil},
		"strict":                   {&ztv1.BaselineMesh{MTLS: ztv1.MTLSStrict}, deny},
		"default deny":             {&ztv1.BaselineMesh{DefaultDeny: true}, deny},
		"permissive, default deny": {&ztv1.BaselineMesh{MTLS: ztv1.MTLSPermissive, DefaultDeny: true}, deny},
	}
	for name, tc := range tests {
		if got := NamespaceAnnotations(&model.Baseline{Name: "b", Namespace: "ns", Mesh: tc.mesh}); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v; want %v", name, got, tc.want)
		}
	}
}
