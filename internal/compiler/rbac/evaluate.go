package rbac

import (
	"fmt"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Request is a resource request to the Kubernetes API made by a ServiceAccount, as the API
// server's RBAC authorizer sees it. Non-resource requests (URLs such as /healthz) are not
// modelled: no backend generates rules for them.
type Request struct {
	// ServiceAccountNamespace and ServiceAccount name the client: it authenticates as user
	// system:serviceaccount:NS:NAME in groups system:serviceaccounts,
	// system:serviceaccounts:NS and system:authenticated.
	ServiceAccountNamespace, ServiceAccount string
	// Verb is the request's verb: get, list, watch, create, update, patch, delete,
	// deletecollection, or any other (e.g. use, escalate).
	Verb string
	// APIGroup of the resource; "" is the core group.
	APIGroup string
	// Resource (e.g. configmaps) and Subresource (e.g. scale, log; empty for none).
	Resource, Subresource string
	// Name of the object; empty for list, watch, create and deletecollection of a collection.
	Name string
	// Namespace of the request; empty for a cluster-scoped resource, which only
	// ClusterRoleBindings can grant.
	Namespace string
}

// String describes the call (not the client), e.g. "get configmaps app-config in
// namespace shop", "update deployments.apps/scale in namespace shop".
func (r Request) String() string {
	res := r.Resource
	if r.APIGroup != "" {
		res += "." + r.APIGroup
	}
	if r.Subresource != "" {
		res += "/" + r.Subresource
	}
	if r.Name != "" {
		res += " " + r.Name
	}
	if r.Namespace == "" {
		return fmt.Sprintf("%s %s (cluster-scoped)", r.Verb, res)
	}
	return fmt.Sprintf("%s %s in namespace %s", r.Verb, res, r.Namespace)
}

// Evaluate applies the API server's RBAC authorizer to req with the Roles, ClusterRoles,
// RoleBindings and ClusterRoleBindings among objs (objects of other kinds are ignored).
// RBAC only adds: req is allowed when some binding whose subjects include the client refers
// to a role with a rule that matches req, and denied otherwise. A RoleBinding grants only
// in its own namespace, with a Role of that namespace or a ClusterRole; a
// ClusterRoleBinding grants everywhere, with a ClusterRole. A binding whose role is not
// among objs grants nothing. A rule matches when each of its verbs, apiGroups, resources
// and resourceNames matches as the authorizer matches them: "*" matches any verb, group or
// resource, "*/SUB" any resource's subresource SUB, "RES" alone never RES/SUB, and
// resourceNames, when set, only requests that name one of them (so never list, watch,
// create or deletecollection). ClusterRoles are taken as they are: the rules of an
// aggregated ClusterRole are those its object holds.
//
// Only the given objects are judged: in a cluster, other roles and bindings may grant more.
// why names the binding and role that allowed, or says that none did.
func Evaluate(objs []client.Object, req Request) (allowed bool, why string) {
	roles := map[string]*rbacv1.Role{}
	clusterRoles := map[string]*rbacv1.ClusterRole{}
	var bindings []*rbacv1.RoleBinding
	var clusterBindings []*rbacv1.ClusterRoleBinding
	for _, o := range objs {
		switch x := o.(type) {
		case *rbacv1.Role:
			roles[x.Namespace+"/"+x.Name] = x
		case *rbacv1.ClusterRole:
			clusterRoles[x.Name] = x
		case *rbacv1.RoleBinding:
			bindings = append(bindings, x)
		case *rbacv1.ClusterRoleBinding:
			clusterBindings = append(clusterBindings, x)
		}
	}
	// The authorizer visits ClusterRoleBindings first, then the RoleBindings of the
	// request's namespace; the order changes only which grant why names.
	for _, b := range clusterBindings {
		if b.RoleRef.Kind != "ClusterRole" || !bindsServiceAccount(b.Subjects, "", req) {
			continue
		}
		if role := clusterRoles[b.RoleRef.Name]; role != nil && anyRuleAllows(role.Rules, req) {
			return true, fmt.Sprintf("allowed by ClusterRoleBinding %s of ClusterRole %s", b.Name, role.Name)
		}
	}
	if req.Namespace != "" {
		for _, b := range bindings {
			if b.Namespace != req.Namespace || !bindsServiceAccount(b.Subjects, b.Namespace, req) {
				continue
			}
			switch b.RoleRef.Kind {
			case "Role":
				if role := roles[b.Namespace+"/"+b.RoleRef.Name]; role != nil && anyRuleAllows(role.Rules, req) {
					return true, fmt.Sprintf("allowed by RoleBinding %s/%s of Role %s/%s", b.Namespace, b.Name, role.Namespace, role.Name)
				}
			case "ClusterRole":
				if role := clusterRoles[b.RoleRef.Name]; role != nil && anyRuleAllows(role.Rules, req) {
					return true, fmt.Sprintf("allowed by RoleBinding %s/%s of ClusterRole %s", b.Namespace, b.Name, role.Name)
				}
			}
		}
	}
	return false, fmt.Sprintf("no RoleBinding or ClusterRoleBinding binds ServiceAccount %s/%s to a role that grants %s",
		req.ServiceAccountNamespace, req.ServiceAccount, req)
}

// bindsServiceAccount is the authorizer's subject match for a ServiceAccount client. A
// ServiceAccount subject without a namespace means one of bindingNS (a RoleBinding's; a
// ClusterRoleBinding has none, and such a subject matches nothing).
func bindsServiceAccount(subjects []rbacv1.Subject, bindingNS string, req Request) bool {
	user := "system:serviceaccount:" + req.ServiceAccountNamespace + ":" + req.ServiceAccount
	for _, s := range subjects {
		switch s.Kind {
		case rbacv1.ServiceAccountKind:
			ns := s.Namespace
			if ns == "" {
				ns = bindingNS
			}
			if ns != "" && ns == req.ServiceAccountNamespace && s.Name == req.ServiceAccount {
				return true
			}
		case rbacv1.UserKind:
			if s.Name == user {
				return true
			}
		case rbacv1.GroupKind:
			switch s.Name {
			case "system:serviceaccounts", "system:serviceaccounts:" + req.ServiceAccountNamespace, "system:authenticated":
				return true
			}
		}
	}
	return false
}

func anyRuleAllows(rules []rbacv1.PolicyRule, req Request) bool {
	for i := range rules {
		if ruleAllows(rules[i], req) {
			return true
		}
	}
	return false
}

// ruleAllows is the authorizer's match of one rule against a resource request (see
// Evaluate). A rule with nonResourceURLs only matches no resource request.
func ruleAllows(rule rbacv1.PolicyRule, req Request) bool {
	return verbMatches(rule, req.Verb) && groupMatches(rule, req.APIGroup) &&
		resourceMatches(rule, req.Resource, req.Subresource) && nameMatches(rule, req.Name)
}

func verbMatches(rule rbacv1.PolicyRule, verb string) bool {
	for _, v := range rule.Verbs {
		if v == rbacv1.VerbAll || v == verb {
			return true
		}
	}
	return false
}

func groupMatches(rule rbacv1.PolicyRule, group string) bool {
	for _, g := range rule.APIGroups {
		if g == rbacv1.APIGroupAll || g == group {
			return true
		}
	}
	return false
}

func resourceMatches(rule rbacv1.PolicyRule, resource, subresource string) bool {
	combined := resource
	if subresource != "" {
		combined += "/" + subresource
	}
	for _, r := range rule.Resources {
		switch {
		case r == rbacv1.ResourceAll, r == combined:
			return true
		case subresource != "" && strings.HasPrefix(r, "*/") && r[2:] == subresource:
			return true
		}
	}
	return false
}

// nameMatches: a rule without resourceNames matches any request; one with them, only a
// request naming one of them.
func nameMatches(rule rbacv1.PolicyRule, name string) bool {
	if len(rule.ResourceNames) == 0 {
		return true
	}
	for _, n := range rule.ResourceNames {
		if n == name {
			return true
		}
	}
	return false
}
