package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/zerotrust-dev/zerotrust-operator/internal/apply"
)

// Of a Service the compiler reads its selector and ports. The cache transform
// CondenseService keeps those and the Service's identity in a CachedService: about 300 bytes
// where a Service cut down to the same fields cost 1224 (its struct alone is 592 bytes, and
// a selector's map 336). The Service informer holds CachedServices, not the API type, so
// Services are read through ServiceCache, never through the manager's client.

// CachedService is a Service as the operator's cache holds it. It is no API type: it never
// leaves the process, and nothing in it is ever changed once cached.
type CachedService struct {
	apply.Identity
	// selector is the Service's selector as apply.Pairs.
	selector []string
	// ports are shared with every Service that declares the same (sharedServicePorts).
	ports []corev1.ServicePort
}

// DeepCopyObject implements runtime.Object. A cached Service is never changed, so its copy
// shares its selector and ports.
func (s *CachedService) DeepCopyObject() runtime.Object {
	out := *s
	out.Identity = s.DeepCopy()
	return &out
}

// Service is the compiler's view of the cached Service: its identity, selector (a new map)
// and ports (the cache's: read-only, like everything an Inventory returns).
func (s *CachedService) Service() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: s.ObjectMeta(),
		Spec:       corev1.ServiceSpec{Selector: apply.PairsMap(s.selector), Ports: s.ports},
	}
}

// CondenseService is the cache transform of Services: it replaces a Service by a
// CachedService. It is idempotent, as informers require.
func CondenseService(obj any) (any, error) {
	if o, ok := obj.(*corev1.Service); ok {
		return &CachedService{Identity: apply.NewIdentity(&o.ObjectMeta, true), selector: apply.Pairs(o.Spec.Selector),
			ports: sharedServicePorts.get(o.Spec.Ports)}, nil
	}
	return obj, nil // a CachedService, tombstones and the like pass unchanged
}

// ServiceCache reads Services from the informer of the manager's cache.
type ServiceCache struct{ idx toolscache.Indexer }

// NewServiceCache gets (creating it if need be) the manager cache's Service informer.
func NewServiceCache(ctx context.Context, c cache.Cache) (*ServiceCache, error) {
	_, idx, err := indexedInformer(ctx, c, &corev1.Service{}, "", nil)
	if err != nil {
		return nil, fmt.Errorf("the Service informer: %w", err)
	}
	return &ServiceCache{idx: idx}, nil
}

// Get returns the Service (see CachedService.Service), or nil when the cache has none.
func (sc *ServiceCache) Get(namespace, name string) (*corev1.Service, error) {
	obj, exists, err := sc.idx.GetByKey(nsName(namespace, name))
	if err != nil || !exists {
		return nil, err
	}
	s, ok := obj.(*CachedService)
	if !ok {
		return nil, fmt.Errorf("the Service cache holds a %T", obj)
	}
	return s.Service(), nil
}
