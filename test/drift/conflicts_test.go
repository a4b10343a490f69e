package drift_test

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/operator"
)

// fightFor is how long the other writer keeps changing an object back.
const fightFor = 10 * time.Second

// fighter is the manager of the other writer.
const fighter = "fighter"

// shopPolicy creates, in a new namespace, a Deployment inventory behind a Service and a
// policy letting Deployment checkout call it, and waits until the policy is enforced.
func shopPolicy(prefix string) *ztv1.ServiceAccessPolicy {
	GinkgoHelper()
	ns := uniqueName(prefix)
	Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	for _, name := range []string{"inventory", "checkout"} {
		Expect(k8s.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})).To(Succeed())
		labels := map[string]string{"app": name}
		Expect(k8s.Create(ctx, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: appsv1.DeploymentSpec{
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{ServiceAccountName: name, Containers: []corev1.Container{{
						Name: "app", Image: "app",
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
					}}},
				},
			},
		})).To(Succeed())
	}
	Expect(k8s.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "inventory"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "inventory"}, Ports: []corev1.ServicePort{{
			Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP,
		}}},
	})).To(Succeed())
	p := &ztv1.ServiceAccessPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "checkout-calls-inventory"},
		Spec: ztv1.ServiceAccessPolicySpec{
			Target: ztv1.Target{Service: "inventory"},
			From:   []ztv1.Caller{{Workload: &ztv1.WorkloadReference{Kind: "Deployment", Name: "checkout"}}},
			Ports:  []ztv1.PortRule{{Port: intstr.FromString("http")}},
		},
	}
	Expect(k8s.Create(ctx, p)).To(Succeed())
	Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
		g.Expect(p.Status.ObservedGeneration).To(Equal(p.Generation))
		ready := meta.FindStatusCondition(p.Status.Conditions, ztv1.ConditionReady)
		g.Expect(ready).NotTo(BeNil())
		g.Expect(ready.Reason).To(Equal("Enforced"), ready.Message)
	}).Should(Succeed())
	return p
}

// ownedBy reports whether manager owns fields of o.
func ownedBy(o metav1.Object, manager string) bool {
	return slices.ContainsFunc(o.GetManagedFields(), func(e metav1.ManagedFieldsEntry) bool { return e.Manager == manager })
}

// fight watches one object and, until `until`, changes it back with patch (merge patch,
// field manager "fighter") every time it shows a version the fighter did not write. It
// counts the versions others wrote (watch events of an object whose managedFields name
// no fighter: the operator's replace resets them) until ctx ends, and its own patches.
type fight struct {
	others, patches atomic.Int64
	done            chan struct{}
}

func startFight(ctx context.Context, obj client.Object, list client.ObjectList, patch client.Patch, until time.Time) *fight {
	GinkgoHelper()
	wc, err := client.NewWithWatch(cfg, client.Options{Scheme: operator.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	w, err := wc.Watch(ctx, list, client.InNamespace(obj.GetNamespace()),
		client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("metadata.name", obj.GetName())})
	Expect(err).NotTo(HaveOccurred())
	f := &fight{done: make(chan struct{})}
	go func() {
		defer GinkgoRecover()
		defer close(f.done)
		defer w.Stop()
		for {
			var ev watch.Event
			var ok bool
			select {
			case <-ctx.Done():
				return
			case ev, ok = <-w.ResultChan():
				if !ok {
					return
				}
			}
			o, isObj := ev.Object.(client.Object)
			if !isObj || (ev.Type != watch.Added && ev.Type != watch.Modified) || ownedBy(o, fighter) {
				continue
			}
			if ev.Type == watch.Modified {
				f.others.Add(1)
			}
			if time.Now().Before(until) {
				target := obj.DeepCopyObject().(client.Object)
				if err := k8s.Patch(ctx, target, patch, client.FieldOwner(fighter)); err == nil {
					f.patches.Add(1)
				} else if ctx.Err() == nil {
					GinkgoWriter.Printf("fighter: %v\n", err)
				}
			}
		}
	}()
	return f
}

var _ = Describe("another writer that keeps changing what the operator generates", func() {
	It("meets repairs spaced out by a backoff: the operator's NetworkPolicy wins when it stops, at most 2 writes a second meanwhile, each with its count and one Event series", func() {
		p := shopPolicy("fight")
		var np *networkingv1.NetworkPolicy
		Eventually(func(g Gomega) {
			var l networkingv1.NetworkPolicyList
			g.Expect(k8s.List(ctx, &l, client.InNamespace(p.Namespace), client.MatchingLabels{ztv1.LabelPolicyName: p.Name})).To(Succeed())
			g.Expect(l.Items).To(HaveLen(1))
			np = &l.Items[0]
		}).Should(Succeed())
		want := np.Spec
		repairs := driftRepairs("networkpolicy", "NetworkPolicy")

		fightCtx, stop := context.WithCancel(ctx)
		defer stop()
		start := time.Now()
		f := startFight(fightCtx, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: np.Namespace, Name: np.Name}},
			&networkingv1.NetworkPolicyList{}, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"ingress":[{}]}}`)), start.Add(fightFor))

		// The fighter stops after fightFor; the operator's content is back after it.
		Eventually(func(g Gomega) {
			g.Expect(time.Since(start)).To(BeNumerically(">", fightFor))
			live := &networkingv1.NetworkPolicy{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(np), live)).To(Succeed())
			g.Expect(ownedBy(live, fighter)).To(BeFalse(), "the fighter's version is still there")
			g.Expect(live.Spec).To(Equal(want))
		}).Should(Succeed())
		restoredAfter := time.Since(start)
		// Nothing more comes: the repair that put it back was the last write.
		Consistently(f.others.Load, 2*time.Second).Should(Equal(f.others.Load()))
		stop()
		Eventually(f.done).Should(BeClosed())

		writes := f.others.Load()
		GinkgoWriter.Printf("fight of %v: the fighter wrote %d times, the operator %d times; restored %v after the start\n",
			fightFor, f.patches.Load(), writes, restoredAfter.Round(time.Millisecond))
		AddReportEntry("operator writes during a 10 s fight", writes)
		Expect(f.patches.Load()).To(BeNumerically(">=", 3), "the fighter hardly fought")
		Expect(float64(writes)).To(BeNumerically("<=", 2*restoredAfter.Seconds()), "the operator wrote more than twice a second: a hot loop")
		// Each write was a repair, counted and told.
		Eventually(func() float64 { return driftRepairs("networkpolicy", "NetworkPolicy") }).Should(Equal(repairs + float64(writes)))
		Eventually(func(g Gomega) {
			var list eventsv1.EventList
			g.Expect(k8s.List(ctx, &list, client.InNamespace(p.Namespace))).To(Succeed())
			var repaired []eventsv1.Event
			for _, e := range list.Items {
				if e.Reason == "DriftRepaired" && e.Regarding.Name == p.Name && e.Related != nil && e.Related.Name == np.Name {
					repaired = append(repaired, e)
				}
			}
			// Repeated Events of one object aggregate into one Event's series (the count the
			// API shows is the recorder's first update of it).
			g.Expect(repaired).To(HaveLen(1))
			g.Expect(repaired[0].Type).To(Equal(corev1.EventTypeWarning))
			g.Expect(repaired[0].Note).To(ContainSubstring("was changed by fighter (spec.ingress)"))
			g.Expect(repaired[0].Series).NotTo(BeNil())
			g.Expect(repaired[0].Series.Count).To(BeNumerically(">=", 2))
		}).Should(Succeed())
	})

	It("meets a status another writer keeps changing with the status the operator computes at each re-verification: it wins when the writer stops, one write per re-verification at most", func() {
		p := shopPolicy("status-fight")
		want := p.Status.DeepCopy()
		tampered := p.DeepCopy()
		meta.SetStatusCondition(&tampered.Status.Conditions, metav1.Condition{
			Type: ztv1.ConditionReady, Status: metav1.ConditionFalse, Reason: "Tampered", Message: "written by someone else",
		})
		tampered.Status.Backends = nil
		patch, err := client.MergeFrom(p).Data(tampered)
		Expect(err).NotTo(HaveOccurred())

		// The status fighter: every version of the policy it did not write, it patches back.
		fightCtx, stop := context.WithCancel(ctx)
		defer stop()
		start := time.Now()
		f := startStatusFight(fightCtx, p, patch, start.Add(fightFor))

		restored := func(g Gomega) {
			live := &ztv1.ServiceAccessPolicy{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p), live)).To(Succeed())
			ready := meta.FindStatusCondition(live.Status.Conditions, ztv1.ConditionReady)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Reason).To(Equal("Enforced"))
			g.Expect(ready.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(live.Status.Backends).To(Equal(want.Backends))
			g.Expect(live.Status.ObservedGeneration).To(Equal(want.ObservedGeneration))
		}
		Eventually(func(g Gomega) {
			g.Expect(time.Since(start)).To(BeNumerically(">", fightFor))
			restored(g)
		}).Should(Succeed())
		// The fighter's last patch may land after that: stop it, then the operator's status
		// must come back and stay, with no further write.
		stop()
		Eventually(f.done).Should(BeClosed())
		Eventually(restored).Should(Succeed())
		restoredAfter := time.Since(start)
		Consistently(f.others.Load, 2*time.Second).Should(Equal(f.others.Load()))

		// The operator does not watch status (its own writes would wake it): the re-verification
		// repairs it, so the operator writes it at most once per reverifyInterval.
		writes := f.others.Load()
		bound := restoredAfter.Seconds()/reverifyInterval.Seconds() + 1
		GinkgoWriter.Printf("status fight of %v: the fighter wrote %d times, the operator %d times (bound %.0f at one per %v re-verification); restored %v after the start\n",
			fightFor, f.patches.Load(), writes, bound, reverifyInterval, restoredAfter.Round(time.Millisecond))
		AddReportEntry("operator status writes during a 10 s fight", writes)
		Expect(f.patches.Load()).To(BeNumerically(">=", 3), "the fighter hardly fought")
		Expect(float64(writes)).To(BeNumerically("<=", bound), "more than one status write per re-verification: a loop")
	})
})

// startStatusFight is startFight for a policy's status: the fighter patches the status
// subresource with patch whenever the policy shows a status it did not write.
func startStatusFight(ctx context.Context, p *ztv1.ServiceAccessPolicy, patch []byte, until time.Time) *fight {
	GinkgoHelper()
	wc, err := client.NewWithWatch(cfg, client.Options{Scheme: operator.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	w, err := wc.Watch(ctx, &ztv1.ServiceAccessPolicyList{}, client.InNamespace(p.Namespace),
		client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("metadata.name", p.Name)})
	Expect(err).NotTo(HaveOccurred())
	f := &fight{done: make(chan struct{})}
	go func() {
		defer GinkgoRecover()
		defer close(f.done)
		defer w.Stop()
		for {
			var ev watch.Event
			var ok bool
			select {
			case <-ctx.Done():
				return
			case ev, ok = <-w.ResultChan():
				if !ok {
					return
				}
			}
			o, isPolicy := ev.Object.(*ztv1.ServiceAccessPolicy)
			if !isPolicy || (ev.Type != watch.Added && ev.Type != watch.Modified) {
				continue
			}
			ready := meta.FindStatusCondition(o.Status.Conditions, ztv1.ConditionReady)
			if ready != nil && ready.Reason == "Tampered" {
				continue // the fighter's own version
			}
			if ev.Type == watch.Modified {
				f.others.Add(1)
			}
			if time.Now().Before(until) {
				target := &ztv1.ServiceAccessPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name}}
				if err := k8s.Status().Patch(ctx, target, client.RawPatch(types.MergePatchType, patch), client.FieldOwner(fighter)); err == nil {
					f.patches.Add(1)
				} else if ctx.Err() == nil {
					GinkgoWriter.Printf("status fighter: %v\n", err)
				}
			}
		}
	}()
	return f
}
