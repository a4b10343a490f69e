package controllers_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

// baselineObjects lists the NetworkPolicies generated for baseline name in namespace ns.
func baselineObjects(name, ns string) []networkingv1.NetworkPolicy {
	var list networkingv1.NetworkPolicyList
	ExpectWithOffset(1, k8s.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{ztv1.LabelBaseline: name})).To(Succeed())
	return list.Items
}

func setLabel(ns, key, value string) {
	n := &corev1.Namespace{}
	ExpectWithOffset(1, k8s.Get(ctx, client.ObjectKey{Name: ns}, n)).To(Succeed())
	if value == "" {
		delete(n.Labels, key)
	} else {
		n.Labels[key] = value
	}
	ExpectWithOffset(1, k8s.Update(ctx, n)).To(Succeed())
}

var _ = Describe("ZeroTrustBaseline default deny", func() {
	It("follows the namespace selection, repairs deletions and reports matched namespaces", func() {
		name := uniqueName("floor")
		ns := uniqueName("team")
		create(newNamespace(ns, nil))
		b := &ztv1.ZeroTrustBaseline{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: ztv1.ZeroTrustBaselineSpec{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"zerotrust.dev/floor": name}},
				Network: &ztv1.BaselineNetwork{
					DefaultDeny: []ztv1.Direction{ztv1.DirectionIngress, ztv1.DirectionEgress},
					AllowDNS:    true,
				},
			},
		}
		create(b)
		Consistently(func() []networkingv1.NetworkPolicy { return baselineObjects(name, ns) }, "1s").Should(BeEmpty())

		setLabel(ns, "zerotrust.dev/floor", name)
		udp, tcp := corev1.ProtocolUDP, corev1.ProtocolTCP
		dns := intstr.FromInt32(53)
		Eventually(func(g Gomega) {
			objs := baselineObjects(name, ns)
			g.Expect(objs).To(HaveLen(2))
			byName := map[string]networkingv1.NetworkPolicySpec{}
			for _, o := range objs {
				byName[o.Name] = o.Spec
				g.Expect(metav1.IsControlledBy(&o, b)).To(BeTrue())
			}
			g.Expect(byName).To(HaveKeyWithValue("zt-baseline."+name+".deny", networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			}))
			g.Expect(byName).To(HaveKeyWithValue("zt-baseline."+name+".dns", networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
				Egress: []networkingv1.NetworkPolicyEgressRule{{
					To: []networkingv1.NetworkPolicyPeer{{
						NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "kube-system"}},
						PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}},
					}},
					Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: &dns}, {Protocol: &tcp, Port: &dns}},
				}},
			}))
			cur := &ztv1.ZeroTrustBaseline{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(b), cur)).To(Succeed())
			g.Expect(cur.Status.MatchedNamespaceCount).To(Equal(int32(1)))
			g.Expect(cur.Status.MatchedNamespaces).To(Equal([]string{ns}))
			g.Expect(cur.Status.Conditions).To(ContainElement(And(HaveField("Type", "Ready"), HaveField("Status", metav1.ConditionTrue))))
		}).Should(Succeed())

		deny := &networkingv1.NetworkPolicy{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "zt-baseline." + name + ".deny"}, deny)).To(Succeed())
		Expect(k8s.Delete(ctx, deny)).To(Succeed())
		Eventually(func(g Gomega) {
			back := &networkingv1.NetworkPolicy{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(deny), back)).To(Succeed())
			g.Expect(back.UID).NotTo(Equal(deny.UID))
		}).Should(Succeed())

		setLabel(ns, "zerotrust.dev/floor", "")
		Eventually(func() []networkingv1.NetworkPolicy { return baselineObjects(name, ns) }).Should(BeEmpty())
		Eventually(func(g Gomega) {
			cur := &ztv1.ZeroTrustBaseline{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(b), cur)).To(Succeed())
			g.Expect(cur.Status.MatchedNamespaceCount).To(BeZero())
		}).Should(Succeed())

		setLabel(ns, "zerotrust.dev/floor", name)
		Eventually(func() []networkingv1.NetworkPolicy { return baselineObjects(name, ns) }).Should(HaveLen(2))
		Expect(k8s.Delete(ctx, b)).To(Succeed())
		Eventually(func() []networkingv1.NetworkPolicy { return baselineObjects(name, ns) }).Should(BeEmpty())
	})
})
