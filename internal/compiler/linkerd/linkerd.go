// Package linkerd is the Linkerd backend: it enforces a ServiceAccessPolicy with Linkerd's
// policy resources (policy.linkerd.io), and exposes the namespace annotation that is
// Linkerd's part of a ZeroTrustBaseline.
//
// Linkerd authorizes per port. For every TCP port of the target it generates a Server
// (the port on the target pods), and an AuthorizationPolicy per kind of caller: one
// requiring a MeshTLSAuthentication (the callers' ServiceAccounts and namespaces, as
// identityRefs) and one requiring a NetworkAuthentication (the CIDR callers). An
// AuthorizationPolicy requires all of its authentications, so the two kinds cannot share
// one. When the port has HTTP rules, the authorizations target an HTTPRoute attached to
// the Server that matches exactly those requests, instead of the Server.
//
// Linkerd authorizes kubelet probes by itself only as long as no HTTPRoute is attached to
// the Server; once one is, probes are denied unless routed and authorized (Linkerd's
// "Default authorizations" and its per-route policy guide). So wherever this backend
// attaches routes it also generates what Linkerd's guide recommends: a separate HTTPRoute
// matching exactly the pods' HTTP GET probes on that port, authorized by a
// NetworkAuthentication for every address (0.0.0.0/0 and ::/0), which is what Linkerd's
// own default probe authorization allows. The probes are known only when the resolver read
// the pod template (a workload target); for a Service or podSelector target the backend
// enforces the port and callers but not methods and paths, and says so, rather than
// attach routes that would fail the pods' probes.
//
// Objects are unstructured (Linkerd publishes no Go module for its CRDs), in the versions
// the CRDs store (Server v1beta3, HTTPRoute v1beta3, the others v1alpha1), with every
// field the CRDs default set explicitly (Server accessPolicy and proxyProtocol, route
// parentRef group and kind, match path type and value), so that a server-side apply of an
// unchanged object is a no-op.
package linkerd

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/model"
)

// Group and versions of the generated objects: the storage version of each CRD.
const (
	Group                        = "policy.linkerd.io"
	ServerVersion                = Group + "/v1beta3"
	HTTPRouteVersion             = Group + "/v1beta3"
	AuthorizationPolicyVersion   = Group + "/v1alpha1"
	MeshTLSAuthenticationVersion = Group + "/v1alpha1"
	NetworkAuthenticationVersion = Group + "/v1alpha1"
)

// DefaultInboundPolicyAnnotation sets the inbound policy of the meshed pods of a namespace
// (or a workload) that do not match a Server.
const DefaultInboundPolicyAnnotation = "config.linkerd.io/default-inbound-policy"

// Linkerd limits an HTTPRoute to 16 rules of 8 matches each.
const (
	maxMatchesPerRule = 8
	maxRulesPerRoute  = 16
)

// Name parts. Every kind uses a fixed number of parts (see model.IngressPartName):
// Server <port>; HTTPRoute <port>.<routes|probes>; AuthorizationPolicy
// <port>.<mesh|network|probes>; MeshTLSAuthentication and NetworkAuthentication
// <callers|probes>.
const (
	partRoutes  = "routes"
	partProbes  = "probes"
	partMesh    = "mesh"
	partNetwork = "network"
	partCallers = "callers"
)

// defaultOpaquePorts are the ports Linkerd treats as opaque (no protocol detection) unless
// configured otherwise: protocols where the server speaks first (SMTP, MySQL, PostgreSQL,
// Redis, ...) stall under detection. A Server's proxyProtocol replaces that default for its
// port, so a Server for one of these ports without HTTP rules says opaque, as Linkerd would.
var defaultOpaquePorts = map[int32]bool{25: true, 587: true, 3306: true, 4444: true, 5432: true, 6379: true, 9300: true, 11211: true}

// probeNetworks authorize kubelet probes: the kubelet calls from the node's address, which
// no policy can know, and Linkerd's own default probe authorization admits every network.
var probeNetworks = []string{"0.0.0.0/0", "::/0"}

// Backend is the Linkerd backend. The zero value is ready to use.
type Backend struct{}

// New returns the Linkerd backend.
func New() Backend { return Backend{} }

var _ model.Backend = Backend{}

// Name is ztv1.BackendLinkerd.
func (Backend) Name() ztv1.Backend { return ztv1.BackendLinkerd }

// NamespaceAnnotations are the annotations the baseline reconciler puts on a namespace
// that baseline b selects: Linkerd's default inbound policy is not an object but the
// config.linkerd.io/default-inbound-policy annotation. It is "deny" when b's mesh part asks
// for Strict mutual TLS or default deny (as the API documents mtls: Strict); nil otherwise
// (Permissive leaves the cluster's default in place rather than loosen it). Linkerd reads
// the annotation when a pod starts, so it applies to pods created after it is set. Kubelet
// probes stay authorized: Linkerd authorizes them itself on ports without HTTPRoutes.
func NamespaceAnnotations(b *model.Baseline) map[string]string {
	if b.Mesh == nil || (b.Mesh.MTLS != ztv1.MTLSStrict && !b.Mesh.DefaultDeny) {
		return nil
	}
	return map[string]string{DefaultInboundPolicyAnnotation: "deny"}
}

// Compile returns, for every TCP port of the target, a Server, the authorizations of the
// policy's callers and, for ports with HTTP rules (in Enforce mode, with the target's
// probes known), the HTTPRoutes that restrict them to the allowed requests.
//
// In Audit mode the Servers have accessPolicy audit: Linkerd admits what no authorization
// allows and flags it in its logs and metrics. Audit works per port: HTTP routes are not
// generated in Audit mode, since attaching routes changes how Linkerd treats the requests
// they do not match and the kubelet's probes, which an audit must not do.
//
// It skips the policy when Linkerd cannot express it: the Kubernetes API or external CIDRs
// (not meshed pods), every port of the target (a Server selects one port), only UDP/SCTP
// ports (Linkerd proxies TCP), no caller with an identity or CIDR, or more method and path
// combinations on a port than one HTTPRoute holds.
func (b Backend) Compile(p *model.Policy) (model.Result, error) {
	switch {
	case p.Target.Kind == model.TargetKubernetesAPI:
		return skip("Linkerd does not govern access to the Kubernetes API; the RBAC backend enforces kubernetesAPI targets"), nil
	case p.Target.Kind == model.TargetExternal:
		return skip("Linkerd does not enforce egress to external CIDRs; the NetworkPolicy and Cilium backends do"), nil
	case !p.Target.Kind.Selects() || p.Target.PodSelector == nil:
		return skip("Linkerd has nothing to select for this target"), nil
	case p.AllPorts:
		return skip("Linkerd authorizes per port (a Server selects one port), and the policy opens every port of the target; " +
			"list the ports in spec.ports to enforce it with Linkerd"), nil
	}

	var notes []string
	refs, nets, callerNotes := authentications(p)
	notes = append(notes, callerNotes...)
	if len(refs) == 0 && len(nets) == 0 {
		return model.Result{Skipped: true, Message: strings.Join(append(notes,
			"no from entry has an identity or CIDR Linkerd can authorize, so no Server is generated (one without authorizations would deny everything)"), "; ")}, nil
	}

	labels := model.PolicyLabels(p, ztv1.BackendLinkerd)
	var objs []client.Object
	mtlsName, netName, probeNetName := model.IngressPartName(p, partCallers), model.IngressPartName(p, partCallers), model.IngressPartName(p, partProbes)
	if len(refs) > 0 {
		objs = append(objs, newObject(MeshTLSAuthenticationVersion, "MeshTLSAuthentication", p.Namespace, mtlsName, labels,
			map[string]any{"identityRefs": refs}))
	}
	if len(nets) > 0 {
		objs = append(objs, networkAuthentication(p.Namespace, netName, labels, nets))
	}

	needProbeNet := false
	routesSkipped := false
	tcp := 0
	for _, pr := range model.PortRules(p) {
		if pr.Protocol != "TCP" {
			notes = append(notes, fmt.Sprintf("Linkerd proxies TCP only: port %s/%s is left to NetworkPolicy and Cilium", pr.Port.String(), pr.Protocol))
			continue
		}
		tcp++
		port := pr.Port.String()
		server := model.IngressPartName(p, port)
		objs = append(objs, newObject(ServerVersion, "Server", p.Namespace, server, labels, serverSpec(p, &pr)))

		target := ref(Group, "Server", server)
		if !pr.Open() {
			switch {
			case p.Mode == ztv1.ModeAudit:
				// Authorizations target the Server: see Compile's doc.
			case !p.Target.ProbesKnown:
				routesSkipped = true
			default:
				rules, err := routeRules(pr.HTTP)
				if err != nil {
					return skip(fmt.Sprintf("Linkerd: port %s: %v", port, err)), nil
				}
				route := model.IngressPartName(p, port, partRoutes)
				objs = append(objs, newObject(HTTPRouteVersion, "HTTPRoute", p.Namespace, route, labels, routeSpec(server, rules)))
				target = ref(Group, "HTTPRoute", route)

				probes := probesOn(p.Target.Probes, &pr)
				if len(probes) > 0 {
					probeRules, err := probeRouteRules(probes)
					if err != nil {
						return skip(fmt.Sprintf("Linkerd: port %s: %v", port, err)), nil
					}
					probeRoute := model.IngressPartName(p, port, partProbes)
					objs = append(objs,
						newObject(HTTPRouteVersion, "HTTPRoute", p.Namespace, probeRoute, labels, routeSpec(server, probeRules)),
						authorizationPolicy(p.Namespace, model.IngressPartName(p, port, partProbes), labels,
							ref(Group, "HTTPRoute", probeRoute), ref(Group, "NetworkAuthentication", probeNetName)))
					needProbeNet = true
					notes = append(notes, probeOverlapNotes(port, probes, pr.HTTP)...)
				}
			}
		}
		if len(refs) > 0 {
			objs = append(objs, authorizationPolicy(p.Namespace, model.IngressPartName(p, port, partMesh), labels,
				target, ref(Group, "MeshTLSAuthentication", mtlsName)))
		}
		if len(nets) > 0 {
			objs = append(objs, authorizationPolicy(p.Namespace, model.IngressPartName(p, port, partNetwork), labels,
				target, ref(Group, "NetworkAuthentication", netName)))
		}
	}
	if tcp == 0 {
		return skip("Linkerd proxies TCP only, and the policy opens no TCP port; NetworkPolicy and Cilium enforce its UDP and SCTP ports"), nil
	}
	if needProbeNet {
		objs = append(objs, networkAuthentication(p.Namespace, probeNetName, labels, probeNetworks))
	}
	if routesSkipped {
		notes = append(notes, "Linkerd enforces the ports and callers but not the HTTP methods and paths of this policy: "+
			"an HTTPRoute would make Linkerd deny the pods' kubelet probes, which are known only for a workload target; "+
			"target the workload to enforce the HTTP rules with Linkerd")
	}
	if p.Mode == ztv1.ModeAudit {
		notes = append(notes, "Linkerd audits per port (Server accessPolicy audit): HTTP methods and paths are not audited")
	}
	sortObjects(objs)
	return model.Result{Objects: objs, Message: strings.Join(notes, "; ")}, nil
}

// authentications are the callers as MeshTLSAuthentication identityRefs (ServiceAccounts
// and namespaces) and NetworkAuthentication CIDRs, sorted and deduplicated, plus a note
// for every caller Linkerd cannot authorize (one known only by pod labels).
func authentications(p *model.Policy) (refs []any, nets []string, notes []string) {
	type key struct{ kind, ns, name string }
	seen := map[key]bool{}
	var keys []key
	add := func(k key) {
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	for i := range p.Callers {
		c := &p.Callers[i]
		switch {
		case c.Kind == model.CallerCIDR:
			nets = append(nets, c.CIDR)
		case c.AllPods:
			add(key{kind: "Namespace", name: c.Namespace})
		case len(c.ServiceAccountPeers) > 0:
			notes = append(notes, fmt.Sprintf("Linkerd authorizes ServiceAccounts, and from[%d] (%s) runs as ServiceAccount %s/%s, which %s also run as: "+
				"it is not authorized by Linkerd, since that would admit them too; give the workload a ServiceAccount of its own, "+
				"or name the ServiceAccount in from if all of them may call", c.Index, c.Describe(), c.Namespace,
				strings.Join(c.ServiceAccounts, ","), strings.Join(c.ServiceAccountPeers, ", ")))
		case len(c.ServiceAccounts) > 0:
			for _, sa := range c.ServiceAccounts {
				add(key{kind: "ServiceAccount", ns: c.Namespace, name: sa})
			}
		default:
			notes = append(notes, fmt.Sprintf("Linkerd authorizes mesh identities, and from[%d] (%s) names pods by label only: "+
				"it is not authorized by Linkerd; name its workload or serviceAccount instead", c.Index, c.Describe()))
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.kind != b.kind {
			return a.kind < b.kind
		}
		if a.ns != b.ns {
			return a.ns < b.ns
		}
		return a.name < b.name
	})
	for _, k := range keys {
		r := map[string]any{"kind": k.kind, "name": k.name}
		// A Namespace reference is cluster-scoped: Linkerd refuses a namespace on it. A
		// ServiceAccount reference always names its namespace, even the policy's own.
		if k.ns != "" {
			r["namespace"] = k.ns
		}
		refs = append(refs, r)
	}
	sort.Strings(nets)
	nets = uniqueStrings(nets)
	return refs, nets, notes
}

func serverSpec(p *model.Policy, pr *model.PortRule) map[string]any {
	access := "deny"
	if p.Mode == ztv1.ModeAudit {
		access = "audit"
	}
	proto := "unknown"
	if pr.Open() && defaultOpaquePorts[pr.Number] {
		proto = "opaque"
	}
	var port any = pr.Port.StrVal
	if pr.Port.Type == intstr.Int {
		port = int64(pr.Port.IntVal)
	}
	return map[string]any{
		"podSelector":   selector(p.Target.PodSelector),
		"port":          port,
		"proxyProtocol": proto,
		"accessPolicy":  access,
	}
}

// routeRules are the HTTP rules of a port as HTTPRoute rules: one match per method and path
// of each rule (matches are ORed; a match's path and method are ANDed), sorted and
// deduplicated, eight per rule.
//
// A path is matched exactly as the API means it. An exact path is an Exact match. A prefix
// ("/items/*", "/items*") is a RegularExpression of the quoted prefix followed by ".*",
// which Linkerd anchors at both ends: Linkerd's PathPrefix compares whole path segments and
// ignores a trailing slash, so PathPrefix "/items/" would also admit "/items", and
// PathPrefix "/items" would not admit "/items2". Only "/*" is a PathPrefix ("/"), which
// matches every path either way.
func routeRules(rules []ztv1.HTTPRule) ([]any, error) {
	type match struct{ typ, value, method string }
	seen := map[match]bool{}
	var ms []match
	for _, r := range rules {
		paths := r.Paths
		if len(paths) == 0 {
			paths = []string{"/*"}
		}
		methods := make([]string, 0, len(r.Methods))
		for _, m := range r.Methods {
			methods = append(methods, string(m))
		}
		if len(methods) == 0 {
			methods = []string{""}
		}
		for _, path := range paths {
			typ, value := pathMatch(path)
			for _, m := range methods {
				k := match{typ, value, m}
				if !seen[k] {
					seen[k] = true
					ms = append(ms, k)
				}
			}
		}
	}
	sort.Slice(ms, func(i, j int) bool {
		a, b := ms[i], ms[j]
		if a.value != b.value {
			return a.value < b.value
		}
		if a.typ != b.typ {
			return a.typ < b.typ
		}
		return a.method < b.method
	})
	out := make([]map[string]any, 0, len(ms))
	for _, m := range ms {
		o := map[string]any{"path": map[string]any{"type": m.typ, "value": m.value}}
		if m.method != "" {
			o["method"] = m.method
		}
		out = append(out, o)
	}
	return chunk(out)
}

func pathMatch(path string) (typ, value string) {
	prefix, isPrefix := strings.CutSuffix(path, "*")
	switch {
	case !isPrefix:
		return "Exact", path
	case prefix == "/":
		return "PathPrefix", "/"
	default:
		return "RegularExpression", regexp.QuoteMeta(prefix) + ".*"
	}
}

// probeRouteRules match the probes exactly, with the kubelet's method.
func probeRouteRules(probes []string) ([]any, error) {
	out := make([]map[string]any, 0, len(probes))
	for _, path := range probes {
		out = append(out, map[string]any{"path": map[string]any{"type": "Exact", "value": path}, "method": "GET"})
	}
	return chunk(out)
}

func chunk(matches []map[string]any) ([]any, error) {
	if n := len(matches); n > maxMatchesPerRule*maxRulesPerRoute {
		return nil, fmt.Errorf("%d method and path combinations do not fit one HTTPRoute (at most %d); split the policy's HTTP rules over several policies",
			n, maxMatchesPerRule*maxRulesPerRoute)
	}
	var rules []any
	for start := 0; start < len(matches); start += maxMatchesPerRule {
		end := min(start+maxMatchesPerRule, len(matches))
		ms := make([]any, 0, end-start)
		for _, m := range matches[start:end] {
			ms = append(ms, m)
		}
		rules = append(rules, map[string]any{"matches": ms})
	}
	return rules, nil
}

func routeSpec(server string, rules []any) map[string]any {
	return map[string]any{
		"parentRefs": []any{map[string]any{"group": Group, "kind": "Server", "name": server}},
		"rules":      rules,
	}
}

// probesOn are the paths of the probes sent to port pr, sorted: a probe names its port by
// number or by name, either of which may be how the policy names it.
func probesOn(probes []model.Probe, pr *model.PortRule) []string {
	var out []string
	for _, pb := range probes {
		if (pr.Number != 0 && pb.Port == pr.Number) || (pr.Port.Type == intstr.String && pb.PortName == pr.Port.StrVal) {
			out = append(out, pb.Path)
		}
	}
	sort.Strings(out)
	return uniqueStrings(out)
}

// probeOverlapNotes warn about probe paths that the policy's own rules also match with GET:
// Linkerd sends such a request to one of the two routes, and if it picks the policy's, the
// kubelet (no caller of the policy) is denied.
func probeOverlapNotes(port string, probes []string, rules []ztv1.HTTPRule) []string {
	var notes []string
	for _, path := range probes {
		for _, r := range rules {
			if coversGET(r, path) {
				notes = append(notes, fmt.Sprintf("Linkerd: the kubelet probe GET %s on port %s is also matched by the policy's HTTP rules; "+
					"Linkerd routes it to one of the two HTTPRoutes, and if it picks the policy's the probe is denied: leave probe paths out of the HTTP rules", path, port))
				break
			}
		}
	}
	return notes
}

// coversGET reports whether rule r matches GET path with a match Linkerd ranks as long as
// the probe route's exact match (anything but the PathPrefix "/" of "/*").
func coversGET(r ztv1.HTTPRule, path string) bool {
	if len(r.Methods) > 0 && !containsMethod(r.Methods, "GET") {
		return false
	}
	for _, p := range r.Paths {
		prefix, isPrefix := strings.CutSuffix(p, "*")
		if (!isPrefix && p == path) || (isPrefix && prefix != "/" && strings.HasPrefix(path, prefix)) {
			return true
		}
	}
	return false
}

func containsMethod(ms []ztv1.HTTPMethod, m ztv1.HTTPMethod) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
}

func authorizationPolicy(ns, name string, labels map[string]string, target, authn map[string]any) *unstructured.Unstructured {
	return newObject(AuthorizationPolicyVersion, "AuthorizationPolicy", ns, name, labels, map[string]any{
		"targetRef":                  target,
		"requiredAuthenticationRefs": []any{authn},
	})
}

func networkAuthentication(ns, name string, labels map[string]string, cidrs []string) *unstructured.Unstructured {
	nets := make([]any, 0, len(cidrs))
	for _, c := range cidrs {
		nets = append(nets, map[string]any{"cidr": c})
	}
	return newObject(NetworkAuthenticationVersion, "NetworkAuthentication", ns, name, labels, map[string]any{"networks": nets})
}

func ref(group, kind, name string) map[string]any {
	return map[string]any{"group": group, "kind": kind, "name": name}
}

func newObject(apiVersion, kind, ns, name string, labels map[string]string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	u.SetLabels(copyMap(labels))
	return u
}

// selector is a label selector in unstructured form, as written.
func selector(s *metav1.LabelSelector) map[string]any {
	out := map[string]any{}
	if len(s.MatchLabels) > 0 {
		ml := make(map[string]any, len(s.MatchLabels))
		for k, v := range s.MatchLabels {
			ml[k] = v
		}
		out["matchLabels"] = ml
	}
	if len(s.MatchExpressions) > 0 {
		exprs := make([]any, 0, len(s.MatchExpressions))
		for _, e := range s.MatchExpressions {
			x := map[string]any{"key": e.Key, "operator": string(e.Operator)}
			if len(e.Values) > 0 {
				vals := make([]any, 0, len(e.Values))
				for _, v := range e.Values {
					vals = append(vals, v)
				}
				x["values"] = vals
			}
			exprs = append(exprs, x)
		}
		out["matchExpressions"] = exprs
	}
	return out
}

func skip(msg string) model.Result { return model.Result{Skipped: true, Message: msg} }

func uniqueStrings(sorted []string) []string {
	out := sorted[:0]
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
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
		a, b := objs[i], objs[j]
		if a.GetName() != b.GetName() {
			return a.GetName() < b.GetName()
		}
		return a.GetObjectKind().GroupVersionKind().Kind < b.GetObjectKind().GroupVersionKind().Kind
	})
}
