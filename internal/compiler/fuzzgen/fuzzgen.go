// Package fuzzgen builds valid ServiceAccessPolicies, ZeroTrustBaselines and the cluster
// objects they refer to from a fuzzer's bytes, deterministically: the same bytes always give
// the same case. Each byte picks among a few meaningful choices (a name from a small pool, a
// kind of target or caller, a port), so that a mutation of the input is a small change of
// the world and the seed corpus reads as a set of scenarios rather than noise.
//
// The names come from small pools on purpose: references then resolve often enough to
// exercise the backends, and miss often enough to exercise unresolvable references.
//
// It is used by the compiler's fuzz targets (internal/compiler) and by the test that replays
// their corpus through the API server's dry-run (test/crd).
package fuzzgen

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

// PolicyNamespace is the namespace of every generated policy. Namespaces are all of
// Namespaces; a case may leave some of them out of its world (an unresolvable namespace).
const PolicyNamespace = "shop"

// Namespaces a case may hold, the policy's first.
var Namespaces = []string{PolicyNamespace, "payments", "monitoring"}

// EgressLabel marks namespaces that a generated baseline denies egress in.
const EgressLabel = "zerotrust.dev/fuzz-egress"

// Now is the base instant of every case; a case's Now is within a week of it.
var Now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

var (
	workloadNames = []string{"api", "web", "db", "batch"}
	serviceNames  = []string{"api", "web", "db", "frontend"}
	accountNames  = []string{"default", "api", "batch", "reporting"}
	labelKeys     = []string{"app", "tier"}
	labelValues   = []string{"api", "web", "db", "batch"}
	kinds         = []ztv1.WorkloadKind{ztv1.WorkloadDeployment, ztv1.WorkloadStatefulSet, ztv1.WorkloadDaemonSet}
	containerPort = []corev1.ContainerPort{
		{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
		{Name: "grpc", ContainerPort: 9090, Protocol: corev1.ProtocolTCP},
		{Name: "metrics", ContainerPort: 9100, Protocol: corev1.ProtocolTCP},
		{Name: "dns", ContainerPort: 5353, Protocol: corev1.ProtocolUDP},
	}
	servicePortNames = []string{"http", "grpc", "web", "dns"}
	servicePorts     = []int32{80, 443, 8080, 53}
	policyPorts      = []intstr.IntOrString{
		intstr.FromString("http"), intstr.FromString("grpc"), intstr.FromString("web"), intstr.FromString("metrics"),
		intstr.FromInt32(80), intstr.FromInt32(8080), intstr.FromInt32(9090), intstr.FromInt32(53),
	}
	protocols = []ztv1.Protocol{"", "TCP", "UDP", "SCTP"}
	cidrs     = []string{"203.0.113.0/24", "198.51.100.0/24", "10.20.0.0/16", "192.0.2.8/29", "2001:db8::/32", "0.0.0.0/0"}
	methods   = []ztv1.HTTPMethod{"GET", "POST", "PUT", "DELETE"}
	paths     = []string{"/", "/items", "/items/*", "/admin/*"}
	apiRules  = []ztv1.APIRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "watch"}, ResourceNames: []string{"app-config"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "deployments/scale"}, Verbs: []string{"get", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}, ResourceNames: []string{"db-password"}},
		{APIGroups: []string{""}, Resources: []string{"pods/exec"}, Verbs: []string{"create"}},
		{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"*"}},
	}
	days = []ztv1.Day{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}
)

// Case is one generated world: a policy, the objects of the cluster and the instant at which
// it is compiled. Objects holds Namespaces, Services, workloads, ServiceAccounts and at most
// one ZeroTrustBaseline, in a deterministic order.
type Case struct {
	Policy  *ztv1.ServiceAccessPolicy
	Objects []client.Object
	Now     time.Time
}

// bytes hands out the fuzzer's bytes one at a time, then zeros.
type bytes struct {
	data []byte
	i    int
}

func (b *bytes) next() int {
	if b.i >= len(b.data) {
		return 0
	}
	b.i++
	return int(b.data[b.i-1])
}

// pick returns a number in [0, n).
func (b *bytes) pick(n int) int { return b.next() % n }

// chance is true with probability about 1/n; false once the bytes run out, so that a short
// input is a plain case (no schedule, no expiry, every namespace present).
func (b *bytes) chance(n int) bool { return b.pick(n) == n-1 }

func pickOf[T any](b *bytes, from []T) T { return from[b.pick(len(from))] }

// Generate builds a valid case from data. The policy it returns passes compiler.Validate
// (and the CRD's validation); what it names may or may not exist.
func Generate(data []byte) Case {
	b := &bytes{data: data}
	c := Case{Now: Now.Add(time.Duration(b.pick(7*24)) * time.Hour)}
	var w *refs
	c.Objects, w = world(b)
	c.Policy = policy(b, w, "p")
	return c
}

// GenerateMany builds a world and up to four policies on it, each in PolicyNamespace with
// its own name: for rendering several policies and a baseline together.
func GenerateMany(data []byte) ([]ztv1.ServiceAccessPolicy, []client.Object, time.Time) {
	b := &bytes{data: data}
	now := Now.Add(time.Duration(b.pick(7*24)) * time.Hour)
	objs, w := world(b)
	n := 1 + b.pick(4)
	out := make([]ztv1.ServiceAccessPolicy, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, *policy(b, w, fmt.Sprintf("p%d", i)))
	}
	return out, objs, now
}

func labels(b *bytes) map[string]string {
	out := map[string]string{labelKeys[0]: pickOf(b, labelValues)}
	if b.chance(3) {
		out[labelKeys[1]] = pickOf(b, labelValues)
	}
	return out
}

// refs are what a world holds, per namespace: policies mostly name these, and sometimes a
// name from the pools that may not exist.
type refs struct {
	services  map[string][]string
	workloads map[string][]ztv1.WorkloadReference
	accounts  map[string][]string
	labels    map[string][]map[string]string
}

// name picks one of existing, or now and then (always when there is none) one of pool.
func (b *bytes) name(existing, pool []string) string {
	if len(existing) > 0 && !b.chance(6) {
		return pickOf(b, existing)
	}
	return pickOf(b, pool)
}

func world(b *bytes) ([]client.Object, *refs) {
	w := &refs{services: map[string][]string{}, workloads: map[string][]ztv1.WorkloadReference{},
		accounts: map[string][]string{}, labels: map[string][]map[string]string{}}
	var objs []client.Object
	present := map[string]bool{}
	for i, ns := range Namespaces {
		// The policy's namespace always exists; the others usually do.
		if i > 0 && b.chance(5) {
			continue
		}
		present[ns] = true
		n := &corev1.Namespace{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
			ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"kubernetes.io/metadata.name": ns}},
		}
		if b.chance(3) {
			n.Labels[EgressLabel] = "true"
		}
		objs = append(objs, n)
	}
	inWorld := func() string {
		for {
			ns := pickOf(b, Namespaces)
			if present[ns] {
				return ns
			}
			if b.i >= len(b.data) {
				return PolicyNamespace
			}
		}
	}

	type wkey struct {
		ns   string
		kind ztv1.WorkloadKind
		name string
	}
	seenW := map[wkey]bool{}
	// The first workload and the first Service are in the policy's namespace: most policies
	// then have something to open.
	for i, n := 0, 1+b.pick(5); i < n; i++ {
		k := wkey{PolicyNamespace, pickOf(b, kinds), pickOf(b, workloadNames)}
		if i > 0 {
			k.ns = inWorld()
		}
		if seenW[k] {
			continue
		}
		seenW[k] = true
		o, podLabels, sa := workload(b, k.ns, k.kind, k.name)
		objs = append(objs, o)
		w.workloads[k.ns] = append(w.workloads[k.ns], ztv1.WorkloadReference{Kind: k.kind, Name: k.name})
		w.labels[k.ns] = append(w.labels[k.ns], podLabels)
		w.accounts[k.ns] = append(w.accounts[k.ns], sa)
	}

	type key struct{ ns, name string }
	seenS := map[key]bool{}
	for i, n := 0, 1+b.pick(4); i < n; i++ {
		k := key{PolicyNamespace, pickOf(b, serviceNames)}
		if i > 0 {
			k.ns = inWorld()
		}
		if seenS[k] {
			continue
		}
		seenS[k] = true
		objs = append(objs, service(b, k.ns, k.name, w.labels[k.ns]))
		w.services[k.ns] = append(w.services[k.ns], k.name)
	}

	seenA := map[key]bool{}
	for i, n := 0, b.pick(4); i < n; i++ {
		k := key{inWorld(), pickOf(b, accountNames[1:])}
		if seenA[k] {
			continue
		}
		seenA[k] = true
		w.accounts[k.ns] = append(w.accounts[k.ns], k.name)
		objs = append(objs, &corev1.ServiceAccount{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
			ObjectMeta: metav1.ObjectMeta{Namespace: k.ns, Name: k.name},
		})
	}

	if b.chance(2) {
		objs = append(objs, baseline(b))
	}
	return objs, w
}

// workload returns a Deployment, StatefulSet or DaemonSet, its pod labels and the
// ServiceAccount its pods run as.
func workload(b *bytes, ns string, kind ztv1.WorkloadKind, name string) (client.Object, map[string]string, string) {
	podLabels := map[string]string{labelKeys[0]: name}
	if b.chance(3) {
		podLabels = labels(b) // labels shared with other workloads, now and then
	}
	c := corev1.Container{Name: "main", Image: "registry.example/" + name}
	for _, p := range containerPort {
		if !b.chance(3) {
			c.Ports = append(c.Ports, p)
		}
	}
	sa := pickOf(b, accountNames)
	t := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
		Spec:       corev1.PodSpec{ServiceAccountName: sa, Containers: []corev1.Container{c}},
	}
	sel := &metav1.LabelSelector{MatchLabels: podLabels}
	meta := metav1.ObjectMeta{Namespace: ns, Name: name}
	switch kind {
	case ztv1.WorkloadStatefulSet:
		return &appsv1.StatefulSet{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"}, ObjectMeta: meta,
			Spec: appsv1.StatefulSetSpec{Selector: sel, Template: t}}, podLabels, sa
	case ztv1.WorkloadDaemonSet:
		return &appsv1.DaemonSet{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "DaemonSet"}, ObjectMeta: meta,
			Spec: appsv1.DaemonSetSpec{Selector: sel, Template: t}}, podLabels, sa
	default:
		return &appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}, ObjectMeta: meta,
			Spec: appsv1.DeploymentSpec{Selector: sel, Template: t}}, podLabels, sa
	}
}

// service returns a Service that selects, mostly, the pods of a workload of ns (podLabels).
func service(b *bytes, ns, name string, podLabels []map[string]string) client.Object {
	s := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
	}
	// Now and then a Service without a selector (endpoints managed by hand).
	switch {
	case b.chance(8):
	case len(podLabels) > 0 && !b.chance(5):
		s.Spec.Selector = pickOf(b, podLabels)
	default:
		s.Spec.Selector = labels(b)
	}
	used := map[int32]bool{}
	for i, n := 0, 1+b.pick(3); i < n; i++ {
		port := pickOf(b, servicePorts)
		proto := corev1.ProtocolTCP
		if port == 53 && b.chance(2) {
			proto = corev1.ProtocolUDP
		}
		if used[port] {
			continue
		}
		used[port] = true
		sp := corev1.ServicePort{Port: port, Protocol: proto}
		if n > 1 || b.chance(2) {
			sp.Name = servicePortNames[len(s.Spec.Ports)%len(servicePortNames)]
		}
		switch b.pick(3) {
		case 0:
			sp.TargetPort = intstr.FromInt32(port)
		case 1:
			sp.TargetPort = intstr.FromInt32(pickOf(b, containerPort).ContainerPort)
		default:
			sp.TargetPort = intstr.FromString(pickOf(b, containerPort).Name)
		}
		s.Spec.Ports = append(s.Spec.Ports, sp)
	}
	return s
}

func baseline(b *bytes) client.Object {
	bl := &ztv1.ZeroTrustBaseline{
		TypeMeta:   metav1.TypeMeta{APIVersion: ztv1.GroupVersion.String(), Kind: "ZeroTrustBaseline"},
		ObjectMeta: metav1.ObjectMeta{Name: "fuzz"},
		Spec: ztv1.ZeroTrustBaselineSpec{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{EgressLabel: "true"}},
			Network:           &ztv1.BaselineNetwork{DefaultDeny: []ztv1.Direction{ztv1.DirectionIngress, ztv1.DirectionEgress}, AllowDNS: b.chance(2)},
		},
	}
	if b.chance(3) {
		bl.Spec.RBAC = &ztv1.BaselineRBAC{Allow: []ztv1.RBACException{{APIGroup: "", Resource: "pods/exec", Verbs: []string{"create"}}}}
	}
	return bl
}

func selector(b *bytes, podLabels []map[string]string) *metav1.LabelSelector {
	switch b.pick(6) {
	case 5:
		return &metav1.LabelSelector{} // every pod: written on purpose, and rare
	case 4:
		return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: labelKeys[0], Operator: metav1.LabelSelectorOpIn, Values: []string{pickOf(b, labelValues), pickOf(b, labelValues)}},
		}}
	case 3:
		return &metav1.LabelSelector{MatchLabels: labels(b)}
	default:
		if len(podLabels) == 0 {
			return &metav1.LabelSelector{MatchLabels: labels(b)}
		}
		l := map[string]string{}
		for k, v := range pickOf(b, podLabels) {
			l[k] = v
		}
		return &metav1.LabelSelector{MatchLabels: l}
	}
}

func policy(b *bytes, w *refs, name string) *ztv1.ServiceAccessPolicy {
	p := &ztv1.ServiceAccessPolicy{
		TypeMeta: metav1.TypeMeta{APIVersion: ztv1.GroupVersion.String(), Kind: "ServiceAccessPolicy"},
		ObjectMeta: metav1.ObjectMeta{Namespace: PolicyNamespace, Name: name, Generation: 1,
			// A GitOps tool's tracking label and annotation, which no generated object may
			// carry.
			Labels:      map[string]string{"app.kubernetes.io/instance": "fuzz"},
			Annotations: map[string]string{"argocd.argoproj.io/tracking-id": "fuzz:zerotrust.dev/ServiceAccessPolicy:shop/" + name},
		},
	}
	sp := &p.Spec
	kind := b.pick(10)
	switch {
	case kind < 4:
		sp.Target.Service = b.name(w.services[PolicyNamespace], serviceNames)
	case kind < 6:
		sp.Target.Workload = workloadRef(b, w.workloads[PolicyNamespace])
	case kind < 8:
		sp.Target.PodSelector = selector(b, w.labels[PolicyNamespace])
	case kind < 9:
		rules := []ztv1.APIRule{}
		for i, n := 0, 1+b.pick(2); i < n; i++ {
			r := pickOf(b, apiRules)
			rules = append(rules, *r.DeepCopy())
		}
		sp.Target.KubernetesAPI = &ztv1.KubernetesAPITarget{Rules: rules}
	default:
		set := map[string]bool{}
		for i, n := 0, 1+b.pick(2); i < n; i++ {
			c := pickOf(b, cidrs)
			if !set[c] {
				set[c] = true
				sp.Target.External = appendCIDR(sp.Target.External, c)
			}
		}
	}

	for i, n := 0, 1+b.pick(3); i < n; i++ {
		sp.From = append(sp.From, caller(b, w, &sp.Target))
	}

	if sp.Target.KubernetesAPI == nil {
		for i, n := 0, b.pick(3); i < n; i++ {
			pr := ztv1.PortRule{Port: pickOf(b, policyPorts), Protocol: pickOf(b, protocols)}
			if (pr.Protocol == "" || pr.Protocol == "TCP") && b.chance(3) {
				pr.Protocol = "TCP"
				h := ztv1.HTTPRule{}
				if b.chance(2) {
					h.Methods = []ztv1.HTTPMethod{pickOf(b, methods)}
				}
				if b.chance(2) {
					h.Paths = []string{pickOf(b, paths)}
				}
				pr.HTTP = []ztv1.HTTPRule{h}
			}
			if pr.Protocol == "" {
				pr.Protocol = "TCP" // the CRD's default
			}
			sp.Ports = append(sp.Ports, pr)
		}
	}

	switch b.pick(8) {
	case 6:
		sp.Mode = ztv1.ModeAudit
	case 7:
		sp.Mode = ztv1.ModeDryRun
	default:
		sp.Mode = ztv1.ModeEnforce
	}
	if b.chance(6) {
		w := ztv1.Window{Start: fmt.Sprintf("%02d:00", b.pick(24)), End: fmt.Sprintf("%02d:30", b.pick(24))}
		if b.chance(2) {
			w.Days = []ztv1.Day{pickOf(b, days)}
		}
		sp.Schedule = &ztv1.Schedule{TimeZone: pickOf(b, []string{"", "UTC", "Europe/Berlin"}), Windows: []ztv1.Window{w}}
	}
	if b.chance(8) {
		t := metav1.NewTime(Now.Add(time.Duration(b.pick(14*24)) * time.Hour))
		sp.ExpiresAt = &t
	}
	return p
}

func appendCIDR(e *ztv1.ExternalTarget, c string) *ztv1.ExternalTarget {
	if e == nil {
		e = &ztv1.ExternalTarget{}
	}
	e.CIDRs = append(e.CIDRs, c)
	return e
}

func workloadRef(b *bytes, existing []ztv1.WorkloadReference) *ztv1.WorkloadReference {
	if len(existing) > 0 && !b.chance(6) {
		r := pickOf(b, existing)
		return &r
	}
	return &ztv1.WorkloadReference{Kind: pickOf(b, kinds), Name: pickOf(b, workloadNames)}
}

// caller returns a from entry that the CRD accepts for target t.
func caller(b *bytes, w *refs, t *ztv1.Target) ztv1.Caller {
	var c ztv1.Caller
	ns := PolicyNamespace
	if t.External == nil && b.chance(2) {
		ns = pickOf(b, Namespaces)
		c.Namespace = ns
	}
	k := b.pick(6)
	if t.KubernetesAPI != nil {
		k = 1 + b.pick(2) // workload or serviceAccount
	}
	if t.External != nil && (k == 4 || k == 5) {
		k = b.pick(4) // no cidr and no namespace alone
	}
	switch k {
	case 0:
		c.Service = b.name(w.services[ns], serviceNames)
	case 1:
		c.Workload = workloadRef(b, w.workloads[ns])
	case 2:
		c.ServiceAccount = b.name(w.accounts[ns], accountNames)
	case 3:
		c.PodSelector = selector(b, w.labels[ns])
	case 4:
		c = ztv1.Caller{CIDR: pickOf(b, cidrs)}
	case 5:
		c = ztv1.Caller{Namespace: ns}
	}
	return c
}
