package controllers_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

// baselineObjects lists the NetworkPolicies generated for baseline name in namespace ns.
func baselineObjects(name, ns string) []networkingv1.NetworkPolicy {
	var list networkingv1.NetworkPolicyList
	ExpectWithOffset(1, k8s.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{ztv1.LabelBaseline: name})).To(Succeed())
	return list.Items
}

func setLabel(ns, key, value string) {
	n := &corev1.Namespace{}
	ExpectWithOffset(1, k8s.Get(ctx, client.ObjectKey{Name: ns}, n)).To(Succeed())
	if value == "" {
		delete(n.Labels, key)
	} else {
		n.Labels[key] = value
	}
	ExpectWithOffset(1, k8s.Update(ctx, n)).To(Succeed())
}

var _ = Describe("ZeroTrustBaseline default deny", func() {
	It("follows the namespace selection, repairs deletions and reports matched namespaces", func() {
		name := uniqueName("floor")
		ns := uniqueName("team")
		create(newNamespace(ns, nil))
		b := &ztv1.ZeroTrustBaseline{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: ztv1.ZeroTrustBaselineSpec{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"zerotrust.dev/floor": name}},
				Network: &ztv1.BaselineNetwork{
					DefaultDeny: []ztv1.Direction{ztv1.DirectionIngress, ztv1.DirectionEgress},
					AllowDNS:    true,
				},
			},
		}
		create(b)
		Consistently(func() []networkingv1.NetworkPolicy { return baselineObjects(name, ns) }, "1s").Should(BeEmpty())

		setLabel(ns, "zerotrust.dev/floor", name)
		udp, tcp := corev1.ProtocolUDP, corev1.ProtocolTCP
		dns := intstr.FromInt32(53)
		Eventually(func(g Gomega) {
			objs := baselineObjects(name, ns)
			g.Expect(objs).To(HaveLen(2))
			byName := map[string]networkingv1.NetworkPolicySpec{}
			for _, o := range objs {
				byName[o.Name] = o.Spec
				g.Expect(metav1.IsControlledBy(&o, b)).To(BeTrue())
			}
			g.Expect(byName).To(HaveKeyWithValue("zt-baseline."+name+".deny", networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			}))
			g.Expect(byName).To(HaveKeyWithValue("zt-baseline."+name+".dns", networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
				Egress: []networkingv1.NetworkPolicyEgressRule{{
					To: []networkingv1.NetworkPolicyPeer{{
						NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "kube-system"}},
						PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}},
					}},
					Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: &dns}, {Protocol: &tcp, Port: &dns}},
				}},
			}))
			cur := &ztv1.ZeroTrustBaseline{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(b), cur)).To(Succeed())
			g.Expect(cur.Status.MatchedNamespaceCount).To(Equal(int32(1)))
			g.Expect(cur.Status.MatchedNamespaces).To(Equal([]string{ns}))
			g.Expect(cur.Status.Conditions).To(ContainElement(And(HaveField("Type", "Ready"), HaveField("Status", metav1.ConditionTrue))))
		}).Should(Succeed())

		deny := &networkingv1.NetworkPolicy{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "zt-baseline." + name + ".deny"}, deny)).To(Succeed())
		Expect(k8s.Delete(ctx, deny)).To(Succeed())
		Eventually(func(g Gomega) {
			back := &networkingv1.NetworkPolicy{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(deny), back)).To(Succeed())
			g.Expect(back.UID).NotTo(Equal(deny.UID))
		}).Should(Succeed())

		setLabel(ns, "zerotrust.dev/floor", "")
		Eventually(func() []networkingv1.NetworkPolicy { return baselineObjects(name, ns) }).Should(BeEmpty())
		Eventually(func(g Gomega) {
			cur := &ztv1.ZeroTrustBaseline{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(b), cur)).To(Succeed())
			g.Expect(cur.Status.MatchedNamespaceCount).To(BeZero())
		}).Should(Succeed())
		// Zero counts are written, so that kubectl's columns show 0 rather than nothing.
		raw := &unstructured.Unstructured{}
		raw.SetGroupVersionKind(ztv1.GroupVersion.WithKind("ZeroTrustBaseline"))
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(b), raw)).To(Succeed())
		Expect(raw.Object["status"]).To(HaveKeyWithValue("findingsCount", BeNumerically("==", 0)))

		setLabel(ns, "zerotrust.dev/floor", name)
		Eventually(func() []networkingv1.NetworkPolicy { return baselineObjects(name, ns) }).Should(HaveLen(2))
		Expect(k8s.Delete(ctx, b)).To(Succeed())
		Eventually(func() []networkingv1.NetworkPolicy { return baselineObjects(name, ns) }).Should(BeEmpty())
	})
})

func getBaseline(g Gomega, name string) *ztv1.ZeroTrustBaseline {
	b := &ztv1.ZeroTrustBaseline{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Name: name}, b)).To(Succeed())
	return b
}

func nsLabels(g Gomega, name string) map[string]string {
	n := &corev1.Namespace{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Name: name}, n)).To(Succeed())
	return n.Labels
}

var _ = Describe("ZeroTrustBaseline pod security", func() {
	It("labels selected namespaces with the stricter level, touches no other label, and unlabels them", func() {
		key := uniqueName("psa")
		ns := uniqueName("team")
		create(newNamespace(ns, map[string]string{"team": "blue"}))
		loose := &ztv1.ZeroTrustBaseline{ObjectMeta: metav1.ObjectMeta{Name: key + "-loose"}, Spec: ztv1.ZeroTrustBaselineSpec{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"zerotrust.dev/psa": key}},
			PodSecurity:       ztv1.PodSecurityBaseline,
		}}
		strict := &ztv1.ZeroTrustBaseline{ObjectMeta: metav1.ObjectMeta{Name: key + "-strict"}, Spec: ztv1.ZeroTrustBaselineSpec{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"zerotrust.dev/psa-strict": key}},
			PodSecurity:       ztv1.PodSecurityRestricted,
		}}
		create(loose, strict)

		setLabel(ns, "zerotrust.dev/psa", key)
		Eventually(func(g Gomega) {
			l := nsLabels(g, ns)
			g.Expect(l).To(HaveKeyWithValue("pod-security.kubernetes.io/enforce", "baseline"))
			g.Expect(l).To(HaveKeyWithValue("pod-security.kubernetes.io/enforce-version", "latest"))
			g.Expect(l).To(HaveKeyWithValue("team", "blue"))
		}).Should(Succeed())

		setLabel(ns, "zerotrust.dev/psa-strict", key)
		Eventually(func(g Gomega) {
			g.Expect(nsLabels(g, ns)).To(HaveKeyWithValue("pod-security.kubernetes.io/enforce", "restricted"))
			for name, other := range map[string]string{loose.Name: strict.Name, strict.Name: loose.Name} {
				c := meta.FindStatusCondition(getBaseline(g, name).Status.Conditions, ztv1.ConditionReady)
				g.Expect(c).NotTo(BeNil())
				g.Expect(c.Message).To(ContainSubstring(other), "both statuses name the overlap")
			}
		}).Should(Succeed())

		setLabel(ns, "zerotrust.dev/psa", "")
		setLabel(ns, "zerotrust.dev/psa-strict", "")
		Eventually(func(g Gomega) {
			l := nsLabels(g, ns)
			g.Expect(l).NotTo(HaveKey("pod-security.kubernetes.io/enforce"))
			g.Expect(l).NotTo(HaveKey("pod-security.kubernetes.io/enforce-version"))
			g.Expect(l).To(HaveKeyWithValue("team", "blue"))
		}).Should(Succeed())
	})
})

var _ = Describe("ZeroTrustBaseline audit", func() {
	It("reports each kind of over-privilege planted in a selected namespace, and nothing for a clean one", func() {
		key := uniqueName("audit")
		dirty, clean, outside := uniqueName("dirty"), uniqueName("clean"), uniqueName("outside")
		sel := map[string]string{"zerotrust.dev/audit": key}
		create(newNamespace(dirty, sel), newNamespace(clean, sel), newNamespace(outside, nil))
		// Planted: a ServiceAccount with edit, a NetworkPolicy admitting every namespace to
		// a web server, a privileged root pod.
		create(
			&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: dirty, Name: "ci-editor"},
				RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"},
				Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: dirty, Name: "ci"}}},
			newDeployment(dirty, "web", "", map[string]int32{"http": 8080}),
			&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: dirty, Name: "from-everywhere"},
				Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
					Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}},
						Ports: []networkingv1.NetworkPolicyPort{{Port: ptr.To(intstr.FromInt32(8080))}}}}}},
			&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: dirty, Name: "agent"},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "registry.example/agent",
					SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true), RunAsUser: ptr.To[int64](0)}}}}},
			// Not selected: its allow-all NetworkPolicy is none of this baseline's business.
			&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: outside, Name: "allow-all"},
				Spec: networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{}}}},
			// Clean: a narrow binding, a narrow policy, an unprivileged pod.
			&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: clean, Name: "viewer"},
				RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
				Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: clean, Name: "app"}}},
			&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: clean, Name: "web"},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example/web",
					SecurityContext: &corev1.SecurityContext{RunAsUser: ptr.To[int64](1000)}}}}},
			// and a hand-written NetworkPolicy that admits only what a ServiceAccessPolicy
			// declares: client to web on http.
			newDeployment(clean, "web", "", map[string]int32{"http": 8080}),
			newDeployment(clean, "client", "", nil),
			newService(clean, "web", 80, intstr.FromString("http")),
			&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: clean, Name: "client-to-web"},
				Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
					Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "client"}}}},
						Ports: []networkingv1.NetworkPolicyPort{{Port: ptr.To(intstr.FromInt32(8080))}}}}}},
		)
		declared := newPolicy(clean, "client-reads-web", ztv1.Target{Service: "web"},
			[]ztv1.Caller{{Workload: &ztv1.WorkloadReference{Kind: ztv1.WorkloadDeployment, Name: "client"}}}, ztv1.PortRule{Port: intstr.FromString("http")})
		create(declared)
		// The operator's caches hold the policy and the workloads once it generated for it.
		Eventually(func() []networkingv1.NetworkPolicy { return generated(declared) }).ShouldNot(BeEmpty())
		b := &ztv1.ZeroTrustBaseline{ObjectMeta: metav1.ObjectMeta{Name: key}, Spec: ztv1.ZeroTrustBaselineSpec{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: sel},
		}}
		create(b)
		Eventually(func(g Gomega) {
			st := getBaseline(g, key).Status
			g.Expect(st.MatchedNamespaceCount).To(Equal(int32(2)))
			kinds := map[string]int{}
			for _, f := range st.Findings {
				g.Expect(f.Object.Name).NotTo(BeEmpty())
				g.Expect(f.Object.Namespace).To(Equal(dirty), "no finding in the clean or an unselected namespace: %+v", f)
				kinds[f.Kind]++
				if f.Kind == "OpenNetworkPolicy" {
					// The connection is named, judged as kubectl-zt check judges it.
					g.Expect(f.Object.Name).To(Equal("from-everywhere"))
					g.Expect(f.Message).To(ContainSubstring("admits a pod in another namespace -> " + dirty + "/Deployment/web port 8080 (http)/TCP, which no ServiceAccessPolicy declares"))
				}
			}
			g.Expect(kinds).To(Equal(map[string]int{"PrivilegedBinding": 1, "OpenNetworkPolicy": 1, "PrivilegedPod": 1, "RootPod": 1}))
			g.Expect(st.FindingsCount).To(Equal(int32(4)))
		}).Should(Succeed())
		Expect(metricValue("zerotrust_audit_findings", map[string]string{"kind": "PrivilegedPod"})).To(BeNumerically(">=", 1))
		// Reported, never changed.
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: dirty, Name: "from-everywhere"}, &networkingv1.NetworkPolicy{})).To(Succeed())
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: dirty, Name: "ci-editor"}, &rbacv1.RoleBinding{})).To(Succeed())
	})
})

var _ = Describe("ZeroTrustBaseline writes", func() {
	It("adds the finalizer and writes the status without a conflict, also when the selected namespaces change right after", func() {
		name := uniqueName("conflict")
		nss := []string{uniqueName("team"), uniqueName("team")}
		for _, ns := range nss {
			create(newNamespace(ns, map[string]string{"zerotrust.dev/conflict": name}))
		}
		b := &ztv1.ZeroTrustBaseline{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: ztv1.ZeroTrustBaselineSpec{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"zerotrust.dev/conflict": name}},
				Network:           &ztv1.BaselineNetwork{DefaultDeny: []ztv1.Direction{ztv1.DirectionIngress}},
				// The operator labels the namespaces: their events reconcile the baseline again
				// right after its first writes, before its cache shows them.
				PodSecurity: ztv1.PodSecurityRestricted,
			},
		}
		create(b)
		path := "/apis/zerotrust.dev/v1alpha1/zerotrustbaselines/" + name
		Eventually(func(g Gomega) {
			got := getBaseline(g, name)
			c := meta.FindStatusCondition(got.Status.Conditions, ztv1.ConditionReady)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(got.Status.MatchedNamespaceCount).To(BeEquivalentTo(2))
			for _, ns := range nss {
				g.Expect(nsLabels(g, ns)).To(HaveKeyWithValue("pod-security.kubernetes.io/enforce", "restricted"))
			}
		}).Should(Succeed())
		// A third namespace joins and one leaves: more reconciles, each after a write.
		third := uniqueName("team")
		create(newNamespace(third, map[string]string{"zerotrust.dev/conflict": name}))
		setLabel(nss[0], "zerotrust.dev/conflict", "")
		Eventually(func(g Gomega) {
			g.Expect(getBaseline(g, name).Status.MatchedNamespaces).To(ConsistOf(nss[1], third))
		}).Should(Succeed())
		Consistently(func() []string { return operatorWrites.conflictsOn(path) }, "2s", "100ms").Should(BeEmpty(),
			"a write on a stale resourceVersion: the reconcile read a baseline older than its own last write")
	})
})
