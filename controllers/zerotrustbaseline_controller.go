package controllers

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
)

// Reasons of a ZeroTrustBaseline's Ready condition.
const (
	// ReasonBaselineEnforced: every selected namespace has the baseline's objects.
	ReasonBaselineEnforced = "Enforced"
	// ReasonInvalidSelector: spec.namespaceSelector cannot be parsed; nothing is selected.
	ReasonInvalidSelector = "InvalidSelector"
)

// maxListedNamespaces bounds status.matchedNamespaces; the count is always exact.
const maxListedNamespaces = 256

// ZeroTrustBaselineReconciler enforces the network floor of a ZeroTrustBaseline in every
// namespace it selects: default deny and DNS.
type ZeroTrustBaselineReconciler struct {
	Client             client.Client
	Recorder           events.EventRecorder
	Options            compiler.Options
	SkipNameValidation bool
}

// +kubebuilder:rbac:groups=zerotrust.dev,resources=zerotrustbaselines,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=zerotrust.dev,resources=zerotrustbaselines/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=zerotrust.dev,resources=zerotrustbaselines/finalizers,verbs=update

// Reconcile applies the baseline's objects in each selected namespace and removes them from
// namespaces that left the selection.
func (r *ZeroTrustBaselineReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	b := &ztv1.ZeroTrustBaseline{}
	if err := r.Client.Get(ctx, req.NamespacedName, b); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	live, err := listChildren(ctx, r.Client, baselineOwnerKey(b.Name))
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("listing generated objects: %w", err)
	}
	if !b.DeletionTimestamp.IsZero() {
		if err := deleteChildren(ctx, r.Client, live); err != nil {
			return ctrl.Result{}, fmt.Errorf("removing generated objects: %w", err)
		}
		return ctrl.Result{}, r.patchFinalizer(ctx, b, controllerutil.RemoveFinalizer)
	}
	if err := r.patchFinalizer(ctx, b, controllerutil.AddFinalizer); err != nil {
		return ctrl.Result{}, fmt.Errorf("adding finalizer: %w", err)
	}

	matched, selErr := r.selectedNamespaces(ctx, b)
	if selErr != nil && !isSelectorError(selErr) {
		return ctrl.Result{}, selErr
	}
	owner := metav1.OwnerReference{
		APIVersion: ztv1.GroupVersion.String(), Kind: "ZeroTrustBaseline", Name: b.Name, UID: b.UID,
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
	}
	var applyErr error
	for i := range matched {
		objs, err := compiler.CompileBaseline(b, &matched[i], r.Options)
		if err != nil {
			return ctrl.Result{}, fmt.Errorf("compiling for namespace %s: %w", matched[i].Name, err)
		}
		for _, o := range objs {
			o.SetOwnerReferences([]metav1.OwnerReference{owner})
		}
		if err := applyChildren(ctx, r.Client, objs, live); err != nil && applyErr == nil {
			applyErr = err
		}
	}
	if err := deleteChildren(ctx, r.Client, live); err != nil {
		return ctrl.Result{}, fmt.Errorf("removing objects from namespaces that left the selection: %w", err)
	}
	if err := r.report(ctx, b, matched, selErr, applyErr); err != nil {
		return ctrl.Result{}, fmt.Errorf("updating status: %w", err)
	}
	return ctrl.Result{}, applyErr
}

type selectorError struct{ error }

func isSelectorError(err error) bool { _, ok := err.(selectorError); return ok }

// selectedNamespaces lists the namespaces b selects, sorted by name.
func (r *ZeroTrustBaselineReconciler) selectedNamespaces(ctx context.Context, b *ztv1.ZeroTrustBaseline) ([]corev1.Namespace, error) {
	sel, err := metav1.LabelSelectorAsSelector(b.Spec.NamespaceSelector)
	if err != nil {
		return nil, selectorError{fmt.Errorf("spec.namespaceSelector: %w", err)}
	}
	var list corev1.NamespaceList
	if err := r.Client.List(ctx, &list, client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, err
	}
	out := list.Items[:0]
	for _, ns := range list.Items {
		if ns.DeletionTimestamp.IsZero() {
			out = append(out, ns)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (r *ZeroTrustBaselineReconciler) patchFinalizer(ctx context.Context, b *ztv1.ZeroTrustBaseline, change func(client.Object, string) bool) error {
	base := b.DeepCopy()
	if !change(b, Finalizer) {
		return nil
	}
	return client.IgnoreNotFound(r.Client.Patch(ctx, b, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})))
}

// report writes status when it changed and records an Event when Ready changes.
func (r *ZeroTrustBaselineReconciler) report(ctx context.Context, b *ztv1.ZeroTrustBaseline, matched []corev1.Namespace, selErr, applyErr error) error {
	st := b.Status.DeepCopy()
	st.ObservedGeneration = b.Generation
	st.MatchedNamespaceCount = int32(len(matched))
	st.MatchedNamespaces = nil
	for i := range matched {
		if i == maxListedNamespaces {
			break
		}
		st.MatchedNamespaces = append(st.MatchedNamespaces, matched[i].Name)
	}
	ready := metav1.Condition{Type: ztv1.ConditionReady, ObservedGeneration: b.Generation,
		Status: metav1.ConditionTrue, Reason: ReasonBaselineEnforced,
		Message: fmt.Sprintf("enforced in %d namespace(s)", len(matched))}
	switch {
	case selErr != nil:
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, ReasonInvalidSelector, selErr.Error()+"; the baseline selects no namespace until it is fixed"
	case applyErr != nil:
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, ReasonApplyFailed, applyErr.Error()
	}
	before := meta.FindStatusCondition(st.Conditions, ztv1.ConditionReady)
	changedReady := before == nil || before.Status != ready.Status || before.Reason != ready.Reason
	meta.SetStatusCondition(&st.Conditions, ready)
	if equality.Semantic.DeepEqual(*st, b.Status) {
		return nil
	}
	base := b.DeepCopy()
	b.Status = *st
	if err := r.Client.Status().Patch(ctx, b, client.MergeFrom(base)); err != nil {
		return err
	}
	if changedReady && r.Recorder != nil {
		kind := corev1.EventTypeNormal
		if ready.Status != metav1.ConditionTrue {
			kind = corev1.EventTypeWarning
		}
		r.Recorder.Eventf(b, nil, kind, ready.Reason, "Reconcile", "%s", ready.Message)
	}
	return nil
}

// SetupWithManager watches baselines, what they generate, and Namespaces (whose labels
// decide the selection; every baseline is re-evaluated, and there are few).
func (r *ZeroTrustBaselineReconciler) SetupWithManager(mgr ctrl.Manager) error {
	c := mgr.GetClient()
	b := ctrl.NewControllerManagedBy(mgr).
		Named("zerotrustbaseline").
		For(&ztv1.ZeroTrustBaseline{}, builder.WithPredicates(specOrDeletion)).
		WithOptions(controller.Options{MaxConcurrentReconciles: 2, SkipNameValidation: ptr.To(r.SkipNameValidation)})
	for _, gvk := range ChildKinds {
		b = b.Watches(NewChild(gvk), handler.EnqueueRequestsFromMapFunc(childToBaseline))
	}
	return b.Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
		var list ztv1.ZeroTrustBaselineList
		if err := c.List(ctx, &list); err != nil {
			return nil
		}
		reqs := make([]reconcile.Request, 0, len(list.Items))
		for _, item := range list.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKey{Name: item.Name}})
		}
		return reqs
	})).Complete(r)
}
