package networkpolicy

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// This file answers "would these NetworkPolicies let this connection through?" with the
// semantics of the Kubernetes NetworkPolicy API, so that `kubectl-zt check` can test a
// change offline. It lives next to the backend that writes NetworkPolicies because both
// must agree on what a NetworkPolicy means.

// Endpoint is one end of a connection: a pod (by its labels and namespace) or, with IP
// set, an address outside the cluster.
type Endpoint struct {
	// Namespace and NamespaceLabels of a pod endpoint. NamespaceLabels must include
	// kubernetes.io/metadata.name, as the API server guarantees.
	Namespace       string
	NamespaceLabels map[string]string
	// PodLabels of a pod endpoint.
	PodLabels map[string]string
	// Ports of a destination pod's containers, to match named ports.
	Ports []corev1.ContainerPort
	// IP of an endpoint outside the cluster; invalid for a pod.
	IP netip.Addr
}

// IsPod reports whether e is a pod rather than an address.
func (e Endpoint) IsPod() bool { return !e.IP.IsValid() }

// Port is the destination port of a connection: the number on the pod, its name if the
// pod names it (either may be unknown: 0 or ""), and the protocol.
type Port struct {
	Number   int32
	Name     string
	Protocol corev1.Protocol
}

// Side is the verdict of one direction: egress of the source, or ingress of the
// destination.
type Side struct {
	// Isolated is true when some NetworkPolicy selects the pod for this direction, so
	// only what a policy allows gets through.
	Isolated bool
	// IsolatedBy are those policies, as namespace/name.
	IsolatedBy []string
	// AllowedBy are the policies with a rule that admits the connection.
	AllowedBy []*networkingv1.NetworkPolicy
	// Applies is false when the direction does not concern a pod (egress of an external
	// source, ingress of an external destination).
	Applies bool
}

// Allowed reports whether the direction lets the connection through.
func (s Side) Allowed() bool { return !s.Applies || !s.Isolated || len(s.AllowedBy) > 0 }

// Verdict is the result of Evaluate.
type Verdict struct {
	Egress, Ingress Side
}

// Allowed reports whether both directions let the connection through.
func (v Verdict) Allowed() bool { return v.Egress.Allowed() && v.Ingress.Allowed() }

// Evaluate decides a connection from src to dst on port against policies. Pod IPs are
// not known offline, so ipBlock peers only ever match external addresses.
func Evaluate(policies []networkingv1.NetworkPolicy, src, dst Endpoint, port Port) Verdict {
	if port.Protocol == "" {
		port.Protocol = corev1.ProtocolTCP
	}
	if port.Name == "" && port.Number != 0 {
		for _, cp := range dst.Ports {
			if cp.ContainerPort == port.Number && protocolOr(cp.Protocol) == port.Protocol {
				port.Name = cp.Name
				break
			}
		}
	}
	v := Verdict{Egress: Side{Applies: src.IsPod()}, Ingress: Side{Applies: dst.IsPod()}}
	for i := range policies {
		np := &policies[i]
		ingress, egress := policyTypes(np)
		if v.Egress.Applies && egress && selects(np, src) {
			v.Egress.Isolated = true
			v.Egress.IsolatedBy = append(v.Egress.IsolatedBy, np.Namespace+"/"+np.Name)
			for _, r := range np.Spec.Egress {
				if peersMatch(np, r.To, dst) && portsMatch(r.Ports, port) {
					v.Egress.AllowedBy = append(v.Egress.AllowedBy, np)
					break
				}
			}
		}
		if v.Ingress.Applies && ingress && selects(np, dst) {
			v.Ingress.Isolated = true
			v.Ingress.IsolatedBy = append(v.Ingress.IsolatedBy, np.Namespace+"/"+np.Name)
			for _, r := range np.Spec.Ingress {
				if peersMatch(np, r.From, src) && portsMatch(r.Ports, port) {
					v.Ingress.AllowedBy = append(v.Ingress.AllowedBy, np)
					break
				}
			}
		}
	}
	return v
}

// policyTypes applies the API's default: Ingress always, Egress when there are egress
// rules.
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

func selects(np *networkingv1.NetworkPolicy, e Endpoint) bool {
	return e.IsPod() && e.Namespace == np.Namespace && selectorMatches(&np.Spec.PodSelector, e.PodLabels)
}

// peersMatch: an empty list admits everyone.
func peersMatch(np *networkingv1.NetworkPolicy, peers []networkingv1.NetworkPolicyPeer, e Endpoint) bool {
	if len(peers) == 0 {
		return true
	}
	for _, p := range peers {
		if p.IPBlock != nil {
			if !e.IsPod() && inBlock(p.IPBlock, e.IP) {
				return true
			}
			continue
		}
		if !e.IsPod() {
			continue
		}
		nsOK := e.Namespace == np.Namespace
		if p.NamespaceSelector != nil {
			nsOK = selectorMatches(p.NamespaceSelector, e.NamespaceLabels)
		}
		podOK := p.PodSelector == nil || selectorMatches(p.PodSelector, e.PodLabels)
		if nsOK && podOK {
			return true
		}
	}
	return false
}

func inBlock(b *networkingv1.IPBlock, ip netip.Addr) bool {
	pfx, err := netip.ParsePrefix(b.CIDR)
	if err != nil || !pfx.Contains(ip) {
		return false
	}
	for _, ex := range b.Except {
		if e, err := netip.ParsePrefix(ex); err == nil && e.Contains(ip) {
			return false
		}
	}
	return true
}

// portsMatch: an empty list admits every port.
func portsMatch(ports []networkingv1.NetworkPolicyPort, port Port) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		proto := corev1.ProtocolTCP
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		if proto != port.Protocol {
			continue
		}
		switch {
		case p.Port == nil:
			return true
		case p.Port.Type == intstr.String:
			if p.Port.StrVal != "" && p.Port.StrVal == port.Name {
				return true
			}
		case p.EndPort != nil:
			if port.Number >= p.Port.IntVal && port.Number <= *p.EndPort {
				return true
			}
		default:
			if port.Number != 0 && p.Port.IntVal == port.Number {
				return true
			}
		}
	}
	return false
}

func selectorMatches(s *metav1.LabelSelector, l map[string]string) bool {
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		return false // an invalid selector selects nothing
	}
	return sel.Matches(labels.Set(l))
}

func protocolOr(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}
