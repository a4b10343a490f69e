package model

import (
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/intstr"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

// PortRule is one port of the target pods with everything the policy allows on it, merged
// over the spec.ports entries that translate to it (two Service ports may share a
// targetPort). L7 backends compile these rather than Policy.Ports, so that every backend
// merges the same way.
type PortRule struct {
	// Port, Number and Protocol are as in Port.
	Port     intstr.IntOrString
	Number   int32
	Protocol ztv1.Protocol
	// HTTP are the requests allowed on the port, each rule with its methods and paths
	// sorted and deduplicated, the rules sorted and deduplicated. Empty means every request
	// (and every non-HTTP connection): some entry for the port had no HTTP rules, or a rule
	// that matches every request.
	HTTP []ztv1.HTTPRule
}

// Open reports whether every connection to the port is allowed, with no L7 restriction.
func (r *PortRule) Open() bool { return len(r.HTTP) == 0 }

// Key identifies the port r is: its protocol and number when known, else its protocol and
// name. Port.Key of every entry of Policy.Ports that PortRules merged into r is r's key.
func (r *PortRule) Key() string { return portKey(r.Protocol, r.Port, r.Number) }

// Key identifies the port on the pods p is, as PortRule.Key: ports with one key are merged
// into one PortRule.
func (p *Port) Key() string {
	number := p.Number
	if p.Port.Type == intstr.Int {
		number = p.Port.IntVal
	}
	return portKey(p.Protocol, p.Port, number)
}

// portKey: a port is one port however it is named, by its number when known, so that
// "http" and 8080 of one container merge (two Linkerd Servers on one port would conflict).
func portKey(proto ztv1.Protocol, port intstr.IntOrString, number int32) string {
	if number != 0 {
		return string(proto) + "/" + strconv.Itoa(int(number))
	}
	return string(proto) + "/" + port.String()
}

// PortRules merges p.Ports by port and protocol, sorted numbers first (by value), then
// names, then by protocol. It is nil when the policy opens every port (AllPorts). A port
// listed by name and by number is one port when the model knows the name's number; it is
// then written by its name.
//
// Merging is a union, as the API means it: a port listed once with HTTP rules and once
// without is open to every request.
func PortRules(p *Policy) []PortRule {
	if p.AllPorts {
		return nil
	}
	type acc struct {
		rule PortRule
		open bool
	}
	byKey := map[string]*acc{}
	var keys []string
	for _, pp := range p.Ports {
		number := pp.Number
		if pp.Port.Type == intstr.Int {
			number = pp.Port.IntVal
		}
		k := pp.Key()
		a, ok := byKey[k]
		if !ok {
			a = &acc{rule: PortRule{Port: pp.Port, Number: number, Protocol: pp.Protocol}}
			byKey[k] = a
			keys = append(keys, k)
		}
		// The name is kept over the number: rules on a name follow the pods when they
		// renumber.
		if pp.Port.Type == intstr.String {
			a.rule.Port = pp.Port
		}
		if len(pp.HTTP) == 0 {
			a.open = true
		}
		for _, r := range pp.HTTP {
			if len(r.Methods) == 0 && len(r.Paths) == 0 {
				a.open = true
			}
			a.rule.HTTP = append(a.rule.HTTP, normalizeHTTPRule(r))
		}
	}
	out := make([]PortRule, 0, len(keys))
	for _, k := range keys {
		a := byKey[k]
		if a.open {
			a.rule.HTTP = nil
		} else {
			a.rule.HTTP = dedupHTTPRules(a.rule.HTTP)
		}
		out = append(out, a.rule)
	}
	sort.SliceStable(out, func(i, j int) bool { return portRuleLess(&out[i], &out[j]) })
	return out
}

func portRuleLess(a, b *PortRule) bool {
	if a.Port.Type != b.Port.Type {
		return a.Port.Type == intstr.Int
	}
	if a.Port.Type == intstr.Int && a.Port.IntVal != b.Port.IntVal {
		return a.Port.IntVal < b.Port.IntVal
	}
	if a.Port.Type == intstr.String && a.Port.StrVal != b.Port.StrVal {
		return a.Port.StrVal < b.Port.StrVal
	}
	return a.Protocol < b.Protocol
}

func normalizeHTTPRule(r ztv1.HTTPRule) ztv1.HTTPRule {
	var out ztv1.HTTPRule
	seenM := map[ztv1.HTTPMethod]bool{}
	for _, m := range r.Methods {
		if !seenM[m] {
			seenM[m] = true
			out.Methods = append(out.Methods, m)
		}
	}
	sort.Slice(out.Methods, func(i, j int) bool { return out.Methods[i] < out.Methods[j] })
	seenP := map[string]bool{}
	for _, p := range r.Paths {
		if !seenP[p] {
			seenP[p] = true
			out.Paths = append(out.Paths, p)
		}
	}
	sort.Strings(out.Paths)
	return out
}

func httpRuleKey(r ztv1.HTTPRule) string {
	ms := make([]string, 0, len(r.Methods))
	for _, m := range r.Methods {
		ms = append(ms, string(m))
	}
	return strings.Join(ms, ",") + " " + strings.Join(r.Paths, ",")
}

func dedupHTTPRules(rules []ztv1.HTTPRule) []ztv1.HTTPRule {
	seen := map[string]bool{}
	var out []ztv1.HTTPRule
	for _, r := range rules {
		k := httpRuleKey(r)
		if !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return httpRuleKey(out[i]) < httpRuleKey(out[j]) })
	return out
}
