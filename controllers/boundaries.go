package controllers

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// Schedule boundaries. A policy's schedule or expiry changes what it grants at an instant
// the compiler names (Output.NextTransition). The reconciler then arms a timer on its
// clock, one per policy, replaced by every reconcile of that policy and stopped when the
// policy goes or has no transition ahead; when the timer fires, the policy is added to the
// controller's queue and reconciled at the boundary, when the compiler, asked at the
// clock's new now, finds it closed (or open) and its objects go (or come back).
//
// The timer runs on the reconciler's clock, not on the workqueue's: with the real clock it
// is a runtime timer, as a RequeueAfter would be, and with a fake clock (tests) stepping
// the clock across the boundary fires it, which a RequeueAfter measured in real time
// never would. There is no RequeueAfter besides: it would only reconcile again at the same
// instant, and under a fake clock at an instant unrelated to the clock's.
//
// No goroutine waits per policy: a real timer is a runtime timer, a fake one an entry in
// the fake clock. Timers that fire after the controller stopped add to a queue that is
// shut down, which drops them; those still armed are stopped with the controller.
type boundaryTimers struct {
	clock clock.WithDelayedExecution

	mu     sync.Mutex
	queue  workqueue.TypedRateLimitingInterface[reconcile.Request]
	timers map[types.NamespacedName]clock.Timer
	done   bool
}

// source is the controller's source of boundary reconciles: it hands the timers the
// controller's queue.
func (b *boundaryTimers) source() source.Source {
	return source.Func(func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		b.mu.Lock()
		b.queue = q
		b.mu.Unlock()
		context.AfterFunc(ctx, b.stopAll)
		return nil
	})
}

// set arms the timer of key to reconcile it at next, replacing the one it had; nil stops
// it. A boundary that has already passed on the clock (it moved since the compiler read
// it) enqueues key at once.
func (b *boundaryTimers) set(key types.NamespacedName, next *time.Time) {
	if b == nil {
		return // a reconciler not set up with a manager: nothing to reconcile into
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if t, ok := b.timers[key]; ok {
		t.Stop()
		delete(b.timers, key)
	}
	if next == nil || b.queue == nil || b.done {
		return
	}
	q, req := b.queue, reconcile.Request{NamespacedName: key}
	d := next.Sub(b.clock.Now())
	if d <= 0 {
		q.Add(req)
		return
	}
	if b.timers == nil {
		b.timers = map[types.NamespacedName]clock.Timer{}
	}
	// The function may run with the fake clock's lock held (FakeClock.SetTime calls it):
	// it must not call the clock nor take b.mu, which set holds while calling the clock.
	b.timers[key] = b.clock.AfterFunc(d, func() { q.Add(req) })
}

// stop stops the timer of a policy that is gone.
func (b *boundaryTimers) stop(key types.NamespacedName) {
	b.set(key, nil)
}

// armed is the number of policies with a timer (tests).
func (b *boundaryTimers) armed() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.timers)
}

func (b *boundaryTimers) stopAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, t := range b.timers {
		t.Stop()
		delete(b.timers, k)
	}
	b.done = true
}
