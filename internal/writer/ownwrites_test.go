package writer

import (
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A write's events may be handled before the write returns. When its object's deletion is
// among them, the write must not be taken for one in flight afterwards: the object is gone
// and must be put back.
func TestOwnWritesDeletionBeforeRecord(t *testing.T) {
	gvk := networkingv1.SchemeGroupVersion.WithKind("NetworkPolicy")
	np := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "zt-in.web", ResourceVersion: "7"}}
	np.SetGroupVersionKind(gvk)
	k := KeyOf(np)
	digest, err := writeDigest(np)
	if err != nil {
		t.Fatal(err)
	}

	var w ownWrites
	w.begin(k)
	w.forget(gvk, np) // the deletion event, handled while the write is in flight
	w.end(k, "7", digest)
	if w.inFlight(k, np, nil) {
		t.Error("a write whose object was deleted before it was recorded counts as in flight: the object would never be put back")
	}
	if len(w.writing) != 0 || len(w.deleted) != 0 {
		t.Errorf("bookkeeping left behind: writing %v, deleted %v", w.writing, w.deleted)
	}

	// Without a deletion the write is in flight until an event or the cache shows it.
	w.begin(k)
	w.end(k, "7", digest)
	if !w.inFlight(k, np, nil) {
		t.Error("a recorded write the cache does not show yet is not in flight")
	}
	if w.inFlight(k, np, np) {
		t.Error("a write the cache shows (same resourceVersion) is still in flight")
	}
}
