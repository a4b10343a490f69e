package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/audit"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/writer"
)

// SetupWithManager watches baselines, what they generate, and Namespaces (whose labels
// decide the selection; every baseline is re-evaluated, and there are few).
func (r *ZeroTrustBaselineReconciler) SetupWithManager(mgr ctrl.Manager) error {
	c := mgr.GetClient()
	r.w = writer.New(r.Client, r.Recorder)
	resync := make(chan event.GenericEvent, 64)
	b := ctrl.NewControllerManagedBy(mgr).
		Named("zerotrustbaseline").
		For(&ztv1.ZeroTrustBaseline{}, builder.WithPredicates(specOrDeletion)).
		WatchesRawSource(source.Channel(resync, &handler.EnqueueRequestForObject{})).
		WithOptions(controllerOptions(2, r.SkipNameValidation))
	for _, gvk := range compiler.BuiltinKinds() {
		b = b.Watches(writer.NewChild(gvk), handler.EnqueueRequestsFromMapFunc(childToBaseline), builder.WithPredicates(afterInitialList, r.w.Predicate(gvk)))
	}
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.caches == nil {
		caches, err := newInventoryCaches(context.Background(), mgr.GetCache())
		if err != nil {
			return err
		}
		r.caches = caches
	}
	if r.AuditPods == nil {
		pods, err := audit.NewPodSource(mgr.GetConfig())
		if err != nil {
			return err
		}
		r.AuditPods = pods
	}
	baselines := lister{c: c, newList: func() client.ObjectList { return &ztv1.ZeroTrustBaselineList{} }}
	allBaselines := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
		reqs, _ := baselines.requests(ctx)
		return reqs
	})
	b = b.WatchesRawSource(reverifySource("ZeroTrustBaseline", r.ReverifyInterval, baselines.requests))
	// Another baseline's change can change what this one enforces where both apply.
	ctl, err := b.Watches(&corev1.Namespace{}, allBaselines, builder.WithPredicates(afterInitialList)).
		Watches(&ztv1.ZeroTrustBaseline{}, allBaselines, builder.WithPredicates(afterInitialList, predicate.GenerationChangedPredicate{})).
		Build(r)
	if err != nil {
		return err
	}
	return watchActivated(mgr, ctl, r.Backends, resync, r.w, childToBaseline, baselines.objects)
}
