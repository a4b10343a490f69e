// Package networkpolicy is the NetworkPolicy backend: it enforces the port-level part of a
// ServiceAccessPolicy and the network part of a ZeroTrustBaseline with networking.k8s.io/v1
// NetworkPolicies, which every CNI with policy support understands.
//
// A NetworkPolicy selects pods by labels and knows nothing of identities, methods or paths:
// callers become pod and namespace label selectors or CIDRs, HTTP rules are left to meshes
// and Cilium, and a ServiceAccount is the pods of the workloads that run as it.
//
// When Cilium enforces HTTP rules (model.Policy.CiliumEnforcesL7: Cilium among the backends
// and no mesh), the ingress NetworkPolicy does not open the ports that carry HTTP rules. Cilium enforces NetworkPolicies with the engine
// that enforces CiliumNetworkPolicies, where an L4 rule for a peer and port voids the HTTP
// rules another rule has for them ("the layer 7 portions of the latter rule will have no
// effect", https://docs.cilium.io/en/stable/security/policy/layer7/): opening the port
// here would admit every request the CiliumNetworkPolicy restricts. The NetworkPolicy still
// isolates the target and opens the other ports; when no port is left it has no ingress
// rule (a rule without ports would open every port). Egress NetworkPolicies keep every
// port: the caller's egress is enforced apart from the target's ingress, and the egress
// CiliumNetworkPolicy has no HTTP rules. Istio and Linkerd authorize in their proxies,
// after the CNI, so an L4 rule cannot void theirs and nothing changes for them.
//
// Every object is written exactly as the API server would store it (TypeMeta, policyTypes,
// protocol on every port, no empty lists the server would drop), so a server-side apply of
// an unchanged object is a no-op and the reconciler never loops on a diff it caused.
package networkpolicy

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/model"
)

// NamespaceNameLabel is the label the API server puts on every Namespace with its name.
// Namespaces are selected by it because it is the only label every namespace is certain
// to carry and that no user can change.
const NamespaceNameLabel = corev1.LabelMetadataName

// dnsPort is the port of name lookups, on UDP and TCP.
const dnsPort = 53

// Backend is the NetworkPolicy backend. The zero value is ready to use.
type Backend struct{}

// New returns the NetworkPolicy backend.
func New() Backend { return Backend{} }

var _ model.BaselineBackend = Backend{}

// Name is ztv1.BackendNetworkPolicy.
func (Backend) Name() ztv1.Backend { return ztv1.BackendNetworkPolicy }

// Compile returns an ingress NetworkPolicy in the policy's namespace that opens the target
// pods to every resolved caller on the resolved ports (with Cilium, those without HTTP
// rules: see the package documentation), and an egress NetworkPolicy for each caller pod
// selector in a namespace where a baseline denies egress.
func (b Backend) Compile(p *model.Policy) (model.Result, error) {
	if p.Mode == ztv1.ModeAudit {
		return model.Result{Skipped: true, Message: "NetworkPolicy has no audit form: a NetworkPolicy either blocks or allows. " +
			"Use mode Enforce or DryRun, or a mesh backend (Istio, Linkerd) to audit"}, nil
	}
	if p.Target.Kind == model.TargetKubernetesAPI {
		return model.Result{Skipped: true, Message: "NetworkPolicy does not govern access to the Kubernetes API; the RBAC backend enforces kubernetesAPI targets"}, nil
	}

	var objs []client.Object
	var notes []string

	if p.Target.Kind.Selects() {
		peers := ingressPeers(p)
		// An ingress policy with no peers would isolate the target and allow nothing:
		// that is more than the policy says, so none is generated.
		if len(peers) > 0 {
			ports, l7 := ingressPorts(p)
			var rules []networkingv1.NetworkPolicyIngressRule
			// A rule without ports admits every port: it is written only for a policy that
			// opens every port. When every port is left to Cilium there is no rule, and the
			// NetworkPolicy only isolates the target.
			if p.AllPorts || len(ports) > 0 {
				rules = []networkingv1.NetworkPolicyIngressRule{{Ports: ports, From: peers}}
			}
			objs = append(objs, b.newPolicy(p, p.Namespace, model.IngressName(p), *p.Target.PodSelector.DeepCopy(),
				networkingv1.PolicyTypeIngress, rules, nil))
			if len(l7) > 0 {
				note := "ports with HTTP rules are admitted by Cilium at L7: " + strings.Join(l7, ", ") +
					" (the ingress NetworkPolicy leaves them out: Cilium enforces NetworkPolicies too, and an L4 rule there would void those HTTP rules)"
				if len(rules) == 0 {
					note += "; the ingress NetworkPolicy admits nothing and only isolates the target"
				}
				notes = append(notes, note)
			}
		} else {
			notes = append(notes, "no from entry resolves to pods or CIDRs, so no ingress NetworkPolicy is generated")
		}
	}

	to := egressPeers(p)
	anyEgressCaller := false
	for i := range p.Callers {
		c := &p.Callers[i]
		if c.Kind == model.CallerCIDR || !p.DeniesEgress(c.Namespace) {
			continue
		}
		anyEgressCaller = true
		for n, sel := range callerPodSelectors(c) {
			objs = append(objs, b.newPolicy(p, c.Namespace, model.EgressName(p, c, n), sel,
				networkingv1.PolicyTypeEgress, nil, []networkingv1.NetworkPolicyEgressRule{{Ports: networkPolicyPorts(p), To: copyPeers(to)}}))
		}
	}
	if p.Target.Kind == model.TargetExternal && !anyEgressCaller {
		notes = append(notes, fmt.Sprintf("no ZeroTrustBaseline denies egress in namespace %s, so egress to %s is already open and no NetworkPolicy is generated",
			p.Namespace, strings.Join(p.Target.CIDRs, ", ")))
	}

	sortObjects(objs)
	return model.Result{Objects: objs, Message: strings.Join(notes, "; ")}, nil
}

// CompileBaseline returns the default-deny NetworkPolicy of b's namespace (every pod, the
// denied directions, no rules) and, when egress is denied and DNS allowed, the egress
// NetworkPolicy that lets every pod reach the cluster DNS (bl.DNS: kube-dns unless the
// baseline names another, and any node-local DNS cache addresses as single-address
// ipBlocks) on 53/UDP and 53/TCP: without it, denying egress breaks every name lookup and
// so every ServiceAccessPolicy that names a Service.
func (Backend) CompileBaseline(bl *model.Baseline) ([]client.Object, error) {
	var types []networkingv1.PolicyType
	if bl.DenyIngress {
		types = append(types, networkingv1.PolicyTypeIngress)
	}
	if bl.DenyEgress {
		types = append(types, networkingv1.PolicyTypeEgress)
	}
	var objs []client.Object
	labels := model.BaselineLabels(bl, ztv1.BackendNetworkPolicy)
	if len(types) > 0 {
		objs = append(objs, &networkingv1.NetworkPolicy{
			TypeMeta:   typeMeta(),
			ObjectMeta: metav1.ObjectMeta{Name: model.BaselineName(bl, "deny"), Namespace: bl.Namespace, Labels: labels},
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{},
				PolicyTypes: types,
			},
		})
	}
	if bl.DenyEgress && bl.AllowDNS {
		to := []networkingv1.NetworkPolicyPeer{{
			NamespaceSelector: namespaceSelector(bl.DNS.Namespace),
			PodSelector:       bl.DNS.PodSelector.DeepCopy(),
		}}
		for _, a := range bl.DNS.NodeLocalAddresses {
			addr, err := netip.ParseAddr(a)
			if err != nil {
				return nil, fmt.Errorf("spec.network.dns.nodeLocalAddresses: %q is not an IP address", a)
			}
			to = append(to, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: netip.PrefixFrom(addr, addr.BitLen()).String()}})
		}
		objs = append(objs, &networkingv1.NetworkPolicy{
			TypeMeta:   typeMeta(),
			ObjectMeta: metav1.ObjectMeta{Name: model.BaselineName(bl, "dns"), Namespace: bl.Namespace, Labels: copyMap(labels)},
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
				Egress: []networkingv1.NetworkPolicyEgressRule{{
					Ports: []networkingv1.NetworkPolicyPort{
						port(intstr.FromInt32(dnsPort), corev1.ProtocolUDP),
						port(intstr.FromInt32(dnsPort), corev1.ProtocolTCP),
					},
					To: to,
				}},
			},
		})
	}
	return objs, nil
}

func (Backend) newPolicy(p *model.Policy, namespace, name string, podSelector metav1.LabelSelector, pt networkingv1.PolicyType,
	ingress []networkingv1.NetworkPolicyIngressRule, egress []networkingv1.NetworkPolicyEgressRule) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		TypeMeta: typeMeta(),
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: namespace,
			Labels:    model.PolicyLabels(p, ztv1.BackendNetworkPolicy),
		},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: podSelector,
			// Always explicit: the server would infer it from the rules, and an inferred
			// field owned by nobody makes the next apply differ.
			PolicyTypes: []networkingv1.PolicyType{pt},
			Ingress:     ingress,
			Egress:      egress,
		},
	}
}

func typeMeta() metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: networkingv1.SchemeGroupVersion.String(), Kind: "NetworkPolicy"}
}

// networkPolicyPorts are the policy's ports, deduplicated and sorted; nil for every port
// (a rule without ports matches every port).
func networkPolicyPorts(p *model.Policy) []networkingv1.NetworkPolicyPort {
	out, _ := portsExcept(p, nil)
	return out
}

// ingressPorts are the ports of the ingress rule. When Cilium enforces HTTP rules, the ports
// that carry HTTP rules (model.PortRules that are not Open) are left out and listed in l7
// ("8080/TCP", "http/TCP"): Cilium enforces NetworkPolicies with the engine that enforces
// CiliumNetworkPolicies, and there an L4 rule for a peer and port voids the HTTP rules
// another rule has for them (Cilium's docs: "the layer 7 portions of the latter rule will
// have no effect"), so the NetworkPolicy would admit every request the CiliumNetworkPolicy
// restricts. Those ports are admitted by the CiliumNetworkPolicy alone. ports is then
// empty when every port is left out; it is nil (every port) only for a policy that opens
// every port, which has no HTTP rules.
func ingressPorts(p *model.Policy) (ports []networkingv1.NetworkPolicyPort, l7 []string) {
	if !p.CiliumEnforcesL7() {
		return networkPolicyPorts(p), nil
	}
	leave := map[string]bool{}
	for _, r := range model.PortRules(p) {
		if !r.Open() {
			leave[r.Key()] = true
		}
	}
	return portsExcept(p, leave)
}

// portsExcept are the policy's ports whose model key (model.Port.Key) is not in leave,
// deduplicated and sorted, and those left out as "port/protocol", in the same order; nil
// for every port.
func portsExcept(p *model.Policy, leave map[string]bool) (ports []networkingv1.NetworkPolicyPort, left []string) {
	if p.AllPorts {
		return nil, nil
	}
	seen := map[string]bool{}
	var out, gone []networkingv1.NetworkPolicyPort
	for _, pp := range p.Ports {
		k := string(pp.Protocol) + "/" + pp.Port.String()
		if seen[k] {
			continue
		}
		seen[k] = true
		if leave[pp.Key()] {
			gone = append(gone, port(pp.Port, corev1.Protocol(pp.Protocol)))
			continue
		}
		out = append(out, port(pp.Port, corev1.Protocol(pp.Protocol)))
	}
	sort.Slice(out, func(i, j int) bool { return portLess(out[i], out[j]) })
	sort.Slice(gone, func(i, j int) bool { return portLess(gone[i], gone[j]) })
	for _, g := range gone {
		left = append(left, g.Port.String()+"/"+string(*g.Protocol))
	}
	return out, left
}

func port(v intstr.IntOrString, proto corev1.Protocol) networkingv1.NetworkPolicyPort {
	return networkingv1.NetworkPolicyPort{Port: &v, Protocol: &proto}
}

// portLess orders numbers before names, then by value, then by protocol, so that a port's
// TCP and UDP entries sit next to each other.
func portLess(a, b networkingv1.NetworkPolicyPort) bool {
	if a.Port.Type != b.Port.Type {
		return a.Port.Type == intstr.Int
	}
	if a.Port.Type == intstr.Int && a.Port.IntVal != b.Port.IntVal {
		return a.Port.IntVal < b.Port.IntVal
	}
	if a.Port.Type == intstr.String && a.Port.StrVal != b.Port.StrVal {
		return a.Port.StrVal < b.Port.StrVal
	}
	return *a.Protocol < *b.Protocol
}

// ingressPeers are the resolved callers as NetworkPolicy peers, deduplicated and sorted so
// that reordering from entries changes nothing in the cluster.
func ingressPeers(p *model.Policy) []networkingv1.NetworkPolicyPeer {
	var peers []networkingv1.NetworkPolicyPeer
	for i := range p.Callers {
		c := &p.Callers[i]
		switch {
		case c.Kind == model.CallerCIDR:
			peers = append(peers, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: c.CIDR}})
		case c.AllPods:
			peers = append(peers, networkingv1.NetworkPolicyPeer{NamespaceSelector: namespaceSelector(c.Namespace)})
		default:
			for _, sel := range c.PodSelectors {
				// namespaceSelector is set even for the policy's own namespace: a peer with a
				// podSelector alone means "in the policy's namespace", which is correct today
				// but would silently change meaning if the object were ever moved.
				peers = append(peers, networkingv1.NetworkPolicyPeer{PodSelector: sel.DeepCopy(), NamespaceSelector: namespaceSelector(c.Namespace)})
			}
		}
	}
	return sortPeers(peers)
}

// egressPeers is where the callers' egress goes: the target pods in the policy's namespace,
// or the CIDRs of an external target.
func egressPeers(p *model.Policy) []networkingv1.NetworkPolicyPeer {
	switch {
	case p.Target.Kind == model.TargetExternal:
		var peers []networkingv1.NetworkPolicyPeer
		for _, cidr := range p.Target.CIDRs {
			peers = append(peers, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: cidr}})
		}
		return sortPeers(peers)
	case p.Target.Kind.Selects():
		return []networkingv1.NetworkPolicyPeer{{PodSelector: p.Target.PodSelector.DeepCopy(), NamespaceSelector: namespaceSelector(p.Namespace)}}
	}
	return nil
}

// callerPodSelectors are the podSelectors of the egress policies of caller c: every pod of
// its namespace for a namespace caller, else one per selector.
func callerPodSelectors(c *model.Caller) []metav1.LabelSelector {
	if c.AllPods {
		return []metav1.LabelSelector{{}}
	}
	out := make([]metav1.LabelSelector, 0, len(c.PodSelectors))
	for _, s := range c.PodSelectors {
		out = append(out, *s.DeepCopy())
	}
	return out
}

func namespaceSelector(ns string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{NamespaceNameLabel: ns}}
}

func sortPeers(peers []networkingv1.NetworkPolicyPeer) []networkingv1.NetworkPolicyPeer {
	keyed := make(map[string]networkingv1.NetworkPolicyPeer, len(peers))
	keys := make([]string, 0, len(peers))
	for _, pr := range peers {
		k := peerKey(pr)
		if _, dup := keyed[k]; dup {
			continue
		}
		keyed[k] = pr
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]networkingv1.NetworkPolicyPeer, 0, len(keys))
	for _, k := range keys {
		out = append(out, keyed[k])
	}
	return out
}

// peerKey orders CIDRs first, then by namespace, then by pod selector; the exact order is
// unimportant as long as it is stable.
func peerKey(p networkingv1.NetworkPolicyPeer) string {
	if p.IPBlock != nil {
		return "0|" + p.IPBlock.CIDR + "|" + strings.Join(p.IPBlock.Except, ",")
	}
	return "1|" + selectorKey(p.NamespaceSelector) + "|" + selectorKey(p.PodSelector)
}

// selectorKey is a canonical string of a selector; "" for none, "{}" for the empty one.
func selectorKey(s *metav1.LabelSelector) string {
	if s == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString("{")
	keys := make([]string, 0, len(s.MatchLabels))
	for k := range s.MatchLabels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s,", k, s.MatchLabels[k])
	}
	for _, e := range s.MatchExpressions {
		fmt.Fprintf(&b, "%s %s %v,", e.Key, e.Operator, e.Values)
	}
	b.WriteString("}")
	return b.String()
}

func copyPeers(in []networkingv1.NetworkPolicyPeer) []networkingv1.NetworkPolicyPeer {
	if in == nil {
		return nil
	}
	out := make([]networkingv1.NetworkPolicyPeer, len(in))
	for i := range in {
		in[i].DeepCopyInto(&out[i])
	}
	return out
}

func copyMap(in map[string]string) map[string]string {
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

func sortObjects(objs []client.Object) {
	sort.SliceStable(objs, func(i, j int) bool {
		if objs[i].GetNamespace() != objs[j].GetNamespace() {
			return objs[i].GetNamespace() < objs[j].GetNamespace()
		}
		return objs[i].GetName() < objs[j].GetName()
	})
}
