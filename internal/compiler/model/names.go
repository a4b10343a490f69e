package model

import (
	"strconv"
	"strings"
)

// Names of generated objects.
//
// Every name is a DNS-1123 subdomain, deterministic, and unique across all policies and
// baselines of the cluster, so two policies can never fight over one object, except the
// objects meant to be shared:
//
//	zt-in.<policy>                               ingress, in the policy's namespace
//	zt-in.<policy>.<part>[.<part>...]            one of several ingress objects of one kind,
//	                                             e.g. a Linkerd AuthorizationPolicy per port,
//	                                             an Istio AuthorizationPolicy per workload
//	zt-srv.<hash of its spec>                    a Linkerd Server, shared by every policy
//	                                             that opens the same pods and port (Linkerd
//	                                             admits one Server per pod and port)
//	zt-out.<policyNamespace>.<policy>.<i>        egress of from[i], in the caller's namespace
//	zt-out.<policyNamespace>.<policy>.<i>-<n>    egress of the n-th workload (sorted by kind
//	                                             and name) of a ServiceAccount caller from[i]
//	zt-baseline.<baseline>.<part>                a baseline's object, e.g. .deny or .dns
//
// Why this scheme:
//   - Ingress objects live in the policy's namespace, where policy names are unique, so the
//     policy name alone is enough.
//   - Egress objects live in the caller's namespace, where policies of many namespaces may
//     put theirs; the policy's namespace makes them unique there. Namespace names contain no
//     dots and the last component is always the index, so the name parses back
//     unambiguously even when the policy name contains dots.
//   - A backend that needs several objects of one kind per policy (Linkerd: an
//     AuthorizationPolicy per port) appends parts that contain no dots, always the same
//     number of them for one kind: the name then parses back from the right, so policy
//     "a" part "b" never meets policy "a.b", which has one part more.
//   - The prefixes differ (zt-in, zt-out, zt-baseline), so no two kinds of object collide.
//   - Lengths stay far below 253: namespaces and policy/baseline names are at most 63.
//
// Other backends use the same names for their own kinds; a name only has to be unique per
// kind and namespace.
const (
	ingressPrefix  = "zt-in."
	egressPrefix   = "zt-out."
	baselinePrefix = "zt-baseline."
)

// IngressName is the name of the object that opens the target of p to its callers.
func IngressName(p *Policy) string {
	return ingressPrefix + p.Name
}

// IngressPartName is the name of one of several objects of one kind that open the target of
// p: zt-in.<policy>.<part>... . Parts must contain no dots (port numbers and names, fixed
// words), and a backend must use the same number of parts for every name of one kind and
// never IngressName for that kind: zt-in.p.1 is both IngressName of policy "p.1" and
// IngressPartName of policy "p" with part "1".
func IngressPartName(p *Policy, parts ...string) string {
	return ingressPrefix + p.Name + "." + strings.Join(parts, ".")
}

// EgressName is the name of the egress object for from[c.Index] of p. n is the index of the
// pod selector among the caller's PodSelectors; it is part of the name only for a
// ServiceAccount caller (the only kind that can resolve to several selectors), so that the
// name of every other caller's egress object stays the same whatever the cluster holds.
func EgressName(p *Policy, c *Caller, n int) string {
	name := egressPrefix + p.Namespace + "." + p.Name + "." + strconv.Itoa(c.Index)
	if c.Kind == CallerServiceAccount {
		name += "-" + strconv.Itoa(n)
	}
	return name
}

// BaselineName is the name of part (e.g. "deny", "dns") of baseline b.
func BaselineName(b *Baseline, part string) string {
	return baselinePrefix + b.Name + "." + part
}
