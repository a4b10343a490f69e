// Package linkerd is the Linkerd backend: it enforces a ServiceAccessPolicy with Linkerd's
// policy resources (policy.linkerd.io), and exposes the namespace annotation that is
// Linkerd's part of a ZeroTrustBaseline.
//
// # What a policy becomes
//
// Linkerd authorizes per port. For every TCP port the policy opens, the target pods get a
// Server (the port on those pods, accessPolicy deny), and the callers get authorizations:
// one AuthorizationPolicy requiring a MeshTLSAuthentication (the callers' ServiceAccounts
// and, for a namespace-alone caller, the namespace, as identityRefs) and one requiring a
// NetworkAuthentication (the CIDR callers); an AuthorizationPolicy requires all of its
// authentications, so the two kinds cannot share one. Every caller kind is authorized by
// the ServiceAccounts the resolver found for it (model.Caller.ServiceAccounts): a
// ServiceAccount that workloads outside the caller also run as is never authorized, since
// it would admit them too.
//
// When the port has HTTP rules, the authorizations target an HTTPRoute attached to the
// Server that matches exactly those requests. When the port is open to every request, they
// target the Server (an authorization on a Server admits its callers on every route of the
// Server: Linkerd adds a Server's authorizations to each of its routes, and to plain TCP
// connections), and, unless the port is opaque, the policy also attaches a catch-all
// HTTPRoute (PathPrefix "/") without authorizations of its own: once any HTTPRoute is
// attached to a Server, Linkerd refuses the requests no route matches, so without it the
// callers of an open port would lose every path another policy on the same Server does
// not route (see Composition).
//
// # Failing closed
//
// Whenever the target selects pods, it is isolated as NetworkPolicy and Istio isolate it,
// even when some or every caller cannot be expressed:
//   - every port the policy opens gets its Server, with no authorization when no caller can
//     be expressed (Linkerd then denies everything on it);
//   - every other TCP container port the target's workloads declare gets a Server with
//     accessPolicy deny and no authorization, rather than being left to the cluster's
//     default inbound policy (all-unauthenticated unless configured); not in Audit mode,
//     where such a Server would only contend with enforcing policies' Servers for ports
//     the audited policy does not mention;
//   - a policy that opens every port gets one Server per declared TCP container port of
//     the target's workloads, each authorized for the callers (ports the pods listen on
//     without declaring them are unknown, and left to the default policy).
//
// What cannot be expressed is denied and listed in Result.Denied (a sentence per item,
// naming Linkerd, the spec field and what to change): a caller without an identity
// Linkerd can authorize (model.Caller.MeshGaps), a policy that opens every port of a
// target that declares none, HTTP rules on a port Linkerd treats as opaque, more method
// and path combinations than an HTTPRoute holds.
//
// # Methods and paths, and kubelet probes
//
// Linkerd authorizes kubelet probes by itself only as long as no HTTPRoute is attached to
// the Server; once one is, probes are denied unless routed and authorized (Linkerd's
// "Default authorizations" and its per-route policy guide). So wherever this backend
// attaches routes it also generates what Linkerd's guide recommends: a separate HTTPRoute
// matching exactly the pods' HTTP GET probes on that port, authorized by a
// NetworkAuthentication for every address (0.0.0.0/0 and ::/0), which is what Linkerd's
// own default probe authorization allows. The probes are those of the target's workloads
// (model.Target.Probes; a probe is on a port when it names the port, or its number is the
// port's number, per workload for a named port).
//
// Routes are attached only when the probes are known (model.Target.ProbesKnown: the
// resolver read the pod template of at least one workload the target selects). A Service
// or podSelector target that selects no workload's pods has unknown probes: the backend
// then enforces its ports and callers but not its methods and paths, since a route would
// fail the pods' probes, and says so in Result.Message (not in Denied: it admits more
// than declared at L7, it denies nothing). Such a target's results are exact at L4 only.
//
// # Composition: shared Servers
//
// Linkerd applies one Server per pod and port: when several select the same one, its
// index uses the oldest (then the first by name) and ignores the others. So Servers are
// not per policy: a Server is named by what it is (ServerName: a hash of its spec, i.e.
// the canonical pod selector, the port, the proxy protocol and the access policy), labelled
// only as the operator's and this backend's (SharedLabels), and every policy that needs a
// Server for the same pods and port generates the identical object. A port is written the
// same way whichever way a policy names it (serverPort), and the proxy protocol depends on
// the port only, so that a policy naming the port and another numbering it meet on one
// Server. Everything else (HTTPRoutes, AuthorizationPolicies, authentications) is per
// policy, named by model.IngressPartName and labelled by model.PolicyLabels, and refers to
// the shared Server by name. Two policies on one Server then compose as a union:
//   - open port + open port: both authorize on the Server;
//   - open port (A) + HTTP rules (B): A's callers are admitted on A's catch-all route and,
//     through the Server's authorizations, on B's routes; B's callers only on B's routes;
//   - HTTP rules + HTTP rules: each request is routed to one route, the one whose match
//     ranks highest (the longest matched path, where an Exact or RegularExpression match
//     counts the whole path and a PathPrefix its prefix; then a match with a method over one
//     without), and on a tie to the oldest route, then the first by name. A request that
//     both policies' routes match equally (the same method and path in both, or an exact
//     path of one that a prefix of the other also covers) is authorized by the older
//     route's policy only, so the other policy's callers are denied there. One compile
//     sees one policy, so this cannot be detected here: keep such rules in one policy.
//
// In Audit mode the Servers have accessPolicy audit, so their spec, and so their name,
// differs from the Enforce ones: audit Servers are shared by audit policies only, and an
// audit policy generates Servers only for the ports it opens. An audit and an enforcing
// policy on the same pods and port (opened or isolated by the enforcing one) therefore
// generate two Servers for one pod port, of which Linkerd applies the older: audit a
// policy before others enforce on its ports, or in a namespace of its own.
//
// Objects are unstructured (Linkerd publishes no Go module for its CRDs), in the versions
// the CRDs store (Server v1beta3, HTTPRoute v1beta3, the others v1alpha1), with every
// field the CRDs default set explicitly (Server accessPolicy and proxyProtocol, route
// parentRef group and kind, match path type and value), so that a server-side apply of an
// unchanged object is a no-op. Evaluate models Linkerd's authorization over such objects.
package linkerd

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

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

// Name parts of the per-policy objects. Every kind uses a fixed number of parts (see
// model.IngressPartName): HTTPRoute <port>.<routes|probes>; AuthorizationPolicy
// <port>.<mesh|network|probes>; MeshTLSAuthentication and NetworkAuthentication
// <callers|probes>. The <port> part is the port as the policy names it (its number when
// the policy opens every port). Servers are shared and named by ServerName.
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
// port, so a Server for one of these ports says opaque, as Linkerd would.
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

// openPort is one TCP port the policy opens, as this backend compiles it.
type openPort struct {
	// rule is the port as model.PortRules merged it (a declared container port, open, when
	// the policy opens every port).
	rule model.PortRule
	// server is the port as the Server writes it (serverPort).
	server intstr.IntOrString
	// all is true when every request (and every TCP connection) is allowed on the port.
	all bool
}

// Compile returns, for the target pods, the shared Servers of every TCP port the policy
// opens and (except in Audit mode) of every other declared TCP container port, those
// without authorization; and, per policy, the authorizations of the callers on the ports
// it opens and the HTTPRoutes that restrict them to the allowed requests, or that keep an
// open port open once other policies attach routes (see the package documentation).
//
// In Audit mode the Servers have accessPolicy audit: Linkerd admits what no authorization
// allows and flags it in its logs and metrics. Audit works per port: HTTP routes are not
// generated in Audit mode, since attaching routes changes how Linkerd treats the requests
// they do not match and the kubelet's probes, which an audit must not do.
//
// It skips the policy only when Linkerd has nothing to enforce: the Kubernetes API or
// external CIDRs (not meshed pods), or no TCP port at all (the policy opens UDP/SCTP ports
// only and the target's workloads declare no TCP port).
func (b Backend) Compile(p *model.Policy) (model.Result, error) {
	switch {
	case p.Target.Kind == model.TargetKubernetesAPI:
		return skip("Linkerd does not govern access to the Kubernetes API; the RBAC backend enforces kubernetesAPI targets"), nil
	case p.Target.Kind == model.TargetExternal:
		return skip("Linkerd does not enforce egress to external CIDRs; the NetworkPolicy and Cilium backends do"), nil
	case !p.Target.Kind.Selects() || p.Target.PodSelector == nil:
		return skip("Linkerd has nothing to select for this target"), nil
	}

	var notes, denied []string
	refs, nets, callerDenied := authentications(p)
	denied = append(denied, callerDenied...)
	ports, portNotes, portDenied := openPorts(p)
	notes = append(notes, portNotes...)
	denied = append(denied, portDenied...)
	var isolated []int32
	if p.Mode != ztv1.ModeAudit {
		var isolateNotes []string
		isolated, isolateNotes = isolatedPorts(p, ports)
		notes = append(notes, isolateNotes...)
	}
	if len(ports) == 0 && len(isolated) == 0 {
		if len(portDenied) > 0 {
			return model.Result{Denied: denied, Message: strings.Join(notes, "; ")}, nil
		}
		msg := "Linkerd proxies TCP only, and the policy opens no TCP port"
		if p.Mode != ztv1.ModeAudit {
			msg += " and the target's workloads declare none to isolate"
		}
		return skip(msg + "; NetworkPolicy and Cilium enforce its UDP and SCTP ports"), nil
	}

	access := accessDeny
	if p.Mode == ztv1.ModeAudit {
		access = accessAudit
	}
	labels := model.PolicyLabels(p, ztv1.BackendLinkerd)
	authorize := len(refs) > 0 || len(nets) > 0
	// Routes may be attached only where the kubelet's probes are known (see the package
	// documentation), and never in Audit mode.
	routable := p.Mode != ztv1.ModeAudit && p.Target.ProbesKnown

	var objs []client.Object
	servers := map[string]bool{}
	addServer := func(port intstr.IntOrString, number int32) (string, bool) {
		spec := serverSpec(p.Target.PodSelector, port, number, access)
		name := ServerName(spec)
		if !servers[name] {
			servers[name] = true
			objs = append(objs, newServer(p.Namespace, spec))
		}
		return name, spec["proxyProtocol"] == "opaque"
	}

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
	// probeRoute attaches the route of the kubelet's probes on port part to server, when
	// there are any. It fails only past 128 probes on one port.
	probeRoute := func(part, server string, pr *model.PortRule) error {
		probes := probesOn(&p.Target, pr)
		if len(probes) == 0 {
			return nil
		}
		rules, err := probeRouteRules(probes)
		if err != nil {
			return fmt.Errorf("its kubelet probes do not fit one HTTPRoute: %w", err)
		}
		name := model.IngressPartName(p, part, partProbes)
		objs = append(objs,
			newObject(HTTPRouteVersion, "HTTPRoute", p.Namespace, name, labels, routeSpec(server, rules)),
			authorizationPolicy(p.Namespace, model.IngressPartName(p, part, partProbes), labels,
				ref(Group, "HTTPRoute", name), ref(Group, "NetworkAuthentication", probeNetName)))
		needProbeNet = true
		return nil
	}

	for i := range ports {
		op := &ports[i]
		server, opaque := addServer(op.server, op.rule.Number)
		if !authorize {
			continue
		}
		part := op.rule.Port.String()
		target := ref(Group, "Server", server)
		switch {
		case op.all:
			// Without its probe route, a catch-all route would fail the probes: the port is
			// then authorized on the Server alone.
			if routable && !opaque && probeRoute(part, server, &op.rule) == nil {
				route := model.IngressPartName(p, part, partRoutes)
				objs = append(objs, newObject(HTTPRouteVersion, "HTTPRoute", p.Namespace, route, labels, routeSpec(server, catchAllRules())))
			}
		case p.Mode == ztv1.ModeAudit:
			// Authorizations target the Server: see Compile's doc.
		case opaque:
			denied = append(denied, fmt.Sprintf("Linkerd does not admit the callers on port %s: Linkerd treats port %d as opaque (no HTTP), "+
				"so it cannot match the HTTP methods and paths spec.ports gives for it; open the port without HTTP rules to enforce the policy there with Linkerd",
				part, op.rule.Number))
			continue
		case !p.Target.ProbesKnown:
			routesSkipped = true
		default:
			rules, err := routeRules(op.rule.HTTP)
			if err != nil {
				denied = append(denied, fmt.Sprintf("Linkerd does not admit the callers on port %s: %v", part, err))
				continue
			}
			if err := probeRoute(part, server, &op.rule); err != nil {
				denied = append(denied, fmt.Sprintf("Linkerd does not admit the callers on port %s: %v", part, err))
				continue
			}
			route := model.IngressPartName(p, part, partRoutes)
			objs = append(objs, newObject(HTTPRouteVersion, "HTTPRoute", p.Namespace, route, labels, routeSpec(server, rules)))
			target = ref(Group, "HTTPRoute", route)
			notes = append(notes, probeOverlapNotes(part, probesOn(&p.Target, &op.rule), op.rule.HTTP)...)
		}
		if len(refs) > 0 {
			objs = append(objs, authorizationPolicy(p.Namespace, model.IngressPartName(p, part, partMesh), labels,
				target, ref(Group, "MeshTLSAuthentication", mtlsName)))
		}
		if len(nets) > 0 {
			objs = append(objs, authorizationPolicy(p.Namespace, model.IngressPartName(p, part, partNetwork), labels,
				target, ref(Group, "NetworkAuthentication", netName)))
		}
	}
	for _, n := range isolated {
		addServer(serverPort(p.Target.Workloads, intstr.FromInt32(n)), n)
	}
	if needProbeNet {
		objs = append(objs, networkAuthentication(p.Namespace, probeNetName, labels, probeNetworks))
	}
	if routesSkipped {
		notes = append(notes, "Linkerd enforces the ports and callers but not the HTTP methods and paths of this policy: "+
			"the target selects the pods of no Deployment, StatefulSet or DaemonSet, so their kubelet probes are unknown and an HTTPRoute would make Linkerd deny them; "+
			"target a workload, or select its pods, to enforce the HTTP rules with Linkerd")
	}
	if p.Mode == ztv1.ModeAudit {
		notes = append(notes, "Linkerd audits per port (Server accessPolicy audit): HTTP methods and paths are not audited")
	}
	sortObjects(objs)
	return model.Result{Objects: objs, Message: strings.Join(notes, "; "), Denied: denied}, nil
}

// openPorts are the TCP ports p opens, with notes on the ports Linkerd leaves to other
// backends and the denials of what it cannot open. For a policy that opens every port they
// are the declared TCP container ports of the target's workloads, each open to every
// request.
func openPorts(p *model.Policy) (ports []openPort, notes, denied []string) {
	ws := p.Target.Workloads
	if p.AllPorts {
		nums := declaredTCPPorts(ws)
		if len(nums) == 0 {
			return nil, nil, []string{"Linkerd does not admit the callers on any port: a Linkerd Server selects one port, the policy opens every port of the target " +
				"(spec.ports is empty), and no Deployment, StatefulSet or DaemonSet of the target declares a TCP container port, so Linkerd cannot know the ports; " +
				"list the ports in spec.ports to enforce the policy with Linkerd"}
		}
		var list []string
		for _, n := range nums {
			port := intstr.FromInt32(n)
			ports = append(ports, openPort{rule: model.PortRule{Port: port, Number: n, Protocol: "TCP"}, server: serverPort(ws, port), all: true})
			list = append(list, strconv.Itoa(int(n)))
		}
		notes = append(notes, fmt.Sprintf("Linkerd authorizes per port: the policy opens every port, so Linkerd opens the TCP container ports the target's workloads declare (%s); "+
			"ports the pods listen on without declaring them are left to Linkerd's default inbound policy", strings.Join(list, ", ")))
		return ports, notes, nil
	}
	for _, pr := range model.PortRules(p) {
		if pr.Protocol != "TCP" {
			notes = append(notes, fmt.Sprintf("Linkerd proxies TCP only: port %s/%s is left to NetworkPolicy and Cilium", pr.Port.String(), pr.Protocol))
			continue
		}
		ports = append(ports, openPort{rule: pr, server: serverPort(ws, pr.Port), all: opensEverything(&pr)})
	}
	return ports, notes, nil
}

// opensEverything reports whether port rule pr allows every request: no HTTP rules, or a
// rule for every method on every path ("/*"), which would otherwise become a route that
// ranks like the catch-all route of an open port.
func opensEverything(pr *model.PortRule) bool {
	if pr.Open() {
		return true
	}
	for _, r := range pr.HTTP {
		if len(r.Methods) == 0 {
			for _, path := range r.Paths {
				if path == "/*" {
					return true
				}
			}
		}
	}
	return false
}

// isolatedPorts are the declared TCP container ports of the target's workloads that the
// policy does not open, sorted: each gets a Server without authorization. A number that a
// port the policy opens by name stands for on some workload is not among them (on that
// workload's pods it is the named Server's port, and Linkerd applies one Server per pod
// port); the note says which ports of other workloads are therefore left to the default
// policy.
func isolatedPorts(p *model.Policy, ports []openPort) ([]int32, []string) {
	ws := p.Target.Workloads
	opened := map[int32]bool{}
	named := map[int32]string{}
	for _, op := range ports {
		if op.rule.Number != 0 {
			opened[op.rule.Number] = true
		}
		if op.rule.Port.Type == intstr.String {
			for i := range ws {
				if n := ws[i].PortNumber(op.rule.Port.StrVal, "TCP"); n != 0 {
					opened[n] = true
					named[n] = op.rule.Port.StrVal
				}
			}
		}
	}
	var out []int32
	var left []string
	for _, n := range declaredTCPPorts(ws) {
		if !opened[n] {
			out = append(out, n)
			continue
		}
		name, ok := named[n]
		if !ok {
			continue
		}
		for i := range ws {
			for _, cp := range ws[i].Ports {
				if isTCP(cp) && cp.ContainerPort == n && cp.Name != name {
					left = append(left, fmt.Sprintf("%s port %d", ws[i].Ref(), n))
				}
			}
		}
	}
	var notes []string
	if len(left) > 0 {
		sort.Strings(left)
		notes = append(notes, fmt.Sprintf("Linkerd does not isolate %s: another workload of the target serves a port the policy opens by name on that number, "+
			"and Linkerd applies one Server per pod and port; give the workloads' ports distinct numbers", strings.Join(uniqueStrings(left), ", ")))
	}
	return out, notes
}

// authentications are the callers as MeshTLSAuthentication identityRefs (ServiceAccounts
// and namespaces) and NetworkAuthentication CIDRs, sorted and deduplicated, and the
// denials of the callers, or parts of callers, Linkerd cannot admit.
func authentications(p *model.Policy) (refs []any, nets []string, denied []string) {
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
			continue
		case c.AllPods:
			add(key{kind: "Namespace", name: c.Namespace})
			continue
		}
		for _, sa := range c.ServiceAccounts {
			add(key{kind: "ServiceAccount", ns: c.Namespace, name: sa})
		}
		switch {
		case len(c.MeshGaps) > 0:
			denied = append(denied, fmt.Sprintf("Linkerd does not admit from[%d] (%s): %s", c.Index, c.Describe(), strings.Join(c.MeshGaps, "; ")))
		case !c.MeshExpressible():
			denied = append(denied, fmt.Sprintf("Linkerd does not admit from[%d] (%s): it has no mesh identity Linkerd can authorize; "+
				"name its workload or serviceAccount in spec.from", c.Index, c.Describe()))
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
	return refs, nets, denied
}

// catchAllRules match every request: the route an open port attaches (see the package
// documentation), with the match written out as the CRD defaults it.
func catchAllRules() []any {
	return []any{map[string]any{"matches": []any{map[string]any{"path": map[string]any{"type": "PathPrefix", "value": "/"}}}}}
}

// probesOn are the paths of the target's kubelet probes sent to port pr, sorted: a probe
// names its port by number or by name, either of which may be how the policy names it,
// and a port name may stand for a different number on each workload.
func probesOn(t *model.Target, pr *model.PortRule) []string {
	var out []string
	on := func(pb model.Probe, number int32) bool {
		return (number != 0 && pb.Port == number) || (pr.Port.Type == intstr.String && pb.PortName == pr.Port.StrVal)
	}
	for _, pb := range t.Probes {
		if on(pb, pr.Number) {
			out = append(out, pb.Path)
		}
	}
	for i := range t.Workloads {
		w := &t.Workloads[i]
		n := pr.Number
		if pr.Port.Type == intstr.String {
			n = w.PortNumber(pr.Port.StrVal, pr.Protocol)
		}
		for _, pb := range w.Probes {
			if on(pb, n) {
				out = append(out, pb.Path)
			}
		}
	}
	sort.Strings(out)
	return uniqueStrings(out)
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
