package controllers

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
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

	// workloads are the probes of the audit's network comparison.
	workloads *WorkloadCache

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
	applyErr := applyPerNamespace(ctx, r.w, b, compiled, live)
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
	return ctrl.Result{RequeueAfter: r.auditInterval()}, applyErr
}

// baselineApplyWorkers bounds the namespaces whose objects one reconcile applies at once.
const baselineApplyWorkers = 16

// compiledNamespace is a namespace a baseline applies to, and how to compile its objects.
type compiledNamespace struct {
	name    string
	compile func() ([]client.Object, error)
}

// applyPerNamespace compiles and applies the objects of each namespace (writer.Apply, with
// DriftRepaired Events on baseline),
// several namespaces at a time: a new baseline over 1000 namespaces is 1000 writes, which
// one after the other take three times as long as the API server needs. Objects are
// compiled by the worker that applies them, so that only those in flight are held. What
// no namespace generated is left in live. It returns the first error.
func applyPerNamespace(ctx context.Context, w *writer.Writer, baseline client.Object, namespaces []compiledNamespace, live writer.Objects) error {
	// Each namespace gets its own part of live, so that Apply needs no lock.
	liveByNS := map[string]writer.Objects{}
	for k, o := range live {
		if liveByNS[k.Namespace] == nil {
			liveByNS[k.Namespace] = writer.Objects{}
		}
		liveByNS[k.Namespace][k] = o
	}
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if first == nil {
			first = err
		}
	}
	sem := make(chan struct{}, baselineApplyWorkers)
	for _, ns := range namespaces {
		part := liveByNS[ns.name]
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			objs, err := ns.compile()
			if err != nil {
				// Nothing of this namespace is stale: what it holds stays until it compiles.
				clear(part)
				fail(err)
				return
			}
			if err := w.Apply(ctx, baseline, objs, part); err != nil {
				fail(err)
			}
		})
	}
	wg.Wait()
	clear(live)
	for _, part := range liveByNS {
		maps.Copy(live, part)
	}
	return first
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

type selectorError struct{ error }

func isSelectorError(err error) bool { _, ok := err.(selectorError); return ok }

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
	before := meta.FindStatusCondition(st.Conditions, ztv1.ConditionReady)
	changedReady := before == nil || before.Status != ready.Status || before.Reason != ready.Reason
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
	if changedReady {
		kind := corev1.EventTypeNormal
		if ready.Status != metav1.ConditionTrue {
			kind = corev1.EventTypeWarning
		}
		r.w.Event(b, nil, kind, ready.Reason, "Reconcile", ready.Message)
	}
	return nil
}

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
		b = b.Watches(writer.NewChild(gvk), handler.EnqueueRequestsFromMapFunc(childToBaseline), builder.WithPredicates(r.w.Predicate(gvk)))
	}
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.workloads == nil {
		workloads, err := NewWorkloadCache(context.Background(), mgr.GetCache())
		if err != nil {
			return err
		}
		r.workloads = workloads
	}
	if r.AuditPods == nil {
		pods, err := audit.NewPodSource(mgr.GetConfig())
		if err != nil {
			return err
		}
		r.AuditPods = pods
	}
	listBaselines := func(ctx context.Context) ([]reconcile.Request, error) {
		var list ztv1.ZeroTrustBaselineList
		if err := c.List(ctx, &list); err != nil {
			return nil, err
		}
		reqs := make([]reconcile.Request, 0, len(list.Items))
		for _, item := range list.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKey{Name: item.Name}})
		}
		return reqs, nil
	}
	allBaselines := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
		reqs, _ := listBaselines(ctx)
		return reqs
	})
	b = b.WatchesRawSource(reverifySource("ZeroTrustBaseline", r.ReverifyInterval, listBaselines))
	// Another baseline's change can change what this one enforces where both apply.
	ctl, err := b.Watches(&corev1.Namespace{}, allBaselines).
		Watches(&ztv1.ZeroTrustBaseline{}, allBaselines, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Build(r)
	if err != nil {
		return err
	}
	return watchActivated(mgr, ctl, r.Backends, resync, r.w, childToBaseline, func(ctx context.Context) ([]client.Object, error) {
		var list ztv1.ZeroTrustBaselineList
		if err := c.List(ctx, &list); err != nil {
			return nil, err
		}
		out := make([]client.Object, len(list.Items))
		for i := range list.Items {
			out[i] = &list.Items[i]
		}
		return out, nil
	})
}
