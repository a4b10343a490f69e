package drift_test

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/yaml"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/testenv"
)

var _ = Describe("a policy's generated objects", Ordered, func() {
	var (
		ns     string
		policy *ztv1.ServiceAccessPolicy
	)

	BeforeAll(func() {
		ns = uniqueName("shop")
		Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		for _, name := range []string{"inventory", "checkout"} {
			Expect(k8s.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})).To(Succeed())
			labels := map[string]string{"app": name}
			Expect(k8s.Create(ctx, &appsv1.Deployment{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
				Spec: appsv1.DeploymentSpec{
					Selector: &metav1.LabelSelector{MatchLabels: labels},
					Template: corev1.PodTemplateSpec{
						ObjectMeta: metav1.ObjectMeta{Labels: labels},
						Spec: corev1.PodSpec{ServiceAccountName: name, Containers: []corev1.Container{{
							Name: "app", Image: "app",
							Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
						}}},
					},
				},
			})).To(Succeed())
		}
		Expect(k8s.Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "inventory"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "inventory"}, Ports: []corev1.ServicePort{{
				Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP,
			}}},
		})).To(Succeed())
		policy = &ztv1.ServiceAccessPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "checkout-reads-inventory"},
			Spec: ztv1.ServiceAccessPolicySpec{
				Target: ztv1.Target{Service: "inventory"},
				From:   []ztv1.Caller{{Workload: &ztv1.WorkloadReference{Kind: "Deployment", Name: "checkout"}}},
				Ports: []ztv1.PortRule{{Port: intstr.FromString("http"), HTTP: []ztv1.HTTPRule{{
					Methods: []ztv1.HTTPMethod{"GET"}, Paths: []string{"/items"},
				}}}},
			},
		}
		Expect(k8s.Create(ctx, policy)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(policy), policy)).To(Succeed())
			g.Expect(policy.Status.ObservedGeneration).To(Equal(policy.Generation))
			g.Expect(policy.Status.Backends).NotTo(BeEmpty())
			for _, b := range policy.Status.Backends {
				if b.State == ztv1.BackendDisabled {
					continue
				}
				g.Expect(b.State).To(Equal(ztv1.BackendApplied), "backend %s: %s", b.Name, b.Message)
				g.Expect(b.Objects).NotTo(BeEmpty(), "backend %s", b.Name)
			}
		}).Should(Succeed())
	})

	// generated returns the first generated object of kind (group/Kind) the policy's status
	// names.
	generated := func(kind string) *unstructured.Unstructured {
		GinkgoHelper()
		group, k, _ := strings.Cut(kind, "/")
		for _, b := range policy.Status.Backends {
			for _, o := range b.Objects {
				if o.Kind == k && strings.HasPrefix(o.APIVersion, group+"/") {
					u := &unstructured.Unstructured{}
					u.SetAPIVersion(o.APIVersion)
					u.SetKind(o.Kind)
					Expect(k8s.Get(ctx, types.NamespacedName{Namespace: o.Namespace, Name: o.Name}, u)).To(Succeed())
					return u
				}
			}
		}
		Fail("the policy's status names no " + kind)
		return nil
	}

	DescribeTable("another field manager's change is undone, with one Event and one count",
		func(kind, backend, manager, patch string, restored func(before, now *unstructured.Unstructured) bool) {
			before := generated(kind)
			_, kindName, _ := strings.Cut(kind, "/")
			repairs := driftRepairs(backend, kindName)
			events := driftEvents(ns, policy.Name)
			Expect(k8s.Patch(ctx, before.DeepCopy(), client.RawPatch(types.MergePatchType, []byte(patch)), client.FieldOwner(manager))).To(Succeed())

			Eventually(func(g Gomega) {
				now := generated(kind)
				g.Expect(restored(before, now)).To(BeTrue(), "%s %s still carries %s", kind, now.GetName(), patch)
				g.Expect(now.GetManagedFields()).NotTo(ContainElement(HaveField("Manager", manager)), "%s still owns fields", manager)
			}).Should(Succeed())
			Eventually(func() float64 { return driftRepairs(backend, kindName) }).Should(Equal(repairs + 1))
			Eventually(func() []string { return driftEvents(ns, policy.Name) }).Should(HaveLen(len(events) + 1))
			note := driftEvents(ns, policy.Name)[len(events)]
			Expect(note).To(ContainSubstring(kindName + " " + before.GetNamespace() + "/" + before.GetName()))
			Expect(note).To(ContainSubstring(manager))
			if strings.Contains(patch, "DENY") {
				Expect(note).To(ContainSubstring("spec.action"))
				Expect(note).To(ContainSubstring("metadata.annotations.istio.io/dry-run"))
			}
			// Exactly one: re-verifications of the repaired object change nothing.
			Consistently(func() float64 { return driftRepairs(backend, kindName) }, 2*time.Second).Should(Equal(repairs + 1))
			Expect(driftEvents(ns, policy.Name)).To(HaveLen(len(events) + 1))
		},
		Entry("NetworkPolicy: ingress opened to everyone", "networking.k8s.io/NetworkPolicy", "networkpolicy", "kubectl-patch",
			`{"spec":{"ingress":[{}]}}`, sameContent),
		Entry("Istio AuthorizationPolicy: action DENY and the dry-run annotation added", "security.istio.io/AuthorizationPolicy", "istio", "kubectl-patch",
			`{"metadata":{"annotations":{"istio.io/dry-run":"true"}},"spec":{"action":"DENY"}}`, func(before, now *unstructured.Unstructured) bool {
				_, ok := now.GetAnnotations()["istio.io/dry-run"]
				return !ok && sameContent(before, now)
			}),
		Entry("Linkerd AuthorizationPolicy: an annotation added", "policy.linkerd.io/AuthorizationPolicy", "linkerd", "kubectl-annotate",
			`{"metadata":{"annotations":{"example.com/owner":"someone"}}}`, func(before, now *unstructured.Unstructured) bool {
				_, ok := now.GetAnnotations()["example.com/owner"]
				return !ok && sameContent(before, now)
			}),
		Entry("Linkerd Server: opened to unauthenticated clients", "policy.linkerd.io/Server", "linkerd", "kubectl-patch",
			`{"spec":{"accessPolicy":"all-unauthenticated"}}`, sameContent),
		Entry("CiliumNetworkPolicy: default deny turned off", "cilium.io/CiliumNetworkPolicy", "cilium", "kubectl-patch",
			`{"spec":{"enableDefaultDeny":{"ingress":false}}}`, sameContent),
	)

	It("counts policies by Ready and generated objects by backend and kind at each scrape", func() {
		Eventually(func() float64 {
			return gaugeValue("zerotrust_policies", map[string]string{"ready": "True", "reason": "Enforced", "mode": "Enforce"})
		}).Should(BeNumerically(">=", 1))
		for _, bk := range [][2]string{{"networkpolicy", "NetworkPolicy"}, {"istio", "AuthorizationPolicy"}, {"linkerd", "Server"}, {"cilium", "CiliumNetworkPolicy"}} {
			Expect(gaugeValue("zerotrust_generated_objects", map[string]string{"backend": bk[0], "kind": bk[1]})).To(BeNumerically(">=", 1), "%v", bk)
		}
	})

	It("puts a deleted object back, with one Event and one count", func() {
		before := generated("networking.k8s.io/NetworkPolicy")
		repairs := driftRepairs("networkpolicy", "NetworkPolicy")
		events := driftEvents(ns, policy.Name)
		Expect(k8s.Delete(ctx, before)).To(Succeed())
		Eventually(func(g Gomega) {
			now := before.DeepCopy()
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(before), now)).To(Succeed())
			g.Expect(now.GetUID()).NotTo(Equal(before.GetUID()))
			g.Expect(sameContent(before, now)).To(BeTrue())
		}).Should(Succeed())
		Eventually(func() float64 { return driftRepairs("networkpolicy", "NetworkPolicy") }).Should(Equal(repairs + 1))
		Eventually(func() []string { return driftEvents(ns, policy.Name) }).Should(HaveLen(len(events) + 1))
		Expect(driftEvents(ns, policy.Name)[len(events)]).To(ContainSubstring("was deleted"))
	})

	It("re-verifies a converged policy again and again without an Event or a write", func() {
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(policy), policy)).To(Succeed())
		versions := map[string]string{"policy": policy.ResourceVersion}
		for _, b := range policy.Status.Backends {
			for _, o := range b.Objects {
				versions[o.APIVersion+"/"+o.Kind+"/"+o.Name] = get(o).GetResourceVersion()
			}
		}
		events := driftEvents(ns, policy.Name)
		all := allEvents(ns)
		start := counterValue("zerotrust_reverifications_total", map[string]string{"kind": "ServiceAccessPolicy"})
		Eventually(func() float64 {
			return counterValue("zerotrust_reverifications_total", map[string]string{"kind": "ServiceAccessPolicy"})
		}).Should(BeNumerically(">=", start+10))
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(policy), policy)).To(Succeed())
		Expect(policy.ResourceVersion).To(Equal(versions["policy"]), "the policy (or its status) was written")
		for _, b := range policy.Status.Backends {
			for _, o := range b.Objects {
				Expect(get(o).GetResourceVersion()).To(Equal(versions[o.APIVersion+"/"+o.Kind+"/"+o.Name]), "%s %s was written", o.Kind, o.Name)
			}
		}
		Expect(driftEvents(ns, policy.Name)).To(Equal(events))
		Expect(allEvents(ns)).To(Equal(all))
	})
})

var _ = Describe("the chart's alerts", func() {
	It("name only metrics the operator serves", func() {
		// Every series exists from the start (counters at 0), except the policy gauge, which
		// needs a policy.
		ns := uniqueName("alerts")
		Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		p := &ztv1.ServiceAccessPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "nothing-to-open"},
			Spec:       ztv1.ServiceAccessPolicySpec{Target: ztv1.Target{Service: "missing"}, From: []ztv1.Caller{{ServiceAccount: "reporting"}}},
		}
		Expect(k8s.Create(ctx, p)).To(Succeed())
		data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "charts", "zerotrust-operator", "files", "alerts.yaml"))
		Expect(err).NotTo(HaveOccurred())
		var rules struct {
			Groups []struct {
				Rules []struct{ Alert, Expr string }
			}
		}
		Expect(yaml.Unmarshal(data, &rules)).To(Succeed())
		names := map[string]bool{}
		for _, g := range rules.Groups {
			for _, r := range g.Rules {
				for _, m := range metricName.FindAllString(r.Expr, -1) {
					names[m] = true
				}
			}
		}
		Expect(names).To(HaveKey("zerotrust_drift_repairs_total"))
		Eventually(func(g Gomega) {
			families, err := ctrlmetrics.Registry.Gather()
			g.Expect(err).NotTo(HaveOccurred())
			served := map[string]bool{}
			for _, f := range families {
				served[f.GetName()] = true
			}
			for n := range names {
				g.Expect(served).To(HaveKey(n), "an alert uses %s, which the operator does not serve", n)
			}
		}).Should(Succeed())
	})
})

// metricName matches the operator's and controller-runtime's metric names in a PromQL
// expression (up, Prometheus' own, is left out).
var metricName = regexp.MustCompile(`\b(zerotrust|controller_runtime)_[a-z_]+\b`)

var _ = Describe("the metrics endpoint", func() {
	get := func(token string) (int, string) {
		GinkgoHelper()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+metricsAddr+"/metrics", nil)
		Expect(err).NotTo(HaveOccurred())
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		// The operator's certificate is self-signed.
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec
		var resp *http.Response
		Eventually(func() error { resp, err = c.Do(req); return err }).Should(Succeed())
		defer func() { _ = resp.Body.Close() }()
		body, err := io.ReadAll(resp.Body)
		Expect(err).NotTo(HaveOccurred())
		return resp.StatusCode, string(body)
	}
	token := func(ns, sa string) string {
		GinkgoHelper()
		Expect(k8s.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sa}})).To(Succeed())
		cs, err := kubernetes.NewForConfig(cfg)
		Expect(err).NotTo(HaveOccurred())
		tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		return tr.Status.Token
	}

	It("refuses an unauthenticated scrape, forbids an unauthorized one and serves an authorized one", func() {
		ns := uniqueName("monitoring")
		Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		reader := &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: "zerotrust-operator-metrics-reader"},
			Rules:      []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}},
		}
		Expect(k8s.Create(ctx, reader)).To(Succeed())
		Expect(k8s.Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "prometheus-reads-zerotrust"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: reader.Name},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: "prometheus"}},
		})).To(Succeed())
		prometheus, nobody := token(ns, "prometheus"), token(ns, "nobody")

		code, _ := get("")
		Expect(code).To(Equal(http.StatusUnauthorized))
		code, _ = get("not-a-token")
		Expect(code).To(Equal(http.StatusUnauthorized))
		code, _ = get(nobody)
		Expect(code).To(Equal(http.StatusForbidden))
		code, body := get(prometheus)
		Expect(code).To(Equal(http.StatusOK))
		Expect(body).To(ContainSubstring("zerotrust_drift_repairs_total"))
		Expect(body).To(ContainSubstring("zerotrust_reverifications_total"))
	})
})

// get reads a generated object the status names.
func get(o ztv1.ObjectReference) *unstructured.Unstructured {
	GinkgoHelper()
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(o.APIVersion)
	u.SetKind(o.Kind)
	Expect(k8s.Get(ctx, types.NamespacedName{Namespace: o.Namespace, Name: o.Name}, u)).To(Succeed())
	return u
}

// sameContent reports whether now holds exactly before's content: every top-level field
// but metadata and status.
func sameContent(before, now *unstructured.Unstructured) bool {
	strip := func(u *unstructured.Unstructured) map[string]any {
		out := map[string]any{}
		for k, v := range u.Object {
			if k != "metadata" && k != "status" {
				out[k] = v
			}
		}
		return out
	}
	return equality.Semantic.DeepEqual(strip(before), strip(now))
}

// driftEvents are the notes of the DriftRepaired Events regarding policy name, oldest first.
func driftEvents(ns, name string) []string {
	GinkgoHelper()
	var list eventsv1.EventList
	Expect(k8s.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
	var out []string
	for _, e := range sortedEvents(list.Items) {
		if e.Reason == "DriftRepaired" && e.Regarding.Name == name {
			Expect(e.Type).To(Equal(corev1.EventTypeWarning))
			out = append(out, e.Note)
		}
	}
	return out
}

// allEvents names every Event of the namespace (reason and note), oldest first.
func allEvents(ns string) []string {
	GinkgoHelper()
	var list eventsv1.EventList
	Expect(k8s.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
	var out []string
	for _, e := range sortedEvents(list.Items) {
		out = append(out, e.Reason+": "+e.Note)
	}
	return out
}

func sortedEvents(items []eventsv1.Event) []eventsv1.Event {
	out := append([]eventsv1.Event(nil), items...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].CreationTimestamp.Before(&out[j-1].CreationTimestamp); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func driftRepairs(backend, kind string) float64 {
	return counterValue("zerotrust_drift_repairs_total", map[string]string{"backend": backend, "kind": kind})
}

// counterValue reads a counter of the operator's registry (it runs in this process).
func counterValue(name string, labels map[string]string) float64 {
	GinkgoHelper()
	families, err := ctrlmetrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metric:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if want, ok := labels[l.GetName()]; ok && want != l.GetValue() {
					continue metric
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	Fail("no series " + name + " " + string(must(json.Marshal(labels))))
	return 0
}

// gaugeValue reads a gauge of the operator's registry (0 when it has no such series).
func gaugeValue(name string, labels map[string]string) float64 {
	GinkgoHelper()
	families, err := ctrlmetrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metric:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if want, ok := labels[l.GetName()]; ok && want != l.GetValue() {
					continue metric
				}
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

func must(b []byte, err error) []byte {
	Expect(err).NotTo(HaveOccurred())
	return b
}

var _ = Describe("a baseline's generated objects", func() {
	It("are repaired after another manager's change, with one Event on the baseline and one count", func() {
		ns := uniqueName("team")
		Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"drift.zerotrust.dev/team": ns}}})).To(Succeed())
		b := &ztv1.ZeroTrustBaseline{
			ObjectMeta: metav1.ObjectMeta{Name: ns},
			Spec: ztv1.ZeroTrustBaselineSpec{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"drift.zerotrust.dev/team": ns}},
				Network:           &ztv1.BaselineNetwork{DefaultDeny: []ztv1.Direction{ztv1.DirectionIngress}},
			},
		}
		Expect(k8s.Create(ctx, b)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8s.Delete(ctx, b))).To(Succeed()) })
		var before networkingv1.NetworkPolicy
		Eventually(func(g Gomega) {
			var list networkingv1.NetworkPolicyList
			g.Expect(k8s.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{ztv1.LabelBaseline: b.Name})).To(Succeed())
			g.Expect(list.Items).To(HaveLen(1))
			before = list.Items[0]
		}).Should(Succeed())
		repairs := driftRepairs("networkpolicy", "NetworkPolicy")

		Expect(k8s.Patch(ctx, before.DeepCopy(), client.RawPatch(types.MergePatchType, []byte(`{"spec":{"ingress":[{}]}}`)), client.FieldOwner("kubectl-edit"))).To(Succeed())
		Eventually(func(g Gomega) {
			var now networkingv1.NetworkPolicy
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(&before), &now)).To(Succeed())
			g.Expect(now.Spec).To(Equal(before.Spec))
		}).Should(Succeed())
		Eventually(func() float64 { return driftRepairs("networkpolicy", "NetworkPolicy") }).Should(Equal(repairs + 1))
		Eventually(func(g Gomega) {
			var list eventsv1.EventList
			g.Expect(k8s.List(ctx, &list)).To(Succeed())
			var notes []string
			for _, e := range list.Items {
				if e.Reason == "DriftRepaired" && e.Regarding.Kind == "ZeroTrustBaseline" && e.Regarding.Name == b.Name {
					notes = append(notes, e.Note)
				}
			}
			g.Expect(notes).To(ConsistOf(And(ContainSubstring("NetworkPolicy "+ns+"/"+before.Name), ContainSubstring("kubectl-edit"))))
		}).Should(Succeed())
	})
})
