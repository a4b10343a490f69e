package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

// What policies refer to. One informer index (IndexRefs) maps each reference, "kind|key",
// to the policies that make it, so an event on a Service, workload, ServiceAccount or
// Namespace reconciles only those policies. The kinds of reference:
const (
	// IndexService: the Services a policy names, "namespace/name".
	IndexService = "service"
	// IndexWorkload: the workloads a policy names, "Kind/namespace/name".
	IndexWorkload = "workload"
	// IndexServiceAccount: the ServiceAccounts a policy names, "namespace/name".
	IndexServiceAccount = "serviceaccount"
	// IndexNamespace: every namespace a policy's callers are in, its own included: a
	// namespace's labels decide whether egress is denied there.
	IndexNamespace = "namespace"
	// IndexWorkloadsIn: the namespaces whose workloads a policy resolves by label or by
	// ServiceAccount (Service and podSelector targets; Service, podSelector and workload
	// callers): any workload there may change the ports' numbers, the probes or the
	// callers' mesh identities.
	IndexWorkloadsIn = "workloads-in"
)

// IndexRefs is the policy informer's index of references. It is an index of the informer
// itself, not a controller-runtime field index: those keep every value twice (per
// namespace and for all namespaces). Its values are a kind of reference and the namespace
// referred to (refKey(kind, namespace)), not the Service, workload or ServiceAccount
// itself: the index holds a set per value, about 250 bytes even for one policy, and most
// named objects are named by one or two policies, whereas a namespace's are named by many
// (332 bytes a policy at the benchmark's shape against 1401 with a value per object,
// docs/performance.md). policyIndex.policies keeps, of a namespace's policies, those that
// name the object.
const IndexRefs = "zerotrust.dev/refs"

func refKey(kind, key string) string { return kind + "|" + key }

func nsName(namespace, name string) string { return namespace + "/" + name }

func workloadKey(kind ztv1.WorkloadKind, namespace, name string) string {
	return string(kind) + "/" + namespace + "/" + name
}

// policyRefs lists what a policy refers to, per index.
func policyRefs(p *ztv1.ServiceAccessPolicy) map[string][]string {
	refs := map[string][]string{IndexNamespace: {p.Namespace}}
	add := func(index, key string) {
		for _, k := range refs[index] {
			if k == key {
				return
			}
		}
		refs[index] = append(refs[index], key)
	}
	if p.Spec.Target.Service != "" {
		add(IndexService, nsName(p.Namespace, p.Spec.Target.Service))
	}
	if p.Spec.Target.Service != "" || p.Spec.Target.PodSelector != nil {
		add(IndexWorkloadsIn, p.Namespace)
	}
	if w := p.Spec.Target.Workload; w != nil {
		add(IndexWorkload, workloadKey(w.Kind, p.Namespace, w.Name))
	}
	for _, f := range p.Spec.From {
		if f.CIDR != "" {
			continue
		}
		ns := f.Namespace
		if ns == "" {
			ns = p.Namespace
		}
		add(IndexNamespace, ns)
		if f.Service != "" || f.Workload != nil || f.PodSelector != nil {
			add(IndexWorkloadsIn, ns)
		}
		switch {
		case f.Service != "":
			add(IndexService, nsName(ns, f.Service))
		case f.Workload != nil:
			add(IndexWorkload, workloadKey(f.Workload.Kind, ns, f.Workload.Name))
		case f.ServiceAccount != "":
			add(IndexServiceAccount, nsName(ns, f.ServiceAccount))
		}
	}
	return refs
}

// podServiceAccount is the ServiceAccount a cached workload's pods run as.
func podServiceAccount(o client.Object) string {
	if w, ok := o.(*CachedWorkload); ok {
		return w.serviceAccount
	}
	return ""
}

// policyIndex finds policies by what they refer to, through IndexRefs.
type policyIndex struct{ idx toolscache.Indexer }

// newPolicyIndex gets (creating it if need be) the policy informer of c, indexed by
// reference.
func newPolicyIndex(ctx context.Context, c cache.Cache) (*policyIndex, error) {
	_, idx, err := indexedInformer(ctx, c, &ztv1.ServiceAccessPolicy{}, IndexRefs, refsIndexFunc)
	if err != nil {
		return nil, fmt.Errorf("the policy informer: %w", err)
	}
	return &policyIndex{idx: idx}, nil
}

// indexedInformer gets (creating it if need be) the informer of obj's kind in c and adds
// the index name (fn) to it, once: several reconcilers, and tests, may ask for the same;
// none when fn is nil. It does not wait for the informer to sync.
func indexedInformer(ctx context.Context, c cache.Cache, obj client.Object, name string, fn toolscache.IndexFunc) (cache.Informer, toolscache.Indexer, error) {
	inf, err := c.GetInformer(ctx, obj, cache.BlockUntilSynced(false))
	if err != nil {
		return nil, nil, err
	}
	shared, ok := inf.(toolscache.SharedIndexInformer)
	if !ok {
		return nil, nil, fmt.Errorf("a %T, not a shared index informer", inf)
	}
	if _, indexed := shared.GetIndexer().GetIndexers()[name]; fn != nil && !indexed {
		if err := inf.AddIndexers(toolscache.Indexers{name: fn}); err != nil {
			return nil, nil, fmt.Errorf("adding index %s: %w", name, err)
		}
	}
	return inf, shared.GetIndexer(), nil
}

// refsIndexFunc is the index function of IndexRefs.
func refsIndexFunc(obj any) ([]string, error) {
	p, ok := obj.(*ztv1.ServiceAccessPolicy)
	if !ok {
		return nil, nil
	}
	var keys []string
	for kind, refs := range policyRefs(p) {
		for _, ref := range refs {
			if k := refKey(kind, refNamespace(kind, ref)); !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	return keys, nil
}

// refNamespace is the namespace a reference of kind (policyRefs) is in.
func refNamespace(kind, ref string) string {
	switch kind {
	case IndexWorkload: // Kind/namespace/name
		_, rest, _ := strings.Cut(ref, "/")
		ns, _, _ := strings.Cut(rest, "/")
		return ns
	case IndexService, IndexServiceAccount: // namespace/name
		ns, _, _ := strings.Cut(ref, "/")
		return ns
	default: // a namespace
		return ref
	}
}

// policies appends to reqs the policies that refer to one of keys as kind, skipping those
// in seen.
func (pi *policyIndex) policies(kind string, keys []string, seen map[client.ObjectKey]bool, reqs []reconcile.Request) ([]reconcile.Request, error) {
	for _, k := range keys {
		objs, err := pi.idx.ByIndex(IndexRefs, refKey(kind, refNamespace(kind, k)))
		if err != nil {
			return reqs, err
		}
		for _, obj := range objs {
			p, ok := obj.(*ztv1.ServiceAccessPolicy)
			if !ok || !slices.Contains(policyRefs(p)[kind], k) {
				continue
			}
			key := client.ObjectKeyFromObject(p)
			if !seen[key] {
				seen[key] = true
				reqs = append(reqs, reconcile.Request{NamespacedName: key})
			}
		}
	}
	return reqs, nil
}
