package controllers

import (
	"context"
	"testing"
	"time"

	"github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// The boundary timers reconcile a policy when the clock reaches its next transition, and
// only then: a replaced timer does not fire, a stopped one neither, and stopping the
// controller stops them all.
func TestBoundaryTimers(t *testing.T) {
	t0 := time.Date(2026, 10, 25, 0, 59, 0, 0, time.UTC)
	clk := clocktesting.NewFakeClock(t0)
	b := &boundaryTimers{clock: clk}
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	defer q.ShutDown()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := b.source().Start(ctx, q); err != nil {
		t.Fatal(err)
	}
	key := func(name string) types.NamespacedName { return types.NamespacedName{Namespace: "shop", Name: name} }
	at := func(d time.Duration) *time.Time { t := t0.Add(d); return &t }
	queued := func() []string {
		var out []string
		for q.Len() > 0 {
			req, _ := q.Get()
			out = append(out, req.Name)
			q.Done(req)
			q.Forget(req)
		}
		return out
	}

	b.set(key("a"), at(time.Minute))
	b.set(key("b"), at(time.Hour))
	b.set(key("b"), at(2*time.Minute)) // replaced: fires at the new instant only
	b.set(key("c"), at(time.Minute))
	b.stop(key("c"))
	b.set(key("d"), nil) // no transition ahead: no timer
	if n := b.armed(); n != 2 {
		t.Fatalf("armed = %d, want 2", n)
	}

	clk.SetTime(t0.Add(time.Minute - time.Second))
	if got := queued(); len(got) != 0 {
		t.Fatalf("a second before the boundary: queued %v", got)
	}
	clk.SetTime(t0.Add(time.Minute))
	if got := queued(); len(got) != 1 || got[0] != "a" {
		t.Fatalf("at the boundary: queued %v, want [a]", got)
	}
	clk.SetTime(t0.Add(3 * time.Minute))
	if got := queued(); len(got) != 1 || got[0] != "b" {
		t.Fatalf("at b's new boundary: queued %v, want [b]", got)
	}
	clk.SetTime(t0.Add(2 * time.Hour))
	if got := queued(); len(got) != 0 {
		t.Fatalf("b's replaced timer fired: queued %v", got)
	}

	// A boundary the clock has passed already (it moved while the policy compiled).
	b.set(key("e"), at(time.Hour))
	if got := queued(); len(got) != 1 || got[0] != "e" {
		t.Fatalf("a passed boundary: queued %v, want [e]", got)
	}

	b.set(key("f"), at(3*time.Hour))
	cancel()
	gomega.NewWithT(t).Eventually(b.armed).Should(gomega.BeZero(), "timers armed after the controller stopped")
	if clk.HasWaiters() {
		t.Fatal("after the controller stopped: the clock still has timers")
	}
	b.set(key("f"), at(4*time.Hour))
	if clk.HasWaiters() {
		t.Fatal("a timer was armed after the controller stopped")
	}
}
