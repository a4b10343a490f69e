// Package cilium is the Cilium backend: it enforces a ServiceAccessPolicy with
// cilium.io/v2 CiliumNetworkPolicies, which add HTTP methods and paths (enforced by
// Cilium's Envoy proxy) to what a NetworkPolicy can say. Beside a mesh (Istio or Linkerd
// among the backends) it leaves methods and paths to the mesh and enforces callers and
// ports: the mesh's mutual TLS hides requests from Cilium's L7 proxy, which would deny
// them all (model.Policy.CiliumEnforcesL7).
//
// The ingress policy selects the target pods and admits the callers on the policy's ports:
// pods by their namespace and labels, ServiceAccount callers by the label Cilium gives
// every endpoint for its ServiceAccount (io.cilium.k8s.policy.serviceaccount, so a
// ServiceAccount that runs no workload yet is still expressed), whole namespaces by the
// namespace label, and CIDRs with fromCIDR. Like an ingress NetworkPolicy it isolates the
// target pods. Cilium keeps admitting the local node (kubelet probes) by default.
//
// Cilium also enforces the NetworkPolicies, as rules of the same kind, and an L4 rule of
// theirs would void the HTTP rules written here for the same peer and port; so, when both
// backends run, the NetworkPolicy backend leaves the ports with HTTP rules to this policy
// (package networkpolicy).
//
// Egress policies are generated only where a ZeroTrustBaseline denies egress, as the
// NetworkPolicy backend does, and with enableDefaultDeny.egress false: they only add the
// calls the policy grants and never isolate a pod by themselves.
//
// Objects are unstructured (Cilium's Go module is far too heavy a dependency for one type);
// the CRD defaults nothing the backend writes, and enableDefaultDeny, which Cilium infers
// when absent, is always explicit.
package cilium

import (
	"fmt"
	"maps"
	"regexp"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/model"
)

// APIVersion and Kind of the generated objects.
const (
	APIVersion = "cilium.io/v2"
	Kind       = "CiliumNetworkPolicy"
)

// Labels Cilium gives every endpoint: its namespace and its ServiceAccount.
const (
	NamespaceLabel      = "k8s:io.kubernetes.pod.namespace"
	ServiceAccountLabel = "k8s:io.cilium.k8s.policy.serviceaccount"
)

// Backend is the Cilium backend. The zero value is ready to use.
type Backend struct{}

// New returns the Cilium backend.
func New() Backend { return Backend{} }

var _ model.Backend = Backend{}

// Name is ztv1.BackendCilium.
func (Backend) Name() ztv1.Backend { return ztv1.BackendCilium }

// Compile returns an ingress CiliumNetworkPolicy in the policy's namespace for a target of
// pods, and an egress one per caller selector where a baseline denies the caller's egress
// (for an external target: egress of the callers to its CIDRs).
//
// Audit mode is skipped: Cilium's audit mode (policy-audit-mode) is a setting of the agent
// or of an endpoint, not of a policy, so a policy cannot be audited on its own; a
// CiliumNetworkPolicy applied in Audit mode would block.
func (b Backend) Compile(p *model.Policy) (model.Result, error) {
	switch {
	case p.Mode == ztv1.ModeAudit:
		return skip("Cilium has no per-policy audit form: its audit mode (policy-audit-mode) is set on the agent or an endpoint, " +
			"and a CiliumNetworkPolicy either blocks or allows. Use mode Enforce or DryRun, or a mesh backend (Istio, Linkerd) to audit"), nil
	case p.Target.Kind == model.TargetKubernetesAPI:
		return skip("Cilium does not govern access to the Kubernetes API; the RBAC backend enforces kubernetesAPI targets"), nil
	}

	var objs []client.Object
	var notes []string
	ports := model.PortRules(p)

	if p.Target.Kind.Selects() {
		l7 := !p.MeshEnforces() // see model.Policy.CiliumEnforcesL7
		if !l7 && hasHTTP(ports) {
			notes = append(notes, "Cilium enforces the ports and callers; the HTTP methods and paths are enforced by the mesh, "+
				"whose mutual TLS Cilium's L7 proxy cannot read")
		}
		var rules []any
		if eps := ingressEndpoints(p); len(eps) > 0 {
			rules = append(rules, peerRule("fromEndpoints", eps, toPorts(ports, l7)))
		}
		if cidrs := callerCIDRs(p); len(cidrs) > 0 {
			rules = append(rules, peerRule("fromCIDR", cidrs, toPorts(ports, l7)))
		}
		// An ingress policy with no peers would isolate the target and allow nothing:
		// that is more than the policy says, so none is generated.
		if len(rules) > 0 {
			objs = append(objs, newPolicy(p, p.Namespace, model.IngressName(p), map[string]any{
				"endpointSelector":  selector(p.Target.PodSelector, nil),
				"ingress":           rules,
				"enableDefaultDeny": map[string]any{"ingress": true, "egress": false},
			}))
		} else {
			notes = append(notes, "no from entry resolves to pods or CIDRs, so no ingress CiliumNetworkPolicy is generated")
		}
	}

	to, toKey := egressPeers(p)
	anyEgressCaller := false
	for i := range p.Callers {
		c := &p.Callers[i]
		if c.Kind == model.CallerCIDR || !p.DeniesEgress(c.Namespace) || toKey == "" {
			continue
		}
		anyEgressCaller = true
		for n, sel := range callerSelectors(c) {
			objs = append(objs, newPolicy(p, c.Namespace, model.EgressName(p, c, n), map[string]any{
				"endpointSelector":  sel,
				"egress":            []any{peerRule(toKey, to, toPorts(ports, false))},
				"enableDefaultDeny": map[string]any{"ingress": false, "egress": false},
			}))
		}
	}
	if p.Target.Kind == model.TargetExternal && !anyEgressCaller {
		notes = append(notes, fmt.Sprintf("no ZeroTrustBaseline denies egress in namespace %s, so egress to %s is already open and no CiliumNetworkPolicy is generated",
			p.Namespace, strings.Join(p.Target.CIDRs, ", ")))
	}

	sortObjects(objs)
	return model.Result{Objects: objs, Message: strings.Join(notes, "; ")}, nil
}

// ingressEndpoints are the non-CIDR callers as endpoint selectors, each with the caller's
// namespace, sorted and deduplicated.
func ingressEndpoints(p *model.Policy) []any {
	var out []map[string]any
	for i := range p.Callers {
		c := &p.Callers[i]
		if c.Kind == model.CallerCIDR {
			continue
		}
		ns := map[string]string{NamespaceLabel: c.Namespace}
		switch {
		case c.AllPods:
			out = append(out, selector(nil, ns))
		case c.Kind == model.CallerServiceAccount:
			// The ServiceAccount label selects every pod that runs as it, whatever
			// workload (or none) created it: exactly the caller the policy names.
			for _, sa := range c.ServiceAccounts {
				out = append(out, selector(nil, map[string]string{NamespaceLabel: c.Namespace, ServiceAccountLabel: sa}))
			}
		default:
			for j := range c.PodSelectors {
				out = append(out, selector(&c.PodSelectors[j], ns))
			}
		}
	}
	return sortSelectors(out)
}

func callerCIDRs(p *model.Policy) []any {
	var cidrs []string
	for _, c := range p.Callers {
		if c.Kind == model.CallerCIDR {
			cidrs = append(cidrs, c.CIDR)
		}
	}
	return uniqueSorted(cidrs)
}

// egressPeers is where the callers' egress goes, and the egress rule field that says so:
// the target pods in the policy's namespace, or the CIDRs of an external target.
func egressPeers(p *model.Policy) ([]any, string) {
	switch {
	case p.Target.Kind == model.TargetExternal:
		return uniqueSorted(p.Target.CIDRs), "toCIDR"
	case p.Target.Kind.Selects():
		return []any{selector(p.Target.PodSelector, map[string]string{NamespaceLabel: p.Namespace})}, "toEndpoints"
	}
	return nil, ""
}

// callerSelectors are the endpointSelectors of the egress policies of caller c, one per
// name model.EgressName gives: every pod of its namespace, the ServiceAccount's pods, or
// one per pod selector.
func callerSelectors(c *model.Caller) []map[string]any {
	switch {
	case c.AllPods:
		return []map[string]any{selector(nil, nil)}
	case c.Kind == model.CallerServiceAccount:
		var out []map[string]any
		for _, sa := range c.ServiceAccounts {
			out = append(out, selector(nil, map[string]string{ServiceAccountLabel: sa}))
		}
		return out
	}
	out := make([]map[string]any, 0, len(c.PodSelectors))
	for i := range c.PodSelectors {
		out = append(out, selector(&c.PodSelectors[i], nil))
	}
	return out
}

func peerRule(key string, peers []any, ports []any) map[string]any {
	r := map[string]any{key: peers}
	if len(ports) > 0 {
		r["toPorts"] = ports
	}
	return r
}

func hasHTTP(rules []model.PortRule) bool {
	for i := range rules {
		if !rules[i].Open() {
			return true
		}
	}
	return false
}

// toPorts are the policy's ports as Cilium port rules: one for all ports open to every
// request, and one per port with HTTP rules (with them when l7 is set). Nil for every port.
// Cilium resolves named ports itself, so names are kept.
func toPorts(rules []model.PortRule, l7 bool) []any {
	var open []any
	var out []any
	for i := range rules {
		pr := &rules[i]
		port := map[string]any{"port": pr.Port.String(), "protocol": string(pr.Protocol)}
		if pr.Open() || !l7 {
			open = append(open, port)
			continue
		}
		out = append(out, map[string]any{
			"ports": []any{port},
			"rules": map[string]any{"http": httpRules(pr.HTTP)},
		})
	}
	if len(open) > 0 {
		out = append([]any{map[string]any{"ports": dedupPorts(open)}}, out...)
	}
	return out
}

// dedupPorts drops repeated ports: without L7, two HTTP-restricted entries of one port
// become the same plain port.
func dedupPorts(ports []any) []any {
	seen := map[string]bool{}
	var out []any
	for _, p := range ports {
		m := p.(map[string]any)
		k := m["protocol"].(string) + "/" + m["port"].(string)
		if !seen[k] {
			seen[k] = true
			out = append(out, p)
		}
	}
	return out
}

// httpRules are a port's HTTP rules as Cilium HTTP rules, one per method and path, sorted
// and deduplicated. Cilium matches method and path as regular expressions against the
// whole value, so both are quoted and anchored: a prefix ends in ".*", and an exact path may
// be followed by a query string only ("(\?.*)?"), since Cilium matches the request's
// :path, which carries it.
func httpRules(rules []ztv1.HTTPRule) []any {
	type hr struct{ method, path string }
	seen := map[hr]bool{}
	var all []hr
	for _, r := range rules {
		methods := []string{""}
		if len(r.Methods) > 0 {
			methods = methods[:0]
			for _, m := range r.Methods {
				methods = append(methods, "^"+regexp.QuoteMeta(string(m))+"$")
			}
		}
		paths := []string{""}
		if len(r.Paths) > 0 {
			paths = paths[:0]
			for _, p := range r.Paths {
				paths = append(paths, PathRegex(p))
			}
		}
		for _, m := range methods {
			for _, p := range paths {
				k := hr{m, p}
				if !seen[k] {
					seen[k] = true
					all = append(all, k)
				}
			}
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].path != all[j].path {
			return all[i].path < all[j].path
		}
		return all[i].method < all[j].method
	})
	out := make([]any, 0, len(all))
	for _, r := range all {
		m := map[string]any{}
		if r.method != "" {
			m["method"] = r.method
		}
		if r.path != "" {
			m["path"] = r.path
		}
		out = append(out, m)
	}
	return out
}

// PathRegex is the Cilium path expression of an API path: an exact path, or a prefix
// written with a trailing '*'.
func PathRegex(path string) string {
	if prefix, ok := strings.CutSuffix(path, "*"); ok {
		return "^" + regexp.QuoteMeta(prefix) + ".*$"
	}
	return "^" + regexp.QuoteMeta(path) + `(\?.*)?$`
}

// selector is a Cilium endpoint selector: s (nil for none) with extra match labels.
func selector(s *metav1.LabelSelector, extra map[string]string) map[string]any {
	sel := metav1.LabelSelector{MatchLabels: map[string]string{}}
	if s != nil {
		maps.Copy(sel.MatchLabels, s.MatchLabels)
		sel.MatchExpressions = s.MatchExpressions
	}
	maps.Copy(sel.MatchLabels, extra)
	return model.UnstructuredSelector(&sel)
}

func sortSelectors(sels []map[string]any) []any {
	keyed := map[string]map[string]any{}
	var keys []string
	for _, s := range sels {
		k := fmt.Sprintf("%v", s) // fmt prints maps with sorted keys: a canonical form.
		if _, dup := keyed[k]; !dup {
			keyed[k] = s
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := make([]any, 0, len(keys))
	for _, k := range keys {
		out = append(out, keyed[k])
	}
	return out
}

func uniqueSorted(in []string) []any {
	s := append([]string(nil), in...)
	sort.Strings(s)
	var out []any
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func newPolicy(p *model.Policy, ns, name string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetAPIVersion(APIVersion)
	u.SetKind(Kind)
	u.SetNamespace(ns)
	u.SetName(name)
	u.SetLabels(model.PolicyLabels(p, ztv1.BackendCilium))
	return u
}

func skip(msg string) model.Result { return model.Result{Skipped: true, Message: msg} }

func sortObjects(objs []client.Object) {
	sort.SliceStable(objs, func(i, j int) bool {
		if objs[i].GetNamespace() != objs[j].GetNamespace() {
			return objs[i].GetNamespace() < objs[j].GetNamespace()
		}
		return objs[i].GetName() < objs[j].GetName()
	})
}
