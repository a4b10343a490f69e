package semantics_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/inventory/static"
)

// allBackends is --backends all.
var allBackends = []ztv1.Backend{ztv1.BackendNetworkPolicy, ztv1.BackendIstio, ztv1.BackendLinkerd, ztv1.BackendCilium, ztv1.BackendRBAC}

var now = time.Date(2026, 6, 15, 10, 0, 0, 0, time.UTC)

// rendering is a world rendered with every backend (the embedded Rendering: states,
// messages and the objects of every layer), and, for the NetworkPolicy layer, rendered
// without the cilium backend. With Cilium, NetworkPolicies are no layer of their own:
// Cilium enforces them together with its own policies (judged by ciliumJudge), and the
// NetworkPolicy backend shapes them for that (it leaves ports with HTTP rules to Cilium).
// NetworkPolicy's own semantics are what a cluster whose CNI is not Cilium enforces, and
// such a cluster runs without the cilium backend.
type rendering struct {
	*compiler.Rendering
	withoutCilium *compiler.Rendering
	// withoutMesh is NetworkPolicy and Cilium alone: only there does Cilium enforce HTTP
	// rules (beside a mesh, whose mutual TLS its L7 proxy cannot read, it enforces ports).
	withoutMesh *compiler.Rendering
}

// render decodes a world and renders its policies and baselines with every backend (and
// without Cilium, see rendering).
func render(t *testing.T, world, source string) *rendering {
	t.Helper()
	inv, err := static.FromYAML([]byte(world), source, "default")
	if err != nil {
		t.Fatalf("%v\n%s", err, world)
	}
	return renderInventory(t, inv)
}

func renderInventory(t *testing.T, inv *static.Inventory) *rendering {
	t.Helper()
	with := func(backends []ztv1.Backend) *compiler.Rendering {
		r, err := inv.Render(now, compiler.Options{Backends: backends})
		if err != nil {
			t.Fatalf("render: %v", err)
		}
		return r
	}
	var noCilium []ztv1.Backend
	for _, b := range allBackends {
		if b != ztv1.BackendCilium {
			noCilium = append(noCilium, b)
		}
	}
	return &rendering{Rendering: with(allBackends), withoutCilium: with(noCilium),
		withoutMesh: with([]ztv1.Backend{ztv1.BackendNetworkPolicy, ztv1.BackendCilium})}
}

// counts are what a run of the matrix judged.
type counts struct {
	verdicts map[ztv1.Backend]int
	allowed  map[ztv1.Backend]int // of which the intent allows
	mu       sync.Mutex
}

func (c *counts) add(o *counts) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for b, n := range o.verdicts {
		c.verdicts[b] += n
	}
	for b, n := range o.allowed {
		c.allowed[b] += n
	}
}

func TestMatrix(t *testing.T) {
	c := &counts{verdicts: map[ztv1.Backend]int{}, allowed: map[ztv1.Backend]int{}}
	all := append(matrix(), extraScenarios()...)
	// Cleanup runs once every parallel sub-test has finished.
	t.Cleanup(func() {
		var parts []string
		total := 0
		for _, b := range allBackends {
			if n := c.verdicts[b]; n > 0 {
				parts = append(parts, fmt.Sprintf("%s %d, %d of them allowed", b, n, c.allowed[b]))
				total += n
			}
		}
		t.Logf("%d scenarios, %d verdicts judged (%s)", len(all), total, strings.Join(parts, ", "))
	})
	for _, s := range all {
		t.Run(s.String(), func(t *testing.T) {
			t.Parallel()
			local := counts{verdicts: map[ztv1.Backend]int{}, allowed: map[ztv1.Backend]int{}}
			defer c.add(&local)
			checkScenario(t, s, &local)
		})
	}
}

// extraScenarios: policies that open every port of the target, and policies with a second
// caller (a CIDR) next to one a mesh may not be able to express.
func extraScenarios() []scenario {
	var out []scenario
	for _, tk := range targetKinds {
		for _, ck := range []string{callerService, callerWorkload, callerPodSelector} {
			for _, sa := range saKinds {
				out = append(out, scenario{target: tk, caller: ck, port: portNamed, sa: sa, http: true, plusCIDR: true})
			}
		}
	}
	for _, tk := range targetKinds {
		for _, ck := range []string{callerWorkload, callerServiceAccount, callerCIDR} {
			for _, sa := range saKinds {
				for _, two := range []bool{false, true} {
					if two && tk == targetWorkload {
						continue
					}
					out = append(out, scenario{target: tk, caller: ck, port: portNamed, sa: sa, two: two, allPorts: true})
				}
			}
		}
	}
	return out
}

// knownIssues are wrong states or verdicts found by this suite that the backend's owner
// must fix; the scenarios they explain are skipped (after every other check ran), so that
// the rest of the suite stays meaningful. Remove an entry once fixed.
var knownIssues = []struct {
	backend ztv1.Backend
	applies func(scenario) bool
	why     string
}{}

func knownIssueOf(s scenario, b ztv1.Backend) string {
	for _, k := range knownIssues {
		if k.backend == b && k.applies(s) {
			return k.why
		}
	}
	return ""
}

// expectedState is the state a backend must report for s: the state checks are the
// fail-closed rule (a mesh backend enforces every policy whose target selects pods) and
// the Partial rule (a backend denies only callers it cannot express, and says so).
func expectedState(s scenario, b ztv1.Backend) ztv1.BackendState {
	switch b {
	case ztv1.BackendRBAC:
		return ztv1.BackendSkipped
	case ztv1.BackendIstio, ztv1.BackendLinkerd:
		if s.meshInexpressible() {
			return ztv1.BackendPartial
		}
	}
	return ztv1.BackendApplied
}

// requestsFor are the requests tried from src to dst on port: every tried request where
// the policy admits src on that port (where methods and paths decide), and elsewhere the
// requests that the policy's HTTP rules allow and plain TCP (any of them allowed would
// be a wrong verdict). A layer that does not see HTTP gets one request per port.
func requestsFor(s scenario, j judge, src peer, dst dest, port int32) []httpReq {
	switch {
	case !j.l7:
		return []httpReq{{"GET", "/items"}}
	case len(s.fromEntries(src)) > 0 && s.portAllowed(dst, port):
		return triedRequests
	}
	return []httpReq{{"GET", "/items"}, {"GET", "/items/42"}, {"POST", "/admin"}, {"", ""}}
}

// unjudged: the evaluator refused to judge (it met something it does not model); its
// denial is then no verdict on the backend.
func unjudged(why string) bool {
	return strings.Contains(why, "not modelled") || strings.Contains(why, "cannot judge")
}

func checkScenario(t *testing.T, s scenario, c *counts) {
	world := s.yaml()
	r := render(t, world, s.String())
	if len(r.Policies) != 1 {
		t.Fatalf("got %d policy results, want 1", len(r.Policies))
	}
	out := r.Policies[0].Output
	failed := false
	var known []string
	// fail reports a wrong state or verdict of backend b ("" for the policy as a whole);
	// one that a known issue explains is logged, and the scenario skipped at the end.
	fail := func(b ztv1.Backend, format string, args ...any) {
		t.Helper()
		if k := knownIssueOf(s, b); k != "" {
			t.Logf("known issue: "+format, args...)
			known = append(known, k)
			return
		}
		failed = true
		t.Errorf(format, args...)
	}
	defer func() {
		if failed || len(known) > 0 {
			t.Logf("policy:\n%s\nReady: %v %s: %s", s.policyYAML(), out.Ready.Status, out.Ready.Reason, out.Ready.Message)
		}
		if len(known) > 0 {
			t.Skip("known: " + known[0])
		}
	}()

	results := map[ztv1.Backend]compiler.BackendResult{}
	partial := false
	for _, br := range out.Backends {
		results[br.Backend] = br
		if br.State == ztv1.BackendPartial {
			partial = true
		}
	}
	for _, b := range allBackends {
		br, ok := results[b]
		if !ok {
			fail(b, "%s: no BackendResult", b)
			continue
		}
		want := expectedState(s, b)
		if want != "" && br.State != want {
			fail(b, "%s: state %s, want %s (message: %s)", b, br.State, want, br.Message)
		}
		if br.State == ztv1.BackendPartial {
			for _, d := range br.Denied {
				if !strings.Contains(d, "from[0]") || strings.Contains(d, "from[1]") {
					fail(b, "%s: Partial denies something the scenario does not make inexpressible (only from[0] may be): %q", b, d)
				}
			}
			if len(br.Denied) == 0 {
				fail(b, "%s: Partial with no Denied sentence", b)
			}
		}
	}
	switch {
	case partial && (out.Ready.Status || out.Ready.Reason != compiler.ReasonPartiallyEnforced):
		fail("", "a backend is Partial, but Ready is %v %s, want False PartiallyEnforced", out.Ready.Status, out.Ready.Reason)
	case !partial && (!out.Ready.Status || out.Ready.Reason != compiler.ReasonEnforced):
		fail("", "Ready is %v %s (%s), want True Enforced", out.Ready.Status, out.Ready.Reason, out.Ready.Message)
	}

	for _, j := range judges(r) {
		br := results[j.backend]
		enforcing := br.State == ztv1.BackendApplied || br.State == ztv1.BackendPartial
		// A backend that should enforce and does not is judged too (with none of its
		// objects rendered), so that its report shows what the skip leaves open.
		shouldEnforce := expectedState(s, j.backend) == ztv1.BackendApplied || expectedState(s, j.backend) == ztv1.BackendPartial
		if j.eval == nil || (!enforcing && !shouldEnforce) {
			continue
		}
		// A Partial backend denies the callers its Denied sentences name, and everything
		// else as an Applied one.
		deniedEntry := map[int]bool{}
		if br.State == ztv1.BackendPartial {
			for _, d := range br.Denied {
				for i := 0; i < 2; i++ {
					if strings.Contains(d, fmt.Sprintf("from[%d]", i)) {
						deniedEntry[i] = true
					}
				}
			}
		}
		admitted := func(src peer) bool {
			for _, i := range s.fromEntries(src) {
				if !deniedEntry[i] {
					return true
				}
			}
			return false
		}
		var wrong []string
		for _, src := range s.peers() {
			for _, dst := range s.dests() {
				for _, port := range triedPorts {
					if j.skipPort != nil && j.skipPort(s, dst, port) {
						continue
					}
					for _, req := range requestsFor(s, j, src, dst, port) {
						want := admitted(src) && s.portAllowed(dst, port)
						if j.l7 {
							want = want && s.requestAllowed(req)
						}
						got, why := j.eval(src, dst, port, req)
						c.verdicts[j.backend]++
						if want {
							c.allowed[j.backend]++
						}
						if got != want || unjudged(why) {
							what := req.String()
							if !j.l7 {
								what = "any request"
							}
							wrong = append(wrong, fmt.Sprintf("%s -> %s:%d %s: allowed=%v, want %v (%s)", src.name, dst.name, port, what, got, want, why))
						}
					}
				}
			}
		}
		if j.probe != nil {
			for _, dst := range s.dests() {
				if dst.probePath == "" {
					continue
				}
				c.verdicts[j.backend]++
				c.allowed[j.backend]++
				if ok, why := j.probe(dst); !ok {
					wrong = append(wrong, fmt.Sprintf("kubelet probe GET %s on %s:%d: denied, want allowed (%s)", dst.probePath, dst.name, dst.probePort, why))
				}
			}
		}
		if len(wrong) > 0 {
			const show = 6
			n, more := len(wrong), ""
			if n > show {
				more = fmt.Sprintf("\n  ... and %d more", len(wrong)-show)
				wrong = wrong[:show]
			}
			fail(j.backend, "%s (%s) gives %d wrong verdicts:\n  %s%s", j, br.State, n, strings.Join(wrong, "\n  "), more)
		}
	}
}
