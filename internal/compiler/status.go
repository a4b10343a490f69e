package compiler

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

// ReasonApplyFailed: the API server refused an object a backend generated. The compiler
// never decides it; PolicyStatus sets it from the apply errors its caller met.
const ReasonApplyFailed = "ApplyFailed"

// DisabledMessage is the message of a backend entry in state Disabled.
const DisabledMessage = "disabled by the operator's --backends flag"

// PolicyStatus is the status a policy gets after a reconcile that compiled p into out (the
// inactive backends appended, see InactiveBackends) and applied it, meeting applyErrs (per
// backend; nil when everything applied). It is pure: the operator and `kubectl-zt render
// --status` both call it.
//
// previous are the conditions the policy had (the operator passes its status's; kubectl-zt
// none, the status of a new policy): conditions of other types are kept, and Ready keeps
// its lastTransitionTime unless its status changes, when it becomes now.
//
// A backend whose objects the API server refused is Failed, with the server's message, and
// Ready is False with reason ApplyFailed naming such backends.
//
// active is out.Active (in force now: Enforce or Audit, inside the schedule, before
// expiry, resolved, enforced by a backend), unless the API server refused the objects of
// every backend that enforces it: then nothing grants the access.
func PolicyStatus(p *ztv1.ServiceAccessPolicy, out *Output, applyErrs map[ztv1.Backend]error, previous []metav1.Condition, now metav1.Time) ztv1.ServiceAccessPolicyStatus {
	st := ztv1.ServiceAccessPolicyStatus{
		ObservedGeneration: p.Generation,
		Target:             out.Target,
		Callers:            int32(len(p.Spec.From)),
		Conditions:         append([]metav1.Condition(nil), previous...),
		Active:             out.Active,
	}
	if out.NextTransition != nil {
		t := metav1.NewTime(*out.NextTransition)
		st.NextTransition = &t
	}
	ready := metav1.Condition{Type: ztv1.ConditionReady, ObservedGeneration: p.Generation, LastTransitionTime: now,
		Status: metav1.ConditionFalse, Reason: out.Ready.Reason, Message: out.Ready.Message}
	if out.Ready.Status {
		ready.Status = metav1.ConditionTrue
	}
	var failed []string
	applied := false
	for _, b := range out.Backends {
		bs := ztv1.BackendStatus{Name: b.Backend, State: b.State, Message: b.Message}
		if err := applyErrs[b.Backend]; err != nil {
			bs.State, bs.Message = ztv1.BackendFailed, err.Error()
			failed = append(failed, string(b.Backend))
		} else if b.State == ztv1.BackendApplied || b.State == ztv1.BackendPartial {
			applied = true
		}
		for _, o := range b.Objects {
			bs.Objects = append(bs.Objects, ObjectRef(o))
		}
		st.Backends = append(st.Backends, bs)
	}
	if len(failed) > 0 {
		sort.Strings(failed)
		ready.Status, ready.Reason = metav1.ConditionFalse, ReasonApplyFailed
		ready.Message = "the API server refused objects of backend(s) " + strings.Join(failed, ", ") +
			"; see status.backends for its message"
		st.Active = st.Active && applied
	}
	// Sets lastTransitionTime to ready's (now) only when Ready is new or its status changed.
	meta.SetStatusCondition(&st.Conditions, ready)
	return st
}

// ObjectRef names a generated object in status.
func ObjectRef(o client.Object) ztv1.ObjectReference {
	gvk := o.GetObjectKind().GroupVersionKind()
	return ztv1.ObjectReference{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind, Namespace: o.GetNamespace(), Name: o.GetName()}
}

// InactiveBackends are the status entries of the backends that do not run, in registry
// order: Disabled for those in disabled (turned off by the operator's --backends flag),
// NotInstalled for those in notInstalled (their kinds are not served). A backend in both is
// Disabled; backends in neither are left out.
func InactiveBackends(disabled, notInstalled []ztv1.Backend) []BackendResult {
	var out []BackendResult
	for _, b := range AllBackends() {
		switch {
		case slices.Contains(disabled, b):
			out = append(out, BackendResult{Backend: b, State: ztv1.BackendDisabled, Message: DisabledMessage})
		case slices.Contains(notInstalled, b):
			out = append(out, BackendResult{Backend: b, State: ztv1.BackendNotInstalled,
				Message: fmt.Sprintf("the cluster does not serve %s; install it and the operator picks it up", inactiveKindList(BackendKinds(b)))})
		}
	}
	return out
}

func inactiveKindList(gvks []schema.GroupVersionKind) string {
	var parts []string
	for _, g := range gvks {
		parts = append(parts, g.Kind+"."+g.Group)
	}
	return strings.Join(parts, ", ")
}
