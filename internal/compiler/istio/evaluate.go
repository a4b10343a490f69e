package istio

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	securityapi "istio.io/api/security/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Destination is the workload a request reaches: its namespace and pod labels.
type Destination struct {
	Namespace string
	Labels    map[string]string
}

// Request is one request as an Istio sidecar sees it at the destination workload.
type Request struct {
	// Principal is the peer's mTLS identity (trust-domain/ns/NS/sa/SA); empty for plaintext.
	Principal string
	// IP is the peer address.
	IP string
	// Port is the destination port on the pod.
	Port int32
	// Method and Path of an HTTP request; empty for plain TCP, which matches no rule that
	// names methods or paths.
	Method, Path string
}

// Evaluate applies Istio's documented authorization order to the AuthorizationPolicies
// among objs that apply to dst (objects of other kinds are ignored): CUSTOM, then DENY
// (any match denies), then ALLOW (when any ALLOW policy selects dst, a request must match
// one of their rules; an ALLOW policy without rules matches nothing; with none, Istio
// allows). Policies in dry-run are evaluated by Istio but never enforced, so they are left
// out. Fields the operator never generates (CUSTOM and AUDIT actions, when conditions,
// request principals, hosts) make Evaluate refuse the request and say so, so that a
// verdict is never given for what it does not model. The root namespace is not modelled:
// the operator writes nothing there.
//
// why names the policy that allowed or denied, or the reason no policy allowed.
func Evaluate(objs []client.Object, dst Destination, r Request) (allowed bool, why string) {
	var allow []*securityv1.AuthorizationPolicy
	for _, o := range objs {
		p, ok := o.(*securityv1.AuthorizationPolicy)
		if !ok || p.Namespace != dst.Namespace || p.Annotations[DryRunAnnotation] == "true" || !selects(p, dst) {
			continue
		}
		switch p.Spec.Action {
		case securityapi.AuthorizationPolicy_ALLOW:
			allow = append(allow, p)
		case securityapi.AuthorizationPolicy_DENY:
			m, err := anyRule(p, r)
			if err != nil {
				return false, err.Error()
			}
			if m {
				return false, fmt.Sprintf("denied by DENY AuthorizationPolicy %s/%s", p.Namespace, p.Name)
			}
		default:
			return false, fmt.Sprintf("AuthorizationPolicy %s/%s: action %s is not modelled", p.Namespace, p.Name, p.Spec.Action)
		}
	}
	if len(allow) == 0 {
		return true, "no AuthorizationPolicy selects the workload: Istio allows"
	}
	var names []string
	for _, p := range allow {
		m, err := anyRule(p, r)
		if err != nil {
			return false, err.Error()
		}
		if m {
			return true, fmt.Sprintf("allowed by AuthorizationPolicy %s/%s", p.Namespace, p.Name)
		}
		names = append(names, p.Name)
	}
	return false, fmt.Sprintf("no rule of the ALLOW AuthorizationPolicies selecting the workload (%s) matches", strings.Join(names, ", "))
}

// Selects reports whether AuthorizationPolicy p applies to the workload d: same namespace,
// and its selector (none: every workload of the namespace) matches d's labels. The audit
// uses it to find the pods an AuthorizationPolicy governs.
func Selects(p *securityv1.AuthorizationPolicy, d Destination) bool {
	return p.Namespace == d.Namespace && selects(p, d)
}

func selects(p *securityv1.AuthorizationPolicy, d Destination) bool {
	if p.Spec.Selector == nil {
		return true
	}
	for k, v := range p.Spec.Selector.MatchLabels {
		if got, ok := d.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func anyRule(p *securityv1.AuthorizationPolicy, r Request) (bool, error) {
	for _, rule := range p.Spec.Rules {
		m, err := ruleMatches(rule, r)
		if err != nil {
			return false, fmt.Errorf("AuthorizationPolicy %s/%s: %w", p.Namespace, p.Name, err)
		}
		if m {
			return true, nil
		}
	}
	return false, nil
}

// ruleMatches: every part of a rule that is set must match (from: any source; to: any
// operation).
func ruleMatches(rule *securityapi.Rule, r Request) (bool, error) {
	if len(rule.When) > 0 {
		return false, fmt.Errorf("when conditions are not modelled")
	}
	if len(rule.From) > 0 {
		ok := false
		for _, f := range rule.From {
			m, err := sourceMatches(f.Source, r)
			if err != nil {
				return false, err
			}
			ok = ok || m
		}
		if !ok {
			return false, nil
		}
	}
	if len(rule.To) > 0 {
		ok := false
		for _, to := range rule.To {
			m, err := operationMatches(to.Operation, r)
			if err != nil {
				return false, err
			}
			ok = ok || m
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

// sourceMatches: every field set must match. Identity fields need mTLS: a plaintext
// request has no principal and so no namespace.
func sourceMatches(s *securityapi.Source, r Request) (bool, error) {
	ns := namespaceOf(r.Principal)
	switch {
	case len(s.RequestPrincipals) > 0 || len(s.NotRequestPrincipals) > 0 || len(s.RemoteIpBlocks) > 0 ||
		len(s.NotRemoteIpBlocks) > 0 || len(s.ServiceAccounts) > 0 || len(s.NotServiceAccounts) > 0:
		return false, fmt.Errorf("source fields other than principals, namespaces and ipBlocks are not modelled")
	case len(s.Principals) > 0 && (r.Principal == "" || !matchAny(s.Principals, r.Principal)):
		return false, nil
	case len(s.NotPrincipals) > 0 && r.Principal != "" && matchAny(s.NotPrincipals, r.Principal):
		return false, nil
	case len(s.Namespaces) > 0 && (ns == "" || !matchAny(s.Namespaces, ns)):
		return false, nil
	case len(s.NotNamespaces) > 0 && ns != "" && matchAny(s.NotNamespaces, ns):
		return false, nil
	case len(s.IpBlocks) > 0 && !inBlocks(s.IpBlocks, r.IP):
		return false, nil
	case len(s.NotIpBlocks) > 0 && inBlocks(s.NotIpBlocks, r.IP):
		return false, nil
	}
	return true, nil
}

// operationMatches: every field set must match. Methods and paths are HTTP attributes: a
// plain TCP connection matches no operation that names them.
func operationMatches(o *securityapi.Operation, r Request) (bool, error) {
	port := strconv.Itoa(int(r.Port))
	http := r.Method != ""
	switch {
	case len(o.Hosts) > 0 || len(o.NotHosts) > 0:
		return false, fmt.Errorf("hosts are not modelled")
	case len(o.Ports) > 0 && !matchAny(o.Ports, port):
		return false, nil
	case len(o.NotPorts) > 0 && matchAny(o.NotPorts, port):
		return false, nil
	case len(o.Methods) > 0 && (!http || !matchAny(o.Methods, r.Method)):
		return false, nil
	case len(o.NotMethods) > 0 && http && matchAny(o.NotMethods, r.Method):
		return false, nil
	case len(o.Paths) > 0 && (!http || !matchAny(o.Paths, r.Path)):
		return false, nil
	case len(o.NotPaths) > 0 && http && matchAny(o.NotPaths, r.Path):
		return false, nil
	}
	return true, nil
}

// matchAny is Istio's string match: exact, prefix ("abc*"), suffix ("*abc"), or "*"
// (any non-empty value).
func matchAny(patterns []string, v string) bool {
	for _, p := range patterns {
		switch {
		case p == "*":
			if v != "" {
				return true
			}
		case strings.HasSuffix(p, "*"):
			if strings.HasPrefix(v, strings.TrimSuffix(p, "*")) {
				return true
			}
		case strings.HasPrefix(p, "*"):
			if strings.HasSuffix(v, strings.TrimPrefix(p, "*")) {
				return true
			}
		case p == v:
			return true
		}
	}
	return false
}

func inBlocks(blocks []string, ip string) bool {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	for _, b := range blocks {
		pfx, err := netip.ParsePrefix(b)
		if err != nil {
			a, err := netip.ParseAddr(b)
			if err != nil {
				continue
			}
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		if pfx.Contains(addr) {
			return true
		}
	}
	return false
}

// namespaceOf is the namespace of a SPIFFE-style principal td/ns/NS/sa/SA.
func namespaceOf(principal string) string {
	parts := strings.Split(principal, "/")
	for i := 0; i+1 < len(parts); i++ {
		if parts[i] == "ns" {
			return parts[i+1]
		}
	}
	return ""
}
