package controllers_test

import (
	"fmt"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/controllers"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
)

// What converging new policies costs the API server, request by request: the operator's
// writes are the converge's cost (docs/performance.md).
var _ = Describe("Converging new policies", func() {
	It("writes each generated object once, the status once, no Event, and a finalizer only where objects go to other namespaces", func() {
		const n = 20
		s := newShop()
		// Egress is denied in payments: a policy called from there generates an egress
		// object in payments, outside its own namespace.
		create(&ztv1.ZeroTrustBaseline{
			ObjectMeta: metav1.ObjectMeta{Name: uniqueName("writes")},
			Spec: ztv1.ZeroTrustBaselineSpec{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": s.payments}},
				Network:           &ztv1.BaselineNetwork{DefaultDeny: []ztv1.Direction{ztv1.DirectionEgress}},
			},
		})
		// The baseline's own objects and status are written before the count starts.
		Eventually(func(g Gomega) {
			var nps []string
			for _, np := range generatedInNamespace(g, s.payments) {
				nps = append(nps, np.Name)
			}
			g.Expect(nps).NotTo(BeEmpty())
		}).Should(Succeed())

		nsPath := func(ns string) string { return "/namespaces/" + ns + "/" }
		// A first policy, Enforced, shows the operator's caches hold the shop's Services,
		// workloads and namespaces: the policies counted below resolve at once. A policy
		// Ready from its first status records no Event (Events mark transitions).
		probe := newPolicy(s.shop, "probe", ztv1.Target{Service: "inventory"}, []ztv1.Caller{{Service: "payment", Namespace: s.payments}},
			ztv1.PortRule{Port: intstr.FromString("http")})
		create(probe)
		Eventually(func(g Gomega) {
			g.Expect(ready(g, probe).Reason).To(Equal(compiler.ReasonEnforced))
			g.Expect(operatorWrites.count("POST", "/apis/events.k8s.io/v1"+nsPath(s.shop), "")).To(BeZero())
		}).Should(Succeed())

		policies := make([]*ztv1.ServiceAccessPolicy, n)
		statusBefore := operatorWrites.count("PATCH", "/apis/zerotrust.dev/v1alpha1"+nsPath(s.shop), "/status")
		policyWritesBefore := operatorWrites.count("PATCH", "/apis/zerotrust.dev/v1alpha1"+nsPath(s.shop)+"serviceaccesspolicies/", "")
		npShopBefore := operatorWrites.count("PATCH", "/apis/networking.k8s.io/v1"+nsPath(s.shop), "")
		npPaymentsBefore := operatorWrites.count("PATCH", "/apis/networking.k8s.io/v1"+nsPath(s.payments), "")
		eventsBefore := operatorWrites.count("POST", "/apis/events.k8s.io/v1"+nsPath(s.shop), "")
		for i := range policies {
			// Even: called from payments (an egress object there). Odd: from the policy's own
			// namespace, which does not deny egress (the ingress object only).
			from := []ztv1.Caller{{Service: "payment", Namespace: s.payments}}
			if i%2 == 1 {
				from = []ztv1.Caller{{Namespace: s.shop}}
			}
			policies[i] = newPolicy(s.shop, fmt.Sprintf("w%02d", i), ztv1.Target{Service: "inventory"}, from,
				ztv1.PortRule{Port: intstr.FromString("http")})
			create(policies[i])
		}
		Eventually(func(g Gomega) {
			for _, p := range policies {
				c := ready(g, p)
				g.Expect(c.Reason).To(Equal(compiler.ReasonEnforced), p.Name)
			}
		}, "1m").Should(Succeed())

		counts := func() []int {
			return []int{
				operatorWrites.count("PATCH", "/apis/zerotrust.dev/v1alpha1"+nsPath(s.shop), "/status") - statusBefore,
				operatorWrites.count("PATCH", "/apis/zerotrust.dev/v1alpha1"+nsPath(s.shop)+"serviceaccesspolicies/", "") - policyWritesBefore,
				operatorWrites.count("PATCH", "/apis/networking.k8s.io/v1"+nsPath(s.shop), "") - npShopBefore,
				operatorWrites.count("PATCH", "/apis/networking.k8s.io/v1"+nsPath(s.payments), "") - npPaymentsBefore,
				operatorWrites.count("POST", "/apis/events.k8s.io/v1"+nsPath(s.shop), "") - eventsBefore,
			}
		}
		// Status patches are counted with the policy writes (same prefix): n of them plus one
		// finalizer for each even policy.
		want := []int{n, n + n/2, n, n / 2, 0}
		Eventually(counts).Should(Equal(want), "status, policy writes (status + finalizers), NetworkPolicies in shop, in payments, Events")
		// And nothing more follows: no second status write or Event when the cache catches up
		// with the first, no reconcile re-applying what it just wrote.
		Consistently(counts, "3s", "250ms").Should(Equal(want))

		for i, p := range policies {
			cur := &ztv1.ServiceAccessPolicy{}
			Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p), cur)).To(Succeed())
			Expect(controllerutil.ContainsFinalizer(cur, controllers.Finalizer)).To(Equal(i%2 == 0),
				"%s: a finalizer exactly when objects are generated outside the policy's namespace", p.Name)
		}

		// A policy without a finalizer is gone at once; what it generated goes with it, also
		// where no garbage collector runs (envtest has none).
		odd := policies[1]
		Expect(generated(odd)).To(HaveLen(1))
		Expect(k8s.Delete(ctx, odd)).To(Succeed())
		Eventually(func() int { return len(generated(odd)) }, 10*time.Second).Should(BeZero())
	})
})

// generatedInNamespace lists the operator's NetworkPolicies in ns.
func generatedInNamespace(g Gomega, ns string) []networkingv1.NetworkPolicy {
	var list networkingv1.NetworkPolicyList
	g.Expect(k8s.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{ztv1.LabelManagedBy: ztv1.ManagedByValue})).To(Succeed())
	return list.Items
}

var _ = Describe("Events", func() {
	// reasons lists the reasons of the Events recorded on p, type first, oldest first.
	reasons := func(g Gomega, p *ztv1.ServiceAccessPolicy) []string {
		var list eventsv1.EventList
		g.Expect(k8s.List(ctx, &list, client.InNamespace(p.Namespace))).To(Succeed())
		slices.SortFunc(list.Items, func(a, b eventsv1.Event) int { return a.EventTime.Compare(b.EventTime.Time) })
		var out []string
		for _, e := range list.Items {
			if e.Regarding.Kind == "ServiceAccessPolicy" && e.Regarding.Name == p.Name {
				out = append(out, e.Type+" "+e.Reason)
			}
		}
		return out
	}
	retarget := func(p *ztv1.ServiceAccessPolicy, service string) {
		Eventually(func(g Gomega) {
			cur := &ztv1.ServiceAccessPolicy{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p), cur)).To(Succeed())
			cur.Spec.Target.Service = service
			g.Expect(k8s.Update(ctx, cur)).To(Succeed())
		}).Should(Succeed())
	}

	It("records one on each transition of Ready, a Warning for a policy not Ready from the start, and none for one Ready from the start", func() {
		s := newShop()
		from := []ztv1.Caller{{Namespace: s.shop}}
		enforced := newPolicy(s.shop, "enforced", ztv1.Target{Service: "inventory"}, from, ztv1.PortRule{Port: intstr.FromString("http")})
		broken := newPolicy(s.shop, "broken", ztv1.Target{Service: "no-such-service"}, from, ztv1.PortRule{Port: intstr.FromString("http")})
		create(enforced, broken)
		Eventually(func(g Gomega) {
			g.Expect(ready(g, enforced).Reason).To(Equal(compiler.ReasonEnforced))
			g.Expect(reasons(g, broken)).To(Equal([]string{"Warning " + compiler.ReasonTargetNotFound}))
		}).Should(Succeed())

		retarget(broken, "inventory")
		Eventually(func(g Gomega) {
			g.Expect(reasons(g, broken)).To(Equal([]string{"Warning " + compiler.ReasonTargetNotFound, "Normal " + compiler.ReasonEnforced}))
		}).Should(Succeed())
		retarget(enforced, "no-such-service")
		Eventually(func(g Gomega) {
			g.Expect(reasons(g, enforced)).To(Equal([]string{"Warning " + compiler.ReasonTargetNotFound}))
		}).Should(Succeed())
		// Nothing else: no Event for a status that did not change Ready.
		Consistently(func(g Gomega) {
			g.Expect(reasons(g, enforced)).To(HaveLen(1))
			g.Expect(reasons(g, broken)).To(HaveLen(2))
		}, "2s", "250ms").Should(Succeed())
	})
})
