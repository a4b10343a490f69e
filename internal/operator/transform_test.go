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
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", UID: "u1", ResourceVersion: "7",
			Labels: map[string]string{"helm.sh/chart": "web-1.0"}, Annotations: map[string]string{"a": "b"}},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.0.10", ClusterIPs: []string{"10.96.0.10"},
			Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "1.2.3.4"}}}},
	}
	want := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", UID: "u1", ResourceVersion: "7"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}
	out, err := slim(svc)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.(*corev1.Service); !reflect.DeepEqual(got, want) {
		t.Errorf("Service: want identity, selector and ports only:\n%+v\ngot\n%+v", want, got)
	}
	if again, _ := slim(out); !reflect.DeepEqual(again, want) {
		t.Errorf("Service: slim is not idempotent: %+v", again)
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
