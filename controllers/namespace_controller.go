package controllers

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/apply"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
)

// Namespace metadata bookkeeping.
const (
	// AnnotationManaged lists the labels and annotations the operator set on a namespace,
	// so that it knows, without reading managedFields, which namespaces carry them and must
	// lose them when no baseline asks for them any more.
	AnnotationManaged = "zerotrust.dev/managed-keys"
	// NamespaceFieldOwner is the field manager of the namespace labels. It is not the
	// operator's main field owner: applying a namespace's labels must never touch fields
	// the operator sets elsewhere, nor anybody else's labels.
	NamespaceFieldOwner = "zerotrust-operator-namespace"
)

// NamespaceReconciler sets what baselines put on a namespace itself, as the compiler
// decides it (compiler.NamespaceMetadata: the Pod Security labels of the strictest baseline
// selecting it and each active backend's part, e.g. Linkerd's default-inbound deny
// annotation). It applies them with its own field owner and removes them when no baseline
// asks for them any more.
type NamespaceReconciler struct {
	Client   client.Client
	Backends *Backends
	// Options are the compiler's (the operator's namespace decides which namespaces
	// baselines select); Options.Backends is replaced by Backends' Active list.
	Options            compiler.Options
	SkipNameValidation bool
}

// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch;patch

// Reconcile computes the namespace's labels and annotations from every baseline and applies
// them when the namespace does not already carry them.
func (r *NamespaceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ns := &corev1.Namespace{}
	if err := r.Client.Get(ctx, req.NamespacedName, ns); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !ns.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	// Read, not written: no copies of the baselines' (large) statuses for each namespace.
	var baselines ztv1.ZeroTrustBaselineList
	if err := r.Client.List(ctx, &baselines, client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, err
	}
	opts := r.Options
	opts.Backends = nil
	if r.Backends != nil {
		opts.Backends = r.Backends.Active()
	}
	labels, annotations := compiler.NamespaceMetadata(baselines.Items, ns, opts)
	owned := ns.Annotations[AnnotationManaged] != ""
	if len(labels) == 0 && len(annotations) == 0 && !owned {
		return ctrl.Result{}, nil
	}
	if len(labels)+len(annotations) > 0 {
		annotations[AnnotationManaged] = managedKeys(labels, annotations)
	}
	if ns.Annotations[AnnotationManaged] == annotations[AnnotationManaged] &&
		apply.Subset(labels, ns.Labels) && apply.Subset(annotations, ns.Annotations) {
		return ctrl.Result{}, nil
	}
	// An apply that names only our fields: what we no longer list is released (and removed,
	// unless someone else also set it); everybody else's labels are untouched.
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("v1")
	u.SetKind("Namespace")
	u.SetName(ns.Name)
	if len(labels) > 0 {
		u.SetLabels(labels)
	}
	if len(annotations) > 0 {
		u.SetAnnotations(annotations)
	}
	if err := r.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
		client.FieldOwner(NamespaceFieldOwner), client.ForceOwnership); err != nil {
		return ctrl.Result{}, fmt.Errorf("applying namespace labels: %w", err)
	}
	log.FromContext(ctx).V(1).Info("namespace labels", "labels", labels, "annotations", annotations)
	return ctrl.Result{}, nil
}

// managedKeys is the value of AnnotationManaged: the sorted keys the operator set.
func managedKeys(labels, annotations map[string]string) string {
	var keys []string
	for k := range labels {
		keys = append(keys, k)
	}
	for k := range annotations {
		if k != AnnotationManaged {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

// SetupWithManager reconciles a namespace when it changes and, for any baseline event,
// every namespace (baseline changes are rare; namespaces are cached).
func (r *NamespaceReconciler) SetupWithManager(mgr ctrl.Manager) error {
	c := mgr.GetClient()
	namespaces := lister{c: c, newList: func() client.ObjectList { return &corev1.NamespaceList{} }}
	allNamespaces := func(ctx context.Context) []reconcile.Request {
		reqs, err := namespaces.requests(ctx)
		if err != nil {
			log.FromContext(ctx).Error(err, "listing namespaces")
		}
		return reqs
	}
	resync := make(chan event.GenericEvent, 64)
	err := ctrl.NewControllerManagedBy(mgr).
		Named("namespace").
		For(&corev1.Namespace{}).
		// A baseline's spec (its generation, also bumped when its deletion starts), its
		// creation and its removal matter here; its status updates do not.
		Watches(&ztv1.ZeroTrustBaseline{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
			return allNamespaces(ctx)
		}), builder.WithPredicates(afterInitialList, predicate.GenerationChangedPredicate{})).
		WatchesRawSource(source.Channel(resync, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
			return allNamespaces(ctx)
		}))).
		WithOptions(controllerOptions(2, r.SkipNameValidation)).
		Complete(r)
	if err != nil || r.Backends == nil {
		return err
	}
	// A backend's namespace metadata (Linkerd's default-inbound annotation) depends on the
	// backend running.
	return r.Backends.OnInstall(func(backend ztv1.Backend, _ cache.Cache) error {
		if info, ok := compiler.LookupBackend(backend); ok && info.NamespaceMetadata != nil {
			go func() { resync <- event.GenericEvent{Object: &corev1.Namespace{}} }()
		}
		return nil
	})
}
