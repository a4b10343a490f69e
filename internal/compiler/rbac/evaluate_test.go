package rbac_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/rbac"
)

func role(ns, name string, rules ...rbacv1.PolicyRule) *rbacv1.Role {
	return &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Rules: rules}
}

func clusterRole(name string, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}
}

func binding(ns, name, kind, roleName string, subjects ...rbacv1.Subject) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: roleName}, Subjects: subjects}
}

func clusterBinding(name, roleName string, subjects ...rbacv1.Subject) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: roleName}, Subjects: subjects}
}

func sa(ns, name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}
}

func rule(groups, resources, names, verbs []string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{APIGroups: groups, Resources: resources, ResourceNames: names, Verbs: verbs}
}

func l(s ...string) []string { return s }

// inventory is shop/inventory, the client of every request unless a case says otherwise.
func req(verb, group, resource, sub, name string) rbac.Request {
	return rbac.Request{ServiceAccountNamespace: "shop", ServiceAccount: "inventory", Verb: verb,
		APIGroup: group, Resource: resource, Subresource: sub, Name: name, Namespace: "shop"}
}

// bound is a Role in shop with rules r, bound to shop/inventory.
func bound(r ...rbacv1.PolicyRule) []client.Object {
	return []client.Object{role("shop", "reads", r...), binding("shop", "reads", "Role", "reads", sa("shop", "inventory"))}
}

func TestEvaluate(t *testing.T) {
	configRule := rule(l(""), l("configmaps"), l("app-config"), l("get", "watch"))
	other := func(r rbac.Request, edit func(*rbac.Request)) rbac.Request { edit(&r); return r }
	cases := []struct {
		name  string
		objs  []client.Object
		req   rbac.Request
		allow bool
		why   string // substring of why; empty: not checked
	}{
		// The generated shape: one Role, one RoleBinding to ServiceAccounts.
		{"declared verb on the named object", bound(configRule), req("get", "", "configmaps", "", "app-config"), true,
			"allowed by RoleBinding shop/reads of Role shop/reads"},
		{"the other declared verb", bound(configRule), req("watch", "", "configmaps", "", "app-config"), true, ""},
		{"an undeclared verb", bound(configRule), req("update", "", "configmaps", "", "app-config"), false,
			"no RoleBinding or ClusterRoleBinding binds ServiceAccount shop/inventory to a role that grants update configmaps app-config in namespace shop"},
		{"another object than resourceNames", bound(configRule), req("get", "", "configmaps", "", "other"), false, ""},
		{"resourceNames never match a request without a name (list)", bound(rule(l(""), l("configmaps"), l("app-config"), l("list"))),
			req("list", "", "configmaps", "", ""), false, ""},
		{"without resourceNames any name, and none", bound(rule(l(""), l("configmaps"), nil, l("list", "get"))),
			req("list", "", "configmaps", "", ""), true, ""},
		{"another resource", bound(configRule), req("get", "", "secrets", "", "app-config"), false, ""},
		{"the same resource in another group", bound(configRule), req("get", "apps", "configmaps", "", "app-config"), false, ""},
		{"a core rule does not grant apps", bound(rule(l(""), l("deployments"), nil, l("get"))), req("get", "apps", "deployments", "", "api"), false, ""},
		{"an apps rule grants apps", bound(rule(l("apps"), l("deployments"), nil, l("get"))), req("get", "apps", "deployments", "", "api"), true, ""},
		{"verb *", bound(rule(l(""), l("configmaps"), nil, l("*"))), req("deletecollection", "", "configmaps", "", ""), true, ""},
		{"apiGroup *", bound(rule(l("*"), l("deployments"), nil, l("get"))), req("get", "apps", "deployments", "", "api"), true, ""},
		{"resource *", bound(rule(l(""), l("*"), nil, l("get"))), req("get", "", "secrets", "", "x"), true, ""},
		{"resource * includes subresources", bound(rule(l(""), l("*"), nil, l("get"))), req("get", "", "pods", "log", "x"), true, ""},
		{"a resource alone does not grant its subresources", bound(rule(l(""), l("pods"), nil, l("get"))), req("get", "", "pods", "log", "x"), false, ""},
		{"a subresource does not grant its resource", bound(rule(l("apps"), l("deployments/scale"), nil, l("update"))),
			req("update", "apps", "deployments", "", "api"), false, ""},
		{"resource/subresource", bound(rule(l("apps"), l("deployments/scale"), nil, l("update"))),
			req("update", "apps", "deployments", "scale", "api"), true, ""},
		{"*/subresource", bound(rule(l("apps"), l("*/scale"), nil, l("update"))), req("update", "apps", "statefulsets", "scale", "db"), true, ""},
		{"*/subresource is that subresource only", bound(rule(l("apps"), l("*/scale"), nil, l("update"))), req("update", "apps", "statefulsets", "status", "db"), false, ""},
		{"*/subresource is not the resource", bound(rule(l("apps"), l("*/scale"), nil, l("update"))), req("update", "apps", "statefulsets", "", "db"), false, ""},
		{"matching is case-sensitive", bound(rule(l(""), l("ConfigMaps"), nil, l("GET"))), req("get", "", "configmaps", "", "x"), false, ""},
		{"one rule must match every part (rules do not combine)", bound(rule(l("apps"), l("deployments"), nil, l("get")), rule(l(""), l("configmaps"), nil, l("get"))),
			req("get", "", "deployments", "", "api"), false, ""},
		{"the second rule", bound(rule(l("apps"), l("deployments"), nil, l("get")), rule(l(""), l("configmaps"), nil, l("get"))),
			req("get", "", "configmaps", "", "x"), true, ""},
		{"nonResourceURLs rules match no resource request", bound(rbacv1.PolicyRule{NonResourceURLs: l("*"), Verbs: l("*")}),
			req("get", "", "configmaps", "", "x"), false, ""},

		// Subjects.
		{"another ServiceAccount of the namespace", bound(configRule),
			other(req("get", "", "configmaps", "", "app-config"), func(r *rbac.Request) { r.ServiceAccount = "web" }), false,
			"binds ServiceAccount shop/web"},
		{"the same name in another namespace", bound(configRule),
			other(req("get", "", "configmaps", "", "app-config"), func(r *rbac.Request) { r.ServiceAccountNamespace = "other" }), false, ""},
		{"a ServiceAccount of another namespace, bound", []client.Object{role("shop", "reads", configRule), binding("shop", "reads", "Role", "reads", sa("client", "web"))},
			rbac.Request{ServiceAccountNamespace: "client", ServiceAccount: "web", Verb: "get", Resource: "configmaps", Name: "app-config", Namespace: "shop"}, true, ""},
		{"a ServiceAccount subject without namespace is of the binding's", []client.Object{role("shop", "reads", configRule), binding("shop", "reads", "Role", "reads", sa("", "inventory"))},
			req("get", "", "configmaps", "", "app-config"), true, ""},
		{"the ServiceAccount's user name", []client.Object{role("shop", "reads", configRule),
			binding("shop", "reads", "Role", "reads", rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "system:serviceaccount:shop:inventory"})},
			req("get", "", "configmaps", "", "app-config"), true, ""},
		{"another user", []client.Object{role("shop", "reads", configRule),
			binding("shop", "reads", "Role", "reads", rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "inventory"})},
			req("get", "", "configmaps", "", "app-config"), false, ""},
		{"the group of the namespace's ServiceAccounts", []client.Object{role("shop", "reads", configRule),
			binding("shop", "reads", "Role", "reads", rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "system:serviceaccounts:shop"})},
			req("get", "", "configmaps", "", "app-config"), true, ""},
		{"the group of another namespace's ServiceAccounts", []client.Object{role("shop", "reads", configRule),
			binding("shop", "reads", "Role", "reads", rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "system:serviceaccounts:client"})},
			req("get", "", "configmaps", "", "app-config"), false, ""},
		{"system:authenticated", []client.Object{role("shop", "reads", configRule),
			binding("shop", "reads", "Role", "reads", rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "system:authenticated"})},
			req("get", "", "configmaps", "", "app-config"), true, ""},

		// Bindings and roles.
		{"a request in another namespace", bound(configRule),
			other(req("get", "", "configmaps", "", "app-config"), func(r *rbac.Request) { r.Namespace = "other" }), false, ""},
		{"a RoleBinding grants only in its namespace", []client.Object{role("other", "reads", configRule), binding("other", "reads", "Role", "reads", sa("shop", "inventory"))},
			req("get", "", "configmaps", "", "app-config"), false, ""},
		{"roleRef names a Role of the binding's namespace only", []client.Object{role("other", "reads", configRule), binding("shop", "reads", "Role", "reads", sa("shop", "inventory"))},
			req("get", "", "configmaps", "", "app-config"), false, ""},
		{"a binding of a missing Role", []client.Object{binding("shop", "reads", "Role", "reads", sa("shop", "inventory"))},
			req("get", "", "configmaps", "", "app-config"), false, ""},
		{"a Role nothing binds", []client.Object{role("shop", "reads", configRule)}, req("get", "", "configmaps", "", "app-config"), false, ""},
		{"roleRef kind Role does not name a ClusterRole", []client.Object{clusterRole("reads", configRule), binding("shop", "reads", "Role", "reads", sa("shop", "inventory"))},
			req("get", "", "configmaps", "", "app-config"), false, ""},
		{"a RoleBinding of a ClusterRole grants in its namespace", []client.Object{clusterRole("view", configRule), binding("shop", "view", "ClusterRole", "view", sa("shop", "inventory"))},
			req("get", "", "configmaps", "", "app-config"), true, "allowed by RoleBinding shop/view of ClusterRole view"},
		{"a RoleBinding of a ClusterRole grants not elsewhere", []client.Object{clusterRole("view", configRule), binding("shop", "view", "ClusterRole", "view", sa("shop", "inventory"))},
			other(req("get", "", "configmaps", "", "app-config"), func(r *rbac.Request) { r.Namespace = "other" }), false, ""},
		{"a ClusterRoleBinding grants in every namespace", []client.Object{clusterRole("view", configRule), clusterBinding("view", "view", sa("shop", "inventory"))},
			other(req("get", "", "configmaps", "", "app-config"), func(r *rbac.Request) { r.Namespace = "other" }), true, "allowed by ClusterRoleBinding view of ClusterRole view"},
		{"a ClusterRoleBinding grants cluster-scoped resources", []client.Object{clusterRole("nodes", rule(l(""), l("nodes"), nil, l("get"))), clusterBinding("nodes", "nodes", sa("shop", "inventory"))},
			rbac.Request{ServiceAccountNamespace: "shop", ServiceAccount: "inventory", Verb: "get", Resource: "nodes", Name: "n1"}, true, ""},
		{"a RoleBinding does not grant cluster-scoped resources", bound(rule(l(""), l("nodes"), nil, l("get"))),
			rbac.Request{ServiceAccountNamespace: "shop", ServiceAccount: "inventory", Verb: "get", Resource: "nodes", Name: "n1"}, false, "(cluster-scoped)"},
		{"a ClusterRoleBinding's ServiceAccount subject needs a namespace", []client.Object{clusterRole("view", configRule), clusterBinding("view", "view", sa("", "inventory"))},
			req("get", "", "configmaps", "", "app-config"), false, ""},
		{"objects of other kinds are ignored", []client.Object{&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "reads"}}},
			req("get", "", "configmaps", "", "app-config"), false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			allowed, why := rbac.Evaluate(tc.objs, tc.req)
			if allowed != tc.allow {
				t.Errorf("Evaluate(%s) = %v (%s), want %v", tc.req, allowed, why, tc.allow)
			}
			if tc.why != "" && !strings.Contains(why, tc.why) {
				t.Errorf("why = %q, want it to contain %q", why, tc.why)
			}
		})
	}
}

// TestEvaluateCompiled: what Compile generates grants exactly the declared rule to the
// callers' ServiceAccounts.
func TestEvaluateCompiled(t *testing.T) {
	res, err := rbac.New().Compile(policy())
	if err != nil || res.Skipped {
		t.Fatalf("Compile: %v %+v", err, res)
	}
	for _, tc := range []struct {
		req   rbac.Request
		allow bool
	}{
		{req("get", "", "configmaps", "", "app-config"), true},
		{req("watch", "", "configmaps", "", "app-config"), true},
		{req("list", "", "configmaps", "", ""), false},
		{req("get", "", "configmaps", "", "other"), false},
		{req("update", "", "configmaps", "", "app-config"), false},
		{as(req("get", "", "configmaps", "", "app-config"), "web"), false},
	} {
		if allowed, why := rbac.Evaluate(res.Objects, tc.req); allowed != tc.allow {
			t.Errorf("%s by %s/%s: allowed %v (%s), want %v", tc.req, tc.req.ServiceAccountNamespace, tc.req.ServiceAccount, allowed, why, tc.allow)
		}
	}
}

func as(r rbac.Request, serviceAccount string) rbac.Request {
	r.ServiceAccount = serviceAccount
	return r
}
