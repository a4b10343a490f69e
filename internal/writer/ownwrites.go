package writer

import (
	"encoding/json"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/zerotrust-dev/zerotrust-operator/internal/apply"
)

// Predicate drops the create and update events of w's own writes of objects of kind gvk,
// so that they reconcile nothing; events of anyone else's change, and every deletion,
// pass. Every watch of a generated kind by w's reconciler uses it.
func (w *Writer) Predicate(gvk schema.GroupVersionKind) predicate.Funcs { return w.own.predicate(gvk) }

// ownWrites remembers, per generated object, the operator's last write of it until a watch
// event shows it: the event showing exactly that write (same resourceVersion) does not
// trigger a reconcile (a first converge would otherwise reconcile each policy once more per
// object it generated, for nothing), and a reconcile that runs before the event does not
// write the same object again. Any event of the object consumes its entry; events that show
// someone else's change (a newer resourceVersion) or a deletion always pass.
//
// A write's own events can be handled before the write returns and is recorded; a deletion
// among them would then be followed by a record that nothing clears (no object left to show
// it), and a reconcile would take the deleted object for one in flight and never put it
// back. So writes are bracketed (begin, end): a deletion seen while a write of the object
// is in flight keeps that write from being recorded.
type ownWrites struct {
	mu sync.Mutex
	m  map[Key]ownWrite
	// writing counts the writes of each object in flight; deleted marks those of them whose
	// object a deletion event showed meanwhile.
	writing map[Key]int
	deleted map[Key]bool
	// deleting holds the operator's own deletions whose event has not come yet; gone the
	// objects someone else deleted, until the operator puts them back (a DriftRepaired
	// Event) or an hour has passed (their owner went too).
	deleting map[Key]bool
	gone     map[Key]time.Time
	// repairs spaces out the repairs of objects someone else keeps changing (repairs.go).
	repairs repairBackoff
}

// goneTTL bounds how long a deletion by someone else is remembered: an object that is not
// put back within it was not the operator's to put back (its owner is gone too).
const goneTTL = time.Hour

// willDelete records that the operator is about to delete k, so that its event is not
// taken for someone else's deletion.
func (w *ownWrites) willDelete(k Key) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.deleting == nil {
		w.deleting = map[Key]bool{}
	}
	w.deleting[k] = true
	delete(w.gone, k)
}

// deletedByOthers reports, once, whether someone other than the operator deleted k since
// the operator last wrote it.
func (w *ownWrites) deletedByOthers(k Key) bool {
	if w == nil {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.gone[k]
	delete(w.gone, k)
	return ok
}

// repairWait returns how long a repair of k (someone else changed it, or deleted it:
// deletedByOthers without consuming it) must wait; 0 when k needs no repair or the repair
// may be made now.
func (w *ownWrites) repairWait(k Key, tampered bool) time.Duration {
	if w == nil {
		return 0
	}
	if !tampered {
		w.mu.Lock()
		_, tampered = w.gone[k]
		w.mu.Unlock()
	}
	if !tampered {
		return 0
	}
	return w.repairs.wait(k)
}

// repaired records a repair of k (repairBackoff.repaired).
func (w *ownWrites) repaired(k Key) time.Duration {
	if w == nil {
		return 0
	}
	return w.repairs.repaired(k)
}

// sawDeletion classifies a deletion event of k: the operator's own, or someone else's.
// Called with w.mu held.
func (w *ownWrites) sawDeletion(k Key) {
	if w.deleting[k] {
		delete(w.deleting, k)
		return
	}
	now := time.Now()
	if w.gone == nil {
		w.gone = map[Key]time.Time{}
	}
	for g, at := range w.gone {
		if now.Sub(at) > goneTTL {
			delete(w.gone, g)
		}
	}
	w.gone[k] = now
}

type ownWrite struct {
	resourceVersion string // the API server gave the write
	digest          string // of what was written (writeDigest)
}

// writeDigest identifies what the operator writes of a generated object: its content and
// the metadata it sets (labels, annotations, ownerReferences).
func writeDigest(o client.Object) (string, error) {
	content, err := apply.Digest(o)
	if err != nil {
		return "", err
	}
	meta, err := json.Marshal([]any{o.GetLabels(), o.GetAnnotations(), o.GetOwnerReferences()})
	if err != nil {
		return "", err
	}
	return apply.Sum(append([]byte(content), meta...)), nil
}

// begin marks a write of k in flight; end must follow.
func (w *ownWrites) begin(k Key) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.writing == nil {
		w.writing, w.deleted = map[Key]int{}, map[Key]bool{}
	}
	w.writing[k]++
}

// end ends a write of k begun by begin, and records what it wrote (resourceVersion empty:
// nothing) unless a deletion of k was seen since it began.
func (w *ownWrites) end(k Key, resourceVersion, digest string) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	deleted := w.deleted[k]
	if w.writing[k]--; w.writing[k] <= 0 {
		delete(w.writing, k)
		delete(w.deleted, k)
	}
	if resourceVersion == "" || deleted {
		return
	}
	if w.m == nil {
		w.m = map[Key]ownWrite{}
	}
	w.m[k] = ownWrite{resourceVersion: resourceVersion, digest: digest}
}

// inFlight reports whether the operator wrote desired to k and the cache (current, nil when
// it holds none) does not show that write yet: writing again would change nothing. A cached
// object as new as the write, or any watch event of the object, ends the entry.
func (w *ownWrites) inFlight(k Key, desired, current client.Object) bool {
	if w == nil {
		return false
	}
	w.mu.Lock()
	e, ok := w.m[k]
	if ok && current != nil {
		if cmp, err := resourceversion.CompareResourceVersion(current.GetResourceVersion(), e.resourceVersion); err != nil || cmp >= 0 {
			delete(w.m, k)
			ok = false
		}
	}
	w.mu.Unlock()
	if !ok {
		return false
	}
	digest, err := writeDigest(desired)
	return err == nil && digest == e.digest
}

// forget drops the entry of an object whose deletion a watch event showed.
func (w *ownWrites) forget(gvk schema.GroupVersionKind, o client.Object) {
	if w == nil {
		return
	}
	k := Key{GVK: gvk, Namespace: o.GetNamespace(), Name: o.GetName()}
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.m, k)
	if w.writing[k] > 0 {
		w.deleted[k] = true
	}
	w.sawDeletion(k)
}

// own reports whether o, of kind gvk, is exactly what the operator last wrote, and forgets
// the write: from any event of the object on, the cache is the truth.
func (w *ownWrites) own(gvk schema.GroupVersionKind, o client.Object) bool {
	if w == nil {
		return false
	}
	k := Key{GVK: gvk, Namespace: o.GetNamespace(), Name: o.GetName()}
	w.mu.Lock()
	defer w.mu.Unlock()
	e, ok := w.m[k]
	if ok {
		delete(w.m, k)
	}
	return ok && e.resourceVersion == o.GetResourceVersion()
}

// predicate drops the create and update events of the operator's own writes of objects
// of kind gvk (cached typed objects carry no kind). Deletions always pass.
func (w *ownWrites) predicate(gvk schema.GroupVersionKind) predicate.Funcs {
	return predicate.Funcs{
		CreateFunc: func(e event.CreateEvent) bool { return !w.own(gvk, e.Object) },
		UpdateFunc: func(e event.UpdateEvent) bool { return !w.own(gvk, e.ObjectNew) },
		// A write's own event may come before the write is recorded: a deletion must clear
		// the entry, or the object would look in flight and never be put back.
		DeleteFunc: func(e event.DeleteEvent) bool { w.forget(gvk, e.Object); return true },
	}
}
