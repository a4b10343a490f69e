// Package reachability_test proves, with an independent judge, that the NetworkPolicies the
// compiler generates allow a connection exactly when a policy grants it.
//
// Each scenario builds a small world (baseWorld), runs compiler.RenderAll on it at a fixed
// instant, hands every generated NetworkPolicy to cyclonus's NetworkPolicy matcher
// (github.com/mattfenwick/cyclonus/pkg/matcher), and asks it about every ordered pair of
// endpoints (pods, and hosts outside the cluster) on every port of interest. Its verdict is
// compared with the scenario's oracle, written by hand from the scenario's intent.
//
// What cyclonus models, and how this harness uses it:
//   - A connection is made to a port number; a named port in a NetworkPolicy matches when
//     the destination pod declares a container port of that name with that number and
//     protocol. cyclonus takes both from the Traffic (ResolvedPort, ResolvedPortName); the
//     harness sets ResolvedPortName from the destination pod's container ports, for ingress
//     and egress rules alike (Kubernetes resolves a named port of an egress rule on the
//     destination pod as well, which cyclonus models the same way).
//   - Hosts outside the cluster are TrafficPeers without Internal: cyclonus never isolates
//     them, and matches them against ipBlock peers by IP.
//   - A pod's traffic to itself is not checked: CNIs let it through whatever the policies
//     say, so it proves nothing about them.
//   - Traffic between two external hosts is not checked either: it never crosses the cluster.
package reachability_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mattfenwick/cyclonus/pkg/matcher"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/inventory/static"
)

// now is the instant every scenario is compiled at: Wednesday 4 March 2026, 12:00 UTC
// (13:00 in Europe/Berlin).
var now = time.Date(2026, time.March, 4, 12, 0, 0, 0, time.UTC)

// undeclaredPorts are checked on every destination in addition to the declared ones: no
// pod listens on them, so no named port and no policy of any scenario may open them.
var undeclaredPorts = []portProto{tcpPort(9999), udpPort(9999)}

// maxExplained bounds the number of mismatches printed with cyclonus's explanation table;
// every mismatch is still reported on one line.
const maxExplained = 10

type scenario struct {
	name string
	// world defaults to baseWorld.
	world     func() *world
	policies  []ztv1.ServiceAccessPolicy
	baselines []ztv1.ZeroTrustBaseline
	// extraPorts are checked on every destination besides the declared and undeclared ones.
	extraPorts []portProto
	oracle     oracle
}

// result is what one scenario checked, for the summary.
type result struct {
	name                      string
	netpols                   int
	checks, allowed, mismatch int
}

// mismatch is one check on which cyclonus and the oracle disagree.
type mismatch struct {
	src, dst        *endpoint
	pp              portProto
	want, got       bool
	oracleWhy       string
	verdict         *matcher.AllowedResult
	cyclonusVerdict string
}

func (m mismatch) String() string {
	return fmt.Sprintf("%s -> %s port %s: expected %s, cyclonus says %s (oracle: %s; cyclonus: %s)",
		m.src.ref, m.dst.ref, describePort(m.dst, m.pp), verb(m.want), verb(m.got), m.oracleWhy, m.cyclonusVerdict)
}

// judgement is the outcome of comparing cyclonus with the oracle on a whole scenario.
type judgement struct {
	result
	mismatches []mismatch
	// unusedGrants are the oracle's grants that match no checked connection.
	unusedGrants []string
}

func runScenario(t *testing.T, s scenario) result {
	t.Helper()
	w := newScenarioWorld(t, s)
	netpols, rendered := render(t, w, s)
	j := judge(t, w, s, netpols, rendered)
	for i, m := range j.mismatches {
		t.Errorf("[%s] %s", s.name, m)
		if i < maxExplained {
			t.Logf("cyclonus's explanation of %s -> %s %s:\n%s", m.src.ref, m.dst.ref, describePort(m.dst, m.pp), m.verdict.Table())
		}
	}
	for _, g := range j.unusedGrants {
		t.Errorf("[%s] oracle grant %q matches no checked connection: fix its endpoints or ports", s.name, g)
	}
	if j.mismatch > 0 {
		t.Logf("[%s] %d of %d checks disagree; the generated NetworkPolicies were:\n%s", s.name, j.mismatch, j.checks, rendered)
	}
	t.Logf("[%s] %d NetworkPolicies, %d (pair, port) checks: %d allowed, %d denied, %d mismatches",
		s.name, j.netpols, j.checks, j.allowed, j.checks-j.allowed, j.mismatch)
	return j.result
}

func newScenarioWorld(t *testing.T, s scenario) *world {
	t.Helper()
	mk := s.world
	if mk == nil {
		mk = baseWorld
	}
	w := mk()
	if bad := s.oracle.unknownRefs(w); len(bad) > 0 {
		t.Fatalf("oracle names endpoints that are not in the world: %s", strings.Join(bad, ", "))
	}
	return w
}

// judge asks cyclonus about every (source, destination, port) of the scenario under
// netpols and compares each verdict with the oracle's.
func judge(t *testing.T, w *world, s scenario, netpols []*networkingv1.NetworkPolicy, rendered string) judgement {
	t.Helper()
	j := judgement{result: result{name: s.name, netpols: len(netpols)}}
	policy := buildJudge(t, netpols, rendered)
	ports := portsOfInterest(w, s.extraPorts)
	endpoints := append(append([]*endpoint(nil), w.pods...), w.externals...)
	hits := make([]int, len(s.oracle.grants))
	for _, src := range endpoints {
		for _, dst := range endpoints {
			if src == dst || (src.external() && dst.external()) {
				continue
			}
			for _, pp := range ports {
				verdict := policy.IsTrafficAllowed(&matcher.Traffic{
					Source:           peer(w, src),
					Destination:      peer(w, dst),
					ResolvedPort:     int(pp.port),
					ResolvedPortName: dst.portName(pp),
					Protocol:         pp.proto,
				})
				got := verdict.IsAllowed()
				want, why, matched := s.oracle.expect(src, dst, pp)
				for _, i := range matched {
					hits[i]++
				}
				j.checks++
				if got {
					j.allowed++
				}
				if got != want {
					j.mismatch++
					j.mismatches = append(j.mismatches, mismatch{src: src, dst: dst, pp: pp, want: want, got: got,
						oracleWhy: why, verdict: verdict, cyclonusVerdict: describeVerdict(verdict)})
				}
			}
		}
	}
	for i, n := range hits {
		if n == 0 {
			j.unusedGrants = append(j.unusedGrants, s.oracle.grants[i].why)
		}
	}
	return j
}

// render runs the compiler on the scenario and returns the generated NetworkPolicies and
// their YAML (for failure messages).
func render(t *testing.T, w *world, s scenario) ([]*networkingv1.NetworkPolicy, string) {
	t.Helper()
	objs := append([]client.Object(nil), w.objects...)
	for i := range w.namespaces {
		objs = append(objs, &w.namespaces[i])
	}
	for i := range s.baselines {
		objs = append(objs, &s.baselines[i])
	}
	inv, err := static.FromObjects(objs...)
	if err != nil {
		t.Fatalf("building the inventory: %v", err)
	}
	out, err := compiler.RenderAll(inv, s.policies, s.baselines, w.namespaces, now,
		compiler.Options{Backends: []ztv1.Backend{ztv1.BackendNetworkPolicy}})
	if err != nil {
		t.Fatalf("RenderAll: %v", err)
	}
	y, err := compiler.EncodeYAML(out)
	if err != nil {
		t.Fatalf("EncodeYAML: %v", err)
	}
	var netpols []*networkingv1.NetworkPolicy
	for _, o := range out {
		np, ok := o.(*networkingv1.NetworkPolicy)
		if !ok {
			t.Errorf("the NetworkPolicy backend alone generated a %T %s/%s", o, o.GetNamespace(), o.GetName())
			continue
		}
		netpols = append(netpols, np)
	}
	return netpols, string(y)
}

// buildJudge hands the NetworkPolicies to cyclonus. cyclonus panics on objects the API
// server would reject (no policyTypes, a peer with ipBlock and selectors, ...): that is a
// compiler bug, reported as such.
func buildJudge(t *testing.T, netpols []*networkingv1.NetworkPolicy, rendered string) (p *matcher.Policy) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("cyclonus rejects the generated NetworkPolicies as invalid: %v\n%s", r, rendered)
		}
	}()
	return matcher.BuildNetworkPolicies(false, netpols)
}

func peer(w *world, e *endpoint) *matcher.TrafficPeer {
	if e.external() {
		return &matcher.TrafficPeer{IP: e.ip}
	}
	return &matcher.TrafficPeer{
		IP: e.ip,
		Internal: &matcher.InternalPeer{
			PodLabels:       e.labels,
			NamespaceLabels: w.namespaceLabels(e.ns),
			Namespace:       e.ns,
		},
	}
}

// portsOfInterest are every declared container port of the world, the undeclared ports and
// extra, sorted by protocol and number.
func portsOfInterest(w *world, extra []portProto) []portProto {
	var out []portProto
	add := func(pp portProto) {
		if !slices.Contains(out, pp) {
			out = append(out, pp)
		}
	}
	for _, p := range w.pods {
		for _, cp := range p.ports {
			add(portProto{cp.ContainerPort, protocolOf(cp.Protocol)})
		}
	}
	for _, pp := range append(append([]portProto(nil), undeclaredPorts...), extra...) {
		add(pp)
	}
	slices.SortFunc(out, func(a, b portProto) int {
		if a.proto != b.proto {
			return strings.Compare(string(a.proto), string(b.proto))
		}
		return int(a.port - b.port)
	})
	return out
}

func describePort(dst *endpoint, pp portProto) string {
	if n := dst.portName(pp); n != "" {
		return fmt.Sprintf("%s (%q)", pp, n)
	}
	return pp.String() + " (undeclared)"
}

func verb(allowed bool) string {
	if allowed {
		return "ALLOWED"
	}
	return "DENIED"
}

func describeVerdict(v *matcher.AllowedResult) string {
	side := func(name string, d *matcher.DirectionResult) string {
		switch {
		case len(d.AllowingTargets) == 0 && len(d.DenyingTargets) == 0:
			return name + " not isolated"
		case d.IsAllowed():
			return fmt.Sprintf("%s allowed by %d policy target(s)", name, len(d.AllowingTargets))
		default:
			return fmt.Sprintf("%s isolated by %s, nothing allows", name, targetNames(d.DenyingTargets))
		}
	}
	return side("ingress", v.Ingress) + ", " + side("egress", v.Egress)
}

func targetNames(ts []*matcher.Target) string {
	var names []string
	for _, t := range ts {
		for _, np := range t.SourceRules {
			names = append(names, np.Namespace+"/"+np.Name)
		}
	}
	slices.Sort(names)
	return strings.Join(slices.Compact(names), ", ")
}
