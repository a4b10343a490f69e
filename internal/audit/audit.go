// Package audit finds over-privilege in the namespaces a ZeroTrustBaseline selects: service
// accounts bound to powerful roles, NetworkPolicies and Istio AuthorizationPolicies the
// operator does not manage that admit connections no ServiceAccessPolicy declares (see
// compare.go), and pods that run privileged or as root where Pod Security does not forbid
// it. It reports; it never changes anything. It is pure, so the operator and
// `kubectl-zt audit` find the same things.
package audit

import (
	"fmt"
	"sort"
	"time"

	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/types"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
)

// Finding kinds. They are the values of the metric's kind label: keep the set small.
const (
	// KindPrivilegedBinding: a ServiceAccount bound to cluster-admin, admin, edit or a role
	// with a wildcard verb or resource.
	KindPrivilegedBinding = "PrivilegedBinding"
	// KindOpenNetworkPolicy: a NetworkPolicy the operator does not manage that admits a
	// connection no ServiceAccessPolicy declares, judged by networkpolicy.Evaluate.
	KindOpenNetworkPolicy = "OpenNetworkPolicy"
	// KindOpenAuthorizationPolicy: an Istio ALLOW AuthorizationPolicy the operator does not
	// manage that admits a request no ServiceAccessPolicy declares, judged by
	// istio.Evaluate.
	KindOpenAuthorizationPolicy = "OpenAuthorizationPolicy"
	// KindPrivilegedPod: a container that runs privileged.
	KindPrivilegedPod = "PrivilegedPod"
	// KindRootPod: a container that runs as user 0.
	KindRootPod = "RootPod"
)

// Kinds lists every finding kind.
var Kinds = []string{KindOpenAuthorizationPolicy, KindOpenNetworkPolicy, KindPrivilegedBinding, KindPrivilegedPod, KindRootPod}

// powerfulRoles are the built-in ClusterRoles that give a ServiceAccount too much.
var powerfulRoles = map[string]bool{"cluster-admin": true, "admin": true, "edit": true}

// Input is what the audit looks at. Namespaces maps each selected namespace to the Pod
// Security level enforced there ("" when none); objects outside them are ignored.
type Input struct {
	Namespaces          map[string]ztv1.PodSecurityLevel
	RoleBindings        []rbacv1.RoleBinding
	ClusterRoleBindings []rbacv1.ClusterRoleBinding
	Roles               []rbacv1.Role
	ClusterRoles        []rbacv1.ClusterRole
	// NetworkPolicies and AuthorizationPolicies are those the operator does not manage
	// (others are ignored); AuthorizationPolicies are security.istio.io/v1, read only where
	// Istio's CRDs are served.
	NetworkPolicies       []networkingv1.NetworkPolicy
	AuthorizationPolicies []*securityv1.AuthorizationPolicy
	Pods                  []corev1.Pod

	// What the network comparison needs (compare.go). Policies are the
	// ServiceAccessPolicies whose declarations count; Inventory answers the compiler when it
	// compiles them (nil: they declare nothing). Workloads of the selected namespaces and
	// ServiceAccounts are the probes' pods and identities; AllNamespaces are the namespaces
	// callers may come from, with their labels. Options are the operator's (TrustDomain,
	// OperatorNamespace; Backends is ignored) and Now the instant at which expiry is judged
	// (zero: never).
	Policies        []ztv1.ServiceAccessPolicy
	Inventory       compiler.Inventory
	Workloads       []compiler.Workload
	ServiceAccounts []types.NamespacedName
	AllNamespaces   []corev1.Namespace
	Options         compiler.Options
	Now             time.Time
}

// Run returns every finding, sorted by kind, namespace, name and message. It fails only when
// the Inventory does.
func Run(in Input) ([]ztv1.Finding, error) {
	var out []ztv1.Finding
	out = append(out, bindings(in)...)
	open, err := openPolicies(&in)
	if err != nil {
		return nil, err
	}
	out = append(out, open...)
	out = append(out, podFindings(in)...)
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Object.Namespace != b.Object.Namespace {
			return a.Object.Namespace < b.Object.Namespace
		}
		if a.Object.Name != b.Object.Name {
			return a.Object.Name < b.Object.Name
		}
		return a.Message < b.Message
	})
	return out, nil
}

// why says what makes a role powerful, or "" when nothing does.
func why(roleKind, roleName string, rules []rbacv1.PolicyRule, found bool) string {
	if roleKind == "ClusterRole" && powerfulRoles[roleName] {
		return fmt.Sprintf("ClusterRole %s", roleName)
	}
	if !found {
		return ""
	}
	for i, r := range rules {
		for _, v := range r.Verbs {
			if v == "*" {
				return fmt.Sprintf("%s %s (rules[%d] allows every verb)", roleKind, roleName, i)
			}
		}
		for _, res := range r.Resources {
			if res == "*" {
				return fmt.Sprintf("%s %s (rules[%d] allows every resource)", roleKind, roleName, i)
			}
		}
	}
	return ""
}

func bindings(in Input) []ztv1.Finding {
	roles := map[string][]rbacv1.PolicyRule{}
	for _, r := range in.Roles {
		roles[r.Namespace+"/"+r.Name] = r.Rules
	}
	clusterRoles := map[string][]rbacv1.PolicyRule{}
	for _, r := range in.ClusterRoles {
		clusterRoles[r.Name] = r.Rules
	}
	roleOf := func(ns string, ref rbacv1.RoleRef) string {
		if ref.Kind == "ClusterRole" {
			rules, ok := clusterRoles[ref.Name]
			return why("ClusterRole", ref.Name, rules, ok)
		}
		rules, ok := roles[ns+"/"+ref.Name]
		return why("Role", ref.Name, rules, ok)
	}
	// serviceAccounts lists the ServiceAccount subjects of selected namespaces.
	serviceAccounts := func(bindingNS string, subjects []rbacv1.Subject, inSelected func(string) bool) []string {
		var out []string
		for _, s := range subjects {
			if s.Kind != rbacv1.ServiceAccountKind {
				continue
			}
			ns := s.Namespace
			if ns == "" {
				ns = bindingNS
			}
			if inSelected(ns) {
				out = append(out, ns+"/"+s.Name)
			}
		}
		return out
	}
	selected := func(ns string) bool { _, ok := in.Namespaces[ns]; return ok }
	everywhere := func(string) bool { return true }

	var out []ztv1.Finding
	for _, b := range in.RoleBindings {
		if !selected(b.Namespace) {
			continue
		}
		if role := roleOf(b.Namespace, b.RoleRef); role != "" {
			for _, sa := range serviceAccounts(b.Namespace, b.Subjects, everywhere) {
				out = append(out, ztv1.Finding{Kind: KindPrivilegedBinding,
					Object:  ztv1.ObjectReference{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding", Namespace: b.Namespace, Name: b.Name},
					Message: fmt.Sprintf("binds ServiceAccount %s to %s; grant only what it needs (a ServiceAccessPolicy with a kubernetesAPI target)", sa, role)})
			}
		}
	}
	for _, b := range in.ClusterRoleBindings {
		if role := roleOf("", b.RoleRef); role != "" {
			for _, sa := range serviceAccounts("", b.Subjects, selected) {
				out = append(out, ztv1.Finding{Kind: KindPrivilegedBinding,
					Object:  ztv1.ObjectReference{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding", Name: b.Name},
					Message: fmt.Sprintf("binds ServiceAccount %s to %s cluster-wide; grant only what it needs", sa, role)})
			}
		}
	}
	return out
}

// openPolicies are the unmanaged NetworkPolicies and ALLOW AuthorizationPolicies of the
// selected namespaces that admit a connection no ServiceAccessPolicy declares.
func openPolicies(in *Input) ([]ztv1.Finding, error) {
	unmanaged := func(ns string, l map[string]string) bool {
		_, ok := in.Namespaces[ns]
		return ok && l[ztv1.LabelManagedBy] != ztv1.ManagedByValue
	}
	var out []ztv1.Finding
	var c *comparison
	for i := range in.NetworkPolicies {
		np := &in.NetworkPolicies[i]
		if !unmanaged(np.Namespace, np.Labels) {
			continue
		}
		if c == nil {
			c = newComparison(in)
		}
		u, err := c.openNetworkPolicy(np)
		if err != nil {
			return nil, err
		}
		if u.first != nil {
			out = append(out, ztv1.Finding{Kind: KindOpenNetworkPolicy,
				Object:  ztv1.ObjectReference{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy", Namespace: np.Namespace, Name: np.Name},
				Message: u.message("NetworkPolicy " + np.Namespace + "/" + np.Name)})
		}
	}
	for _, ap := range in.AuthorizationPolicies {
		if !unmanaged(ap.Namespace, ap.Labels) {
			continue
		}
		if c == nil {
			c = newComparison(in)
		}
		u, err := c.openAuthorizationPolicy(ap)
		if err != nil {
			return nil, err
		}
		if u.first != nil {
			out = append(out, ztv1.Finding{Kind: KindOpenAuthorizationPolicy,
				Object:  ztv1.ObjectReference{APIVersion: "security.istio.io/v1", Kind: "AuthorizationPolicy", Namespace: ap.Namespace, Name: ap.Name},
				Message: u.message("AuthorizationPolicy " + ap.Namespace + "/" + ap.Name)})
		}
	}
	return out, nil
}

func podFindings(in Input) []ztv1.Finding {
	var out []ztv1.Finding
	for _, p := range in.Pods {
		level, ok := in.Namespaces[p.Namespace]
		if !ok || level == ztv1.PodSecurityRestricted {
			continue // restricted Pod Security already forbids both
		}
		ref := ztv1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: p.Namespace, Name: p.Name}
		podUser := (*int64)(nil)
		if p.Spec.SecurityContext != nil {
			podUser = p.Spec.SecurityContext.RunAsUser
		}
		containers := append(append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...), ephemeral(p.Spec.EphemeralContainers)...)
		for _, c := range containers {
			sc := c.SecurityContext
			if sc != nil && sc.Privileged != nil && *sc.Privileged {
				out = append(out, ztv1.Finding{Kind: KindPrivilegedPod, Object: ref,
					Message: fmt.Sprintf("container %s runs privileged; drop privileged or label the namespace pod-security restricted", c.Name)})
			}
			user := podUser
			if sc != nil && sc.RunAsUser != nil {
				user = sc.RunAsUser
			}
			if user != nil && *user == 0 {
				out = append(out, ztv1.Finding{Kind: KindRootPod, Object: ref,
					Message: fmt.Sprintf("container %s runs as root (runAsUser 0); run as a non-zero user with runAsNonRoot: true", c.Name)})
			}
		}
	}
	return out
}

func ephemeral(ecs []corev1.EphemeralContainer) []corev1.Container {
	out := make([]corev1.Container, 0, len(ecs))
	for _, ec := range ecs {
		out = append(out, corev1.Container{Name: ec.Name, SecurityContext: ec.SecurityContext})
	}
	return out
}

// Summary counts findings per kind, every kind present (zero included).
func Summary(findings []ztv1.Finding) map[string]int {
	out := map[string]int{}
	for _, k := range Kinds {
		out[k] = 0
	}
	for _, f := range findings {
		out[f.Kind]++
	}
	return out
}
