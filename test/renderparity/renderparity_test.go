package renderparity_test

import (
	"sort"
	"strings"
	"time"

	"github.com/google/go-cmp/cmp"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/controllers"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/inventory/static"
	"github.com/zerotrust-dev/zerotrust-operator/internal/testenv"
)

// scenario: two namespaces under overlapping baselines (apps allows DNS, locked denies
// egress without it and asks for a stricter Pod Security level), a third under none, and
// policies of every target shape the meshes treat differently: a Service whose targetPort
// is a name, with HTTP rules; a workload (its port also opened by a second policy, so that
// Linkerd's Server for it is shared); a podSelector; and the Kubernetes API (RBAC).
const scenario = `
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {zt: "on", locked: "true"}}
---
apiVersion: v1
kind: Namespace
metadata: {name: payments, labels: {zt: "on"}}
---
apiVersion: v1
kind: Namespace
metadata: {name: monitoring}
---
apiVersion: zerotrust.dev/v1alpha1
kind: ZeroTrustBaseline
metadata: {name: apps}
spec:
  namespaceSelector: {matchLabels: {zt: "on"}}
  network: {defaultDeny: [Ingress, Egress], allowDNS: true}
  podSecurity: baseline
  mesh: {mtls: Strict, defaultDeny: true}
---
apiVersion: zerotrust.dev/v1alpha1
kind: ZeroTrustBaseline
metadata: {name: locked}
spec:
  namespaceSelector: {matchLabels: {locked: "true"}}
  network: {defaultDeny: [Egress]}
  podSecurity: restricted
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: inventory, namespace: shop}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: checkout, namespace: shop}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: web, namespace: shop}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: payment, namespace: payments}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: inventory, namespace: shop}
spec:
  selector: {matchLabels: {app: inventory}}
  template:
    metadata: {labels: {app: inventory}}
    spec:
      serviceAccountName: inventory
      containers:
        - name: inventory
          image: registry.example/inventory
          ports: [{name: http, containerPort: 8080}, {name: metrics, containerPort: 9090}]
          readinessProbe: {httpGet: {path: /ready, port: http}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: checkout, namespace: shop}
spec:
  selector: {matchLabels: {app: checkout}}
  template:
    metadata: {labels: {app: checkout}}
    spec:
      serviceAccountName: checkout
      containers:
        - name: checkout
          image: registry.example/checkout
          ports: [{name: http, containerPort: 8081}]
          livenessProbe: {httpGet: {path: /healthz, port: 8081}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web, tier: front}}
    spec:
      serviceAccountName: web
      containers:
        - name: web
          image: registry.example/web
          ports: [{name: http, containerPort: 8000}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: payment, namespace: payments}
spec:
  selector: {matchLabels: {app: payment}}
  template:
    metadata: {labels: {app: payment}}
    spec:
      serviceAccountName: payment
      containers:
        - name: payment
          image: registry.example/payment
          ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: inventory, namespace: shop}
spec:
  selector: {app: inventory}
  ports:
    - {name: http, port: 80, targetPort: http}
    - {name: metrics, port: 9090, targetPort: 9090}
---
apiVersion: v1
kind: Service
metadata: {name: payment, namespace: payments}
spec:
  selector: {app: payment}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: zerotrust.dev/v1alpha1
kind: ServiceAccessPolicy
metadata: {name: inventory-api, namespace: shop}
spec:
  target: {service: inventory}
  from:
    - {service: payment, namespace: payments}
    - {workload: {kind: Deployment, name: checkout}}
  ports:
    - port: http
      http:
        - methods: [GET, HEAD]
          paths: [/items, /items/*]
        - methods: [POST]
          paths: [/orders]
---
apiVersion: zerotrust.dev/v1alpha1
kind: ServiceAccessPolicy
metadata: {name: inventory-metrics, namespace: shop}
spec:
  target: {workload: {kind: Deployment, name: inventory}}
  from: [{namespace: monitoring}]
  ports: [{port: metrics}]
---
apiVersion: zerotrust.dev/v1alpha1
kind: ServiceAccessPolicy
metadata: {name: inventory-scrape, namespace: shop}
spec:
  target: {workload: {kind: Deployment, name: inventory}}
  from: [{serviceAccount: payment, namespace: payments}]
  ports: [{port: metrics}]
---
apiVersion: zerotrust.dev/v1alpha1
kind: ServiceAccessPolicy
metadata: {name: checkout-from-web, namespace: shop}
spec:
  target: {workload: {kind: Deployment, name: checkout}}
  from: [{podSelector: {matchLabels: {app: web}}}]
  ports:
    - port: 8081
      http: [{methods: [GET], paths: [/cart]}]
---
apiVersion: zerotrust.dev/v1alpha1
kind: ServiceAccessPolicy
metadata: {name: web-from-payments, namespace: shop}
spec:
  target: {podSelector: {matchLabels: {tier: front}}}
  from: [{serviceAccount: payment, namespace: payments}]
  ports: [{port: 8000}]
---
apiVersion: zerotrust.dev/v1alpha1
kind: ServiceAccessPolicy
metadata: {name: checkout-reads-config, namespace: shop}
spec:
  target:
    kubernetesAPI:
      rules: [{apiGroups: [""], resources: [configmaps], verbs: [get, list]}]
  from: [{serviceAccount: checkout}]
`

// comparable is testenv.Comparable, failing the spec on an error.
func comparable(u *unstructured.Unstructured) map[string]any {
	out, err := testenv.Comparable(u)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	return out
}

// rendered is what kubectl-zt render --backends all prints for objs (parsed back from its
// YAML), and the namespace metadata it computes.
func rendered(objs []static.Object) (map[string]map[string]any, []compiler.NamespaceResult) {
	inv, err := static.Build(objs)
	Expect(err).NotTo(HaveOccurred())
	r, err := inv.Render(time.Now(), compiler.Options{Backends: compiler.AllBackends(), TrustDomain: "cluster.local"})
	Expect(err).NotTo(HaveOccurred())
	stream, err := compiler.EncodeYAML(r.Objects)
	Expect(err).NotTo(HaveOccurred())
	want := map[string]map[string]any{}
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(string(stream)), 4096)
	for {
		u := &unstructured.Unstructured{}
		if dec.Decode(&u.Object) != nil {
			break
		}
		if len(u.Object) > 0 {
			want[testenv.ComparableKey(u)] = comparable(u)
		}
	}
	return want, r.Namespaces
}

// generated lists every object in the cluster that carries the operator's managed-by label,
// of every kind of every backend in the compiler's registry.
func generated(g Gomega) map[string]map[string]any {
	got := map[string]map[string]any{}
	for _, info := range compiler.Backends() {
		for _, gvk := range info.Kinds {
			list := &unstructured.UnstructuredList{}
			list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
			g.Expect(k8s.List(ctx, list, client.MatchingLabels{ztv1.LabelManagedBy: ztv1.ManagedByValue})).To(Succeed())
			for i := range list.Items {
				got[testenv.ComparableKey(&list.Items[i])] = comparable(&list.Items[i])
			}
		}
	}
	return got
}

// namespaceMetadata is, for each namespace, the labels and annotations the operator set
// on it (those its managed-keys annotation lists).
func namespaceMetadata(g Gomega, names []string) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, name := range names {
		ns := &corev1.Namespace{}
		g.Expect(k8s.Get(ctx, client.ObjectKey{Name: name}, ns)).To(Succeed())
		kv := map[string]string{}
		for _, k := range strings.Split(ns.Annotations[controllers.AnnotationManaged], ",") {
			if k == "" {
				continue
			}
			if v, ok := ns.Labels[k]; ok {
				kv["label "+k] = v
			} else {
				kv["annotation "+k] = ns.Annotations[k]
			}
		}
		out[name] = kv
	}
	return out
}

func wantNamespaceMetadata(names []string, rs []compiler.NamespaceResult) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, name := range names {
		out[name] = map[string]string{}
	}
	for _, r := range rs {
		for k, v := range r.Labels {
			out[r.Name]["label "+k] = v
		}
		for k, v := range r.Annotations {
			out[r.Name]["annotation "+k] = v
		}
	}
	return out
}

// expectParity waits until the cluster holds exactly what render prints for objs.
func expectParity(objs []static.Object) {
	want, nsWant := rendered(objs)
	var names []string
	for _, o := range objs {
		if ns, ok := o.Object.(*corev1.Namespace); ok {
			names = append(names, ns.Name)
		}
	}
	sort.Strings(names)
	Eventually(func(g Gomega) {
		g.Expect(cmp.Diff(want, generated(g))).To(BeEmpty(), "render (-) versus cluster (+)")
		g.Expect(cmp.Diff(wantNamespaceMetadata(names, nsWant), namespaceMetadata(g, names))).To(BeEmpty(),
			"namespace metadata: render (-) versus cluster (+)")
	}).Should(Succeed())
}

func kindsOf(m map[string]map[string]any) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		out[strings.Fields(k)[1]] = true
	}
	return out
}

var _ = Describe("kubectl-zt render", Ordered, func() {
	var objs []static.Object

	BeforeAll(func() {
		var err error
		objs, err = static.Decode([]byte(scenario), "scenario", "default")
		Expect(err).NotTo(HaveOccurred())
		// Namespaces first, as kubectl apply would order them.
		for _, nsFirst := range []bool{true, false} {
			for _, o := range objs {
				if _, isNS := o.Object.(*corev1.Namespace); isNS == nsFirst {
					Expect(k8s.Create(ctx, o.Object.DeepCopyObject().(client.Object))).To(Succeed(), o.Source)
				}
			}
		}
	})

	It("prints exactly what the operator creates with every backend and overlapping baselines", func() {
		want, nsWant := rendered(objs)
		// The scenario exercises every backend, and the overlap drops apps' DNS policy in shop.
		Expect(kindsOf(want)).To(HaveKey("NetworkPolicy"))
		Expect(kindsOf(want)).To(HaveKey("AuthorizationPolicy"))
		Expect(kindsOf(want)).To(HaveKey("PeerAuthentication"))
		Expect(kindsOf(want)).To(HaveKey("Server"))
		Expect(kindsOf(want)).To(HaveKey("HTTPRoute"))
		Expect(kindsOf(want)).To(HaveKey("CiliumNetworkPolicy"))
		Expect(kindsOf(want)).To(HaveKey("Role"))
		Expect(want).To(HaveKey("networking.k8s.io/v1 NetworkPolicy payments/zt-baseline.apps.dns"))
		Expect(want).NotTo(HaveKey("networking.k8s.io/v1 NetworkPolicy shop/zt-baseline.apps.dns"))
		Expect(nsWant).NotTo(BeEmpty())
		expectParity(objs)
	})

	It("follows when the overlap goes: the DNS policy returns where the stricter baseline left", func() {
		var rest []static.Object
		for _, o := range objs {
			if b, ok := o.Object.(*ztv1.ZeroTrustBaseline); ok && b.Name == "locked" {
				Expect(client.IgnoreNotFound(k8s.Delete(ctx, b.DeepCopy()))).To(Succeed())
				Eventually(func() bool {
					return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Name: "locked"}, &ztv1.ZeroTrustBaseline{}))
				}).Should(BeTrue())
				continue
			}
			rest = append(rest, o)
		}
		want, _ := rendered(rest)
		Expect(want).To(HaveKey("networking.k8s.io/v1 NetworkPolicy shop/zt-baseline.apps.dns"))
		expectParity(rest)
		objs = rest
	})

	It("leaves the system namespaces out of a baseline over every namespace, as the operator does", func() {
		// Every namespace of the cluster is in the input, as a pipeline rendering the whole
		// cluster would have it; the operator runs with its default namespace.
		extra, err := static.Decode([]byte(`
apiVersion: v1
kind: Namespace
metadata: {name: default}
---
apiVersion: v1
kind: Namespace
metadata: {name: kube-system}
---
apiVersion: v1
kind: Namespace
metadata: {name: kube-public}
---
apiVersion: v1
kind: Namespace
metadata: {name: kube-node-lease}
---
apiVersion: v1
kind: Namespace
metadata: {name: zerotrust-system}
---
apiVersion: zerotrust.dev/v1alpha1
kind: ZeroTrustBaseline
metadata: {name: everything}
spec:
  namespaceSelector: {}
  network:
    defaultDeny: [Ingress, Egress]
    allowDNS: true
    dns: {namespace: dns, podSelector: {matchLabels: {app: coredns}}, nodeLocalAddresses: [169.254.20.10]}
  mesh: {mtls: Strict}
  podSecurity: baseline
`), "system", "default")
		Expect(err).NotTo(HaveOccurred())
		for _, o := range extra {
			if err := k8s.Create(ctx, o.Object.DeepCopyObject().(client.Object)); err != nil {
				Expect(apierrors.IsAlreadyExists(err)).To(BeTrue(), "%s: %v", o.Source, err)
			}
		}
		all := append(append([]static.Object(nil), objs...), extra...)
		want, _ := rendered(all)
		Expect(want).To(HaveKey("networking.k8s.io/v1 NetworkPolicy default/zt-baseline.everything.deny"))
		Expect(want).To(HaveKey("networking.k8s.io/v1 NetworkPolicy monitoring/zt-baseline.everything.dns"))
		for k := range want {
			for _, ns := range []string{"kube-system", "kube-public", "kube-node-lease", "zerotrust-system"} {
				Expect(k).NotTo(ContainSubstring(" "+ns+"/"), "render generates in a system namespace")
			}
		}
		expectParity(all)
	})
})
