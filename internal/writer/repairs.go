package writer

import (
	"sync"
	"time"
)

// Repairs of one generated object that someone else keeps changing are spaced out: another
// writer that puts its version back each time it sees the operator's (a second controller,
// a GitOps tool syncing the same name, a script in a loop) would otherwise meet the
// operator in a loop as fast as the two can write, each repair an event for the other.
// controller-runtime's rate limiter backs off failed reconciles only; a repair succeeds.
//
// So: the first repairsFree repairs of an object are made at once; each further one, while
// the object keeps being changed, waits repairBackoffBase, then twice as long, and so on up
// to repairBackoffMax. Until then the reconcile leaves the object as it is and is requeued
// for when the repair is due. An object left alone for repairWindow after its last repair
// starts again with repairsFree. Whoever stops changing it last loses: the operator's
// content wins within repairBackoffMax of the other writer stopping, and while they fight
// the operator writes the object at most repairsFree times plus once per delay (1 s, 2 s,
// 4 s, ... then every repairBackoffMax). Every repair still has its DriftRepaired Event and
// zerotrust_drift_repairs_total count.
const (
	repairsFree       = 3
	repairBackoffBase = time.Second
	repairBackoffMax  = 30 * time.Second
	repairWindow      = time.Minute
)

// repairBackoff remembers, per generated object, the operator's recent repairs of it.
type repairBackoff struct {
	mu sync.Mutex
	// now is the time repairs are spaced by (default time.Now): the rate of writes to the
	// API server is a matter of real time, not of the reconciler's clock.
	now func() time.Time
	m   map[Key]repairs
}

type repairs struct {
	count int       // repairs since the object was last left alone for repairWindow
	last  time.Time // of the last repair
	next  time.Time // the earliest the next repair may be made
}

func (b *repairBackoff) clock() time.Time {
	if b.now != nil {
		return b.now()
	}
	return time.Now()
}

// wait returns how long the next repair of k must wait (0: it may be made now).
func (b *repairBackoff) wait(k Key) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.m[k]
	if !ok {
		return 0
	}
	now := b.clock()
	if now.Sub(r.last) > repairWindow {
		return 0
	}
	return max(r.next.Sub(now), 0)
}

// repaired records a repair of k made now, and returns the delay the next one must wait.
func (b *repairBackoff) repaired(k Key) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock()
	// Only objects repaired within the window are kept: a handful, normally none.
	for key, r := range b.m {
		if now.Sub(r.last) > repairWindow {
			delete(b.m, key)
		}
	}
	if b.m == nil {
		b.m = map[Key]repairs{}
	}
	r := b.m[k]
	r.count++
	r.last, r.next = now, now
	delay := time.Duration(0)
	if r.count >= repairsFree {
		delay = repairBackoffMax
		if n := r.count - repairsFree; n < 5 { // 2^5 s > repairBackoffMax
			delay = min(repairBackoffBase<<n, repairBackoffMax)
		}
		r.next = now.Add(delay)
	}
	b.m[k] = r
	return delay
}
