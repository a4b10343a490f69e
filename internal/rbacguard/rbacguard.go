// Package rbacguard holds the RBAC deny list: the permissions a ServiceAccessPolicy with a
// kubernetesAPI target may not grant unless a ZeroTrustBaseline selecting its namespace
// allows them by name (spec.rbac.allow).
//
// It is pure and shared by the three places that enforce it, so they cannot disagree: the
// admission webhook (which refuses such a policy), the compiler (which grants nothing for
// it and says so in status, for a policy that reached the cluster without the webhook) and
// the RBAC backend (which refuses to generate a Role for it, whatever it is handed).
//
// The deny list is what turns namespace-scoped RBAC into more than it looks:
//   - "*" in apiGroups, resources or verbs: it grants everything that exists and everything
//     added later, so nobody reviewing the policy can say what it grants;
//   - the verbs escalate and bind (write or bind Roles with permissions the holder lacks)
//     and impersonate (act as another user, group or ServiceAccount), on any resource;
//   - create on serviceaccounts/token: mints a token for any ServiceAccount of the namespace;
//   - any verb on pods/exec, pods/attach (run in or attach to any pod of the namespace, and
//     so act with its ServiceAccount and read its mounted Secrets) and nodes/proxy (the
//     kubelet API);
//   - get, list or watch on secrets without resourceNames. get is on the list with list and
//     watch: without resourceNames it reads any Secret whose name the holder knows or
//     guesses, and Secret names are rarely secret (ServiceAccount tokens, Helm releases,
//     TLS certificates follow fixed patterns). Name the Secrets in resourceNames instead.
//
// Rule elements are matched the way the RBAC authorizer matches them: the API group "*"
// covers the core group, the resource "*" covers every resource and "*/exec" the exec
// subresource of every resource, the verb "*" every verb.
package rbacguard

import (
	"fmt"
	"strings"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

// Allowances are the exceptions to the deny list that apply to one namespace: the
// spec.rbac.allow entries of every ZeroTrustBaseline that selects it. The zero value allows
// nothing.
type Allowances []ztv1.RBACException

// Allows reports whether an entry allows verb on resource of apiGroup. Values are compared
// literally, never as patterns: an entry allows a wildcard only when it writes the wildcard
// itself, so an exception can never be wider than what it spells out.
func (a Allowances) Allows(apiGroup, resource, verb string) bool {
	for _, e := range a {
		if e.APIGroup != apiGroup || e.Resource != resource {
			continue
		}
		for _, v := range e.Verbs {
			if v == verb {
				return true
			}
		}
	}
	return false
}

// RulesPath is the field path of the rules of a kubernetesAPI target, as messages name them.
const RulesPath = "spec.target.kubernetesAPI.rules"

// Check runs Forbidden over every rule of a kubernetesAPI target and returns one message per
// refused element, each naming its field, e.g.
// `spec.target.kubernetesAPI.rules[0].verbs: "escalate" may not be granted: ...`. Empty
// means nothing is refused.
func Check(rules []ztv1.APIRule, allowed Allowances) []string {
	var out []string
	for i, r := range rules {
		for _, msg := range Forbidden(r, allowed) {
			out = append(out, fmt.Sprintf("%s[%d].%s", RulesPath, i, msg))
		}
	}
	return out
}

// Forbidden returns what rule would grant from the deny list that allowed does not allow:
// one message per refused element of the rule, "field: \"value\" may not be granted: why",
// in the order apiGroups, resources, verbs and, within each, the rule's order. Empty means
// the rule may be granted.
//
// A permission is allowed only when allowed names the rule's own apiGroup, resource and
// verb: for a rule with apiGroups [""], resources [pods/exec] and verbs [create, get], that
// is ("", pods/exec, create) and ("", pods/exec, get).
func Forbidden(rule ztv1.APIRule, allowed Allowances) []string {
	var found []finding
	seen := map[[3]string]bool{}
	add := func(f finding) {
		// A value written twice, or refused for several verbs, is reported once.
		if k := [3]string{f.field, f.value, f.why}; !seen[k] {
			seen[k] = true
			found = append(found, f)
		}
	}
	named := len(rule.ResourceNames) > 0
	for gi, g := range rule.APIGroups {
		for ri, r := range rule.Resources {
			for vi, v := range rule.Verbs {
				fs := deny(g, r, v, named, gi, ri, vi)
				if len(fs) == 0 || allowed.Allows(g, r, v) {
					continue
				}
				for _, f := range fs {
					add(f)
				}
			}
		}
	}
	sortFindings(found)
	out := make([]string, 0, len(found))
	for _, f := range found {
		out = append(out, fmt.Sprintf("%s: %q may not be granted: %s", f.field, f.value, f.why))
	}
	return out
}

// finding is one refused element of a rule.
type finding struct {
	field string // apiGroups, resources or verbs
	index int    // of the value in that field
	value string
	why   string
}

var fieldOrder = map[string]int{"apiGroups": 0, "resources": 1, "verbs": 2}

func sortFindings(fs []finding) {
	// Insertion sort: a rule has a handful of findings, and this keeps the order stable.
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && less(fs[j], fs[j-1]); j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}
}

func less(a, b finding) bool {
	if fieldOrder[a.field] != fieldOrder[b.field] {
		return fieldOrder[a.field] < fieldOrder[b.field]
	}
	return a.index < b.index
}

// Verbs on the deny list whatever the resource.
var deniedVerbs = map[string]string{
	"escalate":    "it lets the holder create and update Roles with permissions they do not hold",
	"bind":        "it lets the holder bind Roles with permissions they do not hold",
	"impersonate": "it lets the holder act as other users, groups or ServiceAccounts",
}

// Core-group subresources on the deny list for every verb.
var deniedResources = []struct{ resource, why string }{
	{"pods/exec", "it runs commands in any pod of the namespace, with that pod's ServiceAccount and Secrets"},
	{"pods/attach", "it attaches to the processes of any pod of the namespace"},
	{"nodes/proxy", "it reaches the kubelet API of nodes"},
}

const (
	tokenWhy   = `with "create" it mints tokens for every ServiceAccount of the namespace`
	secretsWhy = `with "get", "list" or "watch" and no resourceNames it reads every Secret of the namespace (get needs only a name, and Secret names are easy to guess); name the Secrets in resourceNames`
)

// deny returns the findings for one (apiGroup, resource, verb) of a rule. A wildcard element
// is reported as such, and not again for each thing it covers.
func deny(g, r, v string, named bool, gi, ri, vi int) []finding {
	var fs []finding
	gWild, rWild, vWild := strings.Contains(g, "*"), strings.Contains(r, "*"), strings.Contains(v, "*")
	if gWild {
		fs = append(fs, finding{"apiGroups", gi, g, "a wildcard grants every API group, including ones added later; list the groups"})
	}
	if rWild {
		fs = append(fs, finding{"resources", ri, r, "a wildcard grants every resource, including ones added later; list the resources"})
	}
	if vWild {
		fs = append(fs, finding{"verbs", vi, v, "a wildcard grants every verb, escalate, bind and impersonate included; list the verbs"})
	}
	if why, ok := deniedVerbs[v]; ok {
		fs = append(fs, finding{"verbs", vi, v, why})
	}
	if rWild || !coversCore(g) {
		return fs
	}
	for _, d := range deniedResources {
		if coversResource(r, d.resource) {
			fs = append(fs, finding{"resources", ri, r, d.why})
		}
	}
	if coversResource(r, "serviceaccounts/token") && coversVerb(v, "create") {
		fs = append(fs, finding{"resources", ri, r, tokenWhy})
	}
	if !named && coversResource(r, "secrets") && (coversVerb(v, "get") || coversVerb(v, "list") || coversVerb(v, "watch")) {
		fs = append(fs, finding{"resources", ri, r, secretsWhy})
	}
	return fs
}

// coversCore: the RBAC authorizer matches the API group "*" to every group.
func coversCore(g string) bool { return g == "" || g == "*" }

// coversResource matches a rule's resource to a resource[/subresource] the way the RBAC
// authorizer does: equal, "*", or "*/sub" for the subresource sub of any resource.
func coversResource(rule, want string) bool {
	if rule == want || rule == "*" {
		return true
	}
	_, sub, ok := strings.Cut(want, "/")
	return ok && rule == "*/"+sub
}

func coversVerb(rule, want string) bool { return rule == want || rule == "*" }
