package rbac_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/model"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/rbac"
)

func policy() *model.Policy {
	return &model.Policy{
		Namespace: "shop", Name: "reads", Mode: ztv1.ModeEnforce,
		Target: model.Target{Kind: model.TargetKubernetesAPI, Namespace: "shop", APIRules: []ztv1.APIRule{
			{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"app-config"}, Verbs: []string{"get", "watch"}},
		}},
		Callers: []model.Caller{
			{Index: 0, Kind: model.CallerServiceAccount, Namespace: "shop", Name: "inventory", ServiceAccounts: []string{"inventory"}},
		},
	}
}

func TestCompile(t *testing.T) {
	cases := map[string]struct {
		edit    func(p *model.Policy)
		skipped string // substring of the skip message; empty: objects expected
		rules   []rbacv1.PolicyRule
		subj    []rbacv1.Subject
	}{
		"the declared rule, bound to the caller": {
			rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"app-config"}, Verbs: []string{"get", "watch"}}},
			subj:  []rbacv1.Subject{{Kind: "ServiceAccount", Name: "inventory", Namespace: "shop"}},
		},
		"a Service target is not RBAC's": {
			edit: func(p *model.Policy) {
				p.Target = model.Target{Kind: model.TargetService, Namespace: "shop", Name: "inventory"}
			},
			skipped: "kubernetesAPI targets only",
		},
		"an external target is not RBAC's": {
			edit: func(p *model.Policy) {
				p.Target = model.Target{Kind: model.TargetExternal, CIDRs: []string{"203.0.113.0/24"}}
			},
			skipped: "kubernetesAPI targets only",
		},
		"Audit has no RBAC form": {
			edit:    func(p *model.Policy) { p.Mode = ztv1.ModeAudit },
			skipped: "no audit form",
		},
		"DryRun is generated like Enforce (the compiler applies nothing)": {
			edit:  func(p *model.Policy) { p.Mode = ztv1.ModeDryRun },
			rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"app-config"}, Verbs: []string{"get", "watch"}}},
			subj:  []rbacv1.Subject{{Kind: "ServiceAccount", Name: "inventory", Namespace: "shop"}},
		},
		"a deny-listed rule generates nothing, whoever calls the backend": {
			edit: func(p *model.Policy) {
				p.Target.APIRules = append(p.Target.APIRules, ztv1.APIRule{APIGroups: []string{""}, Resources: []string{"pods/exec"}, Verbs: []string{"create"}})
			},
			skipped: `rules[1].resources: "pods/exec" may not be granted`,
		},
		"a deny-listed rule the namespace's baselines allow": {
			edit: func(p *model.Policy) {
				p.Target.APIRules = []ztv1.APIRule{{APIGroups: []string{""}, Resources: []string{"pods/exec"}, Verbs: []string{"create"}}}
				p.Target.APIAllowances = []ztv1.RBACException{{APIGroup: "", Resource: "pods/exec", Verbs: []string{"create"}}}
			},
			rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods/exec"}, Verbs: []string{"create"}}},
			subj:  []rbacv1.Subject{{Kind: "ServiceAccount", Name: "inventory", Namespace: "shop"}},
		},
		"values sorted and deduplicated, identical rules dropped, none merged": {
			edit: func(p *model.Policy) {
				p.Target.APIRules = []ztv1.APIRule{
					{APIGroups: []string{"apps", ""}, Resources: []string{"deployments", "deployments"}, Verbs: []string{"watch", "get", "get"}},
					{APIGroups: []string{"", "apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "watch"}},
					{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"list"}},
				}
			},
			rules: []rbacv1.PolicyRule{
				{APIGroups: []string{"", "apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "watch"}},
				{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"list"}},
			},
			subj: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "inventory", Namespace: "shop"}},
		},
		"callers of other namespaces are subjects, sorted, once each": {
			edit: func(p *model.Policy) {
				p.Callers = append(p.Callers,
					model.Caller{Index: 1, Kind: model.CallerServiceAccount, Namespace: "reporting", Name: "exporter", ServiceAccounts: []string{"exporter"}},
					model.Caller{Index: 2, Kind: model.CallerServiceAccount, Namespace: "shop", Name: "inventory", ServiceAccounts: []string{"inventory"}},
				)
			},
			rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"app-config"}, Verbs: []string{"get", "watch"}}},
			subj: []rbacv1.Subject{
				{Kind: "ServiceAccount", Name: "exporter", Namespace: "reporting"},
				{Kind: "ServiceAccount", Name: "inventory", Namespace: "shop"},
			},
		},
		"no ServiceAccount caller, no binding to nobody": {
			edit: func(p *model.Policy) {
				p.Callers = []model.Caller{{Kind: model.CallerNamespace, Namespace: "shop", AllPods: true}}
			},
			skipped: "no from entry resolves to a ServiceAccount of its own",
		},
		"a workload caller binds the ServiceAccount it runs as": {
			edit: func(p *model.Policy) {
				p.Callers = []model.Caller{{Kind: model.CallerWorkload, WorkloadKind: ztv1.WorkloadDeployment, Namespace: "shop", Name: "web", ServiceAccounts: []string{"web"}}}
			},
			rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"app-config"}, Verbs: []string{"get", "watch"}}},
			subj:  []rbacv1.Subject{{Kind: "ServiceAccount", Name: "web", Namespace: "shop"}},
		},
		"a workload caller whose ServiceAccount others share binds nothing, and says why": {
			edit: func(p *model.Policy) {
				p.Callers = []model.Caller{{Kind: model.CallerWorkload, WorkloadKind: ztv1.WorkloadDeployment, Namespace: "shop", Name: "web",
					MeshGaps: []string{"Deployment/web runs as ServiceAccount shop/default, which Deployment/batch also runs as"}}}
			},
			skipped: "Deployment/batch",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := policy()
			if tc.edit != nil {
				tc.edit(p)
			}
			res, err := rbac.New().Compile(p)
			if err != nil {
				t.Fatal(err)
			}
			if tc.skipped != "" {
				if !res.Skipped || len(res.Objects) != 0 || !strings.Contains(res.Message, tc.skipped) {
					t.Fatalf("want skipped with %q, got skipped=%v objects=%d message %q", tc.skipped, res.Skipped, len(res.Objects), res.Message)
				}
				return
			}
			if res.Skipped || len(res.Objects) != 2 {
				t.Fatalf("want a Role and a RoleBinding, got skipped=%v %d objects (%s)", res.Skipped, len(res.Objects), res.Message)
			}
			role, ok := res.Objects[0].(*rbacv1.Role)
			if !ok {
				t.Fatalf("first object is %T, want *rbacv1.Role", res.Objects[0])
			}
			rb, ok := res.Objects[1].(*rbacv1.RoleBinding)
			if !ok {
				t.Fatalf("second object is %T, want *rbacv1.RoleBinding", res.Objects[1])
			}
			wantLabels := model.PolicyLabels(p, ztv1.BackendRBAC)
			for _, o := range []struct {
				kind, apiVersion, tkind, name, ns string
				labels                            map[string]string
			}{
				{"Role", role.APIVersion, role.Kind, role.Name, role.Namespace, role.Labels},
				{"RoleBinding", rb.APIVersion, rb.Kind, rb.Name, rb.Namespace, rb.Labels},
			} {
				if o.apiVersion != "rbac.authorization.k8s.io/v1" || o.tkind != o.kind {
					t.Errorf("%s TypeMeta = %s %s", o.kind, o.apiVersion, o.tkind)
				}
				if o.name != "zt-in.reads" || o.ns != "shop" {
					t.Errorf("%s is %s/%s, want shop/zt-in.reads", o.kind, o.ns, o.name)
				}
				if !reflect.DeepEqual(o.labels, wantLabels) {
					t.Errorf("%s labels = %v, want %v", o.kind, o.labels, wantLabels)
				}
			}
			if !reflect.DeepEqual(role.Rules, tc.rules) {
				t.Errorf("rules = %+v\nwant    %+v", role.Rules, tc.rules)
			}
			if want := (rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "zt-in.reads"}); rb.RoleRef != want {
				t.Errorf("roleRef = %+v, want %+v", rb.RoleRef, want)
			}
			if !reflect.DeepEqual(rb.Subjects, tc.subj) {
				t.Errorf("subjects = %+v\nwant       %+v", rb.Subjects, tc.subj)
			}
			// Written as the API server stores it: a JSON round trip changes nothing.
			for _, o := range res.Objects {
				b, _ := json.Marshal(o)
				back := reflect.New(reflect.TypeOf(o).Elem()).Interface()
				_ = json.Unmarshal(b, back)
				if !reflect.DeepEqual(back, o) {
					t.Errorf("%T does not survive a JSON round trip (an empty list the server would drop?)", o)
				}
			}
		})
	}
}

func TestCompileIsDeterministic(t *testing.T) {
	a, _ := rbac.New().Compile(policy())
	b, _ := rbac.New().Compile(policy())
	if !reflect.DeepEqual(a, b) {
		t.Error("two compilations of one policy differ")
	}
}
