// Package semantics_test judges, with an evaluator of each enforcement layer's documented
// semantics, the objects the compiler renders for a matrix of scenarios: every target kind
// x every caller kind x named and numeric ports x own and shared ServiceAccounts x with and
// without HTTP rules, with one or two workloads behind the target. For every backend that
// reports Applied, what the policy declares is allowed and everything else tried is denied;
// a backend that reports Partial denies, in addition, exactly the callers its Denied
// sentences name.
//
// The expected verdicts are computed from the scenario's parameters (the policy's intent),
// never from what a backend produced.
package semantics_test

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Scenario parameters.
const (
	targetService   = "service"   // spec.target.service: api (Service port web -> targetPort)
	targetWorkload  = "workload"  // spec.target.workload: Deployment api
	targetPodLabels = "podLabels" // spec.target.podSelector.matchLabels {app: api}
	targetPodExpr   = "podExpr"   // spec.target.podSelector.matchExpressions app In (api)

	callerService        = "service"        // from: {service: web, namespace: client}
	callerWorkload       = "workload"       // from: {workload: Deployment web, namespace: client}
	callerServiceAccount = "serviceAccount" // from: {serviceAccount: <web's SA>, namespace: client}
	callerNamespace      = "namespace"      // from: {namespace: client}
	callerPodSelector    = "podSelector"    // from: {podSelector: {matchLabels: {app: web}}, namespace: client}
	callerCIDR           = "cidr"           // from: {cidr: 203.0.113.0/24}

	portNamed   = "named"   // the pods' port is named "http" (Service targetPort: http, policy port: web / http)
	portNumeric = "numeric" // the pods' port is 8080 (Service targetPort: 8080, policy port: 80 / 8080)

	saOwn    = "own"    // Deployment client/web runs as ServiceAccount web, which nothing else runs as
	saShared = "shared" // client/web and client/batch both run as ServiceAccount shared
)

var (
	targetKinds = []string{targetService, targetWorkload, targetPodLabels, targetPodExpr}
	callerKinds = []string{callerService, callerWorkload, callerServiceAccount, callerNamespace, callerPodSelector, callerCIDR}
	portKinds   = []string{portNamed, portNumeric}
	saKinds     = []string{saOwn, saShared}
)

// scenario is one world: the parameters of its single ServiceAccessPolicy.
type scenario struct {
	target, caller, port, sa string
	// http: the policy's port carries the rule GET /items, /items/*.
	http bool
	// two: a second target workload (StatefulSet api-v2) declares "http" as 9090, where
	// Deployment api declares it as 8080.
	two bool
	// allPorts: the policy lists no ports (every port of the target).
	allPorts bool
	// plusCIDR: from[1] is {cidr: 203.0.113.0/24}, so that a Partial backend is seen to
	// deny only the caller it names.
	plusCIDR bool
}

func (s scenario) String() string {
	h := "none"
	if s.http {
		h = "GET-items"
	}
	w := "one"
	if s.two {
		w = "two"
	}
	n := fmt.Sprintf("target=%s,caller=%s,port=%s,sa=%s,http=%s,workloads=%s", s.target, s.caller, s.port, s.sa, h, w)
	if s.allPorts {
		n = fmt.Sprintf("target=%s,caller=%s,port=all,sa=%s,workloads=%s", s.target, s.caller, s.sa, w)
	}
	if s.plusCIDR {
		n = strings.Replace(n, ",port=", ",plus=cidr,port=", 1)
	}
	return n
}

// matrix is every combination; a workload target has one workload by definition.
func matrix() []scenario {
	var out []scenario
	for _, t := range targetKinds {
		for _, c := range callerKinds {
			for _, p := range portKinds {
				for _, sa := range saKinds {
					for _, h := range []bool{false, true} {
						for _, two := range []bool{false, true} {
							if two && t == targetWorkload {
								continue
							}
							out = append(out, scenario{target: t, caller: c, port: p, sa: sa, http: h, two: two})
						}
					}
				}
			}
		}
	}
	return out
}

// The world's names.
const (
	targetNS = "app"
	callerNS = "client"
	otherNS  = "other"

	inCIDR      = "203.0.113.0/24"
	externalIn  = "203.0.113.7"
	externalOut = "198.51.100.7"
)

// callerSA is the ServiceAccount Deployment client/web (and other/web) runs as.
func (s scenario) callerSA() string {
	if s.sa == saShared {
		return "shared"
	}
	return "web"
}

// batchSA is the ServiceAccount Deployment client/batch runs as.
func (s scenario) batchSA() string {
	if s.sa == saShared {
		return "shared"
	}
	return "batch"
}

// peer is a caller tried against the target: a pod (namespace, labels, ServiceAccount) or
// an address outside the cluster.
type peer struct {
	name     string
	ns       string
	labels   map[string]string
	sa       string
	ip       string
	external bool
}

func (p peer) principal() string {
	if p.external {
		return ""
	}
	return fmt.Sprintf("cluster.local/ns/%s/sa/%s", p.ns, p.sa)
}

func (p peer) addr() netip.Addr { return netip.MustParseAddr(p.ip) }

// peers are every caller tried: client/web (the caller), client/batch (a sibling with other
// labels, sharing web's ServiceAccount when sa=shared), other/web (same labels and
// ServiceAccount name in another namespace), and two external addresses, one inside the
// CIDR a cidr caller names.
func (s scenario) peers() []peer {
	return []peer{
		{name: "client/web", ns: callerNS, labels: map[string]string{"app": "web", "pod-template-hash": "5c7d"}, sa: s.callerSA(), ip: "10.1.0.11"},
		{name: "client/batch", ns: callerNS, labels: map[string]string{"app": "batch", "pod-template-hash": "7f9b"}, sa: s.batchSA(), ip: "10.1.0.12"},
		{name: "other/web", ns: otherNS, labels: map[string]string{"app": "web", "pod-template-hash": "5c7d"}, sa: s.callerSA(), ip: "10.1.0.21"},
		{name: "external " + externalIn, ip: externalIn, external: true},
		{name: "external " + externalOut, ip: externalOut, external: true},
	}
}

// dest is a target pod: its labels, container ports, and the pod port the policy opens on
// it (0 with allPorts).
type dest struct {
	name     string
	ns       string
	labels   map[string]string
	sa       string
	ports    []corev1.ContainerPort
	declared int32
	// every is the pod ports a policy without ports opens on it: the targetPorts of the
	// Service's ports for a Service target, the declared container ports for a workload
	// target; nil (every port) for a podSelector target.
	every []int32
	// probe is the kubelet's readiness probe: GET probePath on port probePort.
	probePath string
	probePort int32
}

func (s scenario) dests() []dest {
	v1 := dest{
		name: "app/api", ns: targetNS, sa: "api",
		labels:    map[string]string{"app": "api", "version": "v1", "pod-template-hash": "6b8c"},
		ports:     []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}, {Name: "metrics", ContainerPort: 9100, Protocol: corev1.ProtocolTCP}},
		declared:  8080,
		probePath: "/healthz", probePort: 8080,
	}
	out := []dest{v1}
	if s.two {
		v2 := dest{
			name: "app/api-v2", ns: targetNS, sa: "api",
			labels:    map[string]string{"app": "api", "version": "v2", "controller-revision-hash": "api-v2-0"},
			ports:     []corev1.ContainerPort{{Name: "http", ContainerPort: 9090, Protocol: corev1.ProtocolTCP}, {Name: "metrics", ContainerPort: 9100, Protocol: corev1.ProtocolTCP}},
			declared:  9090,
			probePath: "/ready", probePort: 9090,
		}
		if s.port == portNumeric {
			v2.declared = 8080
		}
		out = append(out, v2)
	}
	if s.allPorts {
		for i := range out {
			out[i].declared = 0
			switch s.target {
			case targetService:
				http := int32(8080)
				if s.port == portNamed {
					http = out[i].ports[0].ContainerPort
				}
				out[i].every = []int32{http, 9100}
			case targetWorkload:
				out[i].every = []int32{out[i].ports[0].ContainerPort, out[i].ports[1].ContainerPort}
			}
		}
	}
	return out
}

// triedPorts are the pod ports every request is tried on.
var triedPorts = []int32{8080, 9090, 9100, 7070, 80}

// httpReq is one request; an empty method is a plain TCP connection (no HTTP).
type httpReq struct{ method, path string }

func (r httpReq) String() string {
	if r.method == "" {
		return "plain TCP"
	}
	return r.method + " " + r.path
}

var triedRequests = []httpReq{
	{"GET", "/items"}, {"GET", "/items/42"}, {"GET", "/items/"}, {"HEAD", "/items"}, {"POST", "/items"},
	{"DELETE", "/items/1"}, {"GET", "/admin"}, {"GET", "/itemsX"}, {"GET", "/"}, {"", ""},
}

// fromEntries are the indexes of the from entries that name p: the policy's intent on
// callers.
func (s scenario) fromEntries(p peer) []int {
	var out []int
	if s.callerAllowed(p) {
		out = append(out, 0)
	}
	if s.plusCIDR && p.external && netip.MustParsePrefix(inCIDR).Contains(p.addr()) {
		out = append(out, 1)
	}
	return out
}

// callerAllowed: whether from[0] names p.
func (s scenario) callerAllowed(p peer) bool {
	switch s.caller {
	case callerCIDR:
		return p.external && netip.MustParsePrefix(inCIDR).Contains(p.addr())
	case callerNamespace:
		return !p.external && p.ns == callerNS
	case callerServiceAccount:
		return !p.external && p.ns == callerNS && p.sa == s.callerSA()
	default: // service, workload and podSelector all select the pods labelled app=web
		return !p.external && p.ns == callerNS && p.labels["app"] == "web"
	}
}

// portAllowed is the policy's intent on ports: the declared pod port of d; without ports,
// every port of the target (docs/policies.md: the Service's ports, the workload's declared
// container ports, or every port of a podSelector target).
func (s scenario) portAllowed(d dest, port int32) bool {
	if !s.allPorts {
		return port == d.declared
	}
	if s.target == targetPodLabels || s.target == targetPodExpr {
		return true
	}
	for _, p := range d.every {
		if p == port {
			return true
		}
	}
	return false
}

// requestAllowed is the policy's intent at L7: GET /items and GET under /items/ when the
// port carries the HTTP rule; any request, and plain TCP, otherwise.
func (s scenario) requestAllowed(r httpReq) bool {
	if !s.http || s.allPorts {
		return true
	}
	return r.method == "GET" && (r.path == "/items" || strings.HasPrefix(r.path, "/items/"))
}

// meshInexpressible: the callers a mesh (which authorizes ServiceAccounts) cannot admit
// without admitting others: a caller known by pods whose ServiceAccount a workload outside
// it also runs as.
func (s scenario) meshInexpressible() bool {
	switch s.caller {
	case callerService, callerWorkload, callerPodSelector:
		return s.sa == saShared
	}
	return false
}

// yaml is the world: three namespaces, the target's workloads and Service, the callers'
// workloads, Service and ServiceAccounts, and the policy.
func (s scenario) yaml() string {
	return s.cluster() + "---\n" + s.policyYAML() + "\n"
}

// cluster is the world without its policy.
func (s scenario) cluster() string {
	var b strings.Builder
	doc := func(format string, args ...any) {
		b.WriteString("---\n")
		fmt.Fprintf(&b, format, args...)
		b.WriteString("\n")
	}
	for _, ns := range []string{targetNS, callerNS, otherNS} {
		doc("apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}", ns)
	}
	for _, sa := range []struct{ ns, name string }{
		{targetNS, "api"}, {callerNS, "web"}, {callerNS, "batch"}, {callerNS, "shared"}, {otherNS, "web"}, {otherNS, "shared"},
	} {
		doc("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: %s, namespace: %s}", sa.name, sa.ns)
	}
	for i, d := range s.dests() {
		kind, name := "Deployment", "api"
		if i == 1 {
			kind, name = "StatefulSet", "api-v2"
		}
		doc("%s", workloadYAML(kind, d.ns, name, map[string]string{"app": "api", "version": d.labels["version"]}, d.sa, d.ports, d.probePath))
	}
	tp := "http"
	if s.port == portNumeric {
		tp = "8080"
	}
	doc(`apiVersion: v1
kind: Service
metadata: {name: api, namespace: %s}
spec:
  selector: {app: api}
  ports:
    - {name: web, port: 80, targetPort: %s}
    - {name: metrics, port: 9100, targetPort: 9100}`, targetNS, tp)

	webPorts := []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}
	doc("%s", workloadYAML("Deployment", callerNS, "web", map[string]string{"app": "web"}, s.callerSA(), webPorts, ""))
	doc("%s", workloadYAML("Deployment", callerNS, "batch", map[string]string{"app": "batch"}, s.batchSA(), nil, ""))
	doc("%s", workloadYAML("Deployment", otherNS, "web", map[string]string{"app": "web"}, s.callerSA(), webPorts, ""))
	doc(`apiVersion: v1
kind: Service
metadata: {name: web, namespace: %s}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]`, callerNS)
	return b.String()
}

func (s scenario) policyYAML() string {
	var target string
	switch s.target {
	case targetService:
		target = "{service: api}"
	case targetWorkload:
		target = "{workload: {kind: Deployment, name: api}}"
	case targetPodLabels:
		target = "{podSelector: {matchLabels: {app: api}}}"
	case targetPodExpr:
		target = "{podSelector: {matchExpressions: [{key: app, operator: In, values: [api]}]}}"
	}
	var from string
	switch s.caller {
	case callerService:
		from = "{service: web, namespace: client}"
	case callerWorkload:
		from = "{workload: {kind: Deployment, name: web}, namespace: client}"
	case callerServiceAccount:
		from = fmt.Sprintf("{serviceAccount: %s, namespace: client}", s.callerSA())
	case callerNamespace:
		from = "{namespace: client}"
	case callerPodSelector:
		from = "{podSelector: {matchLabels: {app: web}}, namespace: client}"
	case callerCIDR:
		from = "{cidr: " + inCIDR + "}"
	}
	if s.plusCIDR {
		from += ", {cidr: " + inCIDR + "}"
	}
	ports := ""
	if !s.allPorts {
		var port string
		switch {
		case s.target == targetService && s.port == portNamed:
			port = "web"
		case s.target == targetService:
			port = "80"
		case s.port == portNamed:
			port = "http"
		default:
			port = "8080"
		}
		ports = "\n  ports:\n    - port: " + port
		if s.http {
			ports += "\n      http: [{methods: [GET], paths: [/items, /items/*]}]"
		}
	}
	return fmt.Sprintf(`apiVersion: zerotrust.dev/v1alpha1
kind: ServiceAccessPolicy
metadata: {name: api-access, namespace: %s}
spec:
  target: %s
  from: [%s]%s`, targetNS, target, from, ports)
}

func workloadYAML(kind, ns, name string, labels map[string]string, sa string, ports []corev1.ContainerPort, probePath string) string {
	var ps []string
	for _, p := range ports {
		ps = append(ps, fmt.Sprintf("{name: %s, containerPort: %d}", p.Name, p.ContainerPort))
	}
	probe := ""
	if probePath != "" {
		probe = fmt.Sprintf(", readinessProbe: {httpGet: {path: %s, port: http}}", probePath)
	}
	extra := ""
	if kind == "StatefulSet" {
		extra = "\n  serviceName: " + name
	}
	return fmt.Sprintf(`apiVersion: apps/v1
kind: %s
metadata: {name: %s, namespace: %s}
spec:%s
  selector: {matchLabels: %s}
  template:
    metadata: {labels: %s}
    spec:
      serviceAccountName: %s
      containers: [{name: main, image: registry.example/%s:1, ports: [%s]%s}]`,
		kind, name, ns, extra, flow(labels), flow(labels), sa, name, strings.Join(ps, ", "), probe)
}

// flow writes labels as a YAML flow mapping, keys sorted.
func flow(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+": "+m[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
