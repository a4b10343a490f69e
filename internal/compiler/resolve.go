package compiler

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/model"
)

// Model is a resolved ServiceAccessPolicy: what backends compile.
type Model = model.Policy

// Problem is a reference that did not resolve. It is not an error: under GitOps the
// referenced object may simply not have been applied yet, so it becomes a status condition
// and the policy grants nothing for it.
type Problem struct {
	// Reason is TargetNotFound, PortNotFound or CallerNotFound.
	Reason string
	// Message names the field and says what to fix.
	Message string
}

// Resolution is the result of resolving a policy against an Inventory.
type Resolution struct {
	// Model holds what resolved. Its Callers are the resolvable from entries only.
	Model *Model
	// Target is set when the target or one of its ports did not resolve; the policy then
	// grants nothing at all, since opening only part of it would be a different policy.
	Target *Problem
	// Callers lists the from entries that did not resolve, in spec order.
	Callers []Problem
	// Notes are things a user should know that are not problems, e.g. a ServiceAccount
	// that runs no workload yet.
	Notes []string
}

// Resolve looks up everything p refers to. It returns an error only when the Inventory
// does (the caller retries); references that do not resolve are reported in the
// Resolution.
func Resolve(inv Inventory, p *ztv1.ServiceAccessPolicy, opts Options) (*Resolution, error) {
	m := &Model{
		Namespace:   p.Namespace,
		Name:        p.Name,
		Mode:        modeOf(p.Spec.Mode),
		TrustDomain: trustDomainOf(opts.TrustDomain),
	}
	r := &Resolution{Model: m}

	prob, err := resolveTarget(inv, p, m, opts)
	if err != nil {
		return nil, err
	}
	r.Target = prob

	for i := range p.Spec.From {
		c, prob, note, err := resolveCaller(inv, p, i)
		if err != nil {
			return nil, err
		}
		if prob != nil {
			r.Callers = append(r.Callers, *prob)
			continue
		}
		if note != "" {
			r.Notes = append(r.Notes, note)
		}
		m.Callers = append(m.Callers, *c)
	}

	if m.EgressDenied, err = egressDenied(inv, m, opts); err != nil {
		return nil, err
	}
	return r, nil
}

func resolveTarget(inv Inventory, p *ztv1.ServiceAccessPolicy, m *Model, opts Options) (*Problem, error) {
	t := &p.Spec.Target
	ns := p.Namespace
	m.Target.Namespace = ns
	switch {
	case t.Service != "":
		m.Target.Kind, m.Target.Name = model.TargetService, t.Service
		svc, err := inv.Service(ns, t.Service)
		if err != nil {
			return nil, fmt.Errorf("get Service %s/%s: %w", ns, t.Service, err)
		}
		if svc == nil {
			return targetNotFound("spec.target.service: Service %s/%s not found; create it or fix the name", ns, t.Service), nil
		}
		if len(svc.Spec.Selector) == 0 {
			return targetNotFound("spec.target.service: Service %s/%s has no selector, so it has no pods a policy could open; target the pods instead (spec.target.workload or spec.target.podSelector)", ns, t.Service), nil
		}
		m.Target.PodSelector = &metav1.LabelSelector{MatchLabels: copyMap(svc.Spec.Selector)}
		if err := resolveTargetWorkloads(inv, m); err != nil {
			return nil, err
		}
		return resolveServicePorts(p, svc, m), nil

	case t.Workload != nil:
		m.Target.Kind, m.Target.Name, m.Target.WorkloadKind = model.TargetWorkload, t.Workload.Name, t.Workload.Kind
		w, err := inv.Workload(ns, t.Workload.Kind, t.Workload.Name)
		if err != nil {
			return nil, fmt.Errorf("get %s %s/%s: %w", t.Workload.Kind, ns, t.Workload.Name, err)
		}
		if w == nil {
			return targetNotFound("spec.target.workload: %s %s/%s not found; create it or fix the kind and name", t.Workload.Kind, ns, t.Workload.Name), nil
		}
		if len(w.PodLabels) == 0 {
			return targetNotFound("spec.target.workload: the pod template of %s %s/%s has no labels, so its pods cannot be selected; label them", w.Kind, ns, w.Name), nil
		}
		m.Target.PodSelector = &metav1.LabelSelector{MatchLabels: copyMap(w.PodLabels)}
		m.Target.Probes, m.Target.ProbesKnown = append([]model.Probe(nil), w.Probes...), true
		m.Target.Workloads = []model.Workload{*w}
		return resolveWorkloadPorts(p, w, m), nil

	case t.PodSelector != nil:
		m.Target.Kind = model.TargetPodSelector
		m.Target.PodSelector = t.PodSelector.DeepCopy()
		if err := resolveTargetWorkloads(inv, m); err != nil {
			return nil, err
		}
		return resolvePlainPorts(p, m, true), nil

	case t.External != nil:
		m.Target.Kind = model.TargetExternal
		m.Target.CIDRs = append([]string(nil), t.External.CIDRs...)
		return resolvePlainPorts(p, m, false), nil

	case t.KubernetesAPI != nil:
		m.Target.Kind = model.TargetKubernetesAPI
		for _, r := range t.KubernetesAPI.Rules {
			m.Target.APIRules = append(m.Target.APIRules, *r.DeepCopy())
		}
		return resolveAPIRules(inv, p, m, opts)
	}
	// Validate rejects this before; never open anything for a target we do not understand.
	return &Problem{Reason: ReasonTargetNotFound, Message: "spec.target: set exactly one of service, workload, podSelector, kubernetesAPI or external"}, nil
}

// resolveServicePorts translates Service ports to the pods' targetPorts: NetworkPolicies
// and mesh policies see traffic after the Service has been translated, on the pod's port.
func resolveServicePorts(p *ztv1.ServiceAccessPolicy, svc *corev1.Service, m *Model) *Problem {
	if len(p.Spec.Ports) == 0 {
		// A Service without ports (headless) gives direct access to its pods on any port.
		if len(svc.Spec.Ports) == 0 {
			m.AllPorts = true
			return nil
		}
		for _, sp := range svc.Spec.Ports {
			tp := targetPort(sp)
			proto := protocolOf(ztv1.Protocol(sp.Protocol))
			m.Ports = append(m.Ports, model.Port{Port: tp, Number: agreedNumber(m, tp, proto), Protocol: proto, ServicePort: sp.Port})
		}
		return nil
	}
	for i, pr := range p.Spec.Ports {
		proto := protocolOf(pr.Protocol)
		var found *corev1.ServicePort
		for j := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[j]
			if (pr.Port.Type == intstr.String && sp.Name == pr.Port.StrVal) ||
				(pr.Port.Type == intstr.Int && sp.Port == pr.Port.IntVal && protocolOf(ztv1.Protocol(sp.Protocol)) == proto) {
				found = sp
				break
			}
		}
		if found == nil {
			return &Problem{Reason: ReasonPortNotFound, Message: fmt.Sprintf(
				"spec.ports[%d]: Service %s/%s has no port %s (it has %s); use one of its port names or numbers",
				i, svc.Namespace, svc.Name, describePortRule(pr), describeServicePorts(svc))}
		}
		if sproto := protocolOf(ztv1.Protocol(found.Protocol)); sproto != proto {
			return &Problem{Reason: ReasonPortNotFound, Message: fmt.Sprintf(
				"spec.ports[%d]: port %q of Service %s/%s is %s, not %s; set protocol: %s",
				i, pr.Port.StrVal, svc.Namespace, svc.Name, sproto, proto, sproto)}
		}
		tp := targetPort(*found)
		m.Ports = append(m.Ports, model.Port{Port: tp, Number: agreedNumber(m, tp, proto), Protocol: proto, ServicePort: found.Port, HTTP: copyHTTP(pr.HTTP)})
	}
	return nil
}

// targetPort is where a Service port sends traffic: its targetPort (a number, or a name
// kept as a name), or the port itself when targetPort is unset.
func targetPort(sp corev1.ServicePort) intstr.IntOrString {
	tp := sp.TargetPort
	if (tp.Type == intstr.Int && tp.IntVal == 0) || (tp.Type == intstr.String && tp.StrVal == "") {
		return intstr.FromInt32(sp.Port)
	}
	return tp
}

// numberOf is the number of a numeric port, 0 for a name.
func numberOf(p intstr.IntOrString) int32 {
	if p.Type == intstr.Int {
		return p.IntVal
	}
	return 0
}

// resolveWorkloadPorts checks port names against the containers' declared ports. Numbers
// are taken as written: containers need not declare the ports they listen on.
func resolveWorkloadPorts(p *ztv1.ServiceAccessPolicy, w *Workload, m *Model) *Problem {
	if len(p.Spec.Ports) == 0 {
		if len(w.Ports) == 0 {
			m.AllPorts = true
			return nil
		}
		seen := map[string]bool{}
		for _, cp := range w.Ports {
			port := model.Port{Port: intstr.FromInt32(cp.ContainerPort), Number: cp.ContainerPort, Protocol: protocolOf(ztv1.Protocol(cp.Protocol))}
			k := string(port.Protocol) + "/" + port.Port.String()
			if !seen[k] {
				seen[k] = true
				m.Ports = append(m.Ports, port)
			}
		}
		return nil
	}
	for i, pr := range p.Spec.Ports {
		proto := protocolOf(pr.Protocol)
		number := numberOf(pr.Port)
		if pr.Port.Type == intstr.String {
			var found *corev1.ContainerPort
			for j := range w.Ports {
				if w.Ports[j].Name == pr.Port.StrVal {
					found = &w.Ports[j]
					break
				}
			}
			if found == nil {
				return &Problem{Reason: ReasonPortNotFound, Message: fmt.Sprintf(
					"spec.ports[%d]: no container of %s %s/%s declares a port named %q (%s); use a declared name or a number",
					i, w.Kind, w.Namespace, w.Name, pr.Port.StrVal, describeContainerPorts(w.Ports))}
			}
			if cproto := protocolOf(ztv1.Protocol(found.Protocol)); cproto != proto {
				return &Problem{Reason: ReasonPortNotFound, Message: fmt.Sprintf(
					"spec.ports[%d]: container port %q of %s %s/%s is %s, not %s; set protocol: %s",
					i, pr.Port.StrVal, w.Kind, w.Namespace, w.Name, cproto, proto, cproto)}
			}
			number = found.ContainerPort
		}
		m.Ports = append(m.Ports, model.Port{Port: pr.Port, Number: number, Protocol: proto, HTTP: copyHTTP(pr.HTTP)})
	}
	return nil
}

// resolvePlainPorts takes ports as written, for targets with nothing to check them against.
// Names are refused for an external target: they name container ports, and CIDRs outside
// the cluster have none.
func resolvePlainPorts(p *ztv1.ServiceAccessPolicy, m *Model, namesAllowed bool) *Problem {
	if len(p.Spec.Ports) == 0 {
		m.AllPorts = true
		return nil
	}
	for i, pr := range p.Spec.Ports {
		if !namesAllowed && pr.Port.Type == intstr.String {
			return &Problem{Reason: ReasonPortNotFound, Message: fmt.Sprintf(
				"spec.ports[%d]: port %q is a name, but an external target has no named ports; use a number", i, pr.Port.StrVal)}
		}
		proto := protocolOf(pr.Protocol)
		m.Ports = append(m.Ports, model.Port{Port: pr.Port, Number: agreedNumber(m, pr.Port, proto), Protocol: proto, HTTP: copyHTTP(pr.HTTP)})
	}
	return nil
}

// resolveTargetWorkloads finds the workloads whose pod template labels the target's
// selector matches (a Service or podSelector target): their templates tell named ports'
// numbers and the pods' probes.
func resolveTargetWorkloads(inv Inventory, m *Model) error {
	sel, err := metav1.LabelSelectorAsSelector(m.Target.PodSelector)
	if err != nil {
		// Validation refuses a bad selector before; nothing is known of its pods.
		return nil
	}
	ws, err := inv.WorkloadsSelected(m.Target.Namespace, sel)
	if err != nil {
		return fmt.Errorf("list workloads of namespace %s: %w", m.Target.Namespace, err)
	}
	seen := map[model.Probe]bool{}
	for i := range ws {
		m.Target.Workloads = append(m.Target.Workloads, ws[i])
		for _, pb := range ws[i].Probes {
			if !seen[pb] {
				seen[pb] = true
				m.Target.Probes = append(m.Target.Probes, pb)
			}
		}
	}
	m.Target.ProbesKnown = len(m.Target.Workloads) > 0
	sortProbes(m.Target.Probes)
	return nil
}

// agreedNumber is the number of port p on the target pods: p itself when it is a number;
// for a name, the number every workload of the target declares it with, 0 when one of
// them does not declare it or they disagree (model.PodGroups then opens it per workload).
func agreedNumber(m *Model, p intstr.IntOrString, proto ztv1.Protocol) int32 {
	if p.Type == intstr.Int {
		return p.IntVal
	}
	var n int32
	for i := range m.Target.Workloads {
		wn := m.Target.Workloads[i].PortNumber(p.StrVal, proto)
		if wn == 0 || (n != 0 && wn != n) {
			return 0
		}
		n = wn
	}
	return n
}

// resolveCaller resolves from[i]. It returns the caller, or a problem, and a note for a
// caller that resolved but grants nothing at the pod level.
func resolveCaller(inv Inventory, p *ztv1.ServiceAccessPolicy, i int) (*model.Caller, *Problem, string, error) {
	c := &p.Spec.From[i]
	ns := c.Namespace
	if ns == "" {
		ns = p.Namespace
	}
	f := fmt.Sprintf("from[%d]", i)
	out := &model.Caller{Index: i, Namespace: ns}
	notFound := func(format string, args ...any) (*model.Caller, *Problem, string, error) {
		return nil, &Problem{Reason: ReasonCallerNotFound, Message: f + ": " + fmt.Sprintf(format, args...)}, "", nil
	}

	switch {
	case c.CIDR != "":
		out.Kind, out.Namespace, out.CIDR = model.CallerCIDR, "", c.CIDR

	case c.Service != "":
		out.Kind, out.Name = model.CallerService, c.Service
		svc, err := inv.Service(ns, c.Service)
		if err != nil {
			return nil, nil, "", fmt.Errorf("get Service %s/%s: %w", ns, c.Service, err)
		}
		if svc == nil {
			return notFound("Service %s/%s not found; create it or fix %s.service and %s.namespace", ns, c.Service, f, f)
		}
		if len(svc.Spec.Selector) == 0 {
			return notFound("Service %s/%s has no selector, so it selects no caller pods; name the workload instead (%s.workload)", ns, c.Service, f)
		}
		out.PodSelectors = []metav1.LabelSelector{{MatchLabels: copyMap(svc.Spec.Selector)}}
		if err := resolveIdentities(inv, out, nil); err != nil {
			return nil, nil, "", err
		}

	case c.Workload != nil:
		out.Kind, out.Name, out.WorkloadKind = model.CallerWorkload, c.Workload.Name, c.Workload.Kind
		w, err := inv.Workload(ns, c.Workload.Kind, c.Workload.Name)
		if err != nil {
			return nil, nil, "", fmt.Errorf("get %s %s/%s: %w", c.Workload.Kind, ns, c.Workload.Name, err)
		}
		if w == nil {
			return notFound("%s %s/%s not found; create it or fix %s.workload and %s.namespace", c.Workload.Kind, ns, c.Workload.Name, f, f)
		}
		if len(w.PodLabels) == 0 {
			return notFound("the pod template of %s %s/%s has no labels, so its pods cannot be selected; label them", w.Kind, ns, w.Name)
		}
		out.PodSelectors = []metav1.LabelSelector{{MatchLabels: copyMap(w.PodLabels)}}
		if err := resolveIdentities(inv, out, []model.Workload{*w}); err != nil {
			return nil, nil, "", err
		}

	case c.ServiceAccount != "":
		out.Kind, out.Name = model.CallerServiceAccount, c.ServiceAccount
		ok, err := inv.ServiceAccountExists(ns, c.ServiceAccount)
		if err != nil {
			return nil, nil, "", fmt.Errorf("get ServiceAccount %s/%s: %w", ns, c.ServiceAccount, err)
		}
		if !ok {
			return notFound("ServiceAccount %s/%s not found; create it or fix %s.serviceAccount and %s.namespace", ns, c.ServiceAccount, f, f)
		}
		out.ServiceAccounts = []string{c.ServiceAccount}
		ws, err := inv.WorkloadsByServiceAccount(ns, c.ServiceAccount)
		if err != nil {
			return nil, nil, "", fmt.Errorf("list workloads of ServiceAccount %s/%s: %w", ns, c.ServiceAccount, err)
		}
		seen := map[string]bool{}
		for _, w := range ws {
			if len(w.PodLabels) == 0 {
				continue
			}
			sel := metav1.LabelSelector{MatchLabels: copyMap(w.PodLabels)}
			if k := labels.Set(w.PodLabels).String(); !seen[k] {
				seen[k] = true
				out.PodSelectors = append(out.PodSelectors, sel)
			}
		}
		// For a kubernetesAPI target the identity is all there is: no pods to select.
		if len(out.PodSelectors) == 0 && p.Spec.Target.KubernetesAPI == nil {
			return out, nil, fmt.Sprintf("%s: ServiceAccount %s/%s runs no labelled Deployment, StatefulSet or DaemonSet, so NetworkPolicy grants it nothing until one does (meshes authorize its identity)", f, ns, c.ServiceAccount), nil
		}

	case c.PodSelector != nil:
		out.Kind = model.CallerPodSelector
		out.PodSelectors = []metav1.LabelSelector{*c.PodSelector.DeepCopy()}
		if err := resolveIdentities(inv, out, nil); err != nil {
			return nil, nil, "", err
		}

	case c.Namespace != "":
		out.Kind, out.AllPods = model.CallerNamespace, true
		n, err := inv.Namespace(ns)
		if err != nil {
			return nil, nil, "", fmt.Errorf("get Namespace %s: %w", ns, err)
		}
		if n == nil {
			return notFound("Namespace %s not found; create it or fix %s.namespace", ns, f)
		}

	default:
		return notFound("set exactly one of service, workload, serviceAccount, podSelector or cidr, or namespace alone")
	}
	return out, nil, "", nil
}

// resolveIdentities sets the mesh identities of a workload, Service or podSelector caller:
// the ServiceAccounts its workloads run as (selected, or those whose pod template labels
// the caller's selector matches), each only when no workload outside the caller runs as it
// too, since a mesh identity admits every pod that holds it. What cannot be admitted that
// way is a MeshGap.
func resolveIdentities(inv Inventory, c *model.Caller, selected []model.Workload) error {
	if selected == nil {
		sel, err := metav1.LabelSelectorAsSelector(&c.PodSelectors[0])
		if err != nil {
			return nil // validation refuses a bad selector before
		}
		ws, err := inv.WorkloadsSelected(c.Namespace, sel)
		if err != nil {
			return fmt.Errorf("list workloads of namespace %s: %w", c.Namespace, err)
		}
		selected = ws
		if len(selected) == 0 {
			c.MeshGaps = append(c.MeshGaps, "it selects the pods of no Deployment, StatefulSet or DaemonSet, so the ServiceAccounts its pods run as are unknown")
			return nil
		}
	}
	in := map[string]bool{}
	bySA := map[string][]string{}
	for i := range selected {
		in[selected[i].Ref()] = true
		sa := serviceAccountOf(&selected[i])
		bySA[sa] = append(bySA[sa], selected[i].Ref())
	}
	sas := make([]string, 0, len(bySA))
	for sa := range bySA {
		sas = append(sas, sa)
	}
	sort.Strings(sas)
	for _, sa := range sas {
		holders, err := inv.WorkloadsByServiceAccount(c.Namespace, sa)
		if err != nil {
			return fmt.Errorf("list workloads of ServiceAccount %s/%s: %w", c.Namespace, sa, err)
		}
		var outside []string
		for i := range holders {
			if !in[holders[i].Ref()] {
				outside = append(outside, holders[i].Ref())
			}
		}
		if len(outside) == 0 {
			c.ServiceAccounts = append(c.ServiceAccounts, sa)
			continue
		}
		sort.Strings(outside)
		c.MeshGaps = append(c.MeshGaps, fmt.Sprintf("%s run%s as ServiceAccount %s/%s, which %s also run%s as: authorizing it would admit them too; "+
			"give the caller a ServiceAccount of its own, or name the ServiceAccount in from if all of them may call",
			strings.Join(bySA[sa], ", "), verbS(len(bySA[sa])), c.Namespace, sa, strings.Join(outside, ", "), verbS(len(outside))))
	}
	return nil
}

func verbS(n int) string {
	if n == 1 {
		return "s"
	}
	return ""
}

// egressDenied lists the namespaces of m's callers where a baseline denies egress
// (BaselineSelects, so never a system namespace the baseline does not name): only there do
// callers need, and may get, an egress rule.
func egressDenied(inv Inventory, m *Model, opts Options) ([]string, error) {
	candidates := map[string]bool{}
	for _, c := range m.Callers {
		if c.Kind != model.CallerCIDR {
			candidates[c.Namespace] = true
		}
	}
	if m.Target.Kind == model.TargetExternal {
		candidates[m.Namespace] = true
	}
	if len(candidates) == 0 {
		return nil, nil
	}
	baselines, err := inv.Baselines()
	if err != nil {
		return nil, fmt.Errorf("list ZeroTrustBaselines: %w", err)
	}
	var denying []ztv1.ZeroTrustBaseline
	for _, b := range baselines {
		if DeniesEgress(&b) {
			denying = append(denying, b)
		}
	}
	if len(denying) == 0 {
		return nil, nil
	}
	var out []string
	for ns := range candidates {
		n, err := inv.Namespace(ns)
		if err != nil {
			return nil, fmt.Errorf("get Namespace %s: %w", ns, err)
		}
		if n == nil {
			continue
		}
		for i := range denying {
			// A baseline with an invalid selector selects nothing; its own status says so.
			if ok, _ := BaselineSelects(&denying[i], n, opts); ok {
				out = append(out, ns)
				break
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// DeniesEgress reports whether baseline b denies egress in the namespaces it selects.
func DeniesEgress(b *ztv1.ZeroTrustBaseline) bool {
	if b.Spec.Network == nil {
		return false
	}
	for _, d := range b.Spec.Network.DefaultDeny {
		if d == ztv1.DirectionEgress {
			return true
		}
	}
	return false
}

func serviceAccountOf(w *Workload) string {
	if w.ServiceAccount == "" {
		return "default"
	}
	return w.ServiceAccount
}

func targetNotFound(format string, args ...any) *Problem {
	return &Problem{Reason: ReasonTargetNotFound, Message: fmt.Sprintf(format, args...)}
}

// protocolOf applies the CRD's default: an unset protocol is TCP, as for Kubernetes ports.
func protocolOf(p ztv1.Protocol) ztv1.Protocol {
	if p == "" {
		return "TCP"
	}
	return p
}

func modeOf(m ztv1.Mode) ztv1.Mode {
	if m == "" {
		return ztv1.ModeEnforce
	}
	return m
}

// DefaultTrustDomain is the mesh trust domain when Options.TrustDomain is empty.
const DefaultTrustDomain = "cluster.local"

func trustDomainOf(td string) string {
	if td == "" {
		return DefaultTrustDomain
	}
	return td
}

func describePortRule(pr ztv1.PortRule) string {
	if pr.Port.Type == intstr.String {
		return fmt.Sprintf("%q", pr.Port.StrVal)
	}
	return fmt.Sprintf("%d/%s", pr.Port.IntVal, protocolOf(pr.Protocol))
}

func describeServicePorts(svc *corev1.Service) string {
	if len(svc.Spec.Ports) == 0 {
		return "no ports"
	}
	var parts []string
	for _, sp := range svc.Spec.Ports {
		s := fmt.Sprintf("%d/%s", sp.Port, protocolOf(ztv1.Protocol(sp.Protocol)))
		if sp.Name != "" {
			s = sp.Name + " " + s
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

func describeContainerPorts(ports []corev1.ContainerPort) string {
	var names []string
	for _, p := range ports {
		if p.Name != "" {
			names = append(names, p.Name)
		}
	}
	if len(names) == 0 {
		return "it declares no named ports"
	}
	return "declared: " + strings.Join(names, ", ")
}

func copyMap(in map[string]string) map[string]string {
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

func copyHTTP(in []ztv1.HTTPRule) []ztv1.HTTPRule {
	if in == nil {
		return nil
	}
	out := make([]ztv1.HTTPRule, len(in))
	for i := range in {
		in[i].DeepCopyInto(&out[i])
	}
	return out
}
