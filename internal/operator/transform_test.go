package operator

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestSlimServiceAndNamespace(t *testing.T) {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Annotations: map[string]string{"a": "b"}},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
		Status:     corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "1.2.3.4"}}}},
	}
	want := svc.Spec.DeepCopy()
	out, err := slim(svc)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*corev1.Service)
	if !reflect.DeepEqual(&got.Spec, want) || got.Annotations != nil || len(got.Status.LoadBalancer.Ingress) != 0 {
		t.Errorf("Service: want spec kept, annotations and status dropped; got %+v", got)
	}

	ns := &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"zerotrust.dev/enforce": "true"}, Annotations: map[string]string{"zerotrust.dev/pod-security": "restricted"}},
		Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
	}
	out, err = slim(ns)
	if err != nil {
		t.Fatal(err)
	}
	gotNS := out.(*corev1.Namespace)
	if gotNS.Labels["zerotrust.dev/enforce"] != "true" || gotNS.Annotations["zerotrust.dev/pod-security"] != "restricted" || gotNS.Status.Phase != "" {
		t.Errorf("Namespace: want labels and annotations kept, status dropped; got %+v", gotNS)
	}
}
