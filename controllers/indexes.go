package controllers

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

// Field indexes. Each maps a watched object to the policies that refer to it, so an event
// on a Service, workload, ServiceAccount or Namespace reconciles only those policies.
const (
	// IndexService indexes policies by the Services they name: "namespace/name".
	IndexService = "zerotrust.dev/service"
	// IndexWorkload indexes policies by the workloads they name: "Kind/namespace/name".
	IndexWorkload = "zerotrust.dev/workload"
	// IndexServiceAccount indexes policies by the ServiceAccounts they name: "namespace/name".
	IndexServiceAccount = "zerotrust.dev/serviceaccount"
	// IndexNamespace indexes policies by every namespace their callers are in, their own
	// included: a namespace's labels decide whether egress is denied there.
	IndexNamespace = "zerotrust.dev/namespace"
	// IndexWorkloadsIn indexes policies by the namespaces whose workloads they resolve by
	// label or by ServiceAccount (Service and podSelector targets; Service, podSelector and
	// workload callers): any workload there may change the ports' numbers, the probes or
	// the callers' mesh identities.
	IndexWorkloadsIn = "zerotrust.dev/workloads-in"
)

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
		return w.Workload.ServiceAccount
	}
	return ""
}

// SetupIndexes registers the field indexes the reconcilers and the inventory use.
func SetupIndexes(ctx context.Context, mgr manager.Manager) error {
	idx := mgr.GetFieldIndexer()
	for _, index := range []string{IndexService, IndexWorkload, IndexServiceAccount, IndexNamespace, IndexWorkloadsIn} {
		if err := idx.IndexField(ctx, &ztv1.ServiceAccessPolicy{}, index, func(o client.Object) []string {
			return policyRefs(o.(*ztv1.ServiceAccessPolicy))[index]
		}); err != nil {
			return fmt.Errorf("indexing policies by %s: %w", index, err)
		}
	}
	return nil
}
