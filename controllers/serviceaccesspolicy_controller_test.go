package controllers_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

// shop is a fresh pair of namespaces: inventory (the target) in shop, payment (a caller)
// in payments, each a Deployment with a Service in front.
type shop struct {
	shop, payments string
}

func newShop() shop {
	s := shop{shop: uniqueName("shop"), payments: uniqueName("payments")}
	create(
		newNamespace(s.shop, nil), newNamespace(s.payments, nil),
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: s.payments, Name: "payment"}},
		newDeployment(s.payments, "payment", "payment", map[string]int32{"http": 8080}),
		newService(s.payments, "payment", 80, intstr.FromString("http")),
		newDeployment(s.shop, "inventory", "", map[string]int32{"http": 8080, "metrics": 9090}),
		newService(s.shop, "inventory", 80, intstr.FromString("http")),
	)
	return s
}

var _ = Describe("ServiceAccessPolicy to NetworkPolicies", func() {
	It("generates exactly the ingress NetworkPolicy the policy declares", func() {
		s := newShop()
		p := newPolicy(s.shop, "payment-reads-inventory", ztv1.Target{Service: "inventory"},
			[]ztv1.Caller{{Service: "payment", Namespace: s.payments}}, ztv1.PortRule{Port: intstr.FromString("http")})
		// A GitOps tool's tracking label and annotation must not reach generated objects.
		p.Labels = map[string]string{"app.kubernetes.io/instance": "shop-policies"}
		p.Annotations = map[string]string{"argocd.argoproj.io/tracking-id": "shop:zerotrust.dev/ServiceAccessPolicy"}
		create(p)

		Eventually(func(g Gomega) {
			np := generatedIn(g, p, s.shop)
			g.Expect(np.Spec.PodSelector).To(Equal(metav1.LabelSelector{MatchLabels: map[string]string{"app": "inventory"}}))
			g.Expect(np.Spec.PolicyTypes).To(Equal([]networkingv1.PolicyType{networkingv1.PolicyTypeIngress}))
			g.Expect(np.Spec.Egress).To(BeEmpty())
			g.Expect(np.Spec.Ingress).To(Equal([]networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{peer(s.payments, map[string]string{"app": "payment"})},
				Ports: []networkingv1.NetworkPolicyPort{tcp(intstr.FromString("http"))},
			}}))
			g.Expect(np.Labels).To(HaveKeyWithValue(ztv1.LabelManagedBy, ztv1.ManagedByValue))
			g.Expect(np.Labels).NotTo(HaveKey("app.kubernetes.io/instance"))
			g.Expect(np.Annotations).NotTo(HaveKey("argocd.argoproj.io/tracking-id"))
			g.Expect(metav1.IsControlledBy(np, p)).To(BeTrue(), "same-namespace children are owned by the policy")
			g.Expect(generated(p)).To(HaveLen(1), "no egress objects without an egress-denying baseline")
		}).Should(Succeed())

		Eventually(func(g Gomega) {
			c := ready(g, p)
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(c.Reason).To(Equal("Enforced"))
			cur := &ztv1.ServiceAccessPolicy{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p), cur)).To(Succeed())
			g.Expect(cur.Status.Target).To(Equal("Service/inventory"))
			g.Expect(cur.Status.Callers).To(Equal(int32(1)))
			g.Expect(cur.Status.Backends).To(ContainElement(And(
				HaveField("Name", ztv1.BackendNetworkPolicy),
				HaveField("State", ztv1.BackendApplied),
				HaveField("Objects", HaveLen(1)),
			)))
		}).Should(Succeed())
	})

	It("restores a deleted or hand-edited NetworkPolicy", func() {
		s := newShop()
		p := newPolicy(s.shop, "drift", ztv1.Target{Service: "inventory"},
			[]ztv1.Caller{{Service: "payment", Namespace: s.payments}})
		create(p)
		var original *networkingv1.NetworkPolicy
		Eventually(func(g Gomega) { original = generatedIn(g, p, s.shop) }).Should(Succeed())

		Expect(k8s.Delete(ctx, original)).To(Succeed())
		Eventually(func(g Gomega) {
			np := generatedIn(g, p, s.shop)
			g.Expect(np.UID).NotTo(Equal(original.UID), "the deleted object came back as a new one")
			g.Expect(np.Spec).To(Equal(original.Spec))
		}).Should(Succeed())

		edited := generatedIn(Default, p, s.shop)
		edited.Spec.Ingress = append(edited.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{}) // allow everything
		edited.Spec.PodSelector = metav1.LabelSelector{}
		Expect(k8s.Update(ctx, edited)).To(Succeed())
		Eventually(func(g Gomega) {
			np := generatedIn(g, p, s.shop)
			g.Expect(np.Spec).To(Equal(original.Spec))
		}).Should(Succeed())
	})

	It("follows a Service's targetPort and a workload's labels", func() {
		s := newShop()
		p := newPolicy(s.shop, "follows", ztv1.Target{Service: "inventory"},
			[]ztv1.Caller{{Workload: &ztv1.WorkloadReference{Kind: ztv1.WorkloadDeployment, Name: "payment"}, Namespace: s.payments}},
			ztv1.PortRule{Port: intstr.FromInt32(80)})
		create(p)
		Eventually(func(g Gomega) {
			np := generatedIn(g, p, s.shop)
			g.Expect(np.Spec.Ingress[0].Ports).To(Equal([]networkingv1.NetworkPolicyPort{tcp(intstr.FromString("http"))}))
		}).Should(Succeed())

		svc := &corev1.Service{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: s.shop, Name: "inventory"}, svc)).To(Succeed())
		svc.Spec.Ports[0].TargetPort = intstr.FromInt32(8443)
		Expect(k8s.Update(ctx, svc)).To(Succeed())
		Eventually(func(g Gomega) {
			np := generatedIn(g, p, s.shop)
			g.Expect(np.Spec.Ingress[0].Ports).To(Equal([]networkingv1.NetworkPolicyPort{tcp(intstr.FromInt32(8443))}))
		}).Should(Succeed())

		dep := newDeployment(s.payments, "payment", "payment", nil)
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(dep), dep)).To(Succeed())
		dep.Spec.Template.Labels["tier"] = "backend"
		Expect(k8s.Update(ctx, dep)).To(Succeed())
		Eventually(func(g Gomega) {
			np := generatedIn(g, p, s.shop)
			g.Expect(np.Spec.Ingress[0].From).To(Equal([]networkingv1.NetworkPolicyPeer{
				peer(s.payments, map[string]string{"app": "payment", "tier": "backend"}),
			}))
		}).Should(Succeed())
	})

	It("grants nothing for a missing target, says so, and enforces once it appears", func() {
		s := newShop()
		p := newPolicy(s.shop, "missing", ztv1.Target{Service: "catalog"},
			[]ztv1.Caller{{Service: "payment", Namespace: s.payments}})
		create(p)
		Eventually(func(g Gomega) {
			c := ready(g, p)
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(c.Reason).To(Equal("TargetNotFound"))
			g.Expect(c.Message).To(ContainSubstring("catalog"))
		}).Should(Succeed())
		Consistently(func() []networkingv1.NetworkPolicy { return generated(p) }, "1s").Should(BeEmpty())

		create(newDeployment(s.shop, "catalog", "", map[string]int32{"http": 8080}),
			newService(s.shop, "catalog", 80, intstr.FromString("http")))
		Eventually(func(g Gomega) {
			g.Expect(ready(g, p).Reason).To(Equal("Enforced"))
			generatedIn(g, p, s.shop)
		}).Should(Succeed())
	})

	It("creates egress objects in callers' namespaces under an egress-denying baseline and removes everything on delete", func() {
		s := newShop()
		label := uniqueName("egress")
		create(&ztv1.ZeroTrustBaseline{
			ObjectMeta: metav1.ObjectMeta{Name: label},
			Spec: ztv1.ZeroTrustBaselineSpec{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"zerotrust.dev/test": label}},
				Network:           &ztv1.BaselineNetwork{DefaultDeny: []ztv1.Direction{ztv1.DirectionIngress, ztv1.DirectionEgress}},
			},
		})
		p := newPolicy(s.shop, "cross", ztv1.Target{Service: "inventory"},
			[]ztv1.Caller{{ServiceAccount: "payment", Namespace: s.payments}})
		create(p)
		Eventually(func(g Gomega) { g.Expect(generated(p)).To(HaveLen(1)) }).Should(Succeed())

		// Labelling the callers' namespace into the baseline adds the egress side there.
		ns := &corev1.Namespace{}
		Expect(k8s.Get(ctx, client.ObjectKey{Name: s.payments}, ns)).To(Succeed())
		ns.Labels["zerotrust.dev/test"] = label
		Expect(k8s.Update(ctx, ns)).To(Succeed())
		Eventually(func(g Gomega) {
			np := generatedIn(g, p, s.payments)
			g.Expect(np.Spec.PodSelector).To(Equal(metav1.LabelSelector{MatchLabels: map[string]string{"app": "payment"}}))
			g.Expect(np.Spec.PolicyTypes).To(Equal([]networkingv1.PolicyType{networkingv1.PolicyTypeEgress}))
			g.Expect(np.Spec.Egress).To(Equal([]networkingv1.NetworkPolicyEgressRule{{
				To:    []networkingv1.NetworkPolicyPeer{peer(s.shop, map[string]string{"app": "inventory"})},
				Ports: []networkingv1.NetworkPolicyPort{tcp(intstr.FromString("http"))},
			}}))
			g.Expect(np.OwnerReferences).To(BeEmpty(), "no cross-namespace owner references")
			g.Expect(generated(p)).To(HaveLen(2))
		}).Should(Succeed())

		Expect(k8s.Delete(ctx, p)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(generated(p)).To(BeEmpty())
			err := k8s.Get(ctx, client.ObjectKeyFromObject(p), &ztv1.ServiceAccessPolicy{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the finalizer is released")
		}).Should(Succeed())
	})

	It("removes what an expired policy generated at its expiry", func() {
		s := newShop()
		p := newPolicy(s.shop, "expires", ztv1.Target{Service: "inventory"},
			[]ztv1.Caller{{Service: "payment", Namespace: s.payments}})
		p.Spec.ExpiresAt = &metav1.Time{Time: time.Now().Add(4 * time.Second)}
		create(p)
		status := func(g Gomega) ztv1.ServiceAccessPolicyStatus {
			cur := &ztv1.ServiceAccessPolicy{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p), cur)).To(Succeed())
			return cur.Status
		}
		Eventually(func(g Gomega) {
			generatedIn(g, p, s.shop)
			g.Expect(status(g).NextTransition).NotTo(BeNil(), "the expiry is the next transition")
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(generated(p)).To(BeEmpty())
			// Ready stays True: an expired policy does exactly what it says (grant nothing).
			g.Expect(ready(g, p).Reason).To(Equal("Expired"))
			// Nothing comes after expiry: the field goes from the status, and so do the objects.
			st := status(g)
			g.Expect(st.NextTransition).To(BeNil())
			g.Expect(st.Backends).NotTo(ContainElement(HaveField("Objects", Not(BeEmpty()))))
		}).Should(Succeed())
	})

	It("creates nothing in DryRun and lists what it would create", func() {
		s := newShop()
		p := newPolicy(s.shop, "dry", ztv1.Target{Service: "inventory"},
			[]ztv1.Caller{{Service: "payment", Namespace: s.payments}})
		p.Spec.Mode = ztv1.ModeDryRun
		create(p)
		Eventually(func(g Gomega) {
			g.Expect(ready(g, p).Reason).To(Equal("DryRun"))
			cur := &ztv1.ServiceAccessPolicy{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p), cur)).To(Succeed())
			g.Expect(cur.Status.Backends).To(ContainElement(HaveField("Objects", ContainElement(And(
				HaveField("Kind", "NetworkPolicy"), HaveField("Namespace", s.shop))))))
		}).Should(Succeed())
		Consistently(func() []networkingv1.NetworkPolicy { return generated(p) }, "1s").Should(BeEmpty())
	})
})
