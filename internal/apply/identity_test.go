package apply

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// An Identity gives back every field it keeps exactly as it was given, whatever form the
// UID has, and a copy shares nothing mutable with it.
func TestIdentityKeepsWhatItHolds(t *testing.T) {
	for _, uid := range []types.UID{
		"",
		"6f1c2a4e-9b3d-4c5e-8f7a-0123456789ab", // the API server's form: held in 16 bytes
		"6F1C2A4E-9B3D-4C5E-8F7A-0123456789AB", // upper case would not format back: kept as is
		"00000000-0000-0000-0000-000000000000",
		"6f1c2a4e-9b3d-4c5e-8f7a-0123456789zz",
		"6f1c2a4e09b3d-4c5e-8f7a-0123456789ab",
		"uid-1",
	} {
		now := metav1.Now()
		m := metav1.ObjectMeta{Namespace: "ns", Name: "n", UID: uid, ResourceVersion: "42", Generation: 3, DeletionTimestamp: &now}
		id := NewIdentity(&m, true)
		if got := id.ObjectMeta(); got.Namespace != "ns" || got.Name != "n" || got.UID != uid || got.ResourceVersion != "42" ||
			got.Generation != 3 || !got.DeletionTimestamp.Equal(&now) {
			t.Errorf("UID %q: read back as %+v", uid, got)
		}
		if id.GetUID() != uid {
			t.Errorf("GetUID %q, want %q", id.GetUID(), uid)
		}
		cp := id.DeepCopy()
		cp.GetDeletionTimestamp().Time = now.Add(1)
		if !id.GetDeletionTimestamp().Equal(&now) {
			t.Error("a copy shares the deletion timestamp")
		}
	}
	if u := newCompactUID("6f1c2a4e-9b3d-4c5e-8f7a-0123456789ab"); u.other != nil {
		t.Error("a canonical UUID is held as a string")
	}
}
