package controllers_test

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/zerotrust-dev/zerotrust-operator/controllers"
)

func TestCondenseServiceKeepsWhatTheCompilerReads(t *testing.T) {
	service := func(name string, appProtocol string) *corev1.Service {
		return &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, UID: "u1", ResourceVersion: "7", Generation: 2,
				Labels: map[string]string{"helm.sh/chart": "web-1.0"}, Annotations: map[string]string{"a": "b"},
				ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "helm"}}},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.0.10", ClusterIPs: []string{"10.96.0.10"},
				Selector: map[string]string{"app": "web", "tier": "front"},
				Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), AppProtocol: ptr.To(appProtocol)},
					{Name: "grpc", Port: 9090, TargetPort: intstr.FromInt32(9090), Protocol: corev1.ProtocolTCP}}},
			Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "1.2.3.4"}}}},
		}
	}
	cached := func(s *corev1.Service) *controllers.CachedService {
		out, err := controllers.CondenseService(s)
		if err != nil {
			t.Fatal(err)
		}
		c, ok := out.(*controllers.CachedService)
		if !ok {
			t.Fatalf("cached as %T", out)
		}
		if again, err := controllers.CondenseService(c); err != nil || again != c {
			t.Errorf("condensing a cached Service changed it (%v)", err)
		}
		return c
	}
	web := cached(service("web", "http"))
	want := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", UID: "u1", ResourceVersion: "7", Generation: 2},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "web", "tier": "front"}, Ports: service("web", "http").Spec.Ports},
	}
	if got := web.Service(); !reflect.DeepEqual(got, want) {
		t.Errorf("want identity, selector and ports only:\n%+v\ngot\n%+v", want, got)
	}
	if got := web.DeepCopyObject().(*controllers.CachedService).Service(); !reflect.DeepEqual(got, want) {
		t.Errorf("a copy reads differently: %+v", got)
	}
	view := web.Service()
	view.Spec.Selector["app"] = "changed"
	if web.Service().Spec.Selector["app"] != "web" {
		t.Error("a view of a cached Service shares its selector with the cache")
	}

	// Services declaring the same ports share them; an appProtocol is compared by value.
	api, grpc := cached(service("api", "http")), cached(service("grpc", "kubernetes.io/h2c"))
	if &api.Service().Spec.Ports[0] != &web.Service().Spec.Ports[0] {
		t.Error("two Services declaring the same ports hold a copy each")
	}
	if ps := grpc.Service().Spec.Ports; &ps[0] == &web.Service().Spec.Ports[0] || *ps[0].AppProtocol != "kubernetes.io/h2c" {
		t.Errorf("Services declaring different ports share them: %+v", ps[0])
	}
}
