// Package rbac is the RBAC backend: it enforces a kubernetesAPI target with one
// rbac.authorization.k8s.io/v1 Role in the policy's namespace holding exactly the declared
// rules, and one RoleBinding of that Role to the callers' ServiceAccounts. The namespace
// that owns the API objects grants; callers may live in other namespaces.
//
// It never widens a rule: values are sorted and deduplicated within each rule, identical
// rules are dropped, and rules are never merged (merging {apps: [deployments]} with
// {"": [configmaps]} would grant configmaps in apps). A rule on the deny list (package
// rbacguard) that the policy's namespace does not allow makes it generate nothing at all.
//
// Objects are written exactly as the API server stores them (TypeMeta, roleRef.apiGroup,
// subjects[].apiGroup "" for ServiceAccounts, no empty lists), so that applying an unchanged
// object is a no-op.
package rbac

import (
	"fmt"
	"sort"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/model"
	"github.com/zerotrust-dev/zerotrust-operator/internal/rbacguard"
)

// Backend is the RBAC backend. The zero value is ready to use.
type Backend struct{}

// New returns the RBAC backend.
func New() Backend { return Backend{} }

var _ model.Backend = Backend{}

// Name is ztv1.BackendRBAC.
func (Backend) Name() ztv1.Backend { return ztv1.BackendRBAC }

// Compile returns the Role and RoleBinding of a kubernetesAPI target, named
// model.IngressName(p) in the policy's namespace. Other targets are not RBAC's and are
// skipped, as is mode Audit: RBAC has no form that logs and still allows.
func (Backend) Compile(p *model.Policy) (model.Result, error) {
	if p.Target.Kind != model.TargetKubernetesAPI {
		return model.Result{Skipped: true, Message: "RBAC governs kubernetesAPI targets only"}, nil
	}
	if p.Mode == ztv1.ModeAudit {
		return model.Result{Skipped: true, Message: "RBAC has no audit form: a Role either grants or does not. Use mode Enforce or DryRun"}, nil
	}
	// The resolver refuses such a policy before backends run; this keeps the backend from
	// generating a forbidden Role whoever calls it.
	if msgs := rbacguard.Check(p.Target.APIRules, p.Target.APIAllowances); len(msgs) > 0 {
		return model.Result{Skipped: true, Message: "RBAC grants nothing: " + strings.Join(msgs, "; ")}, nil
	}
	rules := Rules(p.Target.APIRules)
	if len(rules) == 0 {
		return model.Result{Skipped: true, Message: "RBAC grants nothing: spec.target.kubernetesAPI has no rules"}, nil
	}
	subjects := Subjects(p.Callers)
	var denied []string
	for i := range p.Callers {
		if c := &p.Callers[i]; len(c.MeshGaps) > 0 {
			denied = append(denied, fmt.Sprintf("RBAC does not bind from[%d] (%s): %s", c.Index, c.Describe(), strings.Join(c.MeshGaps, "; ")))
		}
	}
	if len(subjects) == 0 {
		// A RoleBinding without subjects grants nothing; say so rather than create one.
		msg := "RBAC grants nothing: no from entry resolves to a ServiceAccount of its own"
		if len(denied) > 0 {
			msg += ": " + strings.Join(denied, "; ")
		}
		return model.Result{Skipped: true, Message: msg}, nil
	}

	name := model.IngressName(p)
	role := &rbacv1.Role{
		TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "Role"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: p.Namespace, Labels: model.PolicyLabels(p, ztv1.BackendRBAC)},
		Rules:      rules,
	}
	binding := &rbacv1.RoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "RoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: p.Namespace, Labels: model.PolicyLabels(p, ztv1.BackendRBAC)},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects:   subjects,
	}
	return model.Result{Objects: []client.Object{role, binding}, Denied: denied}, nil
}

// Rules turns the declared rules into Role rules: within each rule every list sorted and
// deduplicated, then rules that became identical dropped, keeping the first. The result
// grants exactly what the declared rules grant.
func Rules(in []ztv1.APIRule) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	seen := map[string]bool{}
	for _, r := range in {
		pr := rbacv1.PolicyRule{
			APIGroups: sortedSet(r.APIGroups),
			Resources: sortedSet(r.Resources),
			// nil, not empty, when unset: the API server drops an empty list.
			ResourceNames: sortedSet(r.ResourceNames),
			Verbs:         sortedSet(r.Verbs),
		}
		if len(pr.APIGroups) == 0 || len(pr.Resources) == 0 || len(pr.Verbs) == 0 {
			continue // grants nothing; the CRD does not allow it
		}
		k := key(pr)
		if !seen[k] {
			seen[k] = true
			out = append(out, pr)
		}
	}
	return out
}

// Subjects are the ServiceAccounts of the callers, sorted by namespace and name,
// deduplicated: the one a serviceAccount entry names, and the one a workload runs as when
// no other workload of its namespace runs as it (binding a shared one would grant them
// too; the resolver leaves it out and says why in the caller's MeshGaps).
func Subjects(callers []model.Caller) []rbacv1.Subject {
	var out []rbacv1.Subject
	seen := map[string]bool{}
	for _, c := range callers {
		if c.Kind != model.CallerServiceAccount && c.Kind != model.CallerWorkload {
			continue // the CRD allows only ServiceAccount and workload callers for this target
		}
		for _, sa := range c.ServiceAccounts {
			if k := c.Namespace + "/" + sa; !seen[k] {
				seen[k] = true
				out = append(out, rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, APIGroup: "", Name: sa, Namespace: c.Namespace})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func sortedSet(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := append([]string(nil), in...)
	sort.Strings(out)
	n := 1
	for i := 1; i < len(out); i++ {
		if out[i] != out[n-1] {
			out[n] = out[i]
			n++
		}
	}
	return out[:n]
}

func key(r rbacv1.PolicyRule) string {
	return fmt.Sprintf("%q|%q|%q|%q", r.APIGroups, r.Resources, r.ResourceNames, r.Verbs)
}
