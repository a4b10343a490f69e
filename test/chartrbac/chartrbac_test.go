package chartrbac_test

import (
	"fmt"
	"sort"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/model"
	"github.com/zerotrust-dev/zerotrust-operator/internal/operator"
)

// The scenario: shop and payments under a strict baseline (default deny both ways, DNS,
// mesh mTLS and default deny, Pod Security restricted), monitoring under none, legacy under
// an auditing baseline with something to find; in shop, a policy of every target kind, every
// from kind, every mode and a schedule.
const (
	shop       = "shop"
	payments   = "payments"
	monitoring = "monitoring"
	legacy     = "legacy"
)

func labels(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func podTemplate(app, serviceAccount string, port corev1.ContainerPort) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels("app", app)},
		Spec: corev1.PodSpec{ServiceAccountName: serviceAccount, Containers: []corev1.Container{{
			Name: "main", Image: "registry.example/" + app, Ports: []corev1.ContainerPort{port},
		}}},
	}
}

func fixtures() []client.Object {
	selector := func(app string) *metav1.LabelSelector { return &metav1.LabelSelector{MatchLabels: labels("app", app)} }
	httpPort := corev1.ContainerPort{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}
	return []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: shop, Labels: labels("zt", "strict")}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: payments, Labels: labels("zt", "strict")}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: monitoring}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: legacy, Labels: labels("zt", "audit")}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: shop, Name: "inventory"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: shop, Name: "db"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: shop, Name: "agent"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: shop, Name: "batch"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: payments, Name: "payment"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: legacy, Name: "ci"}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: shop, Name: "inventory"}, Spec: appsv1.DeploymentSpec{
			Selector: selector("inventory"), Template: podTemplate("inventory", "inventory", httpPort)}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: shop, Name: "batch"}, Spec: appsv1.DeploymentSpec{
			Selector: selector("batch"), Template: podTemplate("batch", "batch", httpPort)}},
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: shop, Name: "db"}, Spec: appsv1.StatefulSetSpec{
			Selector: selector("db"), Template: podTemplate("db", "db", corev1.ContainerPort{Name: "pg", ContainerPort: 5432})}},
		&appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: shop, Name: "agent"}, Spec: appsv1.DaemonSetSpec{
			Selector: selector("agent"), Template: podTemplate("agent", "agent", corev1.ContainerPort{Name: "metrics", ContainerPort: 9100})}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: shop, Name: "inventory"}, Spec: corev1.ServiceSpec{
			Selector: labels("app", "inventory"),
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: payments, Name: "payment"}, Spec: appsv1.DeploymentSpec{
			Selector: selector("payment"), Template: podTemplate("payment", "payment", httpPort)}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: payments, Name: "payment"}, Spec: corev1.ServiceSpec{
			Selector: labels("app", "payment"),
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}}},
		// For the audit: a ServiceAccount bound to cluster-admin, an allow-all NetworkPolicy
		// the operator does not manage, a privileged pod.
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "legacy-ci-admin"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: legacy, Name: "ci"}}},
		&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: legacy, Name: "allow-all"},
			Spec: networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{}}}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: legacy, Name: "agent"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "registry.example/agent",
				SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}}}}},
	}
}

func baselines() []*ztv1.ZeroTrustBaseline {
	return []*ztv1.ZeroTrustBaseline{
		{ObjectMeta: metav1.ObjectMeta{Name: "strict"}, Spec: ztv1.ZeroTrustBaselineSpec{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: labels("zt", "strict")},
			Network:           &ztv1.BaselineNetwork{DefaultDeny: []ztv1.Direction{ztv1.DirectionIngress, ztv1.DirectionEgress}, AllowDNS: true},
			Mesh:              &ztv1.BaselineMesh{MTLS: ztv1.MTLSStrict, DefaultDeny: true},
			PodSecurity:       ztv1.PodSecurityRestricted,
		}},
		{ObjectMeta: metav1.ObjectMeta{Name: "audit"}, Spec: ztv1.ZeroTrustBaselineSpec{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: labels("zt", "audit")},
			Network:           &ztv1.BaselineNetwork{DefaultDeny: []ztv1.Direction{ztv1.DirectionIngress}},
		}},
	}
}

// policyCase is one ServiceAccessPolicy and the Ready reason it should reach.
type policyCase struct {
	policy *ztv1.ServiceAccessPolicy
	reason string
}

func policy(name string, target ztv1.Target, from []ztv1.Caller, ports []ztv1.PortRule) *ztv1.ServiceAccessPolicy {
	return &ztv1.ServiceAccessPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: shop, Name: name},
		Spec: ztv1.ServiceAccessPolicySpec{Target: target, From: from, Ports: ports}}
}

func port(p intstr.IntOrString, rules ...ztv1.HTTPRule) []ztv1.PortRule {
	return []ztv1.PortRule{{Port: p, Protocol: "TCP", HTTP: rules}}
}

func workload(kind ztv1.WorkloadKind, name string) *ztv1.WorkloadReference {
	return &ztv1.WorkloadReference{Kind: kind, Name: name}
}

// policies is every kind of target, of caller, each mode and a schedule (a window open all
// day, every day: the policy is enforced while the test runs).
func policies() []policyCase {
	get := ztv1.HTTPRule{Methods: []ztv1.HTTPMethod{"GET"}, Paths: []string{"/items", "/items/*"}}
	audit := policy("db-audit", ztv1.Target{Workload: workload(ztv1.WorkloadStatefulSet, "db")},
		[]ztv1.Caller{{ServiceAccount: "inventory"}}, port(intstr.FromString("pg")))
	audit.Spec.Mode = ztv1.ModeAudit
	dryRun := policy("agent-dryrun", ztv1.Target{Workload: workload(ztv1.WorkloadDaemonSet, "agent")},
		[]ztv1.Caller{{Namespace: monitoring}}, port(intstr.FromInt32(9100)))
	dryRun.Spec.Mode = ztv1.ModeDryRun
	scheduled := policy("batch-scheduled", ztv1.Target{PodSelector: &metav1.LabelSelector{MatchLabels: labels("app", "inventory")}},
		[]ztv1.Caller{{PodSelector: &metav1.LabelSelector{MatchLabels: labels("app", "batch")}}}, port(intstr.FromInt32(8080)))
	scheduled.Spec.Schedule = &ztv1.Schedule{TimeZone: "Europe/Berlin", Windows: []ztv1.Window{{Start: "00:00", End: "24:00"}}}
	return []policyCase{
		{policy("payment-reads-inventory", ztv1.Target{Service: "inventory"},
			[]ztv1.Caller{{Service: "payment", Namespace: payments}}, port(intstr.FromString("http"), get)), compiler.ReasonEnforced},
		{policy("payment-calls-deployment", ztv1.Target{Workload: workload(ztv1.WorkloadDeployment, "inventory")},
			[]ztv1.Caller{{Workload: workload(ztv1.WorkloadDeployment, "payment"), Namespace: payments}}, port(intstr.FromInt32(8080))), compiler.ReasonEnforced},
		{audit, compiler.ReasonAudit},
		{dryRun, compiler.ReasonDryRun},
		{scheduled, compiler.ReasonEnforced},
		{policy("office-reads-inventory", ztv1.Target{Service: "inventory"},
			[]ztv1.Caller{{CIDR: "10.20.0.0/16"}}, port(intstr.FromString("http"))), compiler.ReasonEnforced},
		{policy("inventory-calls-partner", ztv1.Target{External: &ztv1.ExternalTarget{CIDRs: []string{"203.0.113.0/24"}}},
			[]ztv1.Caller{{Workload: workload(ztv1.WorkloadDeployment, "inventory")}}, port(intstr.FromInt32(443))), compiler.ReasonEnforced},
		{policy("inventory-reads-config", ztv1.Target{KubernetesAPI: &ztv1.KubernetesAPITarget{Rules: []ztv1.APIRule{{
			APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"inventory-config"}, Verbs: []string{"get", "watch"},
		}}}}, []ztv1.Caller{{ServiceAccount: "inventory"}, {ServiceAccount: "payment", Namespace: payments}}, nil), compiler.ReasonEnforced},
	}
}

// managed lists every object of every backend's kinds that carries the managed-by label.
func managed(g Gomega) []unstructured.Unstructured {
	var out []unstructured.Unstructured
	for _, b := range compiler.AllBackends() {
		for _, gvk := range compiler.BackendKinds(b) {
			list := &unstructured.UnstructuredList{}
			list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
			g.Expect(k8s.List(ctx, list, client.MatchingLabels{ztv1.LabelManagedBy: ztv1.ManagedByValue})).To(Succeed())
			out = append(out, list.Items...)
		}
	}
	return out
}

func ready(conditions []metav1.Condition) string {
	c := meta.FindStatusCondition(conditions, ztv1.ConditionReady)
	if c == nil {
		return "no Ready condition"
	}
	return fmt.Sprintf("%s/%s: %s", c.Status, c.Reason, c.Message)
}

// writer is a user who may write ServiceAccessPolicies in shop and holds the permissions the
// kubernetesAPI policy grants, so that the webhook's own checks of them (under the chart's
// RBAC) admit it.
func writer() client.Client {
	const name = "shop-owner"
	rules := []rbacv1.PolicyRule{
		{APIGroups: []string{"zerotrust.dev"}, Resources: []string{"serviceaccesspolicies"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "watch"}},
	}
	Expect(k8s.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: shop, Name: name}, Rules: rules})).To(Succeed())
	Expect(k8s.Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: shop, Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}},
	})).To(Succeed())
	u, err := env.AddUser(envtest.User{Name: name}, cfg)
	Expect(err).NotTo(HaveOccurred())
	c, err := client.New(u.Config(), client.Options{Scheme: operator.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	// The API server's authorizer learns of new bindings through an informer.
	Eventually(func(g Gomega) {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: name,
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: shop, Group: "zerotrust.dev", Resource: "serviceaccesspolicies", Verb: "create"}}}
		g.Expect(k8s.Create(ctx, sar)).To(Succeed())
		g.Expect(sar.Status.Allowed).To(BeTrue())
	}).Should(Succeed())
	return c
}

var _ = Describe("the operator under the chart's RBAC", Ordered, func() {
	cases := policies()

	AfterAll(func() { forbidden.expectNone() })

	It("enforces every kind of policy and baseline with every backend", func() {
		for _, o := range fixtures() {
			Expect(k8s.Create(ctx, o)).To(Succeed(), "creating %T %s", o, o.GetName())
		}
		for _, b := range baselines() {
			Expect(k8s.Create(ctx, b)).To(Succeed())
		}
		owner := writer()
		for _, c := range cases {
			// Through the webhook, which answers once the operator serves it.
			Eventually(func() error {
				forbidden.stopOnAny()
				return owner.Create(ctx, c.policy.DeepCopy())
			}).Should(Succeed(), c.policy.Name)
		}

		Eventually(func(g Gomega) {
			forbidden.stopOnAny()
			for _, c := range cases {
				p := &ztv1.ServiceAccessPolicy{}
				g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(c.policy), p)).To(Succeed())
				g.Expect(p.Status.ObservedGeneration).To(Equal(p.Generation), c.policy.Name)
				cond := meta.FindStatusCondition(p.Status.Conditions, ztv1.ConditionReady)
				g.Expect(cond).NotTo(BeNil(), c.policy.Name)
				g.Expect(cond.Reason).To(Equal(c.reason), "%s: %s", c.policy.Name, ready(p.Status.Conditions))
				g.Expect(cond.Status).To(Equal(metav1.ConditionTrue), "%s: %s", c.policy.Name, ready(p.Status.Conditions))
				for _, b := range p.Status.Backends {
					g.Expect(b.State).NotTo(Equal(ztv1.BackendFailed), "%s: %s: %s", c.policy.Name, b.Name, b.Message)
					if c.policy.Spec.Mode == ztv1.ModeDryRun {
						continue
					}
					for _, ref := range b.Objects {
						o := &unstructured.Unstructured{}
						o.SetAPIVersion(ref.APIVersion)
						o.SetKind(ref.Kind)
						g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, o)).To(Succeed(),
							"%s: %s names %s %s/%s", c.policy.Name, b.Name, ref.Kind, ref.Namespace, ref.Name)
					}
				}
			}
			for _, want := range baselines() {
				b := &ztv1.ZeroTrustBaseline{}
				g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(want), b)).To(Succeed())
				g.Expect(b.Status.ObservedGeneration).To(Equal(b.Generation), b.Name)
				cond := meta.FindStatusCondition(b.Status.Conditions, ztv1.ConditionReady)
				g.Expect(cond).NotTo(BeNil(), b.Name)
				g.Expect(cond.Status).To(Equal(metav1.ConditionTrue), "%s: %s", b.Name, ready(b.Status.Conditions))
			}
			audit := &ztv1.ZeroTrustBaseline{}
			g.Expect(k8s.Get(ctx, client.ObjectKey{Name: "audit"}, audit)).To(Succeed())
			kinds := map[string]bool{}
			for _, f := range audit.Status.Findings {
				kinds[f.Kind] = true
			}
			g.Expect(kinds).To(HaveKey("PrivilegedBinding"))
			g.Expect(kinds).To(HaveKey("OpenNetworkPolicy"))
			g.Expect(kinds).To(HaveKey("PrivilegedPod"))

			// Every backend generated something, for policies and for baselines.
			byBackend := map[string]int{}
			baselineKinds := map[string]bool{}
			for _, o := range managed(g) {
				byBackend[o.GetLabels()[ztv1.LabelBackend]]++
				if o.GetLabels()[ztv1.LabelBaseline] != "" {
					baselineKinds[o.GetKind()] = true
				}
			}
			for _, b := range compiler.AllBackends() {
				g.Expect(byBackend).To(HaveKey(model.BackendLabel(b)), "no object of backend %s: %v", b, byBackend)
			}
			g.Expect(baselineKinds).To(HaveKey("NetworkPolicy"))
			g.Expect(baselineKinds).To(HaveKey("PeerAuthentication"))
			g.Expect(baselineKinds).To(HaveKey("AuthorizationPolicy"))

			// Namespace metadata: Pod Security and Linkerd's default inbound policy.
			n := &corev1.Namespace{}
			g.Expect(k8s.Get(ctx, client.ObjectKey{Name: shop}, n)).To(Succeed())
			g.Expect(n.Labels).To(HaveKeyWithValue("pod-security.kubernetes.io/enforce", "restricted"))
			g.Expect(n.Annotations).To(HaveKeyWithValue("config.linkerd.io/default-inbound-policy", "deny"))
		}).Should(Succeed())

		objs := managed(Default)
		kinds := map[string]int{}
		for _, o := range objs {
			kinds[o.GetObjectKind().GroupVersionKind().GroupKind().String()]++
		}
		keys := make([]string, 0, len(kinds))
		for k, n := range kinds {
			keys = append(keys, fmt.Sprintf("%s=%d", k, n))
		}
		sort.Strings(keys)
		AddReportEntry("generated objects", fmt.Sprintf("%d: %s", len(objs), strings.Join(keys, " ")))
	})

	It("follows an update of a policy", func() {
		key := client.ObjectKeyFromObject(cases[0].policy)
		Eventually(func() error {
			forbidden.stopOnAny()
			p := &ztv1.ServiceAccessPolicy{}
			if err := k8s.Get(ctx, key, p); err != nil {
				return err
			}
			p.Spec.Ports[0].HTTP[0].Methods = []ztv1.HTTPMethod{"GET", "POST"}
			p.Spec.From = append(p.Spec.From, ztv1.Caller{ServiceAccount: "batch"})
			return k8s.Update(ctx, p)
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			forbidden.stopOnAny()
			p := &ztv1.ServiceAccessPolicy{}
			g.Expect(k8s.Get(ctx, key, p)).To(Succeed())
			g.Expect(p.Generation).To(BeNumerically(">", 1))
			g.Expect(p.Status.ObservedGeneration).To(Equal(p.Generation))
			g.Expect(p.Status.Callers).To(BeEquivalentTo(2))
			g.Expect(meta.IsStatusConditionTrue(p.Status.Conditions, ztv1.ConditionReady)).To(BeTrue(), ready(p.Status.Conditions))
		}).Should(Succeed())
	})

	It("removes everything when the policies and baselines are deleted", func() {
		for _, c := range cases {
			Expect(k8s.Delete(ctx, c.policy.DeepCopy())).To(Succeed())
		}
		for _, b := range baselines() {
			Expect(k8s.Delete(ctx, b)).To(Succeed())
		}
		Eventually(func(g Gomega) {
			forbidden.stopOnAny()
			var saps ztv1.ServiceAccessPolicyList
			g.Expect(k8s.List(ctx, &saps)).To(Succeed())
			g.Expect(saps.Items).To(BeEmpty(), "policies left (finalizers not removed)")
			var ztbs ztv1.ZeroTrustBaselineList
			g.Expect(k8s.List(ctx, &ztbs)).To(Succeed())
			g.Expect(ztbs.Items).To(BeEmpty(), "baselines left (finalizers not removed)")
			// envtest runs no garbage collector: what the operator deletes itself (objects of
			// baselines, and of policies in other namespaces) is gone; the rest carries an
			// ownerReference to its deleted policy, in its namespace.
			for _, o := range managed(g) {
				g.Expect(o.GetLabels()).NotTo(HaveKey(ztv1.LabelBaseline), "%s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName())
				g.Expect(o.GetNamespace()).To(Equal(shop), "%s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName())
				g.Expect(o.GetOwnerReferences()).To(ContainElement(HaveField("Kind", "ServiceAccessPolicy")), "%s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName())
			}
			n := &corev1.Namespace{}
			g.Expect(k8s.Get(ctx, client.ObjectKey{Name: shop}, n)).To(Succeed())
			g.Expect(n.Labels).NotTo(HaveKey("pod-security.kubernetes.io/enforce"))
			g.Expect(n.Annotations).NotTo(HaveKey("config.linkerd.io/default-inbound-policy"))
		}).Should(Succeed())
	})
})
