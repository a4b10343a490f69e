package controllers

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/apply"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
)

// Workloads (Deployments, StatefulSets, DaemonSets) are the operator's largest cache: there
// are several per policy, and a pod template is kilobytes. The compiler reads a few fields
// of the template (compiler.WorkloadFromTemplate), so the cache transform CondenseWorkload
// reads them once, when a workload enters the cache, and the cache holds a CachedWorkload:
// identity and the compiler's Workload, about a fifth of a slimmed Deployment.
// The informers hold CachedWorkloads, not the API types, so workloads are read through
// WorkloadCache, never through the manager's client.

// CachedWorkload is a workload as the operator's cache holds it: the compiler's Workload
// (which names it) and the little more of its metadata informers read (workloadMeta). It
// is no API type: it never leaves the process.
type CachedWorkload struct {
	workloadMeta
	// Workload is what the compiler reads of the workload.
	Workload compiler.Workload
}

var _ client.Object = &CachedWorkload{}

// DeepCopyObject implements runtime.Object.
func (w *CachedWorkload) DeepCopyObject() runtime.Object {
	out := &CachedWorkload{workloadMeta: w.workloadMeta, Workload: copyWorkload(&w.Workload)}
	if w.deletionTimestamp != nil {
		out.deletionTimestamp = w.deletionTimestamp.DeepCopy()
	}
	return out
}

func copyWorkload(w *compiler.Workload) compiler.Workload {
	out := *w
	out.PodLabels = maps.Clone(w.PodLabels)
	out.Ports = slices.Clone(w.Ports)
	out.Probes = slices.Clone(w.Probes)
	return out
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
	w.PodLabels = apply.Intern(w.PodLabels)
	return &CachedWorkload{
		workloadMeta: workloadMeta{
			uid: meta.UID, resourceVersion: meta.ResourceVersion, generation: meta.Generation,
			deletionTimestamp: meta.DeletionTimestamp,
		},
		Workload: *w,
	}, nil
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

// indexPodServiceAccount indexes cached workloads by "namespace/serviceaccount" of their pods.
const indexPodServiceAccount = "zerotrust.dev/pod-serviceaccount"

// WorkloadCache reads workloads from the informers of the manager's cache.
type WorkloadCache struct {
	informers map[ztv1.WorkloadKind]cache.Informer
	indexers  map[ztv1.WorkloadKind]toolscache.Indexer
}

// NewWorkloadCache gets (creating them if need be) the manager cache's workload informers
// and indexes them by service account.
func NewWorkloadCache(ctx context.Context, c cache.Cache) (*WorkloadCache, error) {
	wc := &WorkloadCache{informers: map[ztv1.WorkloadKind]cache.Informer{}, indexers: map[ztv1.WorkloadKind]toolscache.Indexer{}}
	for _, k := range workloadKinds {
		inf, idx, err := indexedInformer(ctx, c, k.obj(), indexPodServiceAccount, func(obj any) ([]string, error) {
			if w, ok := obj.(*CachedWorkload); ok {
				return []string{nsName(w.Workload.Namespace, w.Workload.ServiceAccount)}, nil
			}
			return nil, nil
		})
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
	out := w.Workload
	return &out, nil
}

// InNamespace returns the workloads of namespace (read-only, see Get), sorted by kind and
// name.
func (wc *WorkloadCache) InNamespace(namespace string) ([]compiler.Workload, error) {
	return wc.byIndex(toolscache.NamespaceIndex, namespace)
}

// ByServiceAccount returns the workloads whose pods run as serviceAccount in namespace
// (read-only, see Get), sorted by kind and name.
func (wc *WorkloadCache) ByServiceAccount(namespace, serviceAccount string) ([]compiler.Workload, error) {
	return wc.byIndex(indexPodServiceAccount, nsName(namespace, serviceAccount))
}

func (wc *WorkloadCache) byIndex(index, key string) ([]compiler.Workload, error) {
	var out []compiler.Workload
	for _, k := range workloadKinds {
		objs, err := wc.indexers[k.kind].ByIndex(index, key)
		if err != nil {
			return nil, err
		}
		for _, obj := range objs {
			if w, ok := obj.(*CachedWorkload); ok {
				out = append(out, w.Workload)
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
