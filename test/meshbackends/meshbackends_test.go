package meshbackends_test

import (
	"context"
	"maps"
	"net/http"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/apply"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/inventory/static"
	"github.com/zerotrust-dev/zerotrust-operator/internal/operator"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// reconciles counts successful ServiceAccessPolicy reconciles in this process.
func reconciles() float64 {
	families, err := metrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	total := 0.0
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["controller"] == "serviceaccesspolicy" && labels["result"] == "success" {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

const ns = "shop"

var (
	authorizationPolicy = schema.GroupVersionKind{Group: "security.istio.io", Version: "v1", Kind: "AuthorizationPolicy"}
	peerAuthentication  = schema.GroupVersionKind{Group: "security.istio.io", Version: "v1", Kind: "PeerAuthentication"}
	linkerdServer       = schema.GroupVersionKind{Group: "policy.linkerd.io", Version: "v1beta3", Kind: "Server"}
	ciliumPolicy        = schema.GroupVersionKind{Group: "cilium.io", Version: "v2", Kind: "CiliumNetworkPolicy"}
)

func deployment(name, serviceAccount string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{ServiceAccountName: serviceAccount, Containers: []corev1.Container{{
					Name: "main", Image: "registry.example/" + name,
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
						HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8080)}}},
				}}},
			},
		},
	}
}

// generated lists the objects of kind gvk generated for the policy.
func generated(gvk schema.GroupVersionKind) []unstructured.Unstructured {
	return generatedFor(gvk, "payment-reads-inventory")
}

// generatedFor lists the objects of kind gvk generated for policy: those labelled with its
// name, and the shared objects (no policy label) it is an owner of.
func generatedFor(gvk schema.GroupVersionKind, policy string) []unstructured.Unstructured {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	ExpectWithOffset(1, k8s.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{ztv1.LabelManagedBy: ztv1.ManagedByValue})).To(Succeed())
	var out []unstructured.Unstructured
	for _, o := range list.Items {
		l := o.GetLabels()
		owned := false
		for _, r := range o.GetOwnerReferences() {
			owned = owned || (r.Kind == "ServiceAccessPolicy" && r.Name == policy)
		}
		if l[ztv1.LabelPolicyName] == policy || (l[ztv1.LabelPolicyName] == "" && l[ztv1.LabelBaseline] == "" && owned) {
			out = append(out, o)
		}
	}
	return out
}

func backendState(g Gomega, name ztv1.Backend) ztv1.BackendState {
	return backendStateOf(g, "payment-reads-inventory", name)
}

func backendStateOf(g Gomega, policy string, name ztv1.Backend) ztv1.BackendState {
	p := &ztv1.ServiceAccessPolicy{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: policy}, p)).To(Succeed())
	for _, b := range p.Status.Backends {
		if b.Name == name {
			return b.State
		}
	}
	return ""
}

// install installs the CRDs of mesh, once the API server has removed those an uninstall
// deleted: a CRD being deleted (its instances first, then its storage) cannot be created
// again, and under load that takes longer than a minute for some of Istio's.
func install(mesh string) {
	GinkgoHelper()
	opts := envtest.CRDInstallOptions{Paths: crds[mesh], ErrorIfPathMissing: true}
	Expect(envtest.ReadCRDFiles(&opts)).To(Succeed())
	Expect(opts.CRDs).NotTo(BeEmpty())
	start := time.Now()
	Eventually(func(g Gomega) {
		for _, crd := range opts.CRDs {
			live := &metav1.PartialObjectMetadata{}
			live.SetGroupVersionKind(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"})
			err := k8s.Get(ctx, client.ObjectKey{Name: crd.Name}, live)
			if apierrors.IsNotFound(err) {
				continue
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(live.DeletionTimestamp).To(BeNil(), "CRD %s is still being deleted", crd.Name)
		}
	}, 5*time.Minute, time.Second).Should(Succeed())
	GinkgoWriter.Printf("%s: waited %s for its deleted CRDs to go\n", mesh, time.Since(start).Round(time.Second))
	_, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: crds[mesh], ErrorIfPathMissing: true})
	Expect(err).NotTo(HaveOccurred())
}

// uninstall deletes the CRDs of mesh. The API server removes them later (install waits).
func uninstall(mesh string) {
	GinkgoHelper()
	Expect(envtest.UninstallCRDs(cfg, envtest.CRDInstallOptions{Paths: crds[mesh], ErrorIfPathMissing: true})).To(Succeed())
}

var _ = Describe("Mesh backends", Ordered, func() {
	policy := &ztv1.ServiceAccessPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "payment-reads-inventory"},
		Spec: ztv1.ServiceAccessPolicySpec{
			Target: ztv1.Target{Workload: &ztv1.WorkloadReference{Kind: ztv1.WorkloadDeployment, Name: "inventory"}},
			From:   []ztv1.Caller{{ServiceAccount: "payment"}},
			Ports: []ztv1.PortRule{{Port: intstr.FromInt32(8080), Protocol: "TCP",
				HTTP: []ztv1.HTTPRule{{Methods: []ztv1.HTTPMethod{"GET"}, Paths: []string{"/items/*"}}}}},
		},
	}

	BeforeAll(func() {
		Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"mesh": "on"}}})).To(Succeed())
		Expect(k8s.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "payment"}})).To(Succeed())
		Expect(k8s.Create(ctx, deployment("payment", "payment"))).To(Succeed())
		Expect(k8s.Create(ctx, deployment("inventory", "inventory"))).To(Succeed())
		Expect(k8s.Create(ctx, policy)).To(Succeed())
	})

	It("reports mesh backends NotInstalled while their CRDs are not served", func() {
		Eventually(func(g Gomega) {
			g.Expect(backendState(g, ztv1.BackendNetworkPolicy)).To(Equal(ztv1.BackendApplied))
			g.Expect(backendState(g, ztv1.BackendIstio)).To(Equal(ztv1.BackendNotInstalled))
			g.Expect(backendState(g, ztv1.BackendLinkerd)).To(Equal(ztv1.BackendNotInstalled))
			g.Expect(backendState(g, ztv1.BackendCilium)).To(Equal(ztv1.BackendNotInstalled))
			g.Expect(backendState(g, ztv1.BackendRBAC)).To(Equal(ztv1.BackendDisabled))
		}).Should(Succeed())
	})

	It("picks up Istio installed after start, repairs its objects, and applies the baseline's mesh part", func() {
		install("Istio")
		Eventually(func(g Gomega) {
			g.Expect(generated(authorizationPolicy)).To(HaveLen(1))
			g.Expect(backendState(g, ztv1.BackendIstio)).To(Equal(ztv1.BackendApplied))
		}).Should(Succeed())
		original := generated(authorizationPolicy)[0]
		Expect(k8s.Delete(ctx, &original)).To(Succeed())
		Eventually(func(g Gomega) {
			back := generated(authorizationPolicy)
			g.Expect(back).To(HaveLen(1))
			g.Expect(back[0].GetUID()).NotTo(Equal(original.GetUID()))
			g.Expect(back[0].Object["spec"]).To(Equal(original.Object["spec"]))
		}).Should(Succeed())

		Expect(k8s.Create(ctx, &ztv1.ZeroTrustBaseline{ObjectMeta: metav1.ObjectMeta{Name: "mesh"}, Spec: ztv1.ZeroTrustBaselineSpec{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"mesh": "on"}},
			Mesh:              &ztv1.BaselineMesh{MTLS: ztv1.MTLSStrict, DefaultDeny: true},
		}})).To(Succeed())
		Eventually(func(g Gomega) {
			list := &unstructured.UnstructuredList{}
			list.SetGroupVersionKind(peerAuthentication.GroupVersion().WithKind("PeerAuthenticationList"))
			g.Expect(k8s.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{ztv1.LabelBaseline: "mesh"})).To(Succeed())
			g.Expect(list.Items).To(HaveLen(1))
			mode, _, _ := unstructured.NestedString(list.Items[0].Object, "spec", "mtls", "mode")
			g.Expect(mode).To(Equal("STRICT"))
		}).Should(Succeed())
	})

	It("picks up Linkerd and Cilium installed after start and repairs an edited object", func() {
		install("Linkerd")
		install("Cilium")
		Eventually(func(g Gomega) {
			g.Expect(generated(linkerdServer)).NotTo(BeEmpty())
			g.Expect(generated(ciliumPolicy)).To(HaveLen(1))
			g.Expect(backendState(g, ztv1.BackendLinkerd)).To(Equal(ztv1.BackendApplied))
			g.Expect(backendState(g, ztv1.BackendCilium)).To(Equal(ztv1.BackendApplied))
			// The baseline's mesh part for Linkerd is an annotation on the namespace.
			n := &corev1.Namespace{}
			g.Expect(k8s.Get(ctx, client.ObjectKey{Name: ns}, n)).To(Succeed())
			g.Expect(n.Annotations).To(HaveKeyWithValue("config.linkerd.io/default-inbound-policy", "deny"))
		}).Should(Succeed())
		cnp := generated(ciliumPolicy)[0]
		want := runtime.DeepCopyJSONValue(cnp.Object["spec"])
		Expect(unstructured.SetNestedField(cnp.Object, map[string]any{"matchLabels": map[string]any{"app": "anything"}}, "spec", "endpointSelector")).To(Succeed())
		Expect(k8s.Update(ctx, &cnp)).To(Succeed())
		Eventually(func(g Gomega) {
			live := generated(ciliumPolicy)[0]
			g.Expect(live.GetGeneration()).To(BeNumerically(">", cnp.GetGeneration()), "the edit was repaired by a later write")
			g.Expect(live.Object["spec"]).To(Equal(want))
		}).Should(Succeed())
	})

	It("repairs a deleted Linkerd Server", func() {
		original := generated(linkerdServer)[0]
		Expect(k8s.Delete(ctx, &original)).To(Succeed())
		Eventually(func(g Gomega) {
			var back *unstructured.Unstructured
			for _, s := range generated(linkerdServer) {
				if s.GetName() == original.GetName() {
					back = &s
				}
			}
			g.Expect(back).NotTo(BeNil())
			g.Expect(back.GetUID()).NotTo(Equal(original.GetUID()))
			g.Expect(back.Object["spec"]).To(Equal(original.Object["spec"]))
		}).Should(Succeed())
	})

	It("creates exactly what kubectl-zt render prints for every backend", func() {
		var objs []client.Object
		for _, l := range []client.ObjectList{&corev1.NamespaceList{}, &corev1.ServiceAccountList{}, &appsv1.DeploymentList{},
			&ztv1.ServiceAccessPolicyList{}, &ztv1.ZeroTrustBaselineList{}} {
			Expect(k8s.List(ctx, l)).To(Succeed())
			items, err := meta.ExtractList(l)
			Expect(err).NotTo(HaveOccurred())
			for _, o := range items {
				objs = append(objs, o.(client.Object))
			}
		}
		inv, err := static.FromObjects(objs...)
		Expect(err).NotTo(HaveOccurred())
		rendered, err := inv.Render(time.Now(), compiler.Options{
			Backends: []ztv1.Backend{ztv1.BackendNetworkPolicy, ztv1.BackendIstio, ztv1.BackendLinkerd, ztv1.BackendCilium}, TrustDomain: "cluster.local"})
		Expect(err).NotTo(HaveOccurred())
		kinds := map[string]bool{}
		for _, want := range rendered.Objects {
			gvk := want.GetObjectKind().GroupVersionKind()
			kinds[gvk.Kind] = true
			live := &unstructured.Unstructured{}
			live.SetGroupVersionKind(gvk)
			Expect(k8s.Get(ctx, client.ObjectKeyFromObject(want), live)).To(Succeed(), "%s %s", gvk.Kind, want.GetName())
			w, err := apply.ToUnstructured(want)
			Expect(err).NotTo(HaveOccurred())
			Expect(live.Object["spec"]).To(Equal(runtime.DeepCopyJSONValue(w.Object["spec"])), "%s %s", gvk.Kind, want.GetName())
			Expect(live.GetLabels()).To(Equal(w.GetLabels()))
		}
		Expect(kinds).To(HaveKey("AuthorizationPolicy"))
		Expect(kinds).To(HaveKey("Server"))
		Expect(kinds).To(HaveKey("CiliumNetworkPolicy"))
		Expect(kinds).To(HaveKey("PeerAuthentication"))
	})

	It("writes nothing when a second operator resyncs the converged mesh objects", func() {
		var writes atomic.Int64
		counted := rest.CopyConfig(cfg)
		counted.Wrap(func(rt http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(req *http.Request) (*http.Response, error) {
				if req.Method != http.MethodGet {
					writes.Add(1)
					GinkgoWriter.Printf("write: %s %s\n", req.Method, req.URL.Path)
				}
				return rt.RoundTrip(req)
			})
		})
		backends, err := operator.ParseBackends("networkpolicy,istio,linkerd,cilium")
		Expect(err).NotTo(HaveOccurred())
		resyncCtx, stop := context.WithCancel(ctx)
		defer stop()
		mgr, err := operator.New(resyncCtx, counted, operator.Options{MetricsAddr: "0", ProbeAddr: "0", Backends: backends, SkipNameValidation: true})
		Expect(err).NotTo(HaveOccurred())
		done := make(chan struct{})
		go func() {
			defer GinkgoRecover()
			defer close(done)
			Expect(operator.Run(resyncCtx, mgr)).To(Succeed())
		}()
		before := reconciles()
		Eventually(func() float64 { return reconciles() - before }).Should(BeNumerically(">=", 1))
		Consistently(writes.Load, "2s").Should(BeZero())
		stop()
		Eventually(done).Should(BeClosed())
	})

	It("authorizes a Service caller by its workload's ServiceAccount, and denies it once another workload shares that ServiceAccount", func() {
		Expect(k8s.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "payment"}, Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "payment"}, Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}}})).To(Succeed())
		second := &ztv1.ServiceAccessPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "payment-service-reads-inventory"},
			Spec: ztv1.ServiceAccessPolicySpec{
				Target: ztv1.Target{Workload: &ztv1.WorkloadReference{Kind: ztv1.WorkloadDeployment, Name: "inventory"}},
				From:   []ztv1.Caller{{Service: "payment"}},
				Ports: []ztv1.PortRule{{Port: intstr.FromString("http"), Protocol: "TCP",
					HTTP: []ztv1.HTTPRule{{Methods: []ztv1.HTTPMethod{"GET"}, Paths: []string{"/items"}}}}},
			},
		}
		Expect(k8s.Create(ctx, second)).To(Succeed())
		principals := func(g Gomega) []any {
			aps := generatedFor(authorizationPolicy, second.Name)
			g.Expect(aps).To(HaveLen(1))
			rules, _, _ := unstructured.NestedSlice(aps[0].Object, "spec", "rules")
			var out []any
			for _, r := range rules {
				from, _, _ := unstructured.NestedSlice(r.(map[string]any), "from")
				for _, f := range from {
					ps, _, _ := unstructured.NestedSlice(f.(map[string]any), "source", "principals")
					out = append(out, ps...)
				}
			}
			return out
		}
		Eventually(func(g Gomega) {
			g.Expect(backendStateOf(g, second.Name, ztv1.BackendIstio)).To(Equal(ztv1.BackendApplied))
			g.Expect(backendStateOf(g, second.Name, ztv1.BackendLinkerd)).To(Equal(ztv1.BackendApplied))
			g.Expect(principals(g)).To(ConsistOf("cluster.local/ns/shop/sa/payment"))
		}).Should(Succeed())

		// The policy does not change: a workload event alone must re-resolve its identity.
		Expect(k8s.Create(ctx, deployment("batch", "payment"))).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(backendStateOf(g, second.Name, ztv1.BackendIstio)).To(Equal(ztv1.BackendPartial))
			g.Expect(principals(g)).To(BeEmpty(), "the shared ServiceAccount would admit batch too")
			p := &ztv1.ServiceAccessPolicy{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(second), p)).To(Succeed())
			ready := meta.FindStatusCondition(p.Status.Conditions, "Ready")
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Reason).To(Equal("PartiallyEnforced"))
			g.Expect(ready.Message).To(ContainSubstring("Deployment/batch"))
		}).Should(Succeed())
		Expect(k8s.Delete(ctx, deployment("batch", "payment"))).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(backendStateOf(g, second.Name, ztv1.BackendIstio)).To(Equal(ztv1.BackendApplied))
			g.Expect(principals(g)).To(ConsistOf("cluster.local/ns/shop/sa/payment"))
		}).Should(Succeed())
	})

	It("shares one Linkerd Server between two policies on the same pods and port, and keeps it for the one left", func() {
		const second = "payment-service-reads-inventory"
		var shared []unstructured.Unstructured
		Eventually(func(g Gomega) {
			first := map[string]bool{}
			for _, s := range generated(linkerdServer) {
				first[s.GetName()] = true
			}
			shared = nil
			for _, s := range generatedFor(linkerdServer, second) {
				if first[s.GetName()] {
					shared = append(shared, s)
				}
			}
			g.Expect(shared).NotTo(BeEmpty(), "both policies open port 8080 of the inventory pods")
			g.Expect(shared[0].GetOwnerReferences()).To(HaveLen(2))
		}).Should(Succeed())
		Expect(k8s.Delete(ctx, &ztv1.ServiceAccessPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: second}})).To(Succeed())
		Eventually(func(g Gomega) {
			live := &unstructured.Unstructured{}
			live.SetGroupVersionKind(linkerdServer)
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(&shared[0]), live)).To(Succeed(), "the first policy still needs it")
			g.Expect(live.GetOwnerReferences()).To(HaveLen(1))
			g.Expect(live.GetOwnerReferences()[0].Name).To(Equal("payment-reads-inventory"))
			g.Expect(generatedFor(authorizationPolicy, second)).To(BeEmpty())
			g.Expect(backendState(g, ztv1.BackendLinkerd)).To(Equal(ztv1.BackendApplied))
		}).Should(Succeed())
	})

	It("removes every mesh object with the policy", func() {
		Expect(k8s.Delete(ctx, policy)).To(Succeed())
		Eventually(func(g Gomega) {
			for _, gvk := range []schema.GroupVersionKind{authorizationPolicy, linkerdServer, ciliumPolicy} {
				g.Expect(generated(gvk)).To(BeEmpty(), gvk.Kind)
			}
		}).Should(Succeed())
	})

	It("reconciles every policy when a mesh goes and comes back: Cilium enforces the HTTP rules only without a mesh", func() {
		// Last: the operator's mesh caches take a while to serve again after their CRDs went.
		networkPolicy := schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"}
		const name = "cilium-l7"
		Expect(k8s.Create(ctx, &ztv1.ServiceAccessPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: ztv1.ServiceAccessPolicySpec{
				Target: ztv1.Target{Workload: &ztv1.WorkloadReference{Kind: ztv1.WorkloadDeployment, Name: "inventory"}},
				From:   []ztv1.Caller{{ServiceAccount: "payment"}},
				Ports: []ztv1.PortRule{{Port: intstr.FromInt32(8080), Protocol: "TCP",
					HTTP: []ztv1.HTTPRule{{Methods: []ztv1.HTTPMethod{"GET"}, Paths: []string{"/items/*"}}}}},
			},
		})).To(Succeed())
		// The ports the policy's ingress NetworkPolicy opens.
		opened := func(g Gomega) []any {
			nps := generatedFor(networkPolicy, name)
			g.Expect(nps).To(HaveLen(1))
			rules, _, _ := unstructured.NestedSlice(nps[0].Object, "spec", "ingress")
			var ports []any
			for _, r := range rules {
				ps, _, _ := unstructured.NestedSlice(r.(map[string]any), "ports")
				ports = append(ports, ps...)
			}
			return ports
		}
		Eventually(func(g Gomega) { g.Expect(opened(g)).To(HaveLen(1)) }).Should(Succeed(), "beside a mesh the NetworkPolicy opens 8080")

		for _, mesh := range []string{"Istio", "Linkerd"} {
			uninstall(mesh)
		}
		Eventually(func(g Gomega) {
			g.Expect(backendStateOf(g, name, ztv1.BackendIstio)).To(Equal(ztv1.BackendNotInstalled))
			g.Expect(backendStateOf(g, name, ztv1.BackendLinkerd)).To(Equal(ztv1.BackendNotInstalled))
			g.Expect(backendStateOf(g, name, ztv1.BackendCilium)).To(Equal(ztv1.BackendApplied))
			g.Expect(opened(g)).To(BeEmpty(), "without a mesh, 8080 (GET /items/*) is Cilium's: an L4 rule would void its HTTP rules")
		}).Should(Succeed())

		install("Istio")
		install("Linkerd")
		Eventually(func(g Gomega) {
			g.Expect(backendStateOf(g, name, ztv1.BackendIstio)).To(Equal(ztv1.BackendApplied))
			g.Expect(backendStateOf(g, name, ztv1.BackendLinkerd)).To(Equal(ztv1.BackendApplied))
			g.Expect(generatedFor(authorizationPolicy, name)).To(HaveLen(1))
			g.Expect(generatedFor(linkerdServer, name)).NotTo(BeEmpty())
			g.Expect(opened(g)).To(HaveLen(1))
		}, 2*time.Minute).Should(Succeed(), "a stale informer lists again within a minute (see the spec below)")
	})

	It("deactivates one mesh at a time without an error loop, touching no other backend's objects, and converges when it comes back", func() {
		// Policies enforced by Istio, Linkerd and Cilium at once: cilium-l7 (a workload
		// target) from the spec above, and one with a Service target (other pods: no shared
		// Linkerd Server, see docs/guarantees-churn.md).
		Expect(k8s.Create(ctx, &ztv1.ServiceAccessPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "payment-calls-payment-service"},
			Spec: ztv1.ServiceAccessPolicySpec{
				Target: ztv1.Target{Service: "payment"},
				From:   []ztv1.Caller{{ServiceAccount: "payment"}},
				Ports:  []ztv1.PortRule{{Port: intstr.FromString("http")}},
			},
		})).To(Succeed())
		meshes := map[string]ztv1.Backend{"Cilium": ztv1.BackendCilium, "Istio": ztv1.BackendIstio, "Linkerd": ztv1.BackendLinkerd}
		converged := func(g Gomega) {
			var list ztv1.ServiceAccessPolicyList
			g.Expect(k8s.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
			g.Expect(list.Items).To(HaveLen(2))
			for _, p := range list.Items {
				g.Expect(p.Status.ObservedGeneration).To(Equal(p.Generation))
				states := map[ztv1.Backend]ztv1.BackendState{}
				for _, b := range p.Status.Backends {
					states[b.Name] = b.State
					if b.State != ztv1.BackendApplied {
						continue
					}
					// Every object the status names exists.
					g.Expect(b.Objects).NotTo(BeEmpty(), "%s: %s", p.Name, b.Name)
					for _, o := range b.Objects {
						live := &unstructured.Unstructured{}
						live.SetAPIVersion(o.APIVersion)
						live.SetKind(o.Kind)
						g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: o.Namespace, Name: o.Name}, live)).To(Succeed(), "%s: %s %s", p.Name, o.Kind, o.Name)
					}
				}
				for _, b := range []ztv1.Backend{ztv1.BackendNetworkPolicy, ztv1.BackendIstio, ztv1.BackendLinkerd, ztv1.BackendCilium} {
					g.Expect(states[b]).To(Equal(ztv1.BackendApplied), "%s: %s", p.Name, b)
				}
			}
		}
		Eventually(converged).Should(Succeed())

		for _, mesh := range []string{"Cilium", "Istio", "Linkerd"} {
			By("removing the CRDs of " + mesh)
			// Converged and quiet: nothing is written any more.
			quiet := versionsExcept("")
			Consistently(func() map[string]string { return versionsExcept("") }, 3*time.Second).Should(Equal(quiet))
			others := versionsExcept(meshes[mesh])
			Expect(others).NotTo(BeEmpty())
			errorsBefore := reconcileErrors()
			uninstall(mesh)
			Eventually(func(g Gomega) {
				var list ztv1.ServiceAccessPolicyList
				g.Expect(k8s.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
				for _, p := range list.Items {
					g.Expect(backendStateOf(g, p.Name, meshes[mesh])).To(Equal(ztv1.BackendNotInstalled), p.Name)
					for b := range maps.Values(meshes) {
						if b != meshes[mesh] {
							g.Expect(backendStateOf(g, p.Name, b)).To(Equal(ztv1.BackendApplied), "%s: %s", p.Name, b)
						}
					}
				}
			}).Should(Succeed())
			// No error loop: whatever failed while the CRDs went, nothing fails any more.
			during := reconcileErrors() - errorsBefore
			settled := reconcileErrors()
			Consistently(reconcileErrors, 5*time.Second).Should(Equal(settled), "reconciles keep failing without %s", mesh)
			GinkgoWriter.Printf("%s removed: %.0f failed reconciles while it went, then none in 5s\n", mesh, during)
			AddReportEntry(mesh+" removed: failed reconciles", during)
			Expect(during).To(BeNumerically("<=", 10))
			now := versionsExcept(meshes[mesh])
			for k, v := range others {
				Expect(now).To(HaveKeyWithValue(k, v), "%s was written or deleted when %s went", k, mesh)
			}
			Expect(now).To(HaveLen(len(others)), "objects of other backends were created when %s went", mesh)

			By("installing " + mesh + " again")
			install(mesh)
			// The informers of the removed kinds are the operator's still (a backend's cache
			// lives as long as the process); one whose watch broke before the CRD's instances
			// were deleted holds them until it lists again, after client-go's backoff (up to
			// 30 s, with jitter 60): until then a status can name an object the CRD's removal
			// deleted (docs/guarantees.md).
			Eventually(converged, 2*time.Minute).Should(Succeed())
			settled = reconcileErrors()
			Consistently(reconcileErrors, 3*time.Second).Should(Equal(settled), "reconciles keep failing after %s came back", mesh)
		}
	})
})

// versionsExcept returns the resourceVersion of every generated object in ns (of policies
// and baselines) of every backend but skip, by kind and name.
func versionsExcept(skip ztv1.Backend) map[string]string {
	GinkgoHelper()
	out := map[string]string{}
	for _, info := range compiler.Backends() {
		if info.Name == skip || info.Name == ztv1.BackendRBAC {
			continue
		}
		for _, gvk := range info.Kinds {
			list := &unstructured.UnstructuredList{}
			list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
			Expect(k8s.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{ztv1.LabelManagedBy: ztv1.ManagedByValue})).To(Succeed())
			for _, o := range list.Items {
				out[gvk.Group+"/"+gvk.Kind+"/"+o.GetName()] = o.GetResourceVersion()
			}
		}
	}
	return out
}

// reconcileErrors sums controller_runtime_reconcile_errors_total over every controller of
// this process.
func reconcileErrors() float64 {
	families, err := metrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	total := 0.0
	for _, f := range families {
		if f.GetName() == "controller_runtime_reconcile_errors_total" {
			for _, m := range f.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}
