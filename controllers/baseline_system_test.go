package controllers_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

// operatorNamespace is the namespace the suite's operator is told it runs in
// (operator.Options.Namespace, --operator-namespace in production): not the default
// zerotrust-system, so that the spec below sees the option reach the compiler.
const operatorNamespace = "zt-operator"

// systemNamespaces are those a baseline selects only by naming them.
var systemNamespaces = []string{"kube-system", "kube-public", "kube-node-lease", operatorNamespace}

// allBaselineObjects lists the NetworkPolicies of baseline name in every namespace.
func allBaselineObjects(g Gomega, name string) []networkingv1.NetworkPolicy {
	var list networkingv1.NetworkPolicyList
	g.Expect(k8s.List(ctx, &list, client.MatchingLabels{ztv1.LabelBaseline: name})).To(Succeed())
	return list.Items
}

var _ = Describe("ZeroTrustBaseline system namespaces", func() {
	It("never selects kube-system, kube-public, kube-node-lease or the operator's namespace unless a baseline names them", func() {
		// The API server creates the kube-* namespaces itself; the operator's is the suite's.
		for _, ns := range systemNamespaces {
			if err := k8s.Create(ctx, newNamespace(ns, nil)); err != nil && !apierrors.IsAlreadyExists(err) {
				Expect(err).NotTo(HaveOccurred())
			}
		}
		ns := uniqueName("team")
		create(newNamespace(ns, nil))

		// Ingress only: a default deny of egress everywhere would reach into the callers'
		// namespaces of every other spec's policies.
		everything := &ztv1.ZeroTrustBaseline{
			ObjectMeta: metav1.ObjectMeta{Name: uniqueName("everything")},
			Spec: ztv1.ZeroTrustBaselineSpec{
				NamespaceSelector: &metav1.LabelSelector{},
				Network:           &ztv1.BaselineNetwork{DefaultDeny: []ztv1.Direction{ztv1.DirectionIngress}},
			},
		}
		create(everything)
		DeferCleanup(func() {
			Expect(client.IgnoreNotFound(k8s.Delete(ctx, everything))).To(Succeed())
			Eventually(func(g Gomega) { g.Expect(allBaselineObjects(g, everything.Name)).To(BeEmpty()) }).Should(Succeed())
		})

		Eventually(func(g Gomega) {
			cur := getBaseline(g, everything.Name)
			g.Expect(cur.Status.ObservedGeneration).To(Equal(cur.Generation))
			g.Expect(cur.Status.ExcludedNamespaces).To(ConsistOf("kube-node-lease", "kube-public", "kube-system", operatorNamespace))
			g.Expect(cur.Status.MatchedNamespaces).To(ContainElement(ns))
			g.Expect(cur.Status.MatchedNamespaces).NotTo(ContainElements(systemNamespaces))
			// Not the operator's namespace, but since the operator runs elsewhere, selected.
			g.Expect(cur.Status.MatchedNamespaces).To(ContainElement("default"))
			ready := meta.FindStatusCondition(cur.Status.Conditions, ztv1.ConditionReady)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(ready.Message).To(ContainSubstring("system namespace(s) kube-node-lease, kube-public, kube-system, " + operatorNamespace + " left out"))
			g.Expect(baselineObjects(everything.Name, ns)).To(HaveLen(1))
		}).Should(Succeed())
		// Everything is applied for the namespaces it selects (Ready above); nothing is in
		// the system namespaces, now or a moment later.
		Consistently(func(g Gomega) {
			for _, o := range allBaselineObjects(g, everything.Name) {
				g.Expect(systemNamespaces).NotTo(ContainElement(o.Namespace), "%s/%s", o.Namespace, o.Name)
			}
		}, "1s").Should(Succeed())
		// One Event says so.
		Eventually(func(g Gomega) {
			var events eventsv1.EventList
			g.Expect(k8s.List(ctx, &events)).To(Succeed())
			n := 0
			for _, e := range events.Items {
				if e.Regarding.Name == everything.Name && e.Reason == "SystemNamespacesExcluded" {
					n++
				}
			}
			g.Expect(n).To(Equal(1))
		}).Should(Succeed())

		// A baseline that names kube-system and the operator's namespace selects them.
		named := &ztv1.ZeroTrustBaseline{
			ObjectMeta: metav1.ObjectMeta{Name: uniqueName("named")},
			Spec: ztv1.ZeroTrustBaselineSpec{
				NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
					Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpIn, Values: []string{"kube-system", operatorNamespace},
				}}},
				Network: &ztv1.BaselineNetwork{DefaultDeny: []ztv1.Direction{ztv1.DirectionIngress}},
			},
		}
		create(named)
		DeferCleanup(func() {
			Expect(client.IgnoreNotFound(k8s.Delete(ctx, named))).To(Succeed())
			Eventually(func(g Gomega) { g.Expect(allBaselineObjects(g, named.Name)).To(BeEmpty()) }).Should(Succeed())
		})
		Eventually(func(g Gomega) {
			g.Expect(baselineObjects(named.Name, "kube-system")).To(HaveLen(1))
			g.Expect(baselineObjects(named.Name, operatorNamespace)).To(HaveLen(1))
			cur := getBaseline(g, named.Name)
			g.Expect(cur.Status.MatchedNamespaces).To(Equal([]string{"kube-system", operatorNamespace}))
			g.Expect(cur.Status.ExcludedNamespaces).To(BeEmpty())
		}).Should(Succeed())
		Expect(baselineObjects(named.Name, "kube-public")).To(BeEmpty())
		Expect(baselineObjects(everything.Name, "kube-system")).To(BeEmpty(), "naming it in one baseline selects it for that one only")
	})
})
