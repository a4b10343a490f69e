package rbac_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/rbacguard"
)

var getConfig = authorizationv1.ResourceAttributes{Resource: "configmaps", Verb: "get", Name: "app-config"}

var _ = Describe("the escalation guard", func() {
	It("lets a user who holds get configmaps grant it, as exactly that Role and RoleBinding", func() {
		ns := newNamespace("holds", nil)
		other := newNamespace("reporting", nil)
		alice := newUser(uniqueName("alice"), "shop-devs")
		alice.grant(ns, rule(s(""), s("configmaps"), s("get")))

		p := apiPolicy(ns, "reads-config", []rbacv1.PolicyRule{rule(s(""), s("configmaps"), s("get"), "app-config")}, "app", other+"/app")
		Eventually(func() error { return alice.c.Create(ctx, p.DeepCopy()) }).Should(Succeed())
		Expect(serviceAccountCan(ns, "app", ns, getConfig)).To(BeFalse(), "granted before the operator acted?")

		Eventually(func(g Gomega) {
			c := ready(g, p)
			g.Expect(c.Reason).To(Equal("Enforced"), c.Message)
			role, rb := generated(g, p)
			g.Expect(role).NotTo(BeNil())
			g.Expect(rb).NotTo(BeNil())
			labels := map[string]string{
				ztv1.LabelManagedBy: ztv1.ManagedByValue, ztv1.LabelPolicyName: p.Name,
				ztv1.LabelPolicyNamespace: ns, ztv1.LabelBackend: "rbac",
			}
			g.Expect(role.Labels).To(Equal(labels))
			g.Expect(rb.Labels).To(Equal(labels))
			g.Expect(role.Rules).To(Equal([]rbacv1.PolicyRule{rule(s(""), s("configmaps"), s("get"), "app-config")}))
			g.Expect(rb.RoleRef).To(Equal(rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "zt-in.reads-config"}))
			g.Expect(rb.Subjects).To(Equal([]rbacv1.Subject{
				{Kind: "ServiceAccount", Name: "app", Namespace: ns},
				{Kind: "ServiceAccount", Name: "app", Namespace: other},
			}))
			for _, o := range []metav1.Object{role, rb} {
				g.Expect(o.GetOwnerReferences()).To(ConsistOf(HaveField("Name", p.Name)))
			}
		}).Should(Succeed())

		// What the Role grants, and nothing more.
		Eventually(func() bool { return serviceAccountCan(ns, "app", ns, getConfig) }).Should(BeTrue())
		Expect(serviceAccountCan(other, "app", ns, getConfig)).To(BeTrue(), "a caller of another namespace is granted in the policy's")
		Expect(serviceAccountCan(ns, "app", ns, authorizationv1.ResourceAttributes{Resource: "configmaps", Verb: "get", Name: "other"})).To(BeFalse())
		Expect(serviceAccountCan(ns, "app", ns, authorizationv1.ResourceAttributes{Resource: "configmaps", Verb: "list"})).To(BeFalse())
		Expect(serviceAccountCan(ns, "app", other, getConfig)).To(BeFalse(), "granted outside the policy's namespace")
	})

	It("refuses a user who lacks a permission the policy grants, naming the rule", func() {
		ns := newNamespace("lacks", nil)
		bob := newUser(uniqueName("bob"))
		bob.grant(ns, rule(s(""), s("configmaps"), s("get")))

		p := apiPolicy(ns, "reads-secret", []rbacv1.PolicyRule{
			rule(s(""), s("configmaps"), s("get"), "app-config"),
			rule(s(""), s("secrets"), s("get"), "db-password"),
		}, "app")
		err := bob.c.Create(ctx, p)
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(ContainSubstring(`spec.target.kubernetesAPI.rules[1]: user ` + bob.name + ` lacks "get secrets/db-password" in namespace ` + ns))

		// An update is held to the same rule: he may not widen a policy he could create.
		ok := apiPolicy(ns, "reads-config", []rbacv1.PolicyRule{rule(s(""), s("configmaps"), s("get"), "app-config")}, "app")
		Expect(bob.c.Create(ctx, ok)).To(Succeed())
		ok.Spec.Target.KubernetesAPI.Rules[0].Verbs = s("get", "update")
		Eventually(func(g Gomega) {
			cur := &ztv1.ServiceAccessPolicy{}
			g.Expect(bob.c.Get(ctx, client.ObjectKeyFromObject(ok), cur)).To(Succeed())
			cur.Spec = ok.Spec
			err := bob.c.Update(ctx, cur)
			g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%v", err)
			g.Expect(err.Error()).To(ContainSubstring(`rules[0]: user ` + bob.name + ` lacks "update configmaps/app-config"`))
		}).Should(Succeed())

		// Someone who holds it may.
		Eventually(func() error {
			cur := &ztv1.ServiceAccessPolicy{}
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(ok), cur); err != nil {
				return err
			}
			cur.Spec = ok.Spec
			return k8s.Update(ctx, cur)
		}).Should(Succeed())
	})
})

var _ = Describe("the deny list, at admission", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace("deny", nil) })

	// The cluster admin holds every permission, so only the deny list can refuse these.
	DescribeTable("refuses every entry, even to a cluster admin",
		func(r rbacv1.PolicyRule, message string) {
			p := apiPolicy(ns, "denied", []rbacv1.PolicyRule{r}, "app")
			err := k8s.Create(ctx, p)
			Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%v", err)
			Expect(err.Error()).To(ContainSubstring("spec.target.kubernetesAPI.rules[0]." + message + " may not be granted"))
			// Exactly the words the operator puts in status for such a policy (package
			// rbacguard), each naming its field, and nothing else.
			Expect(err.Error()).To(Equal(`admission webhook "serviceaccesspolicies.zerotrust.dev" denied the request: ` +
				compiler.ForbiddenMessage(rbacguard.Check(p.Spec.Target.KubernetesAPI.Rules, nil), ns)))
		},
		Entry("* in verbs", rule(s(""), s("configmaps"), s("*")), `verbs: "*"`),
		Entry("* in resources", rule(s(""), s("*"), s("get")), `resources: "*"`),
		Entry("*/subresource in resources", rule(s(""), s("*/exec"), s("create")), `resources: "*/exec"`),
		Entry("* in apiGroups", rule(s("*"), s("configmaps"), s("get")), `apiGroups: "*"`),
		Entry("escalate", rule(s("rbac.authorization.k8s.io"), s("roles"), s("escalate")), `verbs: "escalate"`),
		Entry("bind", rule(s("rbac.authorization.k8s.io"), s("roles"), s("bind")), `verbs: "bind"`),
		Entry("impersonate", rule(s(""), s("serviceaccounts"), s("impersonate")), `verbs: "impersonate"`),
		Entry("create serviceaccounts/token", rule(s(""), s("serviceaccounts/token"), s("create")), `resources: "serviceaccounts/token"`),
		Entry("create pods/exec", rule(s(""), s("pods/exec"), s("create")), `resources: "pods/exec"`),
		Entry("get pods/exec of a named pod", rule(s(""), s("pods/exec"), s("get"), "web-0"), `resources: "pods/exec"`),
		Entry("pods/attach", rule(s(""), s("pods/attach"), s("create")), `resources: "pods/attach"`),
		Entry("nodes/proxy", rule(s(""), s("nodes/proxy"), s("get")), `resources: "nodes/proxy"`),
		Entry("list secrets without names", rule(s(""), s("secrets"), s("list")), `resources: "secrets"`),
		Entry("watch secrets without names", rule(s(""), s("secrets"), s("watch")), `resources: "secrets"`),
		Entry("get secrets without names", rule(s(""), s("secrets"), s("get")), `resources: "secrets"`),
	)

	It("admits what is not on it", func() {
		Expect(k8s.Create(ctx, apiPolicy(ns, "allowed", []rbacv1.PolicyRule{
			rule(s(""), s("secrets"), s("get", "list", "watch"), "db-password"),
			rule(s("apps"), s("deployments", "deployments/scale"), s("get", "patch")),
		}, "app"))).To(Succeed())
	})
})

var _ = Describe("the deny list, in the operator", func() {
	It("refuses deny-listed rules where the webhook does not run, and says Forbidden", func() {
		// The operator's namespace is excluded from the webhook (config/webhook).
		sa := uniqueName("app")
		Expect(k8s.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: sa}})).To(Succeed())
		p := apiPolicy(operatorNamespace, uniqueName("unreviewed"), []rbacv1.PolicyRule{
			rule(s(""), s("configmaps"), s("get")),
			rule(s(""), s("pods/exec"), s("create")),
		}, sa)
		Expect(k8s.Create(ctx, p)).To(Succeed(), "the webhook ran in the operator's namespace")

		Eventually(func(g Gomega) {
			c := ready(g, p)
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(c.Reason).To(Equal("Forbidden"))
			g.Expect(c.Message).To(ContainSubstring(`spec.target.kubernetesAPI.rules[1].resources: "pods/exec" may not be granted`))
		}).Should(Succeed())
		Consistently(func(g Gomega) {
			role, rb := generated(g, p)
			g.Expect(role).To(BeNil(), "a Role was generated for a forbidden policy")
			g.Expect(rb).To(BeNil())
		}, 2*time.Second).Should(Succeed())
		Expect(serviceAccountCan(operatorNamespace, sa, operatorNamespace, authorizationv1.ResourceAttributes{Resource: "configmaps", Verb: "get"})).To(BeFalse(),
			"the harmless rule of a forbidden policy was granted")
	})
})

var _ = Describe("generated Role and RoleBinding", func() {
	It("are repaired after tampering and vanish with the policy", func() {
		ns := newNamespace("drift", nil)
		p := apiPolicy(ns, "reads-config", []rbacv1.PolicyRule{rule(s(""), s("configmaps"), s("get", "watch"), "app-config")}, "app")
		Expect(k8s.Create(ctx, p)).To(Succeed())
		var role *rbacv1.Role
		var rb *rbacv1.RoleBinding
		Eventually(func(g Gomega) {
			role, rb = generated(g, p)
			g.Expect(role).NotTo(BeNil())
			g.Expect(rb).NotTo(BeNil())
		}).Should(Succeed())
		wantRules, wantSubjects := role.Rules, rb.Subjects
		wantRef := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "zt-in.reads-config"}
		converged := func(g Gomega) (*rbacv1.Role, *rbacv1.RoleBinding) {
			r, b := generated(g, p)
			g.Expect(r).NotTo(BeNil())
			g.Expect(b).NotTo(BeNil())
			g.Expect(r.Rules).To(Equal(wantRules))
			g.Expect(b.RoleRef).To(Equal(wantRef))
			g.Expect(b.Subjects).To(Equal(wantSubjects))
			return r, b
		}

		By("deleting the Role")
		Expect(k8s.Delete(ctx, role)).To(Succeed())
		Eventually(func(g Gomega) {
			r, _ := converged(g)
			g.Expect(r.UID).NotTo(Equal(role.UID))
		}).Should(Succeed())

		By("widening the Role")
		Eventually(func() error {
			r := &rbacv1.Role{}
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(role), r); err != nil {
				return err
			}
			r.Rules[0].Verbs = append(r.Rules[0].Verbs, "list", "update")
			r.Rules[0].ResourceNames = nil
			return k8s.Update(ctx, r)
		}).Should(Succeed())
		Eventually(func(g Gomega) { converged(g) }).Should(Succeed())

		By("adding a subject to the RoleBinding")
		Eventually(func() error {
			b := &rbacv1.RoleBinding{}
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(rb), b); err != nil {
				return err
			}
			b.Subjects = append(b.Subjects, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "mallory"})
			return k8s.Update(ctx, b)
		}).Should(Succeed())
		Eventually(func(g Gomega) { converged(g) }).Should(Succeed())

		// roleRef is immutable: binding another role means replacing the RoleBinding, and so
		// does repairing it.
		for _, labelled := range []bool{true, false} {
			By("replacing the RoleBinding by one bound to ClusterRole edit, labelled: " + map[bool]string{true: "yes", false: "no"}[labelled])
			var tampered types.UID
			Eventually(func() error {
				cur := &rbacv1.RoleBinding{}
				if err := k8s.Get(ctx, client.ObjectKeyFromObject(rb), cur); err == nil {
					_ = k8s.Delete(ctx, cur)
				}
				evil := &rbacv1.RoleBinding{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: rb.Name},
					RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"},
					Subjects:   wantSubjects,
				}
				if labelled {
					evil.Labels = rb.Labels
				}
				if err := k8s.Create(ctx, evil); err != nil {
					return err
				}
				tampered = evil.UID
				return nil
			}).Should(Succeed())
			Eventually(func(g Gomega) {
				_, b := converged(g)
				g.Expect(b.UID).NotTo(Equal(tampered))
			}).Should(Succeed())
		}

		By("deleting the policy")
		Expect(k8s.Delete(ctx, p)).To(Succeed())
		Eventually(func(g Gomega) {
			r, b := generated(g, p)
			g.Expect(r).To(BeNil())
			g.Expect(b).To(BeNil())
			err := k8s.Get(ctx, client.ObjectKeyFromObject(p), &ztv1.ServiceAccessPolicy{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the policy is still there: %v", err)
		}).Should(Succeed())
	})
})

var _ = Describe("a ZeroTrustBaseline exception", func() {
	It("permits a deny-listed rule in the namespaces it selects, and its removal revokes it", func() {
		team := uniqueName("ci")
		ns := newNamespace("exec", map[string]string{"team": team})
		elsewhere := newNamespace("exec-elsewhere", nil)
		carol := newUser(uniqueName("carol"))
		execRule := rule(s(""), s("pods/exec"), s("create"))
		carol.grant(ns, execRule)
		carol.grant(elsewhere, execRule)
		p := apiPolicy(ns, "debug", []rbacv1.PolicyRule{execRule}, "app")

		err := carol.c.Create(ctx, p.DeepCopy())
		Expect(err).To(MatchError(ContainSubstring(`rules[0].resources: "pods/exec" may not be granted`)))

		baseline := &ztv1.ZeroTrustBaseline{
			ObjectMeta: metav1.ObjectMeta{Name: uniqueName("allow-exec")},
			Spec: ztv1.ZeroTrustBaselineSpec{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": team}},
				RBAC:              &ztv1.BaselineRBAC{Allow: []ztv1.RBACException{{APIGroup: "", Resource: "pods/exec", Verbs: s("create")}}},
			},
		}
		Expect(k8s.Create(ctx, baseline)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8s.Delete(ctx, baseline))).To(Succeed()) })

		Expect(carol.c.Create(ctx, p)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(ready(g, p).Reason).To(Equal("Enforced"))
			role, _ := generated(g, p)
			g.Expect(role).NotTo(BeNil())
			g.Expect(role.Rules).To(Equal([]rbacv1.PolicyRule{execRule}))
		}).Should(Succeed())

		By("in a namespace the baseline does not select, the rule stays refused")
		err = carol.c.Create(ctx, apiPolicy(elsewhere, "debug", []rbacv1.PolicyRule{execRule}, "app"))
		Expect(err).To(MatchError(ContainSubstring(`may not be granted`)))

		By("removing the exception revokes what the policy granted")
		Eventually(func() error {
			cur := &ztv1.ZeroTrustBaseline{}
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(baseline), cur); err != nil {
				return err
			}
			cur.Spec.RBAC = nil
			return k8s.Update(ctx, cur)
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			c := ready(g, p)
			g.Expect(c.Reason).To(Equal("Forbidden"))
			role, rb := generated(g, p)
			g.Expect(role).To(BeNil())
			g.Expect(rb).To(BeNil())
		}).Should(Succeed())
	})
})
