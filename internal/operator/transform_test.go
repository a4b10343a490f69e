package operator

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSlimNamespace(t *testing.T) {
	ns := &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"zerotrust.dev/enforce": "true"}, Annotations: map[string]string{"zerotrust.dev/pod-security": "restricted"}},
		Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
	}
	out, err := slim(ns)
	if err != nil {
		t.Fatal(err)
	}
	gotNS := out.(*corev1.Namespace)
	if gotNS.Labels["zerotrust.dev/enforce"] != "true" || gotNS.Annotations["zerotrust.dev/pod-security"] != "restricted" || gotNS.Status.Phase != "" {
		t.Errorf("Namespace: want labels and annotations kept, status dropped; got %+v", gotNS)
	}
}
