package model

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

// TestNamesAreUniqueAndValid: names of different policies, namespaces, callers and kinds
// never collide, even with dots in policy names, and are DNS-1123 subdomains.
func TestNamesAreUniqueAndValid(t *testing.T) {
	long := strings.Repeat("a", 63)
	seen := map[string]string{}
	add := func(name, what string) {
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			t.Errorf("%s: %q: %v", what, name, errs)
		}
		if prev, ok := seen[name]; ok {
			t.Errorf("%q is generated for %s and %s", name, prev, what)
		}
		seen[name] = what
	}
	for _, ns := range []string{"a", "b", long} {
		for _, pol := range []string{"p", "p.1", "p.1.2", "a.p", long} {
			p := &Policy{Namespace: ns, Name: pol}
			// Ingress names live in the policy's namespace: unique per namespace.
			if ns == "a" {
				add(IngressName(p), "ingress of "+pol)
			}
			for i := 0; i < 3; i++ {
				add(EgressName(p, &Caller{Index: i, Kind: CallerService}, 0), "egress "+ns+"/"+pol+" from "+string(rune('0'+i)))
				for n := 0; n < 2; n++ {
					add(EgressName(p, &Caller{Index: i, Kind: CallerServiceAccount}, n), "sa egress "+ns+"/"+pol+" from "+string(rune('0'+i))+" n"+string(rune('0'+n)))
				}
			}
		}
	}
	for _, b := range []string{"default", "deny", long} {
		add(BaselineName(&Baseline{Name: b}, "deny"), "baseline "+b+" deny")
		add(BaselineName(&Baseline{Name: b}, "dns"), "baseline "+b+" dns")
	}
}

// TestIngressPartNames: for a fixed number of parts, names of one kind never collide across
// policies whose names contain dots, and stay valid with the longest policy name and parts.
func TestIngressPartNames(t *testing.T) {
	long := strings.Repeat("a", 63)
	for _, n := range []int{1, 2} {
		seen := map[string]string{}
		for _, pol := range []string{"p", "p.1", "p.1.2", "p.http", "a.p", long} {
			for _, a := range []string{"1", "2", "http", "http-probes", strings.Repeat("x", 15)} {
				for _, b := range []string{"mtls", "net", "probes"} {
					parts := []string{a, b}[:n]
					name := IngressPartName(&Policy{Name: pol}, parts...)
					what := pol + " " + strings.Join(parts, " ")
					if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
						t.Errorf("%s: %q: %v", what, name, errs)
					}
					if prev, ok := seen[name]; ok && prev != what {
						t.Errorf("%d parts: %q is generated for %s and %s", n, name, prev, what)
					}
					seen[name] = what
				}
			}
		}
	}
}
