package controllers

import (
	"context"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
)

// cacheInventory answers the compiler's questions from the manager's caches: Gets by key
// and Lists through field indexes, never a list of the whole cluster. Workloads and Services
// come from the informers that hold them condensed (inventoryCaches).
type cacheInventory struct {
	ctx context.Context
	c   client.Reader
	*inventoryCaches
}

// inventoryCaches read the kinds the manager's cache holds as the operator's own types
// (CachedWorkload, CachedService, CachedServiceAccount), which its client cannot read.
type inventoryCaches struct {
	workloads       *WorkloadCache
	services        *ServiceCache
	serviceAccounts *ServiceAccountCache
}

// newInventoryCaches gets (creating them if need be) the informers of c that
// inventoryCaches read.
func newInventoryCaches(ctx context.Context, c cache.Cache) (*inventoryCaches, error) {
	workloads, err := NewWorkloadCache(ctx, c)
	if err != nil {
		return nil, err
	}
	services, err := NewServiceCache(ctx, c)
	if err != nil {
		return nil, err
	}
	serviceAccounts, err := NewServiceAccountCache(ctx, c)
	if err != nil {
		return nil, err
	}
	return &inventoryCaches{workloads: workloads, services: services, serviceAccounts: serviceAccounts}, nil
}

var _ compiler.Inventory = (*cacheInventory)(nil)

func (i *cacheInventory) get(namespace, name string, obj client.Object) (bool, error) {
	err := i.c.Get(i.ctx, client.ObjectKey{Namespace: namespace, Name: name}, obj)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

func (i *cacheInventory) Service(namespace, name string) (*corev1.Service, error) {
	return i.services.Get(namespace, name)
}

func (i *cacheInventory) Workload(namespace string, kind ztv1.WorkloadKind, name string) (*compiler.Workload, error) {
	return i.workloads.Get(kind, namespace, name)
}

func (i *cacheInventory) WorkloadsByServiceAccount(namespace, serviceAccount string) ([]compiler.Workload, error) {
	return i.workloads.ByServiceAccount(namespace, serviceAccount)
}

func (i *cacheInventory) WorkloadsSelected(namespace string, sel labels.Selector) ([]compiler.Workload, error) {
	return i.workloads.Selected(namespace, sel)
}

func (i *cacheInventory) ServiceAccountExists(namespace, name string) (bool, error) {
	return i.serviceAccounts.Exists(namespace, name)
}

func (i *cacheInventory) Namespace(name string) (*corev1.Namespace, error) {
	ns := &corev1.Namespace{}
	if ok, err := i.get("", name, ns); !ok {
		return nil, err
	}
	return ns, nil
}

// Baselines returns copies of the baselines' metadata and spec, the compiler's part: a
// baseline's status (findings, namespaces) is large, and each compilation reads every
// baseline.
func (i *cacheInventory) Baselines() ([]ztv1.ZeroTrustBaseline, error) {
	var list ztv1.ZeroTrustBaselineList
	if err := i.c.List(i.ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	out := make([]ztv1.ZeroTrustBaseline, len(list.Items))
	for j := range list.Items {
		b := &list.Items[j]
		out[j] = ztv1.ZeroTrustBaseline{TypeMeta: b.TypeMeta, ObjectMeta: *b.ObjectMeta.DeepCopy(), Spec: *b.Spec.DeepCopy()}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out, nil
}
