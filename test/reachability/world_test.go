package reachability_test

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// endpoint is one end of a connection: a pod of the world, or a host outside the cluster.
type endpoint struct {
	// ref is "namespace/pod" for a pod and "ext/name" for an external host. Oracles name
	// endpoints by it.
	ref string
	// ns is the pod's namespace; empty for an external host.
	ns     string
	labels map[string]string
	ip     string
	// ports are the pod's declared container ports.
	ports []corev1.ContainerPort
}

func (e *endpoint) external() bool { return e.ns == "" }

// portName is the name the pod gives to pp, if it declares it: what a named port in a
// NetworkPolicy is resolved against, on the destination pod.
func (e *endpoint) portName(pp portProto) string {
	for _, cp := range e.ports {
		if cp.ContainerPort == pp.port && protocolOf(cp.Protocol) == pp.proto {
			return cp.Name
		}
	}
	return ""
}

// world is the cluster of one scenario: what the compiler's inventory holds, and the pods
// and external hosts between which connectivity is checked.
type world struct {
	namespaces []corev1.Namespace
	// objects are the Services, workloads, ServiceAccounts and Pods of the world.
	objects   []client.Object
	pods      []*endpoint
	externals []*endpoint
	nextIP    int
}

func (w *world) namespace(name string, labels map[string]string) {
	l := map[string]string{corev1.LabelMetadataName: name}
	for k, v := range labels {
		l[k] = v
	}
	w.namespaces = append(w.namespaces, corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l},
	})
}

func (w *world) namespaceLabels(name string) map[string]string {
	for _, n := range w.namespaces {
		if n.Name == name {
			return n.Labels
		}
	}
	panic("unknown namespace " + name)
}

func (w *world) serviceAccount(ns, name string) {
	w.objects = append(w.objects, &corev1.ServiceAccount{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
	})
}

func (w *world) service(ns, name string, selector map[string]string, ports ...corev1.ServicePort) {
	w.objects = append(w.objects, &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Selector: selector, Ports: ports},
	})
}

func podTemplate(sa string, labels map[string]string, ports []corev1.ContainerPort) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{
			ServiceAccountName: sa,
			Containers:         []corev1.Container{{Name: "main", Image: "example.com/app:1", Ports: ports}},
		},
	}
}

// deployment adds a Deployment and its replicas pods, named name-0, name-1, ...
func (w *world) deployment(ns, name, sa string, replicas int, labels map[string]string, ports ...corev1.ContainerPort) {
	r := int32(replicas)
	w.objects = append(w.objects, &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &r,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: podTemplate(sa, labels, ports),
		},
	})
	w.addPods(ns, name, sa, replicas, labels, ports)
}

// statefulSet adds a StatefulSet and its replicas pods, named name-0, name-1, ...
func (w *world) statefulSet(ns, name, sa string, replicas int, labels map[string]string, ports ...corev1.ContainerPort) {
	r := int32(replicas)
	w.objects = append(w.objects, &appsv1.StatefulSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.StatefulSetSpec{
			Replicas: &r,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: podTemplate(sa, labels, ports),
		},
	})
	w.addPods(ns, name, sa, replicas, labels, ports)
}

func (w *world) addPods(ns, prefix, sa string, n int, labels map[string]string, ports []corev1.ContainerPort) {
	for i := 0; i < n; i++ {
		w.nextIP++
		name := fmt.Sprintf("%s-%d", prefix, i)
		ip := fmt.Sprintf("10.0.%d.%d", w.nextIP/200, w.nextIP%200+10)
		t := podTemplate(sa, labels, ports)
		w.objects = append(w.objects, &corev1.Pod{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: t.Labels},
			Spec:       t.Spec,
			Status:     corev1.PodStatus{PodIP: ip, Phase: corev1.PodRunning},
		})
		w.pods = append(w.pods, &endpoint{ref: ns + "/" + name, ns: ns, labels: labels, ip: ip, ports: ports})
	}
}

func (w *world) external(name, ip string) {
	w.externals = append(w.externals, &endpoint{ref: "ext/" + name, ip: ip})
}

// podsIn lists the refs of every pod of the namespaces.
func (w *world) podsIn(namespaces ...string) []string {
	var out []string
	for _, p := range w.pods {
		for _, ns := range namespaces {
			if p.ns == ns {
				out = append(out, p.ref)
			}
		}
	}
	return out
}

func (w *world) endpoint(ref string) *endpoint {
	for _, e := range append(append([]*endpoint(nil), w.pods...), w.externals...) {
		if e.ref == ref {
			return e
		}
	}
	return nil
}

func tcp(name string, port int32) corev1.ContainerPort {
	return corev1.ContainerPort{Name: name, ContainerPort: port}
}

func udp(name string, port int32) corev1.ContainerPort {
	return corev1.ContainerPort{Name: name, ContainerPort: port, Protocol: corev1.ProtocolUDP}
}

func svcPort(name string, port int32, target intstr.IntOrString) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Port: port, TargetPort: target}
}

func protocolOf(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

// Addresses of the two hosts outside the cluster. Pod IPs are in 10.0.0.0/16, outside
// every CIDR a scenario names.
const (
	partnerIP  = "203.0.113.7"  // inside 203.0.113.0/24, the CIDR caller of scenario 8
	internetIP = "198.51.100.9" // inside 198.51.100.0/24, the external target of scenario 9
)

// baseWorld is the cluster every scenario runs in. Its pods, by namespace:
//
//	shop        inventory-v1-0  app=inventory,version=v1  http=8080 metrics=9090  (sa inventory)
//	            inventory-v2-0  app=inventory,version=v2  http=8081 metrics=9090  (sa inventory)
//	            vault-0         app=vault                 https=8443 admin=8200   (sa vault)
//	            checkout-0      app=checkout              http=8080               (sa checkout)
//	payments    payment-0/1     app=payment               http=8080   Deployment  (sa payment)
//	            ledger-0        app=ledger                http=8080   StatefulSet (sa payment)
//	            refunds-0       app=refunds,role=batch    http=8080               (sa refunds)
//	monitoring  prometheus-0    app=prometheus            web=9090                (sa prometheus)
//	            grafana-0       app=grafana               http=3000               (sa default)
//	other       impostor-0      app=payment               http=8080               (sa payment)
//	kube-system coredns-0       k8s-app=kube-dns          dns=53/UDP dns-tcp=53/TCP metrics=9153
//
// Services: shop/inventory (web 80 -> "http", metrics 9090 -> "metrics"; the two inventory
// versions number "http" differently, so a named targetPort means 8080 on one and 8081 on
// the other), shop/vault (https 80 -> 8443), payments/payment and other/payment (both
// select app=payment: only the namespace tells them apart), kube-system/kube-dns (53/UDP and
// 53/TCP). ServiceAccount monitoring/auditor runs no workload.
//
// shop and payments carry zerotrust.dev/enforce=true; only scenarios with a baseline
// selecting that label make it mean anything.
func baseWorld() *world {
	w := &world{}
	w.namespace("shop", map[string]string{"team": "shop", "zerotrust.dev/enforce": "true"})
	w.namespace("payments", map[string]string{"team": "payments", "zerotrust.dev/enforce": "true"})
	w.namespace("monitoring", map[string]string{"team": "platform"})
	w.namespace("other", map[string]string{"team": "other"})
	w.namespace("kube-system", nil)

	for _, sa := range []string{"shop/inventory", "shop/vault", "shop/checkout", "payments/payment",
		"payments/refunds", "monitoring/prometheus", "monitoring/auditor", "other/payment"} {
		ns, name, _ := strings.Cut(sa, "/")
		w.serviceAccount(ns, name)
	}

	w.deployment("shop", "inventory-v1", "inventory", 1, map[string]string{"app": "inventory", "version": "v1"}, tcp("http", 8080), tcp("metrics", 9090))
	w.deployment("shop", "inventory-v2", "inventory", 1, map[string]string{"app": "inventory", "version": "v2"}, tcp("http", 8081), tcp("metrics", 9090))
	w.service("shop", "inventory", map[string]string{"app": "inventory"},
		svcPort("web", 80, intstr.FromString("http")), svcPort("metrics", 9090, intstr.FromString("metrics")))
	w.deployment("shop", "vault", "vault", 1, map[string]string{"app": "vault"}, tcp("https", 8443), tcp("admin", 8200))
	w.service("shop", "vault", map[string]string{"app": "vault"}, svcPort("https", 80, intstr.FromInt32(8443)))
	w.deployment("shop", "checkout", "checkout", 1, map[string]string{"app": "checkout"}, tcp("http", 8080))

	w.deployment("payments", "payment", "payment", 2, map[string]string{"app": "payment"}, tcp("http", 8080))
	w.statefulSet("payments", "ledger", "payment", 1, map[string]string{"app": "ledger"}, tcp("http", 8080))
	w.deployment("payments", "refunds", "refunds", 1, map[string]string{"app": "refunds", "role": "batch"}, tcp("http", 8080))
	w.service("payments", "payment", map[string]string{"app": "payment"}, svcPort("http", 80, intstr.FromString("http")))

	w.deployment("monitoring", "prometheus", "prometheus", 1, map[string]string{"app": "prometheus"}, tcp("web", 9090))
	w.deployment("monitoring", "grafana", "", 1, map[string]string{"app": "grafana"}, tcp("http", 3000))

	w.deployment("other", "impostor", "payment", 1, map[string]string{"app": "payment"}, tcp("http", 8080))
	w.service("other", "payment", map[string]string{"app": "payment"}, svcPort("http", 80, intstr.FromString("http")))

	w.deployment("kube-system", "coredns", "", 1, map[string]string{"k8s-app": "kube-dns"}, udp("dns", 53), tcp("dns-tcp", 53), tcp("metrics", 9153))
	w.service("kube-system", "kube-dns", map[string]string{"k8s-app": "kube-dns"},
		corev1.ServicePort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(53)},
		corev1.ServicePort{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(53)})

	w.external("partner", partnerIP)
	w.external("internet", internetIP)
	return w
}
