package audit

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"

	securityapi "istio.io/api/security/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/istio"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/networkpolicy"
)

// An unmanaged NetworkPolicy or Istio AuthorizationPolicy is not judged by its shape but by
// what it admits, compared with what the ServiceAccessPolicies declare. Both sides are
// judged by the evaluator `kubectl-zt check` uses for that layer (networkpolicy.Evaluate,
// istio.Evaluate): the unmanaged object alone, and the objects the compiler generates from
// the policies. A probe the unmanaged object admits and the generated objects do not is an
// undeclared connection; an object with at least one is a finding that names the first.
//
// The probes are a finite universe, built from the inventory:
//   - callers (ingress) or destinations (egress): every workload of the selected
//     namespaces; an unlabelled pod running as "default" in every known namespace; for
//     Istio, every ServiceAccount of the inventory; a pod of a namespace the inventory does
//     not know (otherNamespace); an address outside the cluster (outsideAddress) and the
//     first address of every ipBlock the object names;
//   - targets (ingress) or sources (egress): the workloads of the object's namespace it
//     selects, or, when there are none, a pod carrying the labels its selector requires;
//   - ports: the container ports of the target, the ports the object's rules name, and one
//     port nobody declares (undeclaredPort); for Istio also a plain-HTTP request (GET /) on
//     each port when the object's rules name methods or paths.
//
// "Declared" is what a policy says, whatever its mode and schedule: the policies are
// compiled in Enforce mode without their schedule (an expired policy declares nothing), and
// as if every namespace denied egress, so that the compiler writes out every egress rule a
// policy implies. A policy that names a caller the inventory cannot resolve declares nothing
// for it, exactly as it grants nothing.

const (
	// otherNamespace stands for any namespace the inventory does not hold.
	otherNamespace = "zz-zerotrust-audit-elsewhere"
	// undeclaredPort is the first port number tried as a port nobody declares.
	undeclaredPort = 65000
)

// outsideAddress stands for a peer outside the cluster (TEST-NET-3, RFC 5737).
var outsideAddress = netip.MustParseAddr("203.0.113.10")

// peer is one probe end: a pod (by its labels, namespace and ServiceAccount) or an address.
type peer struct {
	desc string
	ep   networkpolicy.Endpoint
	// serviceAccount the pod runs as ("" for an address).
	serviceAccount string
}

// probe is one connection judged.
type probe struct {
	from, to *peer
	port     networkpolicy.Port
	// method and path of an HTTP request (Istio); empty for a plain connection.
	method, path string
}

func (p probe) String() string {
	s := fmt.Sprintf("%s -> %s port %s", p.from.desc, p.to.desc, describePort(p.port))
	if p.method != "" {
		s += " " + p.method + " " + p.path
	}
	return s
}

func describePort(p networkpolicy.Port) string {
	if p.Name != "" {
		return fmt.Sprintf("%d (%s)/%s", p.Number, p.Name, p.Protocol)
	}
	return fmt.Sprintf("%d/%s", p.Number, p.Protocol)
}

// comparison holds the probe universe and what the policies declare, compiled lazily per
// namespace.
type comparison struct {
	in          *Input
	inv         compiler.Inventory
	trustDomain string
	nsLabels    map[string]map[string]string
	// workloads of the selected namespaces, sorted by namespace, kind and name.
	workloads []compiler.Workload
	policies  map[string][]ztv1.ServiceAccessPolicy
	generated map[string]*generated
}

// generated are the objects the compiler makes of one namespace's policies.
type generated struct {
	networkPolicies []networkingv1.NetworkPolicy
	authz           []*securityv1.AuthorizationPolicy
}

func newComparison(in *Input) *comparison {
	c := &comparison{in: in, nsLabels: map[string]map[string]string{}, policies: map[string][]ztv1.ServiceAccessPolicy{},
		generated: map[string]*generated{}, trustDomain: in.Options.TrustDomain}
	if c.trustDomain == "" {
		c.trustDomain = compiler.DefaultTrustDomain
	}
	if in.Inventory != nil {
		c.inv = egressEverywhere{in.Inventory}
	}
	for _, ns := range in.AllNamespaces {
		l := map[string]string{}
		for k, v := range ns.Labels {
			l[k] = v
		}
		l[corev1.LabelMetadataName] = ns.Name
		c.nsLabels[ns.Name] = l
	}
	for ns := range in.Namespaces {
		if _, ok := c.nsLabels[ns]; !ok {
			c.nsLabels[ns] = map[string]string{corev1.LabelMetadataName: ns}
		}
	}
	for _, w := range in.Workloads {
		if _, ok := in.Namespaces[w.Namespace]; ok {
			c.workloads = append(c.workloads, w)
		}
	}
	sort.SliceStable(c.workloads, func(i, j int) bool {
		a, b := c.workloads[i], c.workloads[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Name < b.Name
	})
	for _, p := range in.Policies {
		c.policies[p.Namespace] = append(c.policies[p.Namespace], p)
	}
	return c
}

// egressEverywhere is the inventory with one baseline that denies egress in every namespace
// (system namespaces aside), so that the compiler writes the egress rules of every caller.
type egressEverywhere struct{ compiler.Inventory }

func (egressEverywhere) Baselines() ([]ztv1.ZeroTrustBaseline, error) {
	return []ztv1.ZeroTrustBaseline{{ObjectMeta: metav1.ObjectMeta{Name: "zerotrust-audit-declared"},
		Spec: ztv1.ZeroTrustBaselineSpec{NamespaceSelector: &metav1.LabelSelector{},
			Network: &ztv1.BaselineNetwork{DefaultDeny: []ztv1.Direction{ztv1.DirectionEgress}}}}}, nil
}

// declared compiles the policies of namespace ns (once) into what they would generate.
func (c *comparison) declared(ns string) (*generated, error) {
	if g, ok := c.generated[ns]; ok {
		return g, nil
	}
	g := &generated{}
	c.generated[ns] = g
	if c.inv == nil {
		return g, nil
	}
	opts := c.in.Options
	opts.Backends = []ztv1.Backend{ztv1.BackendNetworkPolicy, ztv1.BackendIstio}
	for i := range c.policies[ns] {
		p := c.policies[ns][i].DeepCopy()
		if !p.DeletionTimestamp.IsZero() {
			continue
		}
		p.Spec.Mode = ztv1.ModeEnforce
		p.Spec.Schedule = nil
		if c.in.Now.IsZero() {
			p.Spec.ExpiresAt = nil
		}
		out, err := compiler.Compile(c.inv, compiler.Input{Policy: p, Now: c.in.Now, Options: opts})
		if err != nil {
			return nil, fmt.Errorf("compiling ServiceAccessPolicy %s/%s: %w", p.Namespace, p.Name, err)
		}
		for _, br := range out.Backends {
			if br.State != ztv1.BackendApplied && br.State != ztv1.BackendPartial {
				continue
			}
			for _, o := range br.Objects {
				switch obj := o.(type) {
				case *networkingv1.NetworkPolicy:
					g.networkPolicies = append(g.networkPolicies, *obj)
				case *securityv1.AuthorizationPolicy:
					g.authz = append(g.authz, obj)
				}
			}
		}
	}
	return g, nil
}

// pod is a probe peer for a pod of namespace ns.
func (c *comparison) pod(desc, ns string, podLabels map[string]string, ports []corev1.ContainerPort, sa string) *peer {
	nl := c.nsLabels[ns]
	if nl == nil {
		nl = map[string]string{corev1.LabelMetadataName: ns}
	}
	if sa == "" {
		sa = "default"
	}
	return &peer{desc: desc, serviceAccount: sa,
		ep: networkpolicy.Endpoint{Namespace: ns, NamespaceLabels: nl, PodLabels: podLabels, Ports: ports}}
}

func workloadDesc(w *compiler.Workload) string {
	return w.Namespace + "/" + string(w.Kind) + "/" + w.Name
}

// peers is the universe of the other end of a connection: a pod of an unknown namespace,
// addresses, an unlabelled pod of every known namespace, every workload, and (serviceAccounts)
// every ServiceAccount.
func (c *comparison) peers(addrs []netip.Addr, serviceAccounts bool) []*peer {
	out := []*peer{c.pod("a pod in another namespace", otherNamespace, nil, nil, "default")}
	for _, a := range addrs {
		out = append(out, &peer{desc: a.String() + " (outside the cluster)", ep: networkpolicy.Endpoint{IP: a}})
	}
	names := make([]string, 0, len(c.nsLabels))
	for ns := range c.nsLabels {
		names = append(names, ns)
	}
	sort.Strings(names)
	for _, ns := range names {
		out = append(out, c.pod("an unlabelled pod in namespace "+ns, ns, nil, nil, "default"))
	}
	for i := range c.workloads {
		w := &c.workloads[i]
		out = append(out, c.pod(workloadDesc(w), w.Namespace, w.PodLabels, w.Ports, w.ServiceAccount))
	}
	if serviceAccounts {
		for _, sa := range c.in.ServiceAccounts {
			if _, ok := c.in.Namespaces[sa.Namespace]; ok {
				out = append(out, c.pod(sa.Namespace+"/ServiceAccount/"+sa.Name, sa.Namespace, nil, nil, sa.Name))
			}
		}
	}
	return out
}

// selected are the workloads of namespace ns whose pod labels sel matches, as peers; when
// there are none, a pod carrying the labels sel requires (if sel can be satisfied).
func (c *comparison) selected(ns string, sel labels.Selector, fallback map[string]string) []*peer {
	var out []*peer
	for i := range c.workloads {
		w := &c.workloads[i]
		if w.Namespace == ns && sel.Matches(labels.Set(w.PodLabels)) {
			out = append(out, c.pod(workloadDesc(w), ns, w.PodLabels, w.Ports, w.ServiceAccount))
		}
	}
	if len(out) > 0 || fallback == nil || !sel.Matches(labels.Set(fallback)) {
		return out
	}
	desc := "any pod in namespace " + ns
	if len(fallback) > 0 {
		desc = "a pod in namespace " + ns + " labelled " + labels.Set(fallback).String()
	}
	return []*peer{c.pod(desc, ns, fallback, nil, "")}
}

// requiredLabels are labels a pod needs to match s: its matchLabels and, for each
// expression, a value that satisfies it. nil when s is invalid.
func requiredLabels(s *metav1.LabelSelector) (labels.Selector, map[string]string) {
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		return labels.Nothing(), nil
	}
	out := map[string]string{}
	if s != nil {
		for k, v := range s.MatchLabels {
			out[k] = v
		}
		for _, e := range s.MatchExpressions {
			switch e.Operator {
			case metav1.LabelSelectorOpIn:
				if len(e.Values) > 0 {
					out[e.Key] = e.Values[0]
				}
			case metav1.LabelSelectorOpExists:
				out[e.Key] = "any"
			}
		}
	}
	return sel, out
}

// ports are the ports probed on a pod: its container ports, those the rules name, and
// one nobody declares, sorted by protocol and number.
func ports(pod *peer, named []networkpolicy.Port) []networkpolicy.Port {
	seen := map[string]bool{}
	var out []networkpolicy.Port
	add := func(p networkpolicy.Port) {
		if p.Protocol == "" {
			p.Protocol = corev1.ProtocolTCP
		}
		if p.Number == 0 {
			for _, cp := range pod.ep.Ports {
				if cp.Name == p.Name && protocolOr(cp.Protocol) == p.Protocol {
					p.Number = cp.ContainerPort
				}
			}
			if p.Number == 0 {
				return
			}
		}
		k := string(p.Protocol) + "/" + strconv.Itoa(int(p.Number))
		if !seen[k] {
			seen[k] = true
			out = append(out, p)
		}
	}
	for _, cp := range pod.ep.Ports {
		add(networkpolicy.Port{Number: cp.ContainerPort, Name: cp.Name, Protocol: protocolOr(cp.Protocol)})
	}
	for _, p := range named {
		add(p)
	}
	n := int32(undeclaredPort)
	for seen["TCP/"+strconv.Itoa(int(n))] {
		n++
	}
	add(networkpolicy.Port{Number: n, Protocol: corev1.ProtocolTCP})
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Protocol != out[j].Protocol {
			return out[i].Protocol > out[j].Protocol // TCP before UDP and SCTP
		}
		return out[i].Number < out[j].Number
	})
	return out
}

func protocolOr(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

// npPorts are the ports NetworkPolicy rules name (a range by its first port).
func npPorts(ps []networkingv1.NetworkPolicyPort) []networkpolicy.Port {
	var out []networkpolicy.Port
	for _, p := range ps {
		if p.Port == nil {
			continue
		}
		port := networkpolicy.Port{Protocol: corev1.ProtocolTCP}
		if p.Protocol != nil {
			port.Protocol = *p.Protocol
		}
		if p.Port.Type == intstr.String {
			port.Name = p.Port.StrVal
		} else {
			port.Number = p.Port.IntVal
		}
		out = append(out, port)
	}
	return out
}

// addresses are the outside address and the first address of every block.
func addresses(blocks []string) []netip.Addr {
	out := []netip.Addr{outsideAddress}
	for _, b := range blocks {
		pfx, err := netip.ParsePrefix(b)
		if err != nil {
			a, err := netip.ParseAddr(b)
			if err != nil {
				continue
			}
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		if pfx.Contains(outsideAddress) {
			continue
		}
		a := pfx.Masked().Addr()
		dup := false
		for _, x := range out {
			dup = dup || x == a
		}
		if !dup {
			out = append(out, a)
		}
	}
	return out
}

// undeclared collects the undeclared connections of one object.
type undeclared struct {
	first *probe
}

func (u *undeclared) add(p probe) {
	if u.first == nil {
		u.first = &p
	}
}

// message names the object and the first undeclared connection. Not how many there are:
// the probes include an unlabelled pod of every namespace, so the count would change with
// every namespace created anywhere, and with it the baseline's status at each audit.
func (u *undeclared) message(object string) string {
	return fmt.Sprintf("%s admits %s, which no ServiceAccessPolicy declares; replace it with ServiceAccessPolicies that name the callers and ports",
		object, u.first)
}

// openNetworkPolicy compares one unmanaged NetworkPolicy with the declared policies.
func (c *comparison) openNetworkPolicy(np *networkingv1.NetworkPolicy) (*undeclared, error) {
	ingress, egress := policyTypes(np)
	sel, fallback := requiredLabels(&np.Spec.PodSelector)
	pods := c.selected(np.Namespace, sel, fallback)
	only := []networkingv1.NetworkPolicy{*np}
	u := &undeclared{}
	var blocks []string
	var ruled []networkpolicy.Port
	if ingress {
		for _, r := range np.Spec.Ingress {
			for _, p := range r.From {
				if p.IPBlock != nil {
					blocks = append(blocks, p.IPBlock.CIDR)
				}
			}
			ruled = append(ruled, npPorts(r.Ports)...)
		}
		for _, to := range pods {
			portList := ports(to, ruled)
			for _, from := range c.peers(addresses(blocks), false) {
				for _, port := range portList {
					if len(networkpolicy.Evaluate(only, from.ep, to.ep, port).Ingress.AllowedBy) == 0 {
						continue
					}
					g, err := c.declared(np.Namespace)
					if err != nil {
						return nil, err
					}
					if len(networkpolicy.Evaluate(g.networkPolicies, from.ep, to.ep, port).Ingress.AllowedBy) == 0 {
						u.add(probe{from: from, to: to, port: port})
					}
				}
			}
		}
	}
	if egress {
		blocks, ruled = nil, nil
		for _, r := range np.Spec.Egress {
			for _, p := range r.To {
				if p.IPBlock != nil {
					blocks = append(blocks, p.IPBlock.CIDR)
				}
			}
			ruled = append(ruled, npPorts(r.Ports)...)
		}
		for _, to := range c.peers(addresses(blocks), false) {
			portList := ports(to, ruled)
			for _, from := range pods {
				for _, port := range portList {
					if len(networkpolicy.Evaluate(only, from.ep, to.ep, port).Egress.AllowedBy) == 0 {
						continue
					}
					// Egress rules are generated by the policies of the destination's
					// namespace, and for an external target by those of the source's.
					nss := []string{from.ep.Namespace}
					if to.ep.IsPod() && to.ep.Namespace != from.ep.Namespace {
						nss = append(nss, to.ep.Namespace)
					}
					var policies []networkingv1.NetworkPolicy
					for _, ns := range nss {
						g, err := c.declared(ns)
						if err != nil {
							return nil, err
						}
						policies = append(policies, g.networkPolicies...)
					}
					if len(networkpolicy.Evaluate(policies, from.ep, to.ep, port).Egress.AllowedBy) == 0 {
						u.add(probe{from: from, to: to, port: port})
					}
				}
			}
		}
	}
	return u, nil
}

// policyTypes applies the API's default: Ingress always, Egress when there are egress
// rules (as networkpolicy.Evaluate does).
func policyTypes(np *networkingv1.NetworkPolicy) (ingress, egress bool) {
	if len(np.Spec.PolicyTypes) == 0 {
		return true, len(np.Spec.Egress) > 0
	}
	for _, t := range np.Spec.PolicyTypes {
		switch t {
		case networkingv1.PolicyTypeIngress:
			ingress = true
		case networkingv1.PolicyTypeEgress:
			egress = true
		}
	}
	return ingress, egress
}

// admitsAnything reports whether an AuthorizationPolicy can admit a request: an enforced
// ALLOW policy with rules. DENY, CUSTOM and AUDIT policies, allow-nothing policies and
// dry-run policies admit nothing.
func admitsAnything(ap *securityv1.AuthorizationPolicy) bool {
	return ap.Spec.Action == securityapi.AuthorizationPolicy_ALLOW && len(ap.Spec.Rules) > 0 &&
		ap.Annotations[istio.DryRunAnnotation] != "true"
}

// openAuthorizationPolicy compares one unmanaged ALLOW AuthorizationPolicy with the declared
// policies, request by request at each pod it selects.
func (c *comparison) openAuthorizationPolicy(ap *securityv1.AuthorizationPolicy) (*undeclared, error) {
	u := &undeclared{}
	if !admitsAnything(ap) {
		return u, nil
	}
	var matchLabels map[string]string
	if ap.Spec.Selector != nil {
		matchLabels = ap.Spec.Selector.MatchLabels
	}
	sel, fallback := requiredLabels(&metav1.LabelSelector{MatchLabels: matchLabels})
	var blocks []string
	var ruled []networkpolicy.Port
	http := false
	for _, r := range ap.Spec.Rules {
		for _, f := range r.From {
			if f.Source != nil {
				blocks = append(blocks, f.Source.IpBlocks...)
			}
		}
		for _, to := range r.To {
			if o := to.Operation; o != nil {
				for _, p := range o.Ports {
					if n, err := strconv.ParseInt(p, 10, 32); err == nil && n > 0 {
						ruled = append(ruled, networkpolicy.Port{Number: int32(n), Protocol: corev1.ProtocolTCP})
					}
				}
				http = http || len(o.Methods)+len(o.Paths)+len(o.NotMethods)+len(o.NotPaths) > 0
			}
		}
	}
	only := []client.Object{ap}
	for _, to := range c.selected(ap.Namespace, sel, fallback) {
		dst := istio.Destination{Namespace: to.ep.Namespace, Labels: to.ep.PodLabels}
		if !istio.Selects(ap, dst) {
			continue
		}
		var portList []networkpolicy.Port
		for _, p := range ports(to, ruled) {
			if p.Protocol == corev1.ProtocolTCP { // Istio authorizes TCP
				portList = append(portList, p)
			}
		}
		for _, from := range c.peers(addresses(blocks), true) {
			req := istio.Request{}
			if from.ep.IsPod() {
				req.Principal = fmt.Sprintf("%s/ns/%s/sa/%s", c.trustDomain, from.ep.Namespace, from.serviceAccount)
			} else {
				req.IP = from.ep.IP.String()
			}
			for _, port := range portList {
				req.Port = port.Number
				kinds := []probe{{from: from, to: to, port: port}}
				if http {
					kinds = append(kinds, probe{from: from, to: to, port: port, method: "GET", path: "/"})
				}
				for _, pr := range kinds {
					req.Method, req.Path = pr.method, pr.path
					if ok, _ := istio.Evaluate(only, dst, req); !ok {
						continue
					}
					g, err := c.declared(ap.Namespace)
					if err != nil {
						return nil, err
					}
					var declared []client.Object
					for _, d := range g.authz {
						if admitsAnything(d) && istio.Selects(d, dst) {
							declared = append(declared, d)
						}
					}
					if ok, _ := istio.Evaluate(declared, dst, req); len(declared) == 0 || !ok {
						u.add(pr)
					}
				}
			}
		}
	}
	return u, nil
}
