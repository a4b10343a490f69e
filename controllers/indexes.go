package controllers

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
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
	// IndexPodServiceAccount indexes workloads by the ServiceAccount their pods run as.
	IndexPodServiceAccount = "zerotrust.dev/pod-serviceaccount"
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

// podTemplate returns the pod template of a Deployment, StatefulSet or DaemonSet.
func podTemplate(o client.Object) *corev1.PodTemplateSpec {
	switch w := o.(type) {
	case *appsv1.Deployment:
		return &w.Spec.Template
	case *appsv1.StatefulSet:
		return &w.Spec.Template
	case *appsv1.DaemonSet:
		return &w.Spec.Template
	}
	return nil
}

// podServiceAccount is the ServiceAccount a workload's pods run as, read the compiler's way.
func podServiceAccount(o client.Object) string {
	tpl := podTemplate(o)
	if tpl == nil {
		return ""
	}
	return compiler.WorkloadFromTemplate("", o.GetNamespace(), o.GetName(), tpl).ServiceAccount
}

// SetupIndexes registers the field indexes the reconcilers and the inventory use.
func SetupIndexes(ctx context.Context, mgr manager.Manager) error {
	idx := mgr.GetFieldIndexer()
	for _, index := range []string{IndexService, IndexWorkload, IndexServiceAccount, IndexNamespace} {
		if err := idx.IndexField(ctx, &ztv1.ServiceAccessPolicy{}, index, func(o client.Object) []string {
			return policyRefs(o.(*ztv1.ServiceAccessPolicy))[index]
		}); err != nil {
			return fmt.Errorf("indexing policies by %s: %w", index, err)
		}
	}
	for _, obj := range []client.Object{&appsv1.Deployment{}, &appsv1.StatefulSet{}, &appsv1.DaemonSet{}} {
		if err := idx.IndexField(ctx, obj, IndexPodServiceAccount, func(o client.Object) []string {
			return []string{podServiceAccount(o)}
		}); err != nil {
			return fmt.Errorf("indexing %T by service account: %w", obj, err)
		}
	}
	return nil
}
