package operator

import (
	"context"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/zerotrust-dev/zerotrust-operator/controllers"
	"github.com/zerotrust-dev/zerotrust-operator/internal/apply"
)

// Cache transforms. The operator reads little of the objects it watches and never writes
// them back. Workloads are cached as controllers.CachedWorkload (controllers.CondenseWorkload):
// what the compiler reads of their pod template; Services as controllers.CachedService
// (controllers.CondenseService): their identity, selector and ports. Of a Namespace the
// compiler reads its labels and annotations: slim drops its status. At ten 5-10 KB pods a
// policy, full pod templates were two thirds of the operator's heap (docs/performance.md).

// slimmed are the kinds cached through slim.
func slimmed() []client.Object {
	return []client.Object{&corev1.Namespace{}}
}

var stripManagedFields = cache.TransformStripManagedFields()

// slim is the cache transform of the kinds in slimmed. It also drops managedFields, like the
// default transform it replaces for them. It is idempotent, as informers require.
func slim(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Namespace:
		o.ManagedFields, o.Status = nil, corev1.NamespaceStatus{}
	default:
		return stripManagedFields(obj)
	}
	return obj, nil
}

// condense is the cache transform of generated objects: managedFields only of managers other
// than the operator (apply.KeepForeignManagedFields: normally none; they name who tampered),
// and the content of NetworkPolicies and mesh policies replaced by its digest
// (apply.Condense: a NetworkPolicy becomes an apply.Condensed, read through condensedCache).
// The reconcilers compare generated objects with what they should be and never read their
// content otherwise; 4000 NetworkPolicies cost a third of the operator's heap whole.
func condense(obj any) (any, error) {
	o, ok := obj.(client.Object)
	if !ok {
		return stripManagedFields(obj)
	}
	if _, done := o.(*apply.Condensed); done {
		return o, nil
	}
	apply.KeepForeignManagedFields(o)
	return apply.Condense(o)
}

// newInformer is the cache's informer constructor: controller-runtime's own
// (toolscache.NewSharedIndexInformer), except that a workload informer condenses each page
// it lists as it comes (controllers.CondenseWorkloadList) instead of holding every page's
// whole objects until the list is complete. Watch events, and the initial state when the
// API server streams it, go through the cache transform one object at a time already.
func newInformer(lw toolscache.ListerWatcher, obj runtime.Object, resync time.Duration, indexers toolscache.Indexers) toolscache.SharedIndexInformer {
	switch obj.(type) {
	case *appsv1.Deployment, *appsv1.StatefulSet, *appsv1.DaemonSet:
		inner := toolscache.ToListerWatcherWithContext(lw)
		lw = &toolscache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
				list, err := inner.ListWithContext(ctx, opts)
				if err != nil {
					return list, err
				}
				return controllers.CondenseWorkloadList(list)
			},
			WatchFuncWithContext: inner.WatchWithContext,
		}
	}
	return toolscache.NewSharedIndexInformer(lw, obj, resync, indexers)
}
