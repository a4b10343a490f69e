package rbacguard_test

import (
	"reflect"
	"strings"
	"testing"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/rbacguard"
)

func rule(groups, resources, verbs []string, names ...string) ztv1.APIRule {
	return ztv1.APIRule{APIGroups: groups, Resources: resources, Verbs: verbs, ResourceNames: names}
}

func s(v ...string) []string { return v }

func allow(group, resource string, verbs ...string) ztv1.RBACException {
	return ztv1.RBACException{APIGroup: group, Resource: resource, Verbs: verbs}
}

// TestForbidden is the deny list as a specification: each case is a rule and the elements
// refused, as "field: value" (the reason is checked separately).
func TestForbidden(t *testing.T) {
	cases := map[string]struct {
		rule    ztv1.APIRule
		allowed rbacguard.Allowances
		want    []string
	}{
		"named configmaps may be read":               {rule: rule(s(""), s("configmaps"), s("get", "watch"), "app-config")},
		"deployments may be scaled":                  {rule: rule(s("apps"), s("deployments", "deployments/scale"), s("get", "update", "patch"))},
		"named secrets may be read":                  {rule: rule(s(""), s("secrets"), s("get", "list", "watch"), "db-password")},
		"secrets may be created without names":       {rule: rule(s(""), s("secrets"), s("create", "delete"))},
		"pods may be listed":                         {rule: rule(s(""), s("pods", "pods/log"), s("get", "list", "watch"))},
		"a token may be read, not minted":            {rule: rule(s(""), s("serviceaccounts/token"), s("get"))},
		"pods/exec of another group is not core's":   {rule: rule(s("example.com"), s("pods/exec"), s("create"))},
		"secrets of another group are not core's":    {rule: rule(s("example.com"), s("secrets"), s("list"))},
		"verbs are case sensitive, as in RBAC":       {rule: rule(s(""), s("configmaps"), s("Escalate"))},
		"wildcard verb":                              {rule: rule(s(""), s("configmaps"), s("*")), want: s(`verbs: "*"`)},
		"wildcard resource":                          {rule: rule(s(""), s("*"), s("get")), want: s(`resources: "*"`)},
		"wildcard subresource":                       {rule: rule(s(""), s("*/exec"), s("create")), want: s(`resources: "*/exec"`)},
		"wildcard group":                             {rule: rule(s("*"), s("configmaps"), s("get")), want: s(`apiGroups: "*"`)},
		"all wildcards, each element once":           {rule: rule(s("*"), s("*"), s("*")), want: s(`apiGroups: "*"`, `resources: "*"`, `verbs: "*"`)},
		"escalate":                                   {rule: rule(s("rbac.authorization.k8s.io"), s("roles"), s("escalate")), want: s(`verbs: "escalate"`)},
		"bind":                                       {rule: rule(s("rbac.authorization.k8s.io"), s("roles", "clusterroles"), s("bind")), want: s(`verbs: "bind"`)},
		"impersonate":                                {rule: rule(s(""), s("serviceaccounts"), s("impersonate")), want: s(`verbs: "impersonate"`)},
		"escalate even named":                        {rule: rule(s("rbac.authorization.k8s.io"), s("roles"), s("escalate"), "view"), want: s(`verbs: "escalate"`)},
		"create serviceaccounts/token":               {rule: rule(s(""), s("serviceaccounts/token"), s("create")), want: s(`resources: "serviceaccounts/token"`)},
		"create a named serviceaccount's token":      {rule: rule(s(""), s("serviceaccounts/token"), s("create"), "builder"), want: s(`resources: "serviceaccounts/token"`)},
		"pods/exec with create":                      {rule: rule(s(""), s("pods/exec"), s("create")), want: s(`resources: "pods/exec"`)},
		"pods/exec with get (websocket exec)":        {rule: rule(s(""), s("pods/exec"), s("get")), want: s(`resources: "pods/exec"`)},
		"pods/exec of one named pod":                 {rule: rule(s(""), s("pods/exec"), s("create"), "debug-0"), want: s(`resources: "pods/exec"`)},
		"pods/attach":                                {rule: rule(s(""), s("pods/attach"), s("create")), want: s(`resources: "pods/attach"`)},
		"nodes/proxy":                                {rule: rule(s(""), s("nodes/proxy"), s("get")), want: s(`resources: "nodes/proxy"`)},
		"the * group covers the core group":          {rule: rule(s("*"), s("pods/exec"), s("create")), want: s(`apiGroups: "*"`, `resources: "pods/exec"`)},
		"list secrets":                               {rule: rule(s(""), s("secrets"), s("list")), want: s(`resources: "secrets"`)},
		"watch secrets":                              {rule: rule(s(""), s("secrets"), s("watch")), want: s(`resources: "secrets"`)},
		"get secrets without names is a read of all": {rule: rule(s(""), s("secrets"), s("get")), want: s(`resources: "secrets"`)},
		"* verb on secrets":                          {rule: rule(s(""), s("secrets"), s("*")), want: s(`resources: "secrets"`, `verbs: "*"`)},
		"one refusal among harmless elements": {
			rule: rule(s("", "apps"), s("configmaps", "pods/exec", "deployments"), s("get", "list")),
			want: s(`resources: "pods/exec"`),
		},
		"a value written twice is reported once": {rule: rule(s(""), s("pods/attach", "pods/attach"), s("create", "get")), want: s(`resources: "pods/attach"`)},

		"allowed: pods/exec named by a baseline": {
			rule: rule(s(""), s("pods/exec"), s("create", "get")), allowed: rbacguard.Allowances{allow("", "pods/exec", "create", "get")},
		},
		"allowed for create only, not get": {
			rule: rule(s(""), s("pods/exec"), s("create", "get")), allowed: rbacguard.Allowances{allow("", "pods/exec", "create")},
			want: s(`resources: "pods/exec"`),
		},
		"an allowance for another group does not apply": {
			rule: rule(s(""), s("pods/exec"), s("create")), allowed: rbacguard.Allowances{allow("apps", "pods/exec", "create")},
			want: s(`resources: "pods/exec"`),
		},
		"an allowance for pods/exec is not one for */exec": {
			rule: rule(s(""), s("*/exec"), s("create")), allowed: rbacguard.Allowances{allow("", "pods/exec", "create")},
			want: s(`resources: "*/exec"`),
		},
		"an allowance is not a pattern: * allows only a literal *": {
			rule: rule(s(""), s("pods/exec"), s("create")), allowed: rbacguard.Allowances{allow("", "*", "create")},
			want: s(`resources: "pods/exec"`),
		},
		"a literal * allowance allows the wildcard rule": {
			rule: rule(s(""), s("*"), s("get")), allowed: rbacguard.Allowances{allow("", "*", "get")},
		},
		"allowed: listing secrets": {
			rule: rule(s(""), s("secrets"), s("list", "watch")), allowed: rbacguard.Allowances{allow("", "secrets", "list", "watch")},
		},
		"allowed: escalate on roles only": {
			rule:    rule(s("rbac.authorization.k8s.io"), s("roles", "clusterroles"), s("escalate")),
			allowed: rbacguard.Allowances{allow("rbac.authorization.k8s.io", "roles", "escalate")},
			want:    s(`verbs: "escalate"`),
		},
		"allowed: every element of a wildcard rule, spelled out": {
			rule: rule(s("*"), s("*"), s("*")), allowed: rbacguard.Allowances{allow("*", "*", "*")},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := rbacguard.Forbidden(tc.rule, tc.allowed)
			var elems []string
			for _, msg := range got {
				elem, why, ok := strings.Cut(msg, " may not be granted: ")
				if !ok || why == "" {
					t.Errorf("message %q does not say why", msg)
				}
				elems = append(elems, elem)
			}
			if !reflect.DeepEqual(elems, tc.want) {
				t.Errorf("Forbidden() refused %q, want %q\nmessages: %q", elems, tc.want, got)
			}
		})
	}
}

func TestCheckNamesTheRule(t *testing.T) {
	rules := []ztv1.APIRule{
		rule(s(""), s("configmaps"), s("get")),
		rule(s("rbac.authorization.k8s.io"), s("roles"), s("get", "escalate")),
	}
	got := rbacguard.Check(rules, nil)
	want := `spec.target.kubernetesAPI.rules[1].verbs: "escalate" may not be granted: it lets the holder create and update Roles with permissions they do not hold`
	if len(got) != 1 || got[0] != want {
		t.Errorf("Check() = %q, want [%q]", got, want)
	}
	if got := rbacguard.Check(rules[:1], nil); len(got) != 0 {
		t.Errorf("Check() of a harmless rule = %q, want nothing", got)
	}
}

func TestAllowsIsLiteral(t *testing.T) {
	a := rbacguard.Allowances{allow("", "pods/exec", "create"), allow("*", "*", "*")}
	cases := map[string]struct {
		group, resource, verb string
		want                  bool
	}{
		"named exactly":              {"", "pods/exec", "create", true},
		"another verb":               {"", "pods/exec", "get", false},
		"another group":              {"apps", "pods/exec", "create", false},
		"the literal wildcard":       {"*", "*", "*", true},
		"the wildcard is no pattern": {"", "secrets", "list", false},
	}
	for name, tc := range cases {
		if got := a.Allows(tc.group, tc.resource, tc.verb); got != tc.want {
			t.Errorf("%s: Allows(%q, %q, %q) = %v, want %v", name, tc.group, tc.resource, tc.verb, got, tc.want)
		}
	}
}
