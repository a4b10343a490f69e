package controllers

import (
	"context"
	"fmt"
	"sort"
	"unique"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/apply"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/model"
)

// Workloads (Deployments, StatefulSets, DaemonSets) are the operator's largest cache: there
// are several per policy, and a pod template is kilobytes. The compiler reads a few fields
// of the template (compiler.WorkloadFromTemplate), so the cache transform CondenseWorkload
// reads them once, when a workload enters the cache, and the cache holds a CachedWorkload:
// identity and the compiler's Workload, about a fifth of a slimmed Deployment.
// The informers hold CachedWorkloads, not the API types, so workloads are read through
// WorkloadCache, never through the manager's client.

// CachedWorkload is a workload as the operator's cache holds it: what the compiler reads of
// it (Workload) and the little more of its metadata informers read (apply.Identity). It is no
// API type: it never leaves the process, and nothing in it is ever changed once cached.
//
// It holds the compiler's Workload compactly, because there are tens of thousands: labels
// as a slice of interned keys and values (a Go map of three labels costs 336 bytes, the
// slice 96), and ports and probes shared with every workload that declares the same ones
// (sharedPorts, sharedProbes: a chart's workloads all do). Workload rebuilds the view.
type CachedWorkload struct {
	apply.Identity
	kind           ztv1.WorkloadKind
	serviceAccount string
	// labels are the pod template's labels as apply.Pairs.
	labels []string
	ports  []corev1.ContainerPort
	probes []model.Probe
}

// DeepCopyObject implements runtime.Object. A cached workload is never changed, so its copy
// shares its labels, ports and probes.
func (w *CachedWorkload) DeepCopyObject() runtime.Object {
	out := *w
	out.Identity = w.DeepCopy()
	return &out
}

// Workload is the compiler's view of the cached workload. Its labels are a new map; its
// ports and probes are the cache's, read-only like everything an Inventory returns.
func (w *CachedWorkload) Workload() compiler.Workload {
	out := compiler.Workload{Kind: w.kind, Namespace: w.GetNamespace(), Name: w.GetName(), ServiceAccount: w.serviceAccount,
		Ports: w.ports, Probes: w.probes}
	out.PodLabels = apply.PairsMap(w.labels)
	return out
}

// newCachedWorkload condenses the compiler's view of a workload.
func newCachedWorkload(meta *metav1.ObjectMeta, w *compiler.Workload) *CachedWorkload {
	return &CachedWorkload{
		Identity: apply.NewIdentity(meta, true), kind: w.Kind, serviceAccount: unique.Make(w.ServiceAccount).Value(),
		labels: apply.Pairs(w.PodLabels), ports: sharedPorts.get(w.Ports), probes: sharedProbes.get(w.Probes),
	}
}

// workloadKinds maps the watched API types to their kinds.
var workloadKinds = []struct {
	kind ztv1.WorkloadKind
	obj  func() client.Object
}{
	{ztv1.WorkloadDeployment, func() client.Object { return &appsv1.Deployment{} }},
	{ztv1.WorkloadStatefulSet, func() client.Object { return &appsv1.StatefulSet{} }},
	{ztv1.WorkloadDaemonSet, func() client.Object { return &appsv1.DaemonSet{} }},
}

// WorkloadTypes are the API types whose cache holds CachedWorkloads (see CondenseWorkload).
func WorkloadTypes() []client.Object {
	out := make([]client.Object, len(workloadKinds))
	for i, k := range workloadKinds {
		out[i] = k.obj()
	}
	return out
}

// CondenseWorkload is the cache transform of WorkloadTypes: it replaces a Deployment,
// StatefulSet or DaemonSet by a CachedWorkload. It is idempotent, as informers require.
func CondenseWorkload(obj any) (any, error) {
	var (
		meta *metav1.ObjectMeta
		w    *compiler.Workload
	)
	switch o := obj.(type) {
	case *CachedWorkload:
		return o, nil
	case *appsv1.Deployment:
		meta, w = &o.ObjectMeta, compiler.WorkloadFromTemplate(ztv1.WorkloadDeployment, o.Namespace, o.Name, &o.Spec.Template)
	case *appsv1.StatefulSet:
		meta, w = &o.ObjectMeta, compiler.WorkloadFromTemplate(ztv1.WorkloadStatefulSet, o.Namespace, o.Name, &o.Spec.Template)
	case *appsv1.DaemonSet:
		meta, w = &o.ObjectMeta, compiler.WorkloadFromTemplate(ztv1.WorkloadDaemonSet, o.Namespace, o.Name, &o.Spec.Template)
	default:
		return obj, nil // tombstones and the like pass unchanged
	}
	return newCachedWorkload(meta, w), nil
}

// CachedWorkloadList is a page of workloads as the cache holds them: what
// CondenseWorkloadList makes of a listed page.
type CachedWorkloadList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []CachedWorkload `json:"items"`
}

// DeepCopyObject implements runtime.Object.
func (l *CachedWorkloadList) DeepCopyObject() runtime.Object {
	out := &CachedWorkloadList{TypeMeta: l.TypeMeta, Items: make([]CachedWorkload, len(l.Items))}
	l.DeepCopyInto(&out.ListMeta)
	for i := range l.Items {
		out.Items[i] = *l.Items[i].DeepCopyObject().(*CachedWorkload)
	}
	return out
}

// CondenseWorkloadList replaces a listed page of Deployments, StatefulSets or DaemonSets by
// the CachedWorkloads of its items, so that the page's pod templates can be collected
// before the next page is read; any other object passes unchanged. The informers' reflector
// keeps every page of a list until the last one has come (it lists in pages when the API
// server cannot stream the initial state: a resource without a watch cache, or an API
// server before 1.34), and 53000 whole Deployments were the operator's start-up peak at
// 10000 policies (docs/performance.md).
func CondenseWorkloadList(obj runtime.Object) (runtime.Object, error) {
	var list metav1.ListInterface
	var n int
	switch l := obj.(type) {
	case *appsv1.DeploymentList:
		list, n = l, len(l.Items)
	case *appsv1.StatefulSetList:
		list, n = l, len(l.Items)
	case *appsv1.DaemonSetList:
		list, n = l, len(l.Items)
	default:
		return obj, nil
	}
	out := &CachedWorkloadList{Items: make([]CachedWorkload, 0, n)}
	out.ResourceVersion, out.Continue, out.RemainingItemCount = list.GetResourceVersion(), list.GetContinue(), list.GetRemainingItemCount()
	err := meta.EachListItem(obj, func(item runtime.Object) error {
		w, err := CondenseWorkload(item)
		if err != nil {
			return err
		}
		cw, ok := w.(*CachedWorkload)
		if !ok {
			return fmt.Errorf("a workload list holds a %T", item)
		}
		out.Items = append(out.Items, *cw)
		return nil
	})
	return out, err
}

// WorkloadCache reads workloads from the informers of the manager's cache.
type WorkloadCache struct {
	informers map[ztv1.WorkloadKind]cache.Informer
	indexers  map[ztv1.WorkloadKind]toolscache.Indexer
}

// NewWorkloadCache gets (creating them if need be) the manager cache's workload informers.
// Workloads are found through the namespace index every informer of the cache has: an index
// by service account too cost 67 bytes a workload for lookups that read one namespace's
// workloads anyway.
func NewWorkloadCache(ctx context.Context, c cache.Cache) (*WorkloadCache, error) {
	wc := &WorkloadCache{informers: map[ztv1.WorkloadKind]cache.Informer{}, indexers: map[ztv1.WorkloadKind]toolscache.Indexer{}}
	for _, k := range workloadKinds {
		inf, idx, err := indexedInformer(ctx, c, k.obj(), "", nil)
		if err != nil {
			return nil, fmt.Errorf("the %s informer: %w", k.kind, err)
		}
		wc.informers[k.kind], wc.indexers[k.kind] = inf, idx
	}
	return wc, nil
}

// Informer returns the informer of kind, for watches.
func (wc *WorkloadCache) Informer(kind ztv1.WorkloadKind) cache.Informer { return wc.informers[kind] }

// Get returns the workload, or nil when the cache has none. Its labels, ports and probes
// are the cache's: read-only, as everything an Inventory returns.
func (wc *WorkloadCache) Get(kind ztv1.WorkloadKind, namespace, name string) (*compiler.Workload, error) {
	idx, ok := wc.indexers[kind]
	if !ok {
		return nil, nil
	}
	obj, exists, err := idx.GetByKey(nsName(namespace, name))
	if err != nil || !exists {
		return nil, err
	}
	w, ok := obj.(*CachedWorkload)
	if !ok {
		return nil, fmt.Errorf("the %s cache holds a %T", kind, obj)
	}
	out := w.Workload()
	return &out, nil
}

// InNamespace returns the workloads of namespace (read-only, see Get), sorted by kind and
// name.
func (wc *WorkloadCache) InNamespace(namespace string) ([]compiler.Workload, error) {
	return wc.inNamespace(namespace, func(*CachedWorkload) bool { return true })
}

// Selected returns the workloads of namespace whose pod template has labels and sel
// matches them (read-only, see Get), sorted by kind and name. It matches the cached labels
// as they are and builds the compiler's view of the matches only.
func (wc *WorkloadCache) Selected(namespace string, sel labels.Selector) ([]compiler.Workload, error) {
	return wc.inNamespace(namespace, func(w *CachedWorkload) bool {
		return len(w.labels) > 0 && sel.Matches((*apply.PairLabels)(&w.labels))
	})
}

// ByServiceAccount returns the workloads whose pods run as serviceAccount in namespace
// (read-only, see Get), sorted by kind and name.
func (wc *WorkloadCache) ByServiceAccount(namespace, serviceAccount string) ([]compiler.Workload, error) {
	return wc.inNamespace(namespace, func(w *CachedWorkload) bool { return w.serviceAccount == serviceAccount })
}

// inNamespace returns the workloads of namespace that keep selects, sorted by kind and name.
func (wc *WorkloadCache) inNamespace(namespace string, keep func(*CachedWorkload) bool) ([]compiler.Workload, error) {
	var out []compiler.Workload
	for _, k := range workloadKinds {
		objs, err := wc.indexers[k.kind].ByIndex(toolscache.NamespaceIndex, namespace)
		if err != nil {
			return nil, err
		}
		for _, obj := range objs {
			if w, ok := obj.(*CachedWorkload); ok && keep(w) {
				out = append(out, w.Workload())
			}
		}
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Kind != out[b].Kind {
			return out[a].Kind < out[b].Kind
		}
		return out[a].Name < out[b].Name
	})
	return out, nil
}
