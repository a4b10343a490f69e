package linkerd

import (
	"reflect"
	"regexp"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/model"
)

func testPolicy() *model.Policy {
	return &model.Policy{
		Namespace: "shop", Name: "p", Mode: ztv1.ModeEnforce, TrustDomain: "cluster.local",
		Target: model.Target{Kind: model.TargetWorkload, Namespace: "shop", Name: "api", WorkloadKind: ztv1.WorkloadDeployment,
			PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}},
			ProbesKnown: true, Probes: []model.Probe{{Port: 8080, PortName: "http", Path: "/healthz"}, {Port: 9000, Path: "/live"}}},
		Ports: []model.Port{{Port: intstr.FromString("http"), Number: 8080, Protocol: "TCP",
			HTTP: []ztv1.HTTPRule{{Methods: []ztv1.HTTPMethod{"GET"}, Paths: []string{"/items/*"}}}}},
		Callers: []model.Caller{{Index: 0, Kind: model.CallerServiceAccount, Namespace: "pay", Name: "a", ServiceAccounts: []string{"a"}}},
	}
}

func names(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetKind()+" "+o.GetName())
	}
	return out
}

// TestCompile covers what the golden files cannot reach through the resolver.
func TestCompile(t *testing.T) {
	tests := map[string]struct {
		edit    func(*model.Policy)
		skipped string // a word of the skip message; "" when not skipped
		objects []string
		message string
	}{
		"routes and probe routes on a port with HTTP rules": {
			edit: func(*model.Policy) {},
			objects: []string{
				"MeshTLSAuthentication zt-in.p.callers", "Server zt-in.p.http", "AuthorizationPolicy zt-in.p.http.mesh",
				"AuthorizationPolicy zt-in.p.http.probes", "HTTPRoute zt-in.p.http.probes", "HTTPRoute zt-in.p.http.routes",
				"NetworkAuthentication zt-in.p.probes",
			},
		},
		"no routes on an open port: Linkerd keeps authorizing probes itself": {
			edit: func(p *model.Policy) { p.Ports[0].HTTP = nil },
			objects: []string{
				"MeshTLSAuthentication zt-in.p.callers", "Server zt-in.p.http", "AuthorizationPolicy zt-in.p.http.mesh",
			},
		},
		"probes unknown: the port is enforced without routes, with a note": {
			edit: func(p *model.Policy) { p.Target.ProbesKnown, p.Target.Probes = false, nil },
			objects: []string{
				"MeshTLSAuthentication zt-in.p.callers", "Server zt-in.p.http", "AuthorizationPolicy zt-in.p.http.mesh",
			},
			message: "not the HTTP methods and paths",
		},
		"CIDR callers get an authorization of their own": {
			edit: func(p *model.Policy) {
				p.Ports[0].HTTP = nil
				p.Callers = append(p.Callers, model.Caller{Index: 1, Kind: model.CallerCIDR, CIDR: "203.0.113.0/24"})
			},
			objects: []string{
				"MeshTLSAuthentication zt-in.p.callers", "NetworkAuthentication zt-in.p.callers", "Server zt-in.p.http",
				"AuthorizationPolicy zt-in.p.http.mesh", "AuthorizationPolicy zt-in.p.http.network",
			},
		},
		"a probe path the rules also match is reported": {
			edit:    func(p *model.Policy) { p.Ports[0].HTTP[0].Paths = []string{"/health*"} },
			objects: []string{"MeshTLSAuthentication zt-in.p.callers", "Server zt-in.p.http", "AuthorizationPolicy zt-in.p.http.mesh", "AuthorizationPolicy zt-in.p.http.probes", "HTTPRoute zt-in.p.http.probes", "HTTPRoute zt-in.p.http.routes", "NetworkAuthentication zt-in.p.probes"},
			message: "probe GET /healthz on port http is also matched",
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
		"every port cannot be a Server": {
			edit: func(p *model.Policy) { p.Ports, p.AllPorts = nil, true }, skipped: "per port",
		},
		"only UDP": {
			edit: func(p *model.Policy) {
				p.Ports = []model.Port{{Port: intstr.FromInt32(53), Number: 53, Protocol: "UDP"}}
			}, skipped: "TCP only",
		},
		"no caller Linkerd can express": {
			edit: func(p *model.Policy) {
				p.Callers = []model.Caller{{Kind: model.CallerPodSelector, Namespace: "shop",
					PodSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"a": "b"}}}}}
			},
			skipped: "deny everything",
		},
		"more matches than an HTTPRoute holds": {
			edit: func(p *model.Policy) {
				var paths []string
				for i := 0; i < 16; i++ {
					paths = append(paths, "/p"+strings.Repeat("x", i))
				}
				p.Ports[0].HTTP = []ztv1.HTTPRule{{Methods: []ztv1.HTTPMethod{"GET", "PUT", "POST", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "CONNECT"}, Paths: paths}}
			},
			skipped: "144 method and path combinations",
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
			var objs []*unstructured.Unstructured
			for _, o := range res.Objects {
				objs = append(objs, o.(*unstructured.Unstructured))
			}
			if got := names(objs); !reflect.DeepEqual(got, tc.objects) {
				t.Errorf("objects\n%v\nwant\n%v", got, tc.objects)
			}
			if !strings.Contains(res.Message, tc.message) {
				t.Errorf("message %q; want it to mention %q", res.Message, tc.message)
			}
		})
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
