package operator

import (
	"context"
	"fmt"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/zerotrust-dev/zerotrust-operator/internal/apply"
)

// condensedCache is the manager's cache, except that its NetworkPolicy informer holds
// apply.Condensed objects (the cache transform condense), which controller-runtime's cache
// reader cannot return as NetworkPolicies. condensedCache reads them itself: Get and List of
// NetworkPolicies return what apply.Condensed.NetworkPolicy makes of them (the metadata, no
// spec, the spec's digest in apply.DigestLabel: what the cache held before NetworkPolicies
// were condensed in their own type), and a field index on NetworkPolicies is an index of
// the informer. Every other kind is the cache's own.
type condensedCache struct {
	cache.Cache
	scheme *runtime.Scheme
}

// newCondensedCache is the manager's NewCache: controller-runtime's cache, wrapped.
func newCondensedCache(cfg *rest.Config, opts cache.Options) (cache.Cache, error) {
	c, err := cache.New(cfg, opts)
	if err != nil {
		return nil, err
	}
	return &condensedCache{Cache: c, scheme: opts.Scheme}, nil
}

// informer is the NetworkPolicy informer. block waits for it to sync.
func (c *condensedCache) informer(ctx context.Context, block bool) (toolscache.SharedIndexInformer, error) {
	inf, err := c.GetInformer(ctx, &networkingv1.NetworkPolicy{}, cache.BlockUntilSynced(block))
	return shared(inf, "NetworkPolicy", err)
}

// shared is inf as the shared index informer controller-runtime's caches make.
func shared(inf cache.Informer, kind string, err error) (toolscache.SharedIndexInformer, error) {
	if err != nil {
		return nil, err
	}
	s, ok := inf.(toolscache.SharedIndexInformer)
	if !ok {
		return nil, fmt.Errorf("the %s informer is a %T, not a shared index informer", kind, inf)
	}
	return s, nil
}

// indexer is the NetworkPolicy informer's store, once synced.
func (c *condensedCache) indexer(ctx context.Context) (toolscache.Indexer, error) {
	inf, err := c.informer(ctx, true)
	if err != nil {
		return nil, err
	}
	return inf.GetIndexer(), nil
}

// Get implements client.Reader.
func (c *condensedCache) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	np, ok := obj.(*networkingv1.NetworkPolicy)
	if !ok {
		return c.Cache.Get(ctx, key, obj, opts...)
	}
	idx, err := c.indexer(ctx)
	if err != nil {
		return err
	}
	item, exists, err := idx.GetByKey(key.String())
	if err != nil {
		return err
	}
	if !exists {
		return apierrors.NewNotFound(networkingv1.Resource("networkpolicies"), key.Name)
	}
	cached, ok := item.(*apply.Condensed)
	if !ok {
		return fmt.Errorf("the NetworkPolicy cache holds a %T", item)
	}
	*np = *cached.NetworkPolicy()
	return nil
}

// List implements client.Reader.
func (c *condensedCache) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	nps, ok := list.(*networkingv1.NetworkPolicyList)
	if !ok {
		return c.Cache.List(ctx, list, opts...)
	}
	items, err := c.list(ctx, opts...)
	if err != nil {
		return err
	}
	nps.Items = make([]networkingv1.NetworkPolicy, len(items))
	for i, item := range items {
		nps.Items[i] = *item.NetworkPolicy()
	}
	return nil
}

// list returns the cached NetworkPolicies that opts select: by namespace, labels and at
// most one field index (exact match), as controller-runtime's cache reader does.
func (c *condensedCache) list(ctx context.Context, opts ...client.ListOption) ([]*apply.Condensed, error) {
	o := client.ListOptions{}
	o.ApplyOptions(opts)
	if o.Continue != "" || o.Limit > 0 {
		return nil, fmt.Errorf("the NetworkPolicy cache lists everything at once: no limit or continue")
	}
	idx, err := c.indexer(ctx)
	if err != nil {
		return nil, err
	}
	var items []any
	switch {
	case o.FieldSelector != nil:
		reqs := o.FieldSelector.Requirements()
		if len(reqs) != 1 || (reqs[0].Operator != selection.Equals && reqs[0].Operator != selection.DoubleEquals) {
			return nil, fmt.Errorf("the NetworkPolicy cache matches one field index exactly, not %q", o.FieldSelector)
		}
		items, err = idx.ByIndex(reqs[0].Field, reqs[0].Value)
	case o.Namespace != "":
		items, err = idx.ByIndex(toolscache.NamespaceIndex, o.Namespace)
	default:
		items = idx.List()
	}
	if err != nil {
		return nil, err
	}
	out := make([]*apply.Condensed, 0, len(items))
	for _, item := range items {
		cached, ok := item.(*apply.Condensed)
		if !ok {
			return nil, fmt.Errorf("the NetworkPolicy cache holds a %T", item)
		}
		if (o.Namespace != "" && cached.GetNamespace() != o.Namespace) || (o.LabelSelector != nil && !o.LabelSelector.Matches(cached.LabelSet())) {
			continue
		}
		out = append(out, cached)
	}
	return out, nil
}

// EachCached calls fn with each object of list's kind the cache holds, the cache's own (to
// be read only), without copying them: for gauges computed at each scrape. NetworkPolicies
// come as apply.Condensed. done is false for an unstructured list (the cache holds no such
// informer) or without a scheme, and nothing is called.
func (c *condensedCache) EachCached(ctx context.Context, list client.ObjectList, fn func(client.Object)) (done bool, err error) {
	if _, ok := list.(*unstructured.UnstructuredList); ok || c.scheme == nil {
		return false, nil
	}
	gvk, err := apiutil.GVKForObject(list, c.scheme)
	if err != nil {
		return true, err
	}
	gvk.Kind = strings.TrimSuffix(gvk.Kind, "List")
	inf, err := c.GetInformerForKind(ctx, gvk)
	s, err := shared(inf, gvk.Kind, err)
	if err != nil {
		return true, err
	}
	for _, item := range s.GetIndexer().List() {
		if o, ok := item.(client.Object); ok {
			fn(o)
		}
	}
	return true, nil
}

// IndexField implements client.FieldIndexer: on NetworkPolicies, an index of the informer
// named field (List matches it exactly); on any other kind, the cache's own field index.
func (c *condensedCache) IndexField(ctx context.Context, obj client.Object, field string, extractValue client.IndexerFunc) error {
	if _, ok := obj.(*networkingv1.NetworkPolicy); !ok {
		return c.Cache.IndexField(ctx, obj, field, extractValue)
	}
	inf, err := c.informer(ctx, false)
	if err != nil {
		return err
	}
	return inf.AddIndexers(toolscache.Indexers{field: func(o any) ([]string, error) {
		co, ok := o.(client.Object)
		if !ok {
			return nil, nil
		}
		return extractValue(co), nil
	}})
}
