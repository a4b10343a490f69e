package cilium

import (
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
		Target: model.Target{Kind: model.TargetService, Namespace: "shop", Name: "inventory",
			PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "inventory"}}},
		Ports: []model.Port{{Port: intstr.FromString("http"), Protocol: "TCP"}},
		Callers: []model.Caller{{Index: 0, Kind: model.CallerPodSelector, Namespace: "shop",
			PodSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"app": "a"}}}}},
	}
}

// TestCompile covers what the golden files cannot reach through the resolver.
func TestCompile(t *testing.T) {
	tests := map[string]struct {
		edit    func(*model.Policy)
		skipped string
		names   []string
	}{
		"enforce":                      {edit: func(*model.Policy) {}, names: []string{"zt-in.p"}},
		"audit has no per-policy form": {edit: func(p *model.Policy) { p.Mode = ztv1.ModeAudit }, skipped: "policy-audit-mode"},
		"kubernetesAPI is RBAC's": {
			edit: func(p *model.Policy) { p.Target = model.Target{Kind: model.TargetKubernetesAPI, Namespace: "shop"} }, skipped: "RBAC",
		},
		"no peers: no ingress policy (it would isolate the target)": {
			edit:  func(p *model.Policy) { p.Callers = nil },
			names: nil,
		},
		"a ServiceAccount without workloads is still a caller": {
			edit: func(p *model.Policy) {
				p.Callers = []model.Caller{{Kind: model.CallerServiceAccount, Namespace: "shop", Name: "idle", ServiceAccounts: []string{"idle"}}}
			},
			names: []string{"zt-in.p"},
		},
		"egress only where denied": {
			edit: func(p *model.Policy) {
				p.Callers = append(p.Callers,
					model.Caller{Index: 1, Kind: model.CallerNamespace, Namespace: "locked", AllPods: true},
					model.Caller{Index: 2, Kind: model.CallerServiceAccount, Namespace: "locked", Name: "sa", ServiceAccounts: []string{"sa"}},
					model.Caller{Index: 3, Kind: model.CallerNamespace, Namespace: "free", AllPods: true})
				p.EgressDenied = []string{"locked"}
			},
			names: []string{"zt-out.shop.p.1", "zt-out.shop.p.2-0", "zt-in.p"},
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
			var names []string
			for _, o := range res.Objects {
				names = append(names, o.GetName())
				spec := o.(*unstructured.Unstructured).Object["spec"].(map[string]any)
				if spec["enableDefaultDeny"] == nil {
					t.Errorf("%s: enableDefaultDeny not explicit", o.GetName())
				}
			}
			if strings.Join(names, ",") != strings.Join(tc.names, ",") {
				t.Fatalf("objects %v; want %v", names, tc.names)
			}
		})
	}
}

// TestPathRegex: the expression Cilium matches against the request's :path admits exactly
// what the API path admits, with or without a query string, and regex metacharacters in
// the path are literal.
func TestPathRegex(t *testing.T) {
	tests := []struct {
		path            string
		matches, misses []string
	}{
		{"/items", []string{"/items", "/items?page=2"}, []string{"/items/", "/items/1", "/itemsx", "/x/items"}},
		{"/items/*", []string{"/items/", "/items/1", "/items/1?x=y"}, []string{"/items", "/itemsx", "/x/items/1"}},
		{"/items*", []string{"/items", "/items2", "/items/1"}, []string{"/item", "/x/items"}},
		{"/v1.0/c++", []string{"/v1.0/c++"}, []string{"/v1x0/c++", "/v1.0/cc", "/v1.0/c"}},
		{"/a(b)|c", []string{"/a(b)|c"}, []string{"/ab", "c"}},
	}
	for _, tc := range tests {
		re := regexp.MustCompile(PathRegex(tc.path))
		for _, m := range tc.matches {
			if !re.MatchString(m) {
				t.Errorf("%s (%s) does not match %s", tc.path, re, m)
			}
		}
		for _, m := range tc.misses {
			if re.MatchString(m) {
				t.Errorf("%s (%s) matches %s", tc.path, re, m)
			}
		}
	}
}
