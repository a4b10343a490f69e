package controllers

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/audit"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/writer"
)

// Reasons of a ZeroTrustBaseline's Ready condition.
const (
	// ReasonBaselineEnforced: every selected namespace has the baseline's objects.
	ReasonBaselineEnforced = "Enforced"
	// ReasonInvalidSelector: spec.namespaceSelector cannot be parsed; nothing is selected.
	ReasonInvalidSelector = "InvalidSelector"
)

// maxListedNamespaces and maxListedFindings bound status lists; the counts are exact.
const (
	maxListedNamespaces = 256
	maxListedFindings   = 256
)

// ZeroTrustBaselineReconciler enforces the network floor of a ZeroTrustBaseline in every
// namespace it selects (default deny and DNS) and audits those namespaces for
// over-privilege. (Pod Security labels are the NamespaceReconciler's.)
type ZeroTrustBaselineReconciler struct {
	Client client.Client
	// APIReader reads what the audit looks at straight from the API server, page by page,
	// so that pods and RBAC objects are never cached whole.
	APIReader client.Reader
	// AuditPods lists the audited pods as protobuf, decoding only their security contexts
	// (default: over the manager's config).
	AuditPods          *audit.PodSource
	Recorder           events.EventRecorder
	Options            compiler.Options
	SkipNameValidation bool
	// Backends says which backends run; Options.Backends is replaced by its Active list.
	Backends *Backends
	// AuditInterval is how often the audit runs again when nothing else changed
	// (default 5 minutes).
	AuditInterval time.Duration
	Clock         clock.PassiveClock
	// ReverifyInterval is how often every baseline is reconciled without a watch event
	// (reverifySource); <= 0: never.
	ReverifyInterval time.Duration

	// caches hold the workloads (the probes of the audit's network comparison) and the
	// Services the audit's compilations read.
	caches *inventoryCaches

	mu     sync.Mutex
	audits map[string]auditRun
	// w writes everything the reconciler writes, and knows its own writes.
	w *writer.Writer
}

// auditRun remembers the last audit of a baseline, to run it again only when due.
type auditRun struct {
	at         time.Time
	generation int64
	namespaces string
	findings   []ztv1.Finding
}

// +kubebuilder:rbac:groups=zerotrust.dev,resources=zerotrustbaselines,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=zerotrust.dev,resources=zerotrustbaselines/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=zerotrust.dev,resources=zerotrustbaselines/finalizers,verbs=update
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings;clusterroles;clusterrolebindings,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list
// +kubebuilder:rbac:groups=security.istio.io,resources=authorizationpolicies,verbs=list

// Reconcile applies the baseline's objects in each selected namespace and removes them from
// namespaces that left the selection.
func (r *ZeroTrustBaselineReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	b := &ztv1.ZeroTrustBaseline{}
	if err := r.Client.Get(ctx, req.NamespacedName, b); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	// A reconcile right after the last one (a namespace changed) may find the cache without
	// that one's writes: no event of the baseline's own watch waits for its finalizer or
	// status. Writing on top of the cached copy would fail on its stale resourceVersion, so
	// the baseline is read from the API server then.
	if err := r.w.Refresh(ctx, r.APIReader, b); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	live, err := r.w.List(ctx, writer.BaselineOwnerKey(b.Name), r.Backends)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("listing generated objects: %w", err)
	}
	if !b.DeletionTimestamp.IsZero() {
		if err := r.w.Delete(ctx, live); err != nil {
			return ctrl.Result{}, fmt.Errorf("removing generated objects: %w", err)
		}
		r.forget(b.Name)
		return ctrl.Result{}, r.w.RemoveFinalizer(ctx, b, Finalizer)
	}
	if err := client.IgnoreNotFound(r.w.AddFinalizer(ctx, b, Finalizer)); err != nil {
		return ctrl.Result{}, fmt.Errorf("adding finalizer: %w", err)
	}

	matched, excluded, selErr := r.selectedNamespaces(ctx, b)
	if selErr != nil && !isSelectorError(selErr) {
		return ctrl.Result{}, selErr
	}
	var all ztv1.ZeroTrustBaselineList
	if err := r.Client.List(ctx, &all); err != nil {
		return ctrl.Result{}, err
	}
	overlaps := map[string]bool{}
	owner := metav1.OwnerReference{
		APIVersion: ztv1.GroupVersion.String(), Kind: "ZeroTrustBaseline", Name: b.Name, UID: b.UID,
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
	}
	opts := r.Options
	opts.Backends = r.Backends.Active()
	compiled := make([]compiledNamespace, len(matched))
	for i := range matched {
		// What b enforces here given the other baselines is the compiler's decision, the
		// same kubectl-zt render makes.
		eff, others := compiler.EffectiveBaseline(b, all.Items, &matched[i], r.Options)
		for _, o := range others {
			overlaps[o] = true
		}
		compiled[i] = compiledNamespace{name: matched[i].Name, compile: func() ([]client.Object, error) {
			if eff == nil {
				return nil, nil
			}
			objs, err := compiler.CompileBaseline(eff, &matched[i], opts)
			if err != nil {
				return nil, fmt.Errorf("compiling for namespace %s: %w", matched[i].Name, err)
			}
			for _, o := range objs {
				o.SetOwnerReferences([]metav1.OwnerReference{owner})
			}
			return objs, nil
		}}
	}
	retry, applyErr := applyPerNamespace(ctx, r.w, b, compiled, live)
	if err := r.w.Delete(ctx, live); err != nil {
		return ctrl.Result{}, fmt.Errorf("removing objects from namespaces that left the selection: %w", err)
	}
	findings, err := r.audit(ctx, b, matched, all.Items)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("auditing: %w", err)
	}
	if err := r.report(ctx, b, matched, excluded, sortedSet(overlaps), findings, selErr, applyErr); err != nil {
		return ctrl.Result{}, fmt.Errorf("updating status: %w", err)
	}
	return ctrl.Result{RequeueAfter: r.requeueAfter(retry)}, applyErr
}

// requeueAfter is when to reconcile again: at the next audit, or when a repair that waits
// is due (writer.Writer.Apply), whichever comes first.
func (r *ZeroTrustBaselineReconciler) requeueAfter(retry time.Duration) time.Duration {
	if next := r.auditInterval(); retry <= 0 || retry > next {
		return next
	}
	return retry
}

// selectedNamespaces lists the namespaces b selects and the system namespaces its selector
// matches but leaves out (compiler.BaselineSelection), both sorted by name.
func (r *ZeroTrustBaselineReconciler) selectedNamespaces(ctx context.Context, b *ztv1.ZeroTrustBaseline) ([]corev1.Namespace, []string, error) {
	sel, err := metav1.LabelSelectorAsSelector(b.Spec.NamespaceSelector)
	if err != nil {
		return nil, nil, selectorError{fmt.Errorf("spec.namespaceSelector: %w", err)}
	}
	var list corev1.NamespaceList
	if err := r.Client.List(ctx, &list, client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, nil, err
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	selected, excluded, err := compiler.BaselineSelection(b, list.Items, r.Options)
	if err != nil {
		return nil, nil, selectorError{fmt.Errorf("spec.namespaceSelector: %w", err)}
	}
	return selected, excluded, nil
}
