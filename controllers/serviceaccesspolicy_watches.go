package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/writer"
)

// specOrDeletion passes policy updates that change what to do: a new generation, or the
// start of deletion. Status updates (the reconciler's own) pass nothing.
var specOrDeletion = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		return e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration() ||
			!e.ObjectNew.GetDeletionTimestamp().IsZero()
	},
}

// SetupWithManager wires the watches: policies, what they generate (drift), and what they
// refer to, each mapped to policies through a field index.
func (r *ServiceAccessPolicyReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	r.boundaries = &boundaryTimers{clock: r.Clock}
	r.w = writer.New(r.Client, r.Recorder)
	workers := r.MaxConcurrentReconciles
	if workers <= 0 {
		workers = 4
	}
	c := mgr.GetClient()
	caches, err := newInventoryCaches(context.Background(), mgr.GetCache())
	if err != nil {
		return err
	}
	r.caches = caches
	pi, err := newPolicyIndex(context.Background(), mgr.GetCache())
	if err != nil {
		return err
	}
	resync := make(chan event.GenericEvent, 1024)
	policies := lister{c: c, newList: func() client.ObjectList { return &ztv1.ServiceAccessPolicyList{} }}
	b := ctrl.NewControllerManagedBy(mgr).
		Named("serviceaccesspolicy").
		WatchesRawSource(source.Channel(resync, &handler.EnqueueRequestForObject{})).
		WatchesRawSource(r.boundaries.source()).
		WatchesRawSource(reverifySource("ServiceAccessPolicy", r.ReverifyInterval, policies.requests)).
		For(&ztv1.ServiceAccessPolicy{}, builder.WithPredicates(specOrDeletion)).
		WithOptions(controllerOptions(workers, r.SkipNameValidation))
	for _, gvk := range compiler.BuiltinKinds() {
		b = b.Watches(writer.NewChild(gvk), handler.EnqueueRequestsFromMapFunc(childToPolicy), builder.WithPredicates(afterInitialList, r.w.Predicate(gvk)))
	}
	// Workload informers hold CachedWorkloads: watched through the informers themselves.
	for _, k := range workloadKinds {
		b = b.WatchesRawSource(&source.Informer{Informer: caches.workloads.Informer(k.kind), Handler: pi.byRefs(workloadRefs(k.kind)),
			Predicates: []predicate.Predicate{afterInitialList}})
	}
	ctl, err := b.
		Watches(&corev1.Service{}, pi.byIndex(IndexService, func(o client.Object) []string {
			return []string{nsName(o.GetNamespace(), o.GetName())}
		}), builder.WithPredicates(afterInitialList)).
		Watches(ServiceAccountMetadata(), pi.byIndex(IndexServiceAccount, func(o client.Object) []string {
			return []string{nsName(o.GetNamespace(), o.GetName())}
		}), builder.WithPredicates(afterInitialList)).
		Watches(&corev1.Namespace{}, pi.byIndex(IndexNamespace, func(o client.Object) []string {
			return []string{o.GetName()}
		}), builder.WithPredicates(afterInitialList)).
		// Only a baseline's spec decides where egress is denied: its status updates (the
		// audit's findings) concern no policy.
		Watches(&ztv1.ZeroTrustBaseline{}, handler.EnqueueRequestsFromMapFunc(baselineToPolicies(c, pi)),
			builder.WithPredicates(afterInitialList, predicate.GenerationChangedPredicate{})).
		Build(r)
	if err != nil {
		return err
	}
	// A backend activated later (its CRDs installed): watch its kinds, then reconcile every
	// policy so that it gets the backend's objects.
	return watchActivated(mgr, ctl, r.Backends, resync, r.w, childToPolicy, policies.objects)
}

// byIndex maps an event to the policies that refer to one of keys(object) as kind.
func (pi *policyIndex) byIndex(kind string, keys func(client.Object) []string) handler.EventHandler {
	return pi.byRefs(func(o client.Object) map[string][]string { return map[string][]string{kind: keys(o)} })
}

// byRefs maps an event to the policies that make one of refs(object), by kind.
func (pi *policyIndex) byRefs(refs func(client.Object) map[string][]string) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		var reqs []reconcile.Request
		seen := map[client.ObjectKey]bool{}
		for kind, keys := range refs(o) {
			var err error
			if reqs, err = pi.policies(kind, keys, seen, reqs); err != nil {
				log.FromContext(ctx).Error(err, "mapping event to policies", "reference", kind)
			}
		}
		return reqs
	})
}

// workloadRefs: a workload matters to policies that name it, to policies that name the
// ServiceAccount its pods run as (its labels are that identity's pod selector), and to
// policies that resolve its namespace's workloads by label or ServiceAccount.
func workloadRefs(kind ztv1.WorkloadKind) func(client.Object) map[string][]string {
	return func(o client.Object) map[string][]string {
		return map[string][]string{
			IndexWorkload:       {workloadKey(kind, o.GetNamespace(), o.GetName())},
			IndexServiceAccount: {nsName(o.GetNamespace(), podServiceAccount(o))},
			IndexWorkloadsIn:    {o.GetNamespace()},
		}
	}
}

// baselineToPolicies: a baseline decides where egress is denied, so its change concerns the
// policies with callers in the namespaces it selects. Old and new objects are both mapped.
func baselineToPolicies(c client.Reader, pi *policyIndex) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		b, ok := o.(*ztv1.ZeroTrustBaseline)
		if !ok {
			return nil
		}
		sel, err := metav1.LabelSelectorAsSelector(b.Spec.NamespaceSelector)
		if err != nil {
			return nil
		}
		var nss corev1.NamespaceList
		if err := c.List(ctx, &nss, client.MatchingLabelsSelector{Selector: sel}); err != nil {
			log.FromContext(ctx).Error(err, "listing namespaces of baseline", "baseline", klog.KObj(b))
			return nil
		}
		var names []string
		for _, ns := range nss.Items {
			names = append(names, ns.Name)
		}
		reqs, err := pi.policies(IndexNamespace, names, map[client.ObjectKey]bool{}, nil)
		if err != nil {
			log.FromContext(ctx).Error(err, "mapping baseline to policies", "baseline", klog.KObj(b))
		}
		return reqs
	}
}
