package rbac_test

import (
	. "github.com/onsi/gomega"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/operator"
)

// newNamespace creates a namespace named prefix-N with a ServiceAccount "app".
func newNamespace(prefix string, labels map[string]string) string {
	name := uniqueName(prefix)
	ExpectWithOffset(1, k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}})).To(Succeed())
	ExpectWithOffset(1, k8s.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: "app"}})).To(Succeed())
	return name
}

func rule(groups, resources, verbs []string, names ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{APIGroups: groups, Resources: resources, Verbs: verbs, ResourceNames: names}
}

func s(v ...string) []string { return v }

// apiPolicy grants rules to the ServiceAccounts sas (namespace/name, or a name in ns).
func apiPolicy(ns, name string, rules []rbacv1.PolicyRule, sas ...string) *ztv1.ServiceAccessPolicy {
	p := &ztv1.ServiceAccessPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	api := &ztv1.KubernetesAPITarget{}
	for _, r := range rules {
		api.Rules = append(api.Rules, ztv1.APIRule{APIGroups: r.APIGroups, Resources: r.Resources, ResourceNames: r.ResourceNames, Verbs: r.Verbs})
	}
	p.Spec.Target.KubernetesAPI = api
	for _, sa := range sas {
		c := ztv1.Caller{ServiceAccount: sa}
		for i := range sa {
			if sa[i] == '/' {
				c.Namespace, c.ServiceAccount = sa[:i], sa[i+1:]
			}
		}
		p.Spec.From = append(p.Spec.From, c)
	}
	return p
}

// user is someone with only the permissions tests grant them.
type user struct {
	name string
	c    client.Client
}

func newUser(name string, groups ...string) *user {
	u, err := env.AddUser(envtest.User{Name: name, Groups: groups}, cfg)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	c, err := client.New(u.Config(), client.Options{Scheme: operator.Scheme()})
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	return &user{name: name, c: c}
}

// grant gives the user rules in ns, plus what it takes to write ServiceAccessPolicies there.
func (u *user) grant(ns string, rules ...rbacv1.PolicyRule) {
	rules = append(rules, rule(s("zerotrust.dev"), s("serviceaccesspolicies"), s("get", "list", "watch", "create", "update", "patch", "delete")))
	name := uniqueName(u.name)
	ExpectWithOffset(1, k8s.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Rules: rules})).To(Succeed())
	ExpectWithOffset(1, k8s.Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: u.name}},
	})).To(Succeed())
	// The API server's authorizer learns of new bindings through an informer.
	EventuallyWithOffset(1, func() bool {
		return can(u.name, nil, ns, authorizationv1.ResourceAttributes{Group: "zerotrust.dev", Resource: "serviceaccesspolicies", Verb: "create"})
	}).Should(BeTrue())
}

// can asks the API server whether user (with groups) may do attrs in ns.
func can(user string, groups []string, ns string, attrs authorizationv1.ResourceAttributes) bool {
	attrs.Namespace = ns
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: user, Groups: groups, ResourceAttributes: &attrs}}
	ExpectWithOffset(1, k8s.Create(ctx, sar)).To(Succeed())
	return sar.Status.Allowed
}

// serviceAccountCan asks whether ServiceAccount ns/name may do attrs in target.
func serviceAccountCan(ns, name, target string, attrs authorizationv1.ResourceAttributes) bool {
	return can("system:serviceaccount:"+ns+":"+name, []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}, target, attrs)
}

func ready(g Gomega, p *ztv1.ServiceAccessPolicy) *metav1.Condition {
	cur := &ztv1.ServiceAccessPolicy{}
	g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p), cur)).To(Succeed())
	g.Expect(cur.Status.ObservedGeneration).To(Equal(cur.Generation))
	for i := range cur.Status.Conditions {
		if cur.Status.Conditions[i].Type == ztv1.ConditionReady {
			return &cur.Status.Conditions[i]
		}
	}
	g.Expect(cur.Status.Conditions).NotTo(BeEmpty(), "no Ready condition")
	return nil
}

// generated returns the Role and RoleBinding of policy p (nil when absent).
func generated(g Gomega, p *ztv1.ServiceAccessPolicy) (*rbacv1.Role, *rbacv1.RoleBinding) {
	key := client.ObjectKey{Namespace: p.Namespace, Name: "zt-in." + p.Name}
	role, rb := &rbacv1.Role{}, &rbacv1.RoleBinding{}
	if err := k8s.Get(ctx, key, role); err != nil {
		g.Expect(client.IgnoreNotFound(err)).To(Succeed())
		role = nil
	}
	if err := k8s.Get(ctx, key, rb); err != nil {
		g.Expect(client.IgnoreNotFound(err)).To(Succeed())
		rb = nil
	}
	return role, rb
}
