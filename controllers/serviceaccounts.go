package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/zerotrust-dev/zerotrust-operator/internal/apply"
)

// Of a ServiceAccount the compiler asks whether it exists and the audit lists a namespace's
// names. The ServiceAccount informer watches metadata only (ServiceAccountMetadata), and the
// cache transform CondenseServiceAccount keeps its identity in a CachedServiceAccount: 145
// bytes with its strings where the metadata cut down to the same fields cost 415. The
// informer holds CachedServiceAccounts, so ServiceAccounts are read through
// ServiceAccountCache, never through the manager's client.

// CachedServiceAccount is a ServiceAccount as the operator's cache holds it: its identity.
type CachedServiceAccount struct{ apply.Identity }

// DeepCopyObject implements runtime.Object.
func (s *CachedServiceAccount) DeepCopyObject() runtime.Object {
	return &CachedServiceAccount{Identity: s.DeepCopy()}
}

// ServiceAccountMetadata is the object of the ServiceAccount informer: metadata only.
func ServiceAccountMetadata() *metav1.PartialObjectMetadata {
	sa := &metav1.PartialObjectMetadata{}
	sa.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ServiceAccount"))
	return sa
}

// CondenseServiceAccount is the cache transform of ServiceAccounts: it replaces their
// metadata by a CachedServiceAccount. It is idempotent, as informers require.
func CondenseServiceAccount(obj any) (any, error) {
	if o, ok := obj.(*metav1.PartialObjectMetadata); ok {
		return &CachedServiceAccount{Identity: apply.NewIdentity(&o.ObjectMeta, true)}, nil
	}
	return obj, nil // a CachedServiceAccount, tombstones and the like pass unchanged
}

// ServiceAccountCache reads ServiceAccounts from the informer of the manager's cache.
type ServiceAccountCache struct{ idx toolscache.Indexer }

// NewServiceAccountCache gets (creating it if need be) the manager cache's ServiceAccount
// informer.
func NewServiceAccountCache(ctx context.Context, c cache.Cache) (*ServiceAccountCache, error) {
	_, idx, err := indexedInformer(ctx, c, ServiceAccountMetadata(), "", nil)
	if err != nil {
		return nil, fmt.Errorf("the ServiceAccount informer: %w", err)
	}
	return &ServiceAccountCache{idx: idx}, nil
}

// Exists reports whether the cache holds the ServiceAccount.
func (sc *ServiceAccountCache) Exists(namespace, name string) (bool, error) {
	_, exists, err := sc.idx.GetByKey(nsName(namespace, name))
	return exists, err
}

// Names are the names of the namespace's ServiceAccounts.
func (sc *ServiceAccountCache) Names(namespace string) ([]string, error) {
	objs, err := sc.idx.ByIndex(toolscache.NamespaceIndex, namespace)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(objs))
	for _, obj := range objs {
		o, ok := obj.(metav1.Object)
		if !ok {
			return nil, fmt.Errorf("the ServiceAccount cache holds a %T", obj)
		}
		out = append(out, o.GetName())
	}
	return out, nil
}
