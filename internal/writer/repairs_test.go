package writer

import (
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
)

// An object someone keeps changing is repaired at once repairsFree times, then after 1 s,
// 2 s, 4 s ... up to repairBackoffMax; left alone for repairWindow it starts afresh. Other
// objects are not held back by it.
func TestRepairBackoff(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := repairBackoff{now: func() time.Time { return now }}
	np := Key{GVK: networkingv1.SchemeGroupVersion.WithKind("NetworkPolicy"), Namespace: "shop", Name: "zt-in.web"}
	other := np
	other.Name = "zt-in.api"

	// Each repair is made as soon as it may be: the delays before the next one.
	want := []time.Duration{0, 0, 1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second,
		16 * time.Second, 30 * time.Second, 30 * time.Second, 30 * time.Second}
	for i, delay := range want {
		if w := b.wait(np); w != 0 {
			t.Fatalf("repair %d: waits %v when it is due", i+1, w)
		}
		if got := b.repaired(np); got != delay {
			t.Errorf("repair %d: next waits %v, want %v", i+1, got, delay)
		}
		if delay > 0 {
			now = now.Add(delay / 2)
			if w := b.wait(np); w != delay-delay/2 {
				t.Errorf("repair %d: halfway, waits %v, want %v", i+1, w, delay-delay/2)
			}
			if w := b.wait(other); w != 0 {
				t.Errorf("another object waits %v", w)
			}
			now = now.Add(delay - delay/2)
		}
	}
	if len(b.m) != 1 {
		t.Errorf("remembers %d objects, want 1", len(b.m))
	}

	// Left alone for the window: repaired at once again, and forgotten.
	now = now.Add(repairWindow + time.Second)
	if w := b.wait(np); w != 0 {
		t.Errorf("after the window: waits %v", w)
	}
	if got := b.repaired(other); got != 0 {
		t.Errorf("first repair of another object: next waits %v", got)
	}
	if _, ok := b.m[np]; ok {
		t.Error("an object left alone for the window is still remembered")
	}
	if got := b.repaired(np); got != 0 {
		t.Errorf("first repair after the window: next waits %v", got)
	}
}

// A nil ownWrites (reconcilers in unit tests) neither waits nor records.
func TestRepairBackoffNil(t *testing.T) {
	var w *ownWrites
	k := Key{Name: "x"}
	if w.repairWait(k, true) != 0 || w.repaired(k) != 0 {
		t.Error("a nil ownWrites spaces out repairs")
	}
}
