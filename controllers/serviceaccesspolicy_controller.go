// Package controllers holds the thin reconcilers: fetch, resolve through the compiler, apply,
// report. Everything that decides what to generate lives in internal/compiler. It defines no
// API types (CachedWorkload lives only in the operator's cache), hence no CRDs:
// +kubebuilder:skip
package controllers

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/writer"
)

// Finalizer lets the operator remove generated objects in other namespaces, which
// ownerReferences cannot reach, before a policy goes away.
const Finalizer = "zerotrust.dev/cleanup"

// ServiceAccessPolicyReconciler turns ServiceAccessPolicies into enforcement and keeps it so.
type ServiceAccessPolicyReconciler struct {
	Client   client.Client
	Recorder events.EventRecorder
	// Clock is the time schedules and expiry are evaluated at, and the timers that
	// reconcile a policy at its next boundary run on (boundaries.go). Default: the real
	// clock.
	Clock clock.WithDelayedExecution
	// ReverifyInterval is how often every policy is reconciled without a watch event
	// (reverifySource); <= 0: never.
	ReverifyInterval time.Duration
	Options          compiler.Options
	// MaxConcurrentReconciles bounds parallel reconciles (default 4).
	MaxConcurrentReconciles int
	// SkipNameValidation allows a second instance of the controller in one process (tests).
	SkipNameValidation bool
	// Backends says which backends run; Options.Backends is replaced by its Active list.
	Backends *Backends

	// w writes everything the reconciler writes, and knows its own writes.
	w          *writer.Writer
	caches     *inventoryCaches
	boundaries *boundaryTimers
}

// +kubebuilder:rbac:groups=zerotrust.dev,resources=serviceaccesspolicies,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=zerotrust.dev,resources=serviceaccesspolicies/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=zerotrust.dev,resources=serviceaccesspolicies/finalizers,verbs=update

// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings,verbs=get;list;watch;create;update;patch;delete

// The RBAC backend writes Roles holding whatever rules a policy declares and binds them.
// The API server lets a client do that only if it holds every permission it grants, or
// has escalate (to write the Role) and bind (to bind it) on roles. The operator takes the
// two verbs rather than the permissions: on roles only, never on clusterroles, so it can
// neither write nor bind a ClusterRole. Policies are held to the deny list and to their
// author's own permissions by the admission webhook (internal/webhook) and again, for the
// deny list, by the compiler. Role names are per policy, so bind cannot be limited by
// resourceNames.
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles,verbs=escalate;bind

// +kubebuilder:rbac:groups="",resources=services;serviceaccounts;namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets;daemonsets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile runs the phases of one policy: finalize or ensure the finalizer, compile, apply,
// prune, report.
func (r *ServiceAccessPolicyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	policy := &ztv1.ServiceAccessPolicy{}
	if err := r.Client.Get(ctx, req.NamespacedName, policy); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
		r.w.Forget(req.NamespacedName)
		r.boundaries.stop(req.NamespacedName)
		return ctrl.Result{}, r.removeOrphans(ctx, req.NamespacedName)
	}
	if !policy.DeletionTimestamp.IsZero() {
		r.w.Forget(req.NamespacedName)
		r.boundaries.stop(req.NamespacedName)
		return ctrl.Result{}, r.finalize(ctx, policy)
	}

	now := r.Clock.Now()
	opts := r.Options
	opts.Backends = r.Backends.Active()
	out, err := compiler.Compile(&cacheInventory{ctx: ctx, c: r.Client, inventoryCaches: r.caches}, compiler.Input{Policy: policy, Now: now, Options: opts})
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("compiling: %w", err)
	}
	out.Backends = append(out.Backends, r.Backends.Inactive()...)
	// Armed before anything is written: once status shows this reconcile, the timer of the
	// next boundary runs.
	r.boundaries.set(req.NamespacedName, out.NextTransition)

	live, err := r.w.List(ctx, writer.PolicyOwnerKey(policy.Namespace, policy.Name), r.Backends)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("listing generated objects: %w", err)
	}
	if elsewhere(policy.Namespace, out, live) {
		if err := r.w.AddFinalizer(ctx, policy, Finalizer); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding finalizer: %w", err)
		}
	}
	applyErrs, retry := r.applyAll(ctx, policy, out, live)
	if err := r.w.Prune(ctx, live, policy.Name); err != nil {
		return ctrl.Result{}, fmt.Errorf("removing stale objects: %w", err)
	}
	if err := r.report(ctx, policy, out, applyErrs); err != nil {
		return ctrl.Result{}, fmt.Errorf("updating status: %w", err)
	}
	for _, err := range applyErrs {
		if err != nil && !apierrors.IsInvalid(err) && !apierrors.IsForbidden(err) {
			return ctrl.Result{}, err // transient: retry with backoff
		}
	}
	// No RequeueAfter for the next boundary: the timer armed above reconciles the policy
	// then, on the reconciler's clock (boundaries.go). One for a repair that waits
	// (internal/writer/repairs.go).
	return ctrl.Result{RequeueAfter: retry}, nil
}

// elsewhere reports whether the policy generates, or generated, objects outside its own
// namespace. Only those need the finalizer: the others carry an ownerReference to the
// policy, and the garbage collector removes them with it. Sparing the finalizer spares
// most policies a write (docs/performance.md).
func elsewhere(namespace string, out *compiler.Output, live writer.Objects) bool {
	for _, b := range out.Backends {
		for _, o := range b.Objects {
			if o.GetNamespace() != namespace {
				return true
			}
		}
	}
	for k := range live {
		if k.Namespace != namespace {
			return true
		}
	}
	return false
}

// applyAll applies what the compiler produced (nothing in DryRun) and removes each applied
// object from live, leaving there what is stale. Errors are collected per backend: one
// backend's failure does not stop the others. retry is when a repair that waits is due
// (writer.Writer.Apply).
func (r *ServiceAccessPolicyReconciler) applyAll(ctx context.Context, policy *ztv1.ServiceAccessPolicy, out *compiler.Output, live writer.Objects) (errs map[ztv1.Backend]error, retry time.Duration) {
	errs = map[ztv1.Backend]error{}
	if out.DryRun {
		return errs, 0
	}
	owner := metav1.OwnerReference{
		APIVersion: ztv1.GroupVersion.String(), Kind: "ServiceAccessPolicy",
		Name: policy.Name, UID: policy.UID,
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
	}
	for _, b := range out.Backends {
		for _, obj := range b.Objects {
			switch {
			case writer.IsShared(obj):
				if err := r.w.Share(ctx, obj, live, owner, r.Backends); err != nil {
					errs[b.Backend] = err
					continue
				}
			case obj.GetNamespace() == policy.Namespace:
				// Cross-namespace owner references are not allowed; the finalizer covers those.
				obj.SetOwnerReferences([]metav1.OwnerReference{owner})
			}
		}
		if errs[b.Backend] != nil {
			continue
		}
		wait, err := r.w.Apply(ctx, policy, b.Objects, live)
		if err != nil {
			errs[b.Backend] = err
		}
		if wait > 0 && (retry == 0 || wait < retry) {
			retry = wait
		}
	}
	return errs, retry
}

// removeOrphans deletes what a policy that is gone generated. A policy whose objects all
// live in its own namespace has no finalizer: its objects carry an ownerReference, and the
// garbage collector would remove them too, but only when it comes round to it; this closes
// what the policy opened at once.
func (r *ServiceAccessPolicyReconciler) removeOrphans(ctx context.Context, key client.ObjectKey) error {
	live, err := r.w.List(ctx, writer.PolicyOwnerKey(key.Namespace, key.Name), r.Backends)
	if err != nil {
		return fmt.Errorf("listing objects of a deleted policy: %w", err)
	}
	return r.w.Prune(ctx, live, key.Name)
}

// finalize removes everything the policy generated, in every namespace, then the finalizer.
func (r *ServiceAccessPolicyReconciler) finalize(ctx context.Context, policy *ztv1.ServiceAccessPolicy) error {
	if !controllerutil.ContainsFinalizer(policy, Finalizer) {
		return nil
	}
	live, err := r.w.List(ctx, writer.PolicyOwnerKey(policy.Namespace, policy.Name), r.Backends)
	if err != nil {
		return fmt.Errorf("listing generated objects: %w", err)
	}
	if err := r.w.Prune(ctx, live, policy.Name); err != nil {
		return fmt.Errorf("removing generated objects: %w", err)
	}
	return r.w.RemoveFinalizer(ctx, policy, Finalizer)
}
