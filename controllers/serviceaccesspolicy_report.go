package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
)

// report writes status only when it changed, and records an Event when Ready changes.
func (r *ServiceAccessPolicyReconciler) report(ctx context.Context, policy *ztv1.ServiceAccessPolicy, out *compiler.Output, applyErrs map[ztv1.Backend]error) error {
	now := metav1.NewTime(r.Clock.Now())
	wasActive := policy.Status.Active // the patch overwrites policy with the response
	prev, st, err := r.w.PolicyStatus(ctx, policy, func(prev []metav1.Condition) ztv1.ServiceAccessPolicyStatus {
		return compiler.PolicyStatus(policy, out, applyErrs, prev, now)
	})
	if err != nil || st == nil {
		return err
	}
	before := readyOf(prev)
	after := readyOf(st.Conditions)
	if kind, ok := readyEvent(before, after); ok {
		r.w.Event(policy, nil, kind, after.Reason, "Reconcile", after.Message)
	}
	if before != nil && after != nil && wasActive != st.Active && (timeReason(before.Reason) || timeReason(after.Reason)) {
		to := "inactive"
		if st.Active {
			to = "active"
		}
		scheduleTransitions.WithLabelValues(to).Inc()
	}
	return nil
}

// readyEvent returns the type of the Event that a change of Ready from before to after
// records, and false when it records none. Events mark transitions: a policy or baseline
// first Ready (True) records none (its status says so, and a converge of n new policies
// would otherwise post n Events nobody needs; docs/performance.md), one that is not Ready
// from the start records a Warning (someone has to fix it), and every later change of
// Ready's status or reason records one.
func readyEvent(before, after *metav1.Condition) (string, bool) {
	switch {
	case after == nil:
		return "", false
	case before == nil && after.Status == metav1.ConditionTrue:
		return "", false
	case before != nil && before.Status == after.Status && before.Reason == after.Reason:
		return "", false
	case after.Status != metav1.ConditionTrue:
		return corev1.EventTypeWarning, true
	default:
		return corev1.EventTypeNormal, true
	}
}

// timeReason reports whether a Ready reason is the clock's: a schedule or an expiry.
func timeReason(reason string) bool {
	return reason == compiler.ReasonOutsideSchedule || reason == compiler.ReasonExpired
}

func readyOf(conds []metav1.Condition) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == ztv1.ConditionReady {
			return &conds[i]
		}
	}
	return nil
}
