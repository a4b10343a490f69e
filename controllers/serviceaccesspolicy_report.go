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
	if after != nil && (before == nil || before.Status != after.Status || before.Reason != after.Reason) {
		kind := corev1.EventTypeNormal
		if after.Status != metav1.ConditionTrue {
			kind = corev1.EventTypeWarning
		}
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
