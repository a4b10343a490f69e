package apply

import (
	"reflect"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
)

// A Condensed reads back as the NetworkPolicy it stands for, every field of metadata the
// writer reads kept, and shares nothing a reader could change with the cache.
func TestCondensedKeepsTheMetadata(t *testing.T) {
	now := metav1.Now()
	np := networkPolicy()
	np.TypeMeta = metav1.TypeMeta{}
	np.UID, np.ResourceVersion, np.Generation, np.DeletionTimestamp = "u1", "42", 3, &now
	np.Labels["zerotrust.dev/policy-name"] = "p"
	np.Annotations = map[string]string{"note": "x"}
	np.Finalizers = []string{"someone/else"}
	np.OwnerReferences = []metav1.OwnerReference{{APIVersion: "zerotrust.dev/v1alpha1", Kind: "ServiceAccessPolicy", Name: "p", UID: "pu",
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(false)}}
	np.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl-edit", Operation: metav1.ManagedFieldsOperationUpdate}}
	want := np.DeepCopy()
	out, err := Condense(np)
	if err != nil {
		t.Fatal(err)
	}
	c := out.(*Condensed)
	got := c.NetworkPolicy()
	digest := got.Labels[DigestLabel]
	if d, _ := Digest(want); digest != d {
		t.Errorf("digest %q, want %q", digest, d)
	}
	delete(got.Labels, DigestLabel)
	want.Spec = networkingv1.NetworkPolicySpec{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read back as\n%+v\nwant\n%+v", got, want)
	}
	if v, ok := c.Label("zerotrust.dev/policy-name"); !ok || v != "p" {
		t.Errorf("Label: %q %v", v, ok)
	}
	if !labels.SelectorFromSet(labels.Set{"zerotrust.dev/policy-name": "p"}).Matches(c.LabelSet()) ||
		labels.SelectorFromSet(labels.Set{"zerotrust.dev/policy-name": "q"}).Matches(c.LabelSet()) {
		t.Error("LabelSet does not match as the labels do")
	}

	// Neither a read nor a copy shares what its reader could change.
	got.Labels["x"], got.Annotations["note"], got.Finalizers[0] = "y", "changed", "changed"
	*got.OwnerReferences[0].Controller = false
	cp := c.DeepCopyObject().(*Condensed)
	cp.GetAnnotations()["note"] = "changed"
	*cp.GetOwnerReferences()[0].Controller = false
	again := c.NetworkPolicy()
	if again.Labels["x"] != "" || again.Annotations["note"] != "x" || again.Finalizers[0] != "someone/else" || !*again.OwnerReferences[0].Controller {
		t.Errorf("the cache's object changed through a read or a copy: %+v", again.ObjectMeta)
	}
}
