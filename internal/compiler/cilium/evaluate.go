package cilium

import (
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// This file answers "would these CiliumNetworkPolicies let this request through?" with
// Cilium's documented semantics, for `kubectl-zt check` and for tests that judge what the
// backend generates. It lives next to the backend because both must agree on what a
// CiliumNetworkPolicy means. Cilium enforces Kubernetes NetworkPolicies with the same
// engine, as rules of the same kind, so they are judged together: a NetworkPolicy rule that
// admits a peer on a port at L4 admits every request of it there, whatever HTTP rules a
// CiliumNetworkPolicy adds (Cilium: "the layer 7 portions of the latter rule will have no
// effect"). What it does not model (deny rules, entities, CIDR groups,
// L7 protocols other than HTTP, header and host matches, clusterwide policies) makes it
// refuse to judge and say so, so that a verdict is never given for what it does not know.

// Peer is one end of a connection as Cilium identifies it: a pod by its namespace, labels
// and ServiceAccount (from which Cilium derives its identity), or an address outside the
// cluster.
type Peer struct {
	// Namespace, NamespaceLabels, Labels and ServiceAccount of a pod.
	Namespace       string
	NamespaceLabels map[string]string
	Labels          map[string]string
	ServiceAccount  string
	// Ports are the container ports of a destination pod: Cilium resolves a named port of
	// toPorts against the destination's ports.
	Ports []corev1.ContainerPort
	// IP of a peer outside the cluster; invalid (zero) for a pod.
	IP netip.Addr
}

// IsPod reports whether p is a pod rather than an address.
func (p Peer) IsPod() bool { return !p.IP.IsValid() }

// Request is one connection, and for HTTP one request on it.
type Request struct {
	Source, Destination Peer
	// Port is the destination port on the pod (or the external address); PortName its
	// name when the destination names it (either may be unknown: 0 or "").
	Port     int32
	PortName string
	// Protocol is TCP (default), UDP or SCTP.
	Protocol string
	// Method and Path (with any query string) of an HTTP request; both empty for a plain
	// connection, which a port with HTTP rules does not admit (Cilium's proxy parses HTTP).
	Method, Path string
}

// Side is the verdict of one direction: egress of the source, or ingress of the
// destination.
type Side struct {
	// Applies is false when the direction does not concern a pod (egress of an external
	// source, ingress of an external destination).
	Applies bool
	// Isolated is true when a policy selecting the pod enables default deny in this
	// direction: only what a policy allows gets through.
	Isolated bool
	// IsolatedBy are those policies, as "Kind namespace/name".
	IsolatedBy []string
	// AllowedBy are the policies selecting the pod with a rule that admits the request (a
	// NetworkPolicy as its translation: same kind, namespace, name and labels).
	AllowedBy []*unstructured.Unstructured
	// L7 says, when a rule admitted the peer and port but none of its HTTP rules the
	// request, which policy allows which HTTP requests there.
	L7 []string
}

// Allowed reports whether the direction lets the request through.
func (s Side) Allowed() bool { return !s.Applies || !s.Isolated || len(s.AllowedBy) > 0 }

// Verdict is the result of Decide.
type Verdict struct {
	Egress, Ingress Side
	// Err is set when a policy that applies holds something the evaluator does not model;
	// the verdict is then a denial that says so.
	Err error
}

// Allowed reports whether both directions let the request through.
func (v Verdict) Allowed() bool { return v.Err == nil && v.Egress.Allowed() && v.Ingress.Allowed() }

// Why explains the verdict in one sentence: the directions that deny, else those a policy
// allows, else that nothing isolates the endpoints.
func (v Verdict) Why() string {
	if v.Err != nil {
		return "cannot judge: " + v.Err.Error()
	}
	sides := []struct {
		name string
		s    Side
	}{{"egress of the source", v.Egress}, {"ingress of the destination", v.Ingress}}
	var denied, allowed []string
	for _, d := range sides {
		switch {
		case !d.s.Applies || !d.s.Isolated:
		case len(d.s.AllowedBy) > 0:
			allowed = append(allowed, d.name+" is allowed by "+strings.Join(names(d.s.AllowedBy), ", "))
		default:
			msg := d.name + " is isolated by " + strings.Join(d.s.IsolatedBy, ", ") + " and no rule admits the request"
			if len(d.s.L7) > 0 {
				msg += " (" + strings.Join(d.s.L7, "; ") + ")"
			}
			denied = append(denied, msg)
		}
	}
	switch {
	case len(denied) > 0:
		return strings.Join(denied, "; ")
	case len(allowed) > 0:
		return strings.Join(allowed, "; ")
	}
	return "no CiliumNetworkPolicy or NetworkPolicy isolates the source's egress or the destination's ingress: Cilium allows"
}

// Evaluate is Decide as a verdict and its reason, like istio.Evaluate.
func Evaluate(objs []client.Object, r Request) (allowed bool, why string) {
	v := Decide(objs, r)
	return v.Allowed(), v.Why()
}

// Decide applies the CiliumNetworkPolicies and NetworkPolicies (*networkingv1.NetworkPolicy)
// among objs (objects of other kinds are ignored) to r, with Cilium's semantics:
//
//   - a policy applies to the endpoints of its namespace its endpointSelector selects;
//   - it isolates them in a direction (default deny) when enableDefaultDeny says so for
//     that direction, or, when that is unset, when it has rules in that direction; a
//     policy with enableDefaultDeny false only adds what it allows;
//   - an isolated endpoint admits what any rule of any policy selecting it admits (rules
//     are a union: a rule without HTTP rules on a port admits every request there);
//   - a rule names its peers in one of fromEndpoints/fromCIDR/fromCIDRSet (toEndpoints/
//     toCIDR/toCIDRSet at egress): endpoint selectors match labels with or without the
//     k8s: or any: source prefix, and in a namespaced policy are confined to its namespace
//     unless they name io.kubernetes.pod.namespace; CIDR peers match addresses outside the
//     cluster only (Cilium gives pods their own identity). A rule with toPorts and no peer
//     admits every peer on those ports; a rule with neither admits nothing;
//   - toPorts: a port is a number (with endPort, a range), a name resolved against the
//     destination's container ports, or 0/empty for every port, with protocol TCP, UDP,
//     SCTP or ANY (default). rules.http method and path are regular expressions matched
//     against the whole method and :path (Envoy anchors them); a request without a method
//     is not HTTP and matches no HTTP rule.
func Decide(objs []client.Object, r Request) Verdict {
	if r.Protocol == "" {
		r.Protocol = string(corev1.ProtocolTCP)
	}
	v := Verdict{Egress: Side{Applies: r.Source.IsPod()}, Ingress: Side{Applies: r.Destination.IsPod()}}
	var policies []*unstructured.Unstructured
	for _, o := range objs {
		switch x := o.(type) {
		case *networkingv1.NetworkPolicy:
			policies = append(policies, fromNetworkPolicy(x))
		case *unstructured.Unstructured:
			if x.GetKind() == Kind && strings.HasPrefix(x.GetAPIVersion(), "cilium.io/") {
				policies = append(policies, x)
			}
		}
	}
	sort.SliceStable(policies, func(i, j int) bool { return describe(policies[i]) < describe(policies[j]) })
	for _, u := range policies {
		if err := v.apply(u, r); err != nil {
			return Verdict{Egress: v.Egress, Ingress: v.Ingress, Err: fmt.Errorf("%s: %w", describe(u), err)}
		}
	}
	return v
}

func (v *Verdict) apply(u *unstructured.Unstructured, r Request) error {
	if _, ok := u.Object["specs"]; ok {
		return fmt.Errorf("specs (a list of rules) is not modelled")
	}
	spec, ok := u.Object["spec"].(map[string]any)
	if !ok {
		return fmt.Errorf("no spec")
	}
	if err := onlyKeys(spec, "spec", "endpointSelector", "ingress", "egress", "enableDefaultDeny", "description", "labels"); err != nil {
		return err
	}
	sel, _ := spec["endpointSelector"].(map[string]any)
	if sel == nil {
		return fmt.Errorf("spec.endpointSelector is not set (nodeSelector is not modelled)")
	}
	ingress, err := list(spec, "ingress")
	if err != nil {
		return err
	}
	egress, err := list(spec, "egress")
	if err != nil {
		return err
	}
	dd, _ := spec["enableDefaultDeny"].(map[string]any)
	for _, d := range []struct {
		side   *Side
		self   Peer // the endpoint the policy must select
		peer   Peer // the other end
		rules  []any
		dir    string
		peerOf [3]string // endpoints, CIDR, CIDR set keys
	}{
		{&v.Egress, r.Source, r.Destination, egress, "egress", [3]string{"toEndpoints", "toCIDR", "toCIDRSet"}},
		{&v.Ingress, r.Destination, r.Source, ingress, "ingress", [3]string{"fromEndpoints", "fromCIDR", "fromCIDRSet"}},
	} {
		if !d.side.Applies || d.self.Namespace != u.GetNamespace() {
			continue
		}
		selects, err := selectorMatches(sel, d.self, "")
		if err != nil {
			return fmt.Errorf("spec.endpointSelector: %w", err)
		}
		if !selects {
			continue
		}
		isolates := len(d.rules) > 0
		if b, ok := dd[d.dir].(bool); ok {
			isolates = b
		}
		if isolates {
			d.side.Isolated = true
			d.side.IsolatedBy = append(d.side.IsolatedBy, describe(u))
		}
		for i, raw := range d.rules {
			rule, ok := raw.(map[string]any)
			if !ok {
				return fmt.Errorf("spec.%s[%d] is not an object", d.dir, i)
			}
			field := fmt.Sprintf("spec.%s[%d]", d.dir, i)
			ok, l7, err := ruleAdmits(rule, field, d.peerOf, u.GetNamespace(), d.peer, r)
			if err != nil {
				return err
			}
			if ok {
				d.side.AllowedBy = append(d.side.AllowedBy, u)
				break
			}
			if l7 != "" {
				d.side.L7 = append(d.side.L7, fmt.Sprintf("%s allows only %s there", describe(u), l7))
			}
		}
	}
	return nil
}

// ruleAdmits says whether one ingress or egress rule admits the request from (to) peer.
// When the peer and port match but no HTTP rule does, l7 describes the HTTP rules.
func ruleAdmits(rule map[string]any, field string, peerKeys [3]string, ns string, peer Peer, r Request) (ok bool, l7 string, err error) {
	if err := onlyKeys(rule, field, peerKeys[0], peerKeys[1], peerKeys[2], "toPorts"); err != nil {
		return false, "", err
	}
	var set []string
	for _, k := range peerKeys {
		if _, ok := rule[k]; ok {
			set = append(set, k)
		}
	}
	ports, err := list(rule, "toPorts")
	if err != nil {
		return false, "", fmt.Errorf("%s: %w", field, err)
	}
	switch {
	case len(set) > 1:
		return false, "", fmt.Errorf("%s: %s are mutually exclusive in one rule", field, strings.Join(set, " and "))
	case len(set) == 0 && len(ports) == 0:
		return false, "", nil // an empty rule admits nothing
	case len(set) == 1:
		m, err := peerMatches(rule, set[0], field, ns, peer)
		if err != nil || !m {
			return false, "", err
		}
	}
	if len(ports) == 0 {
		return true, "", nil
	}
	var l7s []string
	for i, raw := range ports {
		pr, ok := raw.(map[string]any)
		f := fmt.Sprintf("%s.toPorts[%d]", field, i)
		if !ok {
			return false, "", fmt.Errorf("%s is not an object", f)
		}
		m, desc, err := portRuleAdmits(pr, f, r)
		if err != nil {
			return false, "", err
		}
		if m {
			return true, "", nil
		}
		if desc != "" {
			l7s = append(l7s, desc)
		}
	}
	return false, strings.Join(l7s, "; "), nil
}

func peerMatches(rule map[string]any, k, field, ns string, peer Peer) (bool, error) {
	peers, err := list(rule, k)
	if err != nil {
		return false, fmt.Errorf("%s: %w", field, err)
	}
	for i, raw := range peers {
		f := fmt.Sprintf("%s.%s[%d]", field, k, i)
		switch k {
		case "fromEndpoints", "toEndpoints":
			sel, ok := raw.(map[string]any)
			if !ok {
				return false, fmt.Errorf("%s is not a selector", f)
			}
			if !peer.IsPod() {
				continue
			}
			m, err := selectorMatches(sel, peer, ns)
			if err != nil {
				return false, fmt.Errorf("%s: %w", f, err)
			}
			if m {
				return true, nil
			}
		case "fromCIDR", "toCIDR":
			s, ok := raw.(string)
			if !ok {
				return false, fmt.Errorf("%s is not a CIDR", f)
			}
			in, err := inCIDR(s, nil, peer)
			if err != nil {
				return false, fmt.Errorf("%s: %w", f, err)
			}
			if in {
				return true, nil
			}
		case "fromCIDRSet", "toCIDRSet":
			m, ok := raw.(map[string]any)
			if !ok {
				return false, fmt.Errorf("%s is not an object", f)
			}
			if err := onlyKeys(m, f, "cidr", "except"); err != nil {
				return false, err
			}
			cidr, _ := m["cidr"].(string)
			if cidr == "" {
				return false, fmt.Errorf("%s: only cidr (not cidrGroupRef or cidrGroupSelector) is modelled", f)
			}
			except, err := stringList(m, "except")
			if err != nil {
				return false, fmt.Errorf("%s: %w", f, err)
			}
			in, err := inCIDR(cidr, except, peer)
			if err != nil {
				return false, fmt.Errorf("%s: %w", f, err)
			}
			if in {
				return true, nil
			}
		}
	}
	return false, nil
}

// inCIDR: CIDR peers are addresses outside the cluster; a pod never matches them.
func inCIDR(cidr string, except []string, peer Peer) (bool, error) {
	pfx, err := parsePrefix(cidr)
	if err != nil {
		return false, err
	}
	if peer.IsPod() || !pfx.Contains(peer.IP) {
		return false, nil
	}
	for _, e := range except {
		ep, err := parsePrefix(e)
		if err != nil {
			return false, err
		}
		if ep.Contains(peer.IP) {
			return false, nil
		}
	}
	return true, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// portRuleAdmits: one of the ports matches and, when there are HTTP rules, one of them.
func portRuleAdmits(pr map[string]any, field string, r Request) (bool, string, error) {
	if err := onlyKeys(pr, field, "ports", "rules"); err != nil {
		return false, "", err
	}
	ports, err := list(pr, "ports")
	if err != nil {
		return false, "", fmt.Errorf("%s: %w", field, err)
	}
	portOK := len(ports) == 0
	for i, raw := range ports {
		p, ok := raw.(map[string]any)
		f := fmt.Sprintf("%s.ports[%d]", field, i)
		if !ok {
			return false, "", fmt.Errorf("%s is not an object", f)
		}
		m, err := portMatches(p, f, r)
		if err != nil {
			return false, "", err
		}
		portOK = portOK || m
	}
	if !portOK {
		return false, "", nil
	}
	rules, _ := pr["rules"].(map[string]any)
	if rules == nil {
		return true, "", nil
	}
	if err := onlyKeys(rules, field+".rules", "http"); err != nil {
		return false, "", err
	}
	https, err := list(rules, "http")
	if err != nil {
		return false, "", fmt.Errorf("%s.rules: %w", field, err)
	}
	if len(https) == 0 {
		return true, "", nil
	}
	var descs []string
	for i, raw := range https {
		h, ok := raw.(map[string]any)
		f := fmt.Sprintf("%s.rules.http[%d]", field, i)
		if !ok {
			return false, "", fmt.Errorf("%s is not an object", f)
		}
		if err := onlyKeys(h, f, "method", "path"); err != nil {
			return false, "", err
		}
		method, _ := h["method"].(string)
		path, _ := h["path"].(string)
		descs = append(descs, strings.TrimSpace(orAny(method, "any method")+" "+orAny(path, "any path")))
		if r.Method == "" {
			continue // not HTTP
		}
		mm, err := fullMatch(method, r.Method)
		if err != nil {
			return false, "", fmt.Errorf("%s.method: %w", f, err)
		}
		pm, err := fullMatch(path, r.Path)
		if err != nil {
			return false, "", fmt.Errorf("%s.path: %w", f, err)
		}
		if mm && pm {
			return true, "", nil
		}
	}
	return false, strings.Join(descs, ", "), nil
}

func orAny(s, dflt string) string {
	if s == "" {
		return dflt
	}
	return s
}

// fullMatch matches v against the whole of expression re, as Envoy's safe regex does; an
// empty expression matches everything.
func fullMatch(re, v string) (bool, error) {
	if re == "" {
		return true, nil
	}
	x, err := regexp.Compile(`^(?:` + re + `)$`)
	if err != nil {
		return false, err
	}
	return x.MatchString(v), nil
}

func portMatches(p map[string]any, field string, r Request) (bool, error) {
	if err := onlyKeys(p, field, "port", "endPort", "protocol"); err != nil {
		return false, err
	}
	proto, _ := p["protocol"].(string)
	proto = strings.ToUpper(proto)
	if proto != "" && proto != "ANY" && proto != r.Protocol {
		return false, nil
	}
	port, err := scalar(p["port"])
	if err != nil {
		return false, fmt.Errorf("%s.port: %w", field, err)
	}
	if port == "" || port == "0" {
		return true, nil
	}
	n, err := strconv.ParseInt(port, 10, 32)
	if err != nil {
		// A name: the destination's container port of that name and protocol.
		if r.PortName != "" && r.PortName == port {
			return true, nil
		}
		for _, cp := range r.Destination.Ports {
			cpProto := string(cp.Protocol)
			if cpProto == "" {
				cpProto = string(corev1.ProtocolTCP)
			}
			if cp.Name == port && cpProto == r.Protocol {
				return r.Port != 0 && cp.ContainerPort == r.Port, nil
			}
		}
		return false, nil
	}
	end := n
	e, err := scalar(p["endPort"])
	if err != nil {
		return false, fmt.Errorf("%s.endPort: %w", field, err)
	}
	if e != "" {
		if end, err = strconv.ParseInt(e, 10, 32); err != nil {
			return false, fmt.Errorf("%s.endPort: %q is not a number", field, e)
		}
	}
	return r.Port != 0 && int64(r.Port) >= n && int64(r.Port) <= max(n, end), nil
}

// scalar is a port as a string, whatever form decoding gave it.
func scalar(x any) (string, error) {
	switch x := x.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case int:
		return strconv.Itoa(x), nil
	case int32:
		return strconv.Itoa(int(x)), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	}
	return "", fmt.Errorf("%v is not a port", x)
}

// Endpoint labels, as Cilium derives them from a pod (without their k8s: source prefix).
const (
	namespaceKey      = "io.kubernetes.pod.namespace"
	serviceAccountKey = "io.cilium.k8s.policy.serviceaccount"
	namespaceLabels   = "io.cilium.k8s.namespace.labels."
	clusterKey        = "io.cilium.k8s.policy.cluster"
)

// endpointLabels are the labels of a pod's Cilium identity.
func endpointLabels(p Peer) map[string]string {
	out := map[string]string{namespaceKey: p.Namespace, clusterKey: "default"}
	for k, v := range p.Labels {
		out[k] = v
	}
	for k, v := range p.NamespaceLabels {
		out[namespaceLabels+k] = v
	}
	if p.ServiceAccount != "" {
		out[serviceAccountKey] = p.ServiceAccount
	}
	return out
}

// labelKey strips the k8s: and any: source prefixes a selector key may carry; ok is false
// for another source (reserved:, cidr:...), whose labels pods do not carry.
func labelKey(k string) (string, bool) {
	src, rest, found := strings.Cut(k, ":")
	if !found {
		return k, true
	}
	if src == "k8s" || src == "any" {
		return rest, true
	}
	return "", false
}

// selectorMatches matches a Cilium endpoint selector against pod p. With ns set (a peer
// selector of a namespaced policy), a selector that does not name the pod namespace is
// confined to ns, as Cilium confines it.
func selectorMatches(sel map[string]any, p Peer, ns string) (bool, error) {
	if err := onlyKeys(sel, "selector", "matchLabels", "matchExpressions"); err != nil {
		return false, err
	}
	lbls := endpointLabels(p)
	namesNamespace := false
	ml, _ := sel["matchLabels"].(map[string]any)
	for k, raw := range ml {
		want, ok := raw.(string)
		if !ok {
			return false, fmt.Errorf("matchLabels %s is not a string", k)
		}
		key, ok := labelKey(k)
		if key == namespaceKey {
			namesNamespace = true
		}
		if got, has := lbls[key]; !ok || !has || got != want {
			return false, nil
		}
	}
	exprs, err := list(sel, "matchExpressions")
	if err != nil {
		return false, err
	}
	for i, raw := range exprs {
		e, ok := raw.(map[string]any)
		if !ok {
			return false, fmt.Errorf("matchExpressions[%d] is not an object", i)
		}
		k, _ := e["key"].(string)
		op, _ := e["operator"].(string)
		vals, err := stringList(e, "values")
		if err != nil {
			return false, fmt.Errorf("matchExpressions[%d]: %w", i, err)
		}
		key, ok := labelKey(k)
		if key == namespaceKey {
			namesNamespace = true
		}
		got, has := lbls[key]
		has = has && ok
		var m bool
		switch op {
		case "In":
			m = has && contains(vals, got)
		case "NotIn":
			m = !has || !contains(vals, got)
		case "Exists":
			m = has
		case "DoesNotExist":
			m = !has
		default:
			return false, fmt.Errorf("matchExpressions[%d]: operator %q is not modelled", i, op)
		}
		if !m {
			return false, nil
		}
	}
	if ns != "" && !namesNamespace && p.Namespace != ns {
		return false, nil
	}
	return true, nil
}

func contains(vals []string, v string) bool {
	for _, x := range vals {
		if x == v {
			return true
		}
	}
	return false
}

// onlyKeys refuses a field the evaluator does not model.
func onlyKeys(m map[string]any, field string, known ...string) error {
	var unknown []string
	for k := range m {
		if !contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return fmt.Errorf("%s: %s: not modelled", field, strings.Join(unknown, ", "))
}

func list(m map[string]any, k string) ([]any, error) {
	switch x := m[k].(type) {
	case nil:
		return nil, nil
	case []any:
		return x, nil
	default:
		return nil, fmt.Errorf("%s is not a list", k)
	}
}

func stringList(m map[string]any, k string) ([]string, error) {
	l, err := list(m, k)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(l))
	for _, x := range l {
		s, ok := x.(string)
		if !ok {
			return nil, fmt.Errorf("%s holds %v, not a string", k, x)
		}
		out = append(out, s)
	}
	return out, nil
}

func key(u *unstructured.Unstructured) string { return u.GetNamespace() + "/" + u.GetName() }

// describe names a policy in reasons: "Kind namespace/name".
func describe(u *unstructured.Unstructured) string { return u.GetKind() + " " + key(u) }

func names(us []*unstructured.Unstructured) []string {
	out := make([]string, 0, len(us))
	for _, u := range us {
		out = append(out, describe(u))
	}
	return out
}

// fromNetworkPolicy is a NetworkPolicy as the Cilium rules it stands for: its pod selector
// selects in its namespace, its policyTypes enable default deny, a peer's namespaceSelector
// selects on the namespace's labels in every namespace, an ipBlock is a CIDR set (which, as
// in Cilium, no pod matches), a rule without peers admits every peer and a rule without
// ports every port. The result keeps the NetworkPolicy's kind, namespace, name and labels.
func fromNetworkPolicy(np *networkingv1.NetworkPolicy) *unstructured.Unstructured {
	ingress, egress := false, len(np.Spec.Egress) > 0
	if len(np.Spec.PolicyTypes) == 0 {
		ingress = true
	}
	for _, t := range np.Spec.PolicyTypes {
		switch t {
		case networkingv1.PolicyTypeIngress:
			ingress = true
		case networkingv1.PolicyTypeEgress:
			egress = true
		}
	}
	spec := map[string]any{
		"endpointSelector":  selectorMap(&np.Spec.PodSelector, ""),
		"enableDefaultDeny": map[string]any{"ingress": ingress, "egress": egress},
	}
	var in, out []any
	if ingress {
		for _, r := range np.Spec.Ingress {
			in = append(in, npRules(r.From, r.Ports, "fromEndpoints", "fromCIDRSet")...)
		}
		spec["ingress"] = in
	}
	if egress {
		for _, r := range np.Spec.Egress {
			out = append(out, npRules(r.To, r.Ports, "toEndpoints", "toCIDRSet")...)
		}
		spec["egress"] = out
	}
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetAPIVersion(networkingv1.SchemeGroupVersion.String())
	u.SetKind("NetworkPolicy")
	u.SetNamespace(np.Namespace)
	u.SetName(np.Name)
	u.SetLabels(np.Labels)
	return u
}

// npRules are one NetworkPolicy rule as Cilium rules: one for its pod peers, one for its
// ipBlocks (a Cilium rule names peers of one kind), or one for every peer.
func npRules(peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort, endpointsKey, cidrKey string) []any {
	toPorts := []any{map[string]any{"ports": npPorts(ports)}}
	if len(peers) == 0 {
		return []any{map[string]any{"toPorts": toPorts}}
	}
	var eps, cidrs []any
	for _, p := range peers {
		switch {
		case p.IPBlock != nil:
			set := map[string]any{"cidr": p.IPBlock.CIDR}
			if len(p.IPBlock.Except) > 0 {
				except := make([]any, 0, len(p.IPBlock.Except))
				for _, e := range p.IPBlock.Except {
					except = append(except, e)
				}
				set["except"] = except
			}
			cidrs = append(cidrs, set)
		case p.NamespaceSelector != nil:
			sel := selectorMap(p.PodSelector, "")
			ns := selectorMap(p.NamespaceSelector, namespaceLabels)
			for k, v := range ns["matchLabels"].(map[string]any) {
				sel["matchLabels"].(map[string]any)[k] = v
			}
			exprs, _ := sel["matchExpressions"].([]any)
			nsExprs, _ := ns["matchExpressions"].([]any)
			// Every namespace: a pod always has a namespace label.
			exprs = append(append(exprs, nsExprs...), map[string]any{"key": "k8s:" + namespaceKey, "operator": "Exists"})
			sel["matchExpressions"] = exprs
			eps = append(eps, sel)
		default:
			eps = append(eps, selectorMap(p.PodSelector, ""))
		}
	}
	var out []any
	if len(eps) > 0 {
		out = append(out, map[string]any{endpointsKey: eps, "toPorts": toPorts})
	}
	if len(cidrs) > 0 {
		out = append(out, map[string]any{cidrKey: cidrs, "toPorts": toPorts})
	}
	return out
}

// npPorts are NetworkPolicy ports as Cilium ports; none means every port of every protocol.
func npPorts(ports []networkingv1.NetworkPolicyPort) []any {
	if len(ports) == 0 {
		return []any{map[string]any{"port": "0", "protocol": "ANY"}}
	}
	out := make([]any, 0, len(ports))
	for _, p := range ports {
		proto := string(corev1.ProtocolTCP)
		if p.Protocol != nil {
			proto = string(*p.Protocol)
		}
		m := map[string]any{"port": "0", "protocol": proto}
		if p.Port != nil {
			m["port"] = p.Port.String()
		}
		if p.EndPort != nil {
			m["endPort"] = int64(*p.EndPort)
		}
		out = append(out, m)
	}
	return out
}

// selectorMap is a label selector as a Cilium selector, its keys prefixed with prefix; nil
// selects everything.
func selectorMap(s *metav1.LabelSelector, prefix string) map[string]any {
	ml := map[string]any{}
	out := map[string]any{"matchLabels": ml}
	if s == nil {
		return out
	}
	for k, v := range s.MatchLabels {
		ml[prefix+k] = v
	}
	if len(s.MatchExpressions) > 0 {
		exprs := make([]any, 0, len(s.MatchExpressions))
		for _, e := range s.MatchExpressions {
			vals := make([]any, 0, len(e.Values))
			for _, v := range e.Values {
				vals = append(vals, v)
			}
			exprs = append(exprs, map[string]any{"key": prefix + e.Key, "operator": string(e.Operator), "values": vals})
		}
		out["matchExpressions"] = exprs
	}
	return out
}
