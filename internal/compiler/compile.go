package compiler

import (
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/model"
)

// Backend turns a resolved policy into the objects of one enforcement kind; see
// model.Backend.
type Backend = model.Backend

// Registry maps backend names to implementations. Adding an enforcement kind (Istio,
// Linkerd, Cilium, RBAC) is adding a package that implements Backend (and
// model.KindsBackend) and one entry in implemented (registry.go); no other code changes.
type Registry map[ztv1.Backend]Backend

// NewRegistry returns a registry of the given backends, keyed by their names.
func NewRegistry(backends ...Backend) Registry {
	r := Registry{}
	for _, b := range backends {
		r[b.Name()] = b
	}
	return r
}

// DefaultRegistry holds every backend this version implements (see registry.go).
func DefaultRegistry() Registry {
	return NewRegistry(implemented()...)
}

var defaultRegistry = DefaultRegistry()

// Compile compiles one ServiceAccessPolicy with the default registry. See Registry.Compile.
func Compile(inv Inventory, in Input) (*Output, error) {
	return defaultRegistry.Compile(inv, in)
}

// Compile resolves in.Policy against inv and runs every backend of in.Options.Backends, in
// that order, on the result.
//
// It returns an error only when the Inventory does: the answer is unknown and the caller
// should retry. Everything about the policy itself (a missing Service, an unknown time
// zone, expiry) is a Decision in the Output, because under GitOps the policy is often
// applied before what it refers to, and it must then grant nothing and say why.
//
// The Output is a function of its inputs only: the same inventory, policy, Now and Options
// give the same objects, in the same order, with the same messages.
func (r Registry) Compile(inv Inventory, in Input) (*Output, error) {
	p := in.Policy
	out := &Output{
		Target: TargetSummary(&p.Spec.Target),
		DryRun: modeOf(p.Spec.Mode) == ztv1.ModeDryRun,
	}
	skipAll := func(msg string) {
		for _, b := range in.Options.Backends {
			out.Backends = append(out.Backends, BackendResult{Backend: b, State: ztv1.BackendSkipped, Message: msg})
		}
	}

	if errs := Validate(p); len(errs) > 0 {
		out.Ready = Decision{Reason: ReasonInvalidSpec, Message: strings.Join(FormatFieldErrors(errs), "; ")}
		skipAll("nothing to enforce: the spec is invalid")
		return out, nil
	}

	ts := evaluateTime(&p.Spec, in.Now)
	out.NextTransition = ts.next
	// Expiry and a broken schedule are settled before resolving: nothing can be granted
	// whatever the cluster holds, so there is nothing to look up.
	switch ts.reason {
	case ReasonExpired:
		out.Ready = Decision{Status: true, Reason: ReasonExpired, Message: ts.message}
		skipAll("nothing to enforce: the policy has expired")
		return out, nil
	case ReasonInvalidSchedule:
		out.Ready = Decision{Reason: ReasonInvalidSchedule, Message: ts.message}
		skipAll("nothing to enforce: the schedule is invalid")
		return out, nil
	}

	res, err := Resolve(inv, p, in.Options)
	if err != nil {
		return nil, err
	}
	m := res.Model

	// Resolution problems come before the schedule and the mode: a user previewing a
	// policy (DryRun) or looking at it at night (OutsideSchedule) still needs to learn that
	// it names something that does not exist.
	if res.Target != nil {
		out.Ready = Decision{Reason: res.Target.Reason, Message: res.Target.Message + "; until then the policy grants nothing"}
		skipAll("nothing to enforce: " + res.Target.Reason)
		return out, nil
	}
	if len(m.Callers) == 0 {
		out.Ready = Decision{Reason: ReasonCallerNotFound, Message: joinProblems(res.Callers) + "; no from entry resolves, so the policy grants nothing"}
		skipAll("nothing to enforce: no from entry resolves")
		return out, nil
	}
	if !ts.active {
		out.Ready = Decision{Status: true, Reason: ts.reason, Message: ts.message}
		if len(res.Callers) > 0 {
			out.Ready = Decision{Reason: ReasonCallerNotFound, Message: joinProblems(res.Callers) + "; the other from entries are enforced inside the schedule's windows"}
		}
		skipAll("nothing to enforce now: outside every schedule window")
		return out, nil
	}

	out.Active = !out.DryRun
	// Every backend sees which others run before any of them does: cross-backend decisions
	// (the NetworkPolicy backend leaving HTTP ports to Cilium) are made here, in the
	// compiler, so that the operator and kubectl-zt cannot disagree on them.
	m.Backends = r.implementedOf(in.Options.Backends)
	enforcing, err := r.runBackends(m, in.Options.Backends, out)
	if err != nil {
		return nil, err
	}

	notes := res.Notes
	switch {
	case len(res.Callers) > 0:
		out.Ready = Decision{Reason: ReasonCallerNotFound, Message: joinProblems(res.Callers) + "; the other from entries are enforced"}
	case m.Mode == ztv1.ModeEnforce && len(deniedNotes(out.Backends)) > 0:
		out.Ready = Decision{Reason: ReasonPartiallyEnforced, Message: joinNotes("enforced by "+strings.Join(enforcing, ", ")+
			", but not everything the policy declares is admitted: "+strings.Join(deniedNotes(out.Backends), "; "), append(notes, appliedNotes(out.Backends)...))}
	case m.Mode == ztv1.ModeDryRun:
		out.Ready = Decision{Status: true, Reason: ReasonDryRun, Message: joinNotes("mode DryRun: nothing is applied; status lists what would be", notes)}
	case m.Mode == ztv1.ModeAudit:
		out.Ready = Decision{Status: true, Reason: ReasonAudit, Message: joinNotes("mode Audit: nothing is blocked", append(backendNotes(out.Backends), notes...))}
	case len(enforcing) == 0:
		out.Active = false
		why := "no backend is enabled"
		if n := backendNotes(out.Backends); len(n) > 0 {
			why = strings.Join(n, "; ")
		}
		out.Ready = Decision{Reason: ReasonNoBackend, Message: "no enabled backend can enforce this policy, so it grants nothing: " + why}
	default:
		out.Ready = Decision{Status: true, Reason: ReasonEnforced, Message: joinNotes("enforced by "+strings.Join(enforcing, ", "), append(notes, resultNotes(out.Backends)...))}
	}
	return out, nil
}

// implementedOf are the names among names that r implements, in order, once each: a
// backend this version does not implement enforces nothing, so no other backend may leave
// anything to it.
func (r Registry) implementedOf(names []ztv1.Backend) []ztv1.Backend {
	var out []ztv1.Backend
	seen := map[ztv1.Backend]bool{}
	for _, n := range names {
		if _, ok := r[n]; ok && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// runBackends appends one BackendResult per name to out and returns the names of the
// backends that enforce the policy (did not skip it).
func (r Registry) runBackends(m *Model, names []ztv1.Backend, out *Output) ([]string, error) {
	var enforcing []string
	for _, name := range names {
		b, ok := r[name]
		if !ok {
			out.Backends = append(out.Backends, BackendResult{Backend: name, State: ztv1.BackendSkipped,
				Message: fmt.Sprintf("the %s backend is not implemented yet in this version of zerotrust-operator", name)})
			continue
		}
		res, err := b.Compile(m)
		if err != nil {
			return nil, fmt.Errorf("backend %s: %w", name, err)
		}
		br := BackendResult{Backend: name, State: ztv1.BackendApplied, Message: res.Message, Objects: res.Objects, Denied: res.Denied}
		sortByNamespaceName(br.Objects)
		if len(res.Denied) > 0 && !res.Skipped {
			br.State = ztv1.BackendPartial
			br.Message = joinNotes(strings.Join(res.Denied, "; "), nonEmpty(res.Message))
		}
		switch {
		case res.Skipped:
			br.State, br.Objects, br.Denied = ztv1.BackendSkipped, nil, nil
		case out.DryRun:
			// Listed, not applied: the reconciler puts them in status and applies nothing.
			br.State = ztv1.BackendSkipped
			br.Message = joinNotes("mode DryRun: would apply these objects", nonEmpty(br.Message))
			enforcing = append(enforcing, string(name))
		default:
			enforcing = append(enforcing, string(name))
		}
		out.Backends = append(out.Backends, br)
	}
	return enforcing, nil
}

// TargetSummary is the short form of a target shown in the TARGET column, e.g.
// Service/inventory or Deployment/inventory.
func TargetSummary(t *ztv1.Target) string {
	switch {
	case t.Service != "":
		return "Service/" + t.Service
	case t.Workload != nil:
		return string(t.Workload.Kind) + "/" + t.Workload.Name
	case t.PodSelector != nil:
		return "Pods/" + metav1.FormatLabelSelector(t.PodSelector)
	case t.KubernetesAPI != nil:
		return "KubernetesAPI"
	case t.External != nil:
		return "External/" + strings.Join(t.External.CIDRs, ",")
	}
	return ""
}

func joinProblems(ps []Problem) string {
	msgs := make([]string, 0, len(ps))
	for _, p := range ps {
		msgs = append(msgs, p.Message)
	}
	return strings.Join(msgs, "; ")
}

func joinNotes(head string, notes []string) string {
	if len(notes) == 0 {
		return head
	}
	return head + "; " + strings.Join(notes, "; ")
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// backendNotes are the messages of every backend result. Backend messages are written to
// stand alone (they name their backend), so they are not prefixed.
func backendNotes(rs []BackendResult) []string {
	var out []string
	for _, r := range rs {
		if r.Message != "" {
			out = append(out, r.Message)
		}
	}
	return out
}

// deniedNotes are what enforcing backends deny that the policy declares.
func deniedNotes(rs []BackendResult) []string {
	var out []string
	for _, r := range rs {
		if r.State == ztv1.BackendPartial {
			out = append(out, r.Denied...)
		}
	}
	return out
}

// appliedNotes are the messages of backends that enforce the policy in full.
func appliedNotes(rs []BackendResult) []string {
	var out []string
	for _, r := range rs {
		if r.State == ztv1.BackendApplied && r.Message != "" {
			out = append(out, r.Message)
		}
	}
	return out
}

// resultNotes are the messages of backends that enforce the policy: what a user should know
// about what they generated.
func resultNotes(rs []BackendResult) []string {
	var out []string
	for _, r := range rs {
		if (r.State == ztv1.BackendApplied || r.State == ztv1.BackendPartial) && r.Message != "" {
			out = append(out, r.Message)
		}
	}
	return out
}

func sortByNamespaceName(objs []client.Object) {
	sort.SliceStable(objs, func(i, j int) bool {
		a, b := objs[i], objs[j]
		if a.GetNamespace() != b.GetNamespace() {
			return a.GetNamespace() < b.GetNamespace()
		}
		if a.GetName() != b.GetName() {
			return a.GetName() < b.GetName()
		}
		return a.GetObjectKind().GroupVersionKind().Kind < b.GetObjectKind().GroupVersionKind().Kind
	})
}
