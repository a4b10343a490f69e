package controllers_test

import (
	"strings"

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

var _ = Describe("bad input", func() {
	It("loses nothing previously enforced when an update is rejected", func() {
		s := newShop()
		p := newPolicy(s.shop, "kept", ztv1.Target{Service: "inventory"},
			[]ztv1.Caller{{Service: "payment", Namespace: s.payments}}, ztv1.PortRule{Port: intstr.FromString("http")})
		create(p)
		Eventually(func(g Gomega) {
			g.Expect(ready(g, p).Reason).To(Equal("Enforced"))
			generatedIn(g, p, s.shop)
		}).Should(Succeed())

		before := &ztv1.ServiceAccessPolicy{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p), before)).To(Succeed())
		objects := generated(p)
		Expect(objects).To(HaveLen(1))

		// Each update breaks one rule of the schema or of CEL; the API server refuses it
		// before the operator can see it.
		invalid := map[string]func(*ztv1.ServiceAccessPolicySpec){
			"two target kinds": func(sp *ztv1.ServiceAccessPolicySpec) {
				sp.Target.Workload = &ztv1.WorkloadReference{Kind: ztv1.WorkloadDeployment, Name: "inventory"}
			},
			"port 0":          func(sp *ztv1.ServiceAccessPolicySpec) { sp.Ports[0].Port = intstr.FromInt32(0) },
			"no callers":      func(sp *ztv1.ServiceAccessPolicySpec) { sp.From = []ztv1.Caller{} },
			"an unknown mode": func(sp *ztv1.ServiceAccessPolicySpec) { sp.Mode = "Block" },
			"a cidr namespace": func(sp *ztv1.ServiceAccessPolicySpec) {
				sp.From[0] = ztv1.Caller{CIDR: "0.0.0.0/0", Namespace: s.payments}
			},
			"an empty window": func(sp *ztv1.ServiceAccessPolicySpec) {
				sp.Schedule = &ztv1.Schedule{Windows: []ztv1.Window{{Start: "09:00", End: "09:00"}}}
			},
		}
		for name, breakIt := range invalid {
			cur := before.DeepCopy()
			breakIt(&cur.Spec)
			err := k8s.Update(ctx, cur)
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%s: %v", name, err)
		}

		// Nothing changed: the policy (generation and status), and the generated object,
		// which the operator neither rewrote nor removed.
		Consistently(func(g Gomega) {
			cur := &ztv1.ServiceAccessPolicy{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p), cur)).To(Succeed())
			g.Expect(cur.Generation).To(Equal(before.Generation))
			g.Expect(cur.Spec).To(Equal(before.Spec))
			g.Expect(cur.Status).To(Equal(before.Status))
			now := generated(p)
			g.Expect(now).To(HaveLen(1))
			g.Expect(now[0].ResourceVersion).To(Equal(objects[0].ResourceVersion))
			g.Expect(now[0].Spec).To(Equal(objects[0].Spec))
		}, "2s", "200ms").Should(Succeed())
	})

	// Under GitOps a policy is often applied before what it names. Whatever it cannot
	// resolve grants nothing, the Ready condition says what is missing, and once the
	// referent appears the policy converges with no other change.
	DescribeTable("an unresolvable reference grants nothing and recovers when the referent appears",
		func(target ztv1.Target, from []ztv1.Caller, ports []ztv1.PortRule, reason, message string, appear func(s shop), enforcedFrom int) {
			s := newShop()
			expand := strings.NewReplacer("SHOP", s.shop, "PAYMENTS", s.payments)
			for i := range from {
				from[i].Namespace = expand.Replace(from[i].Namespace)
			}
			p := newPolicy(s.shop, "unresolved", target, from, ports...)
			create(p)

			Eventually(func(g Gomega) {
				c := ready(g, p)
				g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
				g.Expect(c.Reason).To(Equal(reason))
				g.Expect(c.Message).To(Equal(expand.Replace(message)))
			}).Should(Succeed())
			if enforcedFrom == 0 {
				// Nothing resolvable: no object at all, and the backend says it skipped.
				Consistently(func() []networkingv1.NetworkPolicy { return generated(p) }, "1s").Should(BeEmpty())
				cur := &ztv1.ServiceAccessPolicy{}
				Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p), cur)).To(Succeed())
				Expect(cur.Status.Active).To(BeFalse())
				Expect(cur.Status.Backends).To(ContainElement(And(
					HaveField("Name", ztv1.BackendNetworkPolicy), HaveField("State", ztv1.BackendSkipped), HaveField("Objects", BeEmpty()))))
			} else {
				// The callers that resolve are enforced, and only they.
				Eventually(func(g Gomega) {
					np := generatedIn(g, p, s.shop)
					g.Expect(np.Spec.Ingress).To(HaveLen(1))
					g.Expect(np.Spec.Ingress[0].From).To(HaveLen(enforcedFrom))
				}).Should(Succeed())
			}

			appear(s)
			Eventually(func(g Gomega) {
				c := ready(g, p)
				g.Expect(c.Reason).To(Equal("Enforced"), c.Message)
				g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
				np := generatedIn(g, p, s.shop)
				g.Expect(np.Spec.Ingress).To(HaveLen(1))
				g.Expect(np.Spec.Ingress[0].From).To(HaveLen(len(from)))
			}).Should(Succeed())
		},
		Entry("a missing target Service",
			ztv1.Target{Service: "catalog"}, []ztv1.Caller{{Service: "payment", Namespace: "PAYMENTS"}}, nil,
			"TargetNotFound", "spec.target.service: Service SHOP/catalog not found; create it or fix the name; until then the policy grants nothing",
			func(s shop) {
				create(newDeployment(s.shop, "catalog", "", map[string]int32{"http": 8080}), newService(s.shop, "catalog", 80, intstr.FromString("http")))
			}, 0),
		Entry("a missing target Deployment",
			ztv1.Target{Workload: &ztv1.WorkloadReference{Kind: ztv1.WorkloadDeployment, Name: "catalog"}}, []ztv1.Caller{{Service: "payment", Namespace: "PAYMENTS"}}, nil,
			"TargetNotFound", "spec.target.workload: Deployment SHOP/catalog not found; create it or fix the kind and name; until then the policy grants nothing",
			func(s shop) { create(newDeployment(s.shop, "catalog", "", map[string]int32{"http": 8080})) }, 0),
		Entry("a Service port the target does not declare",
			ztv1.Target{Service: "inventory"}, []ztv1.Caller{{Service: "payment", Namespace: "PAYMENTS"}}, []ztv1.PortRule{{Port: intstr.FromString("metrics")}},
			"PortNotFound", "spec.ports[0]: Service SHOP/inventory has no port \"metrics\" (it has http 80/TCP); use one of its port names or numbers; until then the policy grants nothing",
			func(s shop) {
				Eventually(func() error {
					svc := &corev1.Service{}
					if err := k8s.Get(ctx, client.ObjectKey{Namespace: s.shop, Name: "inventory"}, svc); err != nil {
						return err
					}
					svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: "metrics", Port: 9090, TargetPort: intstr.FromString("metrics"), Protocol: corev1.ProtocolTCP})
					return k8s.Update(ctx, svc)
				}).Should(Succeed())
			}, 0),
		Entry("a missing caller Service",
			ztv1.Target{Service: "inventory"}, []ztv1.Caller{{Service: "reporting", Namespace: "PAYMENTS"}}, nil,
			"CallerNotFound", "from[0]: Service PAYMENTS/reporting not found; create it or fix from[0].service and from[0].namespace; no from entry resolves, so the policy grants nothing",
			func(s shop) {
				create(newDeployment(s.payments, "reporting", "", nil), newService(s.payments, "reporting", 80, intstr.FromInt32(8080)))
			}, 0),
		Entry("a missing caller Deployment",
			ztv1.Target{Service: "inventory"}, []ztv1.Caller{{Workload: &ztv1.WorkloadReference{Kind: ztv1.WorkloadDeployment, Name: "batch"}, Namespace: "PAYMENTS"}}, nil,
			"CallerNotFound", "from[0]: Deployment PAYMENTS/batch not found; create it or fix from[0].workload and from[0].namespace; no from entry resolves, so the policy grants nothing",
			func(s shop) { create(newDeployment(s.payments, "batch", "", nil)) }, 0),
		Entry("a missing caller ServiceAccount",
			ztv1.Target{Service: "inventory"}, []ztv1.Caller{{ServiceAccount: "auditor", Namespace: "PAYMENTS"}}, nil,
			"CallerNotFound", "from[0]: ServiceAccount PAYMENTS/auditor not found; create it or fix from[0].serviceAccount and from[0].namespace; no from entry resolves, so the policy grants nothing",
			func(s shop) {
				create(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: s.payments, Name: "auditor"}},
					newDeployment(s.payments, "auditor", "auditor", nil))
			}, 0),
		Entry("a caller in a namespace that does not exist",
			ztv1.Target{Service: "inventory"}, []ztv1.Caller{{Service: "payment", Namespace: "PAYMENTS-eu"}}, nil,
			"CallerNotFound", "from[0]: Service PAYMENTS-eu/payment not found; create it or fix from[0].service and from[0].namespace; no from entry resolves, so the policy grants nothing",
			func(s shop) {
				create(newNamespace(s.payments+"-eu", nil),
					newDeployment(s.payments+"-eu", "payment", "", nil), newService(s.payments+"-eu", "payment", 80, intstr.FromInt32(8080)))
			}, 0),
		Entry("one missing caller among resolvable ones",
			ztv1.Target{Service: "inventory"}, []ztv1.Caller{{Service: "payment", Namespace: "PAYMENTS"}, {Service: "reporting", Namespace: "PAYMENTS"}}, nil,
			"CallerNotFound", "from[1]: Service PAYMENTS/reporting not found; create it or fix from[1].service and from[1].namespace; the other from entries are enforced",
			func(s shop) {
				create(newDeployment(s.payments, "reporting", "", nil), newService(s.payments, "reporting", 80, intstr.FromInt32(8080)))
			}, 1),
	)
})
