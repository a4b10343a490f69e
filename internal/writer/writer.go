// Package writer is the operator's one write path: every write of a generated object, a
// policy's or baseline's status or finalizer, and the DriftRepaired Event of a repair goes
// through a Writer. It is also where the operator knows its own writes:
//
//   - Generated objects: each write is remembered (resourceVersion and digest) until a watch
//     event shows it. Predicate drops the events of the operator's own writes, so they
//     reconcile nothing, and Apply skips an object whose last write the cache does not show
//     yet. Deletions by someone else are remembered until the object is put back, so that
//     the repair is reported (DriftRepaired Event with action Recreate).
//   - Policies and baselines: the resourceVersion of the last status or finalizer write.
//     While the cache holds an older copy (Behind), a reconcile works from what was written
//     rather than from the stale copy.
//   - The status digest: the cache holds a policy's status condensed (CondensePolicy) with
//     a digest of the whole, and a status is written only when its digest changes.
//
// The reconcilers own one Writer each (its predicates drop only the events of its own
// writes) and hold no write-tracking state of their own. docs/performance.md explains the
// mechanism.
package writer

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Writer writes on behalf of one reconciler. The zero value of its state is ready; set
// Client (and Recorder, for DriftRepaired Events) before use.
type Writer struct {
	Client client.Client
	// Recorder receives a DriftRepaired Warning Event for each repair; nil: no Events.
	Recorder events.EventRecorder

	own  ownWrites
	last lastWrites
}

// New returns a Writer over c that records Events with rec (may be nil).
func New(c client.Client, rec events.EventRecorder) *Writer {
	return &Writer{Client: c, Recorder: rec}
}

// Kinds says which generated kinds are active and which cache holds each of them
// (controllers' Backends).
type Kinds interface {
	// Kinds lists the generated kinds whose objects are cached.
	Kinds() []schema.GroupVersionKind
	// Reader returns the cache holding objects of kind gvk, or fallback.
	Reader(gvk schema.GroupVersionKind, fallback client.Reader) client.Reader
}

// Event records an Event on regarding (with related, may be nil), when a Recorder is set.
func (w *Writer) Event(regarding, related client.Object, eventType, reason, action, note string) {
	if w.Recorder != nil {
		w.Recorder.Eventf(regarding, related, eventType, reason, action, "%s", note)
	}
}

// Forget drops what is remembered of the writes of an object that is gone or going
// (a policy or baseline).
func (w *Writer) Forget(key client.ObjectKey) { w.last.forget(key) }

// Behind reports whether the cached o is older than the operator's last write of it: a
// write on top of it would fail on its stale resourceVersion.
func (w *Writer) Behind(o client.Object) bool {
	_, behind := w.last.behind(o)
	return behind
}

// Refresh reads o again through r (the API server) when the cache is behind the operator's
// last write of it.
func (w *Writer) Refresh(ctx context.Context, r client.Reader, o client.Object) error {
	if !w.Behind(o) {
		return nil
	}
	return r.Get(ctx, client.ObjectKeyFromObject(o), o)
}
