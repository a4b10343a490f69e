package reachability_test

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// portProto is a port number on the destination and a protocol: what a connection is made
// to. A named port is the name the destination pod gives that number.
type portProto struct {
	port  int32
	proto corev1.Protocol
}

func (p portProto) String() string { return fmt.Sprintf("%d/%s", p.port, p.proto) }

func tcpPort(n int32) portProto { return portProto{n, corev1.ProtocolTCP} }
func udpPort(n int32) portProto { return portProto{n, corev1.ProtocolUDP} }

// grant is one connection a scenario's policies (or baseline) mean to allow: from each of
// from, to each of to, on each of ports. It is written by hand from the scenario's intent,
// with ports as the numbers the destination pods listen on (a named targetPort already
// looked up by the author in baseWorld's table), never derived from generated objects.
type grant struct {
	// why names the policy or baseline rule, for diffs.
	why      string
	from, to []string
	// ports on the destination; empty means every port.
	ports []portProto
	// egressOnly marks a grant that only opens the callers' egress (a baseline's DNS rule):
	// it isolates nothing at the destination. Every other grant comes from a
	// ServiceAccessPolicy and isolates its destination pods for ingress (a target accepts
	// only what is granted to it), and opens the callers' egress where a baseline denies it.
	egressOnly bool
}

func (g *grant) matches(src, dst *endpoint, pp portProto) bool {
	if !slices.Contains(g.from, src.ref) || !slices.Contains(g.to, dst.ref) {
		return false
	}
	return len(g.ports) == 0 || slices.Contains(g.ports, pp)
}

// oracle is the intent of a scenario:
//   - a pod is isolated for ingress when a baseline denies ingress in its namespace, or when
//     it is the destination of a (not egressOnly) grant: the target of an active policy;
//   - a pod is isolated for egress when a baseline denies egress in its namespace (policies
//     never isolate egress on their own: contract section 1);
//   - a connection is allowed iff (the destination is not ingress-isolated, or a grant
//     allows it) and (the source is not egress-isolated, or a grant allows it).
//
// Hosts outside the cluster are never isolated: no NetworkPolicy selects them.
type oracle struct {
	grants []grant
	// denyIngress and denyEgress are the namespaces where a baseline denies that direction.
	denyIngress, denyEgress []string
}

func (o *oracle) ingressIsolated(dst *endpoint) bool {
	if dst.external() {
		return false
	}
	if slices.Contains(o.denyIngress, dst.ns) {
		return true
	}
	for i := range o.grants {
		if !o.grants[i].egressOnly && slices.Contains(o.grants[i].to, dst.ref) {
			return true
		}
	}
	return false
}

func (o *oracle) egressIsolated(src *endpoint) bool {
	return !src.external() && slices.Contains(o.denyEgress, src.ns)
}

// expect returns the expected verdict, a one-line reason, and the indexes of the grants
// that matched (to check that every grant of the oracle is exercised).
func (o *oracle) expect(src, dst *endpoint, pp portProto) (bool, string, []int) {
	var inBy, outBy []string
	var hits []int
	for i := range o.grants {
		g := &o.grants[i]
		if !g.matches(src, dst, pp) {
			continue
		}
		hits = append(hits, i)
		outBy = append(outBy, g.why)
		if !g.egressOnly {
			inBy = append(inBy, g.why)
		}
	}
	in, inWhy := direction("ingress", o.ingressIsolated(dst), inBy)
	out, outWhy := direction("egress", o.egressIsolated(src), outBy)
	return in && out, inWhy + "; " + outWhy, hits
}

func direction(name string, isolated bool, by []string) (bool, string) {
	switch {
	case !isolated:
		return true, name + " not isolated"
	case len(by) > 0:
		return true, name + " granted by " + strings.Join(by, ", ")
	default:
		return false, name + " isolated and nothing grants it"
	}
}

// refsOK reports the refs of o that name no endpoint of w: a typo in an oracle must fail
// the test, not silently grant nothing.
func (o *oracle) unknownRefs(w *world) []string {
	var bad []string
	for _, g := range o.grants {
		for _, r := range append(append([]string(nil), g.from...), g.to...) {
			if w.endpoint(r) == nil {
				bad = append(bad, fmt.Sprintf("%s (in grant %q)", r, g.why))
			}
		}
	}
	return bad
}

// refs is a readable way to list endpoints in an oracle.
func refs(r ...string) []string { return r }
