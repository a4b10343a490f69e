package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
)

// report writes status when it changed and records an Event when Ready changes and when
// the system namespaces left out change (to a non-empty list).
func (r *ZeroTrustBaselineReconciler) report(ctx context.Context, b *ztv1.ZeroTrustBaseline, matched []corev1.Namespace, excluded, overlaps []string, findings []ztv1.Finding, selErr, applyErr error) error {
	st := b.Status.DeepCopy()
	beforeExcluded := st.ExcludedNamespaces
	st.ExcludedNamespaces = excluded
	st.ObservedGeneration = b.Generation
	st.MatchedNamespaceCount = int32(len(matched))
	st.MatchedNamespaces = nil
	for i := range matched {
		if i == maxListedNamespaces {
			break
		}
		st.MatchedNamespaces = append(st.MatchedNamespaces, matched[i].Name)
	}
	beforeFindings := st.FindingsCount
	st.FindingsCount = int32(len(findings))
	st.Findings = nil
	if len(findings) > 0 {
		st.Findings = findings[:min(len(findings), maxListedFindings)]
	}
	ready := metav1.Condition{Type: ztv1.ConditionReady, ObservedGeneration: b.Generation,
		Status: metav1.ConditionTrue, Reason: ReasonBaselineEnforced,
		Message: fmt.Sprintf("enforced in %d namespace(s)", len(matched))}
	if len(overlaps) > 0 {
		ready.Message += fmt.Sprintf("; baseline(s) %s select some of them too: the stricter settings apply there", strings.Join(overlaps, ", "))
	}
	if len(excluded) > 0 {
		ready.Message += "; " + compiler.ExcludedMessage(excluded)
	}
	switch {
	case selErr != nil:
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, ReasonInvalidSelector, selErr.Error()+"; the baseline selects no namespace until it is fixed"
	case applyErr != nil:
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, ReasonApplyFailed, applyErr.Error()
	}
	var before *metav1.Condition // a copy: SetStatusCondition changes st.Conditions in place
	if c := meta.FindStatusCondition(st.Conditions, ztv1.ConditionReady); c != nil {
		before = c.DeepCopy()
	}
	meta.SetStatusCondition(&st.Conditions, ready)
	if equality.Semantic.DeepEqual(*st, b.Status) {
		return nil
	}
	// An update, not a merge patch: a patch leaves out counts that are zero on both sides,
	// and the NAMESPACES and FINDINGS columns would stay empty instead of showing 0.
	b.Status = *st
	if err := r.w.UpdateStatus(ctx, b); err != nil {
		return err
	}
	if beforeFindings != st.FindingsCount {
		kind, note := corev1.EventTypeNormal, "the audit finds no over-privilege"
		if st.FindingsCount > 0 {
			kind, note = corev1.EventTypeWarning, fmt.Sprintf("the audit finds %d over-privilege(s): %s; see status.findings", st.FindingsCount, summarize(findings))
		}
		r.w.Event(b, nil, kind, "Audit", "Audit", note)
	}
	if !slices.Equal(beforeExcluded, st.ExcludedNamespaces) && len(st.ExcludedNamespaces) > 0 {
		r.w.Event(b, nil, corev1.EventTypeNormal, "SystemNamespacesExcluded", "Select", compiler.ExcludedMessage(st.ExcludedNamespaces))
	}
	if kind, ok := readyEvent(before, &ready); ok {
		r.w.Event(b, nil, kind, ready.Reason, "Reconcile", ready.Message)
	}
	return nil
}
