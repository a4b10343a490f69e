package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
)

// Pod Security Admission labels the operator sets on namespaces a baseline selects.
const (
	LabelPSAEnforce        = "pod-security.kubernetes.io/enforce"
	LabelPSAEnforceVersion = "pod-security.kubernetes.io/enforce-version"
	// AnnotationPodSecurity records the level the operator set, so that it knows, without
	// reading managedFields, which namespaces carry its labels and must lose them when no
	// baseline selects them any more.
	AnnotationPodSecurity = "zerotrust.dev/pod-security"
	// NamespaceFieldOwner is the field manager of the namespace labels. It is not the
	// operator's main field owner: applying a namespace's labels must never touch fields
	// the operator sets elsewhere, nor anybody else's labels.
	NamespaceFieldOwner = "zerotrust-operator-namespace"
)

// NamespaceReconciler sets the Pod Security labels of the strictest baseline selecting a
// namespace, with its own field owner, and removes them when no baseline selects it.
type NamespaceReconciler struct {
	Client             client.Client
	SkipNameValidation bool
}

// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch;patch

// Reconcile computes the namespace's level from every baseline and applies it when the
// namespace does not already carry it.
func (r *NamespaceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ns := &corev1.Namespace{}
	if err := r.Client.Get(ctx, req.NamespacedName, ns); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !ns.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	var baselines ztv1.ZeroTrustBaselineList
	if err := r.Client.List(ctx, &baselines); err != nil {
		return ctrl.Result{}, err
	}
	level := compiler.PodSecurityLevel(baselines.Items, ns)
	current := ns.Annotations[AnnotationPodSecurity]
	if level == "" && current == "" {
		return ctrl.Result{}, nil
	}
	if level != "" && current == string(level) && ns.Labels[LabelPSAEnforce] == string(level) &&
		ns.Labels[LabelPSAEnforceVersion] == "latest" {
		return ctrl.Result{}, nil
	}
	// An apply that names only our fields: labels we no longer list are released (and
	// removed, unless someone else also set them); everybody else's are untouched.
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("v1")
	u.SetKind("Namespace")
	u.SetName(ns.Name)
	if level != "" {
		u.SetLabels(map[string]string{LabelPSAEnforce: string(level), LabelPSAEnforceVersion: "latest"})
		u.SetAnnotations(map[string]string{AnnotationPodSecurity: string(level)})
	}
	if err := r.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
		client.FieldOwner(NamespaceFieldOwner), client.ForceOwnership); err != nil {
		return ctrl.Result{}, fmt.Errorf("applying Pod Security labels: %w", err)
	}
	log.FromContext(ctx).V(1).Info("pod security labels", "level", level)
	return ctrl.Result{}, nil
}

// SetupWithManager reconciles a namespace when it changes and, for any baseline event,
// every namespace (baseline changes are rare; namespaces are cached).
func (r *NamespaceReconciler) SetupWithManager(mgr ctrl.Manager) error {
	c := mgr.GetClient()
	return ctrl.NewControllerManagedBy(mgr).
		Named("namespace").
		For(&corev1.Namespace{}).
		Watches(&ztv1.ZeroTrustBaseline{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
			var list corev1.NamespaceList
			if err := c.List(ctx, &list); err != nil {
				log.FromContext(ctx).Error(err, "listing namespaces")
				return nil
			}
			reqs := make([]reconcile.Request, 0, len(list.Items))
			for _, ns := range list.Items {
				reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKey{Name: ns.Name}})
			}
			return reqs
		})).
		WithOptions(controller.Options{MaxConcurrentReconciles: 2, SkipNameValidation: ptr.To(r.SkipNameValidation)}).
		Complete(r)
}
