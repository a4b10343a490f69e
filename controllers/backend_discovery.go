package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
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

// BackendDiscoveryReconciler re-discovers backends when a CustomResourceDefinition of a
// mesh group appears, changes or goes.
type BackendDiscoveryReconciler struct {
	Backends *Backends
	Client   client.Reader
}

// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=get;list;watch
// +kubebuilder:rbac:groups=security.istio.io,resources=authorizationpolicies;peerauthentications,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy.linkerd.io,resources=servers;httproutes;authorizationpolicies;meshtlsauthentications;networkauthentications,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=cilium.io,resources=ciliumnetworkpolicies,verbs=get;list;watch;create;update;patch;delete

// Reconcile refreshes discovery and starts watches for newly active backends. The API
// server serves a new CRD's resources a moment after the CRD is established, so while a
// mesh CRD exists whose backend is not served yet, it looks again shortly.
func (r *BackendDiscoveryReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	added, changed, err := r.Backends.Refresh(ctx)
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := r.Backends.activate(added); err != nil {
		return ctrl.Result{}, err
	}
	if changed {
		r.Backends.changed()
	}
	_, group, _ := strings.Cut(req.Name, ".")
	for _, info := range compiler.Backends() {
		backend := info.Name
		if info.Builtin || !hasGroup(info.Kinds, group) || r.Backends.modes[backend] == ModeOff {
			continue
		}
		r.Backends.mu.RLock()
		installed := r.Backends.installed[backend]
		r.Backends.mu.RUnlock()
		if installed {
			continue
		}
		crd := &metav1.PartialObjectMetadata{}
		crd.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
		if err := r.Client.Get(ctx, req.NamespacedName, crd); err == nil {
			return ctrl.Result{RequeueAfter: 2 * time.Second}, nil
		}
	}
	return ctrl.Result{}, nil
}

// meshGroups are the API groups whose CRDs can turn a backend on.
var meshGroups = func() map[string]bool {
	out := map[string]bool{}
	for _, info := range compiler.Backends() {
		if !info.Builtin {
			for _, k := range info.Kinds {
				out[k.Group] = true
			}
		}
	}
	return out
}()

func hasGroup(kinds []schema.GroupVersionKind, group string) bool {
	for _, k := range kinds {
		if k.Group == group {
			return true
		}
	}
	return false
}

// SetupWithManager watches CRDs (metadata only) of the mesh groups.
func (r *BackendDiscoveryReconciler) SetupWithManager(mgr ctrl.Manager, skipNameValidation bool) error {
	crd := &metav1.PartialObjectMetadata{}
	crd.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
	isMesh := predicate.NewPredicateFuncs(func(o client.Object) bool {
		_, group, _ := strings.Cut(o.GetName(), ".")
		return meshGroups[group]
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("backenddiscovery").
		For(crd, builder.WithPredicates(isMesh, predicate.Funcs{
			UpdateFunc: func(e event.UpdateEvent) bool { return true },
		})).
		WithOptions(controllerOptions(1, skipNameValidation)).
		Complete(reconcile.Func(r.Reconcile))
}

// controllerOptions are the options every controller of the operator uses.
func controllerOptions(workers int, skipNameValidation bool) controller.Options {
	return controller.Options{MaxConcurrentReconciles: workers, SkipNameValidation: ptr.To(skipNameValidation)}
}

// watchActivated makes ctl watch the kinds of every mesh backend that becomes active (in that
// backend's cache), mapping their events with toRequests (except those of the controller's
// own writes, own), and then reconcile everything list returns, so that existing policies
// or baselines get the backend's objects.
func watchActivated(mgr ctrl.Manager, ctl controller.Controller, backends *Backends, resync chan<- event.GenericEvent,
	w *writer.Writer, toRequests func(context.Context, client.Object) []reconcile.Request,
	list func(context.Context) ([]client.Object, error)) error {
	// Reconcile everything once the caches serve reads (at start-up they do not yet).
	resyncAll := func(why string) {
		go func() {
			ctx := context.Background()
			if !mgr.GetCache().WaitForCacheSync(ctx) {
				return
			}
			objs, err := list(ctx)
			if err != nil {
				log.FromContext(ctx).Error(err, "listing for a resync", "after", why)
				return
			}
			for _, o := range objs {
				resync <- event.GenericEvent{Object: o}
			}
		}()
	}
	backends.OnChange(func() { resyncAll("a backend came or went") })
	return backends.OnInstall(func(backend ztv1.Backend, kindCache cache.Cache) error {
		for _, gvk := range compiler.BackendKinds(backend) {
			if err := ctl.Watch(source.Kind(kindCache, writer.NewChild(gvk),
				handler.EnqueueRequestsFromMapFunc(toRequests), w.Predicate(gvk))); err != nil {
				return fmt.Errorf("watching %s: %w", gvk.Kind, err)
			}
		}
		resyncAll("activating backend " + string(backend))
		return nil
	})
}
