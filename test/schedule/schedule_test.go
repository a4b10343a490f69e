package schedule_test

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

var nsCounter atomic.Int64

// newShop creates namespaces shop-N (inventory behind a Service) and payments-N (payment)
// and returns a policy letting payment call inventory, not created yet.
func newShop(name string) *ztv1.ServiceAccessPolicy {
	n := nsCounter.Add(1)
	shop, payments := fmt.Sprintf("shop-%d", n), fmt.Sprintf("payments-%d", n)
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: shop}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: payments}},
		deployment(payments, "payment"), deployment(shop, "inventory"),
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: shop, Name: "inventory"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "inventory"}, Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP},
			}},
		},
	} {
		Expect(k8s.Create(ctx, o)).To(Succeed())
	}
	p := &ztv1.ServiceAccessPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: shop, Name: name},
		Spec: ztv1.ServiceAccessPolicySpec{
			Target: ztv1.Target{Service: "inventory"},
			From:   []ztv1.Caller{{Workload: &ztv1.WorkloadReference{Kind: ztv1.WorkloadDeployment, Name: "payment"}, Namespace: payments}},
		},
	}
	DeferCleanup(func() { Expect(client.IgnoreNotFound(k8s.Delete(ctx, p))).To(Succeed()) })
	return p
}

func deployment(ns, name string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "registry.example/" + name,
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}}},
			},
		},
	}
}

// generated lists the NetworkPolicies generated for p.
func generated(g Gomega, p *ztv1.ServiceAccessPolicy) []networkingv1.NetworkPolicy {
	var list networkingv1.NetworkPolicyList
	g.Expect(k8s.List(ctx, &list, client.MatchingLabels{
		ztv1.LabelPolicyName: p.Name, ztv1.LabelPolicyNamespace: p.Namespace,
	})).To(Succeed())
	return list.Items
}

// state is what a spec checks of a policy at an instant.
type state struct {
	active bool
	reason string
	next   time.Time // zero: no transition ahead
}

// expect waits until p's status, for its current generation, is want, and its
// NetworkPolicies exist when want.active and do not otherwise.
func expect(p *ztv1.ServiceAccessPolicy, want state) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		cur := &ztv1.ServiceAccessPolicy{}
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p), cur)).To(Succeed())
		st := cur.Status
		g.Expect(st.ObservedGeneration).To(Equal(cur.Generation))
		g.Expect(st.Active).To(Equal(want.active), "status.active")
		var reason string
		for _, c := range st.Conditions {
			if c.Type == ztv1.ConditionReady {
				g.Expect(c.Status).To(Equal(metav1.ConditionTrue), "Ready: %s", c.Message)
				reason = c.Reason
			}
		}
		g.Expect(reason).To(Equal(want.reason))
		if want.next.IsZero() {
			g.Expect(st.NextTransition).To(BeNil())
		} else {
			g.Expect(st.NextTransition).NotTo(BeNil())
			g.Expect(st.NextTransition.UTC()).To(Equal(want.next.UTC()), "status.nextTransition")
		}
		if want.active {
			g.Expect(generated(g, p)).To(HaveLen(1), "the ingress NetworkPolicy in shop (no baseline denies egress)")
		} else {
			g.Expect(generated(g, p)).To(BeEmpty())
		}
	}).Should(Succeed())
}

// reconcileNow changes p's spec with mutate, in a way that leaves what it grants as it
// was: the operator reconciles it at the clock's current instant, and expect then sees the
// outcome of that reconcile (status.observedGeneration). Without it, a spec could not tell
// "the objects are still there a second before the boundary" from "nothing looked".
func reconcileNow(p *ztv1.ServiceAccessPolicy, mutate func(*ztv1.ServiceAccessPolicySpec)) {
	GinkgoHelper()
	cur := &ztv1.ServiceAccessPolicy{}
	Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p), cur)).To(Succeed())
	spec := cur.Spec.DeepCopy()
	mutate(spec)
	patch, err := json.Marshal(map[string]any{"spec": spec})
	Expect(err).NotTo(HaveOccurred())
	Expect(k8s.Patch(ctx, cur, client.RawPatch(types.MergePatchType, patch))).To(Succeed())
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	Expect(err).NotTo(HaveOccurred())
	return t
}

// transitions reads zerotrust_schedule_transitions_total{to} of the operator (it runs in this
// process).
func transitions(to string) float64 {
	GinkgoHelper()
	families, err := ctrlmetrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		if f.GetName() != "zerotrust_schedule_transitions_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "to" && l.GetValue() == to {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	Fail("no zerotrust_schedule_transitions_total{to=" + to + "}")
	return 0
}

var _ = Describe("Schedules and expiry on the operator's clock", func() {
	It("removes the objects at the second a window closes and puts them back when the next opens", func() {
		// Friday 2026-10-23, 16:59 in Berlin (CEST, UTC+2): the window closes at 17:00 =
		// 15:00Z. The next opens on Monday 09:00, after the change to CET (UTC+1): 08:00Z.
		clk.SetTime(utc("2026-10-23T14:59:00Z"))
		p := newShop("office-hours")
		p.Spec.Schedule = &ztv1.Schedule{TimeZone: "Europe/Berlin", Windows: []ztv1.Window{
			{Days: []ztv1.Day{"Mon", "Tue", "Wed", "Thu", "Fri"}, Start: "09:00", End: "17:00"},
		}}
		Expect(k8s.Create(ctx, p)).To(Succeed())
		expect(p, state{active: true, reason: "Enforced", next: utc("2026-10-23T15:00:00Z")})

		clk.SetTime(utc("2026-10-23T14:59:59Z"))
		reconcileNow(p, func(s *ztv1.ServiceAccessPolicySpec) { s.ExpiresAt = &metav1.Time{Time: utc("2030-01-01T00:00:00Z")} })
		expect(p, state{active: true, reason: "Enforced", next: utc("2026-10-23T15:00:00Z")})

		closed := transitions("inactive")
		clk.Step(time.Second)
		expect(p, state{active: false, reason: "OutsideSchedule", next: utc("2026-10-26T08:00:00Z")})
		Expect(transitions("inactive")).To(Equal(closed + 1))

		clk.SetTime(utc("2026-10-26T07:59:59Z"))
		reconcileNow(p, func(s *ztv1.ServiceAccessPolicySpec) { s.ExpiresAt = &metav1.Time{Time: utc("2031-01-01T00:00:00Z")} })
		expect(p, state{active: false, reason: "OutsideSchedule", next: utc("2026-10-26T08:00:00Z")})

		opened := transitions("active")
		clk.Step(time.Second)
		expect(p, state{active: true, reason: "Enforced", next: utc("2026-10-26T16:00:00Z")})
		Expect(transitions("active")).To(Equal(opened + 1))
	})

	It("closes a window that spans the change from CEST to CET at its wall-clock end", func() {
		// Saturday 23:00 to Sunday 06:00 in Berlin. On 2026-10-25 clocks go back from 03:00
		// CEST to 02:00 CET: the window opens at 21:00Z and closes at 06:00 CET = 05:00Z, 8
		// hours later, not at 04:00Z as a fixed UTC+2 would have it.
		clk.SetTime(utc("2026-10-24T20:00:00Z"))
		p := newShop("night-batch")
		p.Spec.Schedule = &ztv1.Schedule{TimeZone: "Europe/Berlin", Windows: []ztv1.Window{
			{Days: []ztv1.Day{"Sat"}, Start: "23:00", End: "06:00"},
		}}
		Expect(k8s.Create(ctx, p)).To(Succeed())
		expect(p, state{active: false, reason: "OutsideSchedule", next: utc("2026-10-24T21:00:00Z")})

		clk.SetTime(utc("2026-10-24T21:00:00Z"))
		expect(p, state{active: true, reason: "Enforced", next: utc("2026-10-25T05:00:00Z")})

		for i, at := range []string{"2026-10-25T04:00:00Z", "2026-10-25T04:59:59Z"} {
			clk.SetTime(utc(at))
			reconcileNow(p, func(s *ztv1.ServiceAccessPolicySpec) {
				s.ExpiresAt = &metav1.Time{Time: utc(fmt.Sprintf("203%d-01-01T00:00:00Z", i))}
			})
			expect(p, state{active: true, reason: "Enforced", next: utc("2026-10-25T05:00:00Z")})
		}

		clk.Step(time.Second)
		// Next Saturday 23:00 CET.
		expect(p, state{active: false, reason: "OutsideSchedule", next: utc("2026-10-31T22:00:00Z")})
	})

	It("removes everything at the second the policy expires", func() {
		clk.SetTime(utc("2026-12-30T23:59:00Z"))
		p := newShop("temporary")
		p.Spec.ExpiresAt = &metav1.Time{Time: utc("2026-12-31T00:00:00Z")}
		Expect(k8s.Create(ctx, p)).To(Succeed())
		expect(p, state{active: true, reason: "Enforced", next: utc("2026-12-31T00:00:00Z")})

		clk.SetTime(utc("2026-12-30T23:59:59Z"))
		// A window all day, every day: no boundary of its own.
		reconcileNow(p, func(s *ztv1.ServiceAccessPolicySpec) {
			s.Schedule = &ztv1.Schedule{TimeZone: "Europe/Berlin", Windows: []ztv1.Window{{Start: "00:00", End: "24:00"}}}
		})
		expect(p, state{active: true, reason: "Enforced", next: utc("2026-12-31T00:00:00Z")})

		clk.Step(time.Second)
		expect(p, state{active: false, reason: "Expired"})
	})
})
