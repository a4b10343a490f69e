package controllers_test

import (
	"context"
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/operator"
)

// metricValue sums the samples of a metric in the controller-runtime registry whose
// labels include want.
func metricValue(name string, want map[string]string) float64 {
	families, err := metrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	total := 0.0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	samples:
		for _, m := range f.GetMetric() {
			for k, v := range want {
				if label(m, k) != v {
					continue samples
				}
			}
			total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return total
}

// reconciles is the number of successful ServiceAccessPolicy reconciles in this process.
func reconciles() float64 {
	return metricValue("controller_runtime_reconcile_total", map[string]string{"controller": "serviceaccesspolicy", "result": "success"})
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

var _ = Describe("A forced resync of converged policies", func() {
	It("makes zero write requests for 200 policies", func() {
		const n = 200
		s := newShop()
		label := uniqueName("resync")
		// Half the callers' namespaces deny egress, so both ingress and cross-namespace egress
		// objects are part of the converged state.
		create(&ztv1.ZeroTrustBaseline{
			ObjectMeta: metav1.ObjectMeta{Name: label},
			Spec: ztv1.ZeroTrustBaselineSpec{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": s.payments}},
				Network:           &ztv1.BaselineNetwork{DefaultDeny: []ztv1.Direction{ztv1.DirectionEgress}},
			},
		})
		policies := make([]*ztv1.ServiceAccessPolicy, n)
		for i := range policies {
			from := []ztv1.Caller{{Service: "payment", Namespace: s.payments}}
			if i%2 == 1 {
				from = []ztv1.Caller{{ServiceAccount: "payment", Namespace: s.payments}, {Namespace: s.shop}}
			}
			policies[i] = newPolicy(s.shop, fmt.Sprintf("p%03d", i), ztv1.Target{Service: "inventory"}, from,
				ztv1.PortRule{Port: intstr.FromString("http")})
			create(policies[i])
		}
		Eventually(func(g Gomega) {
			var list ztv1.ServiceAccessPolicyList
			g.Expect(k8s.List(ctx, &list, client.InNamespace(s.shop))).To(Succeed())
			g.Expect(list.Items).To(HaveLen(n))
			for _, p := range list.Items {
				g.Expect(p.Status.ObservedGeneration).To(Equal(p.Generation), p.Name)
				g.Expect(p.Status.Conditions).To(ContainElement(And(
					HaveField("Type", ztv1.ConditionReady), HaveField("Reason", "Enforced"))), p.Name)
			}
		}, "2m").Should(Succeed())

		// A second operator instance starts from empty caches and reconciles every policy:
		// the forced resync. Every request it writes is counted.
		var writes writeCounter
		before := reconciles()
		resyncCtx, stop := context.WithCancel(ctx)
		defer stop()
		mgr, err := operator.New(resyncCtx, writes.wrap(cfg), operator.Options{MetricsAddr: "0", ProbeAddr: "0", SkipNameValidation: true})
		Expect(err).NotTo(HaveOccurred())
		done := make(chan struct{})
		go func() {
			defer GinkgoRecover()
			defer close(done)
			Expect(operator.Run(resyncCtx, mgr)).To(Succeed())
		}()
		Eventually(func() float64 { return reconciles() - before }, "2m").Should(BeNumerically(">=", n))
		Expect(writes.n.Load()).To(BeZero(), "a converged reconcile must write nothing")
		stop()
		Eventually(done).Should(BeClosed())
	})
})
