package controllers

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/writer"
)

// ReasonApplyFailed: the API server refused a generated object (compiler.ReasonApplyFailed).
const ReasonApplyFailed = compiler.ReasonApplyFailed

// ReasonDriftRepaired is the reason of the Warning Event on a policy or baseline for each
// generated object someone else changed or deleted and the operator put back.
const ReasonDriftRepaired = writer.ReasonDriftRepaired

// PolicyStatusPatch is the status write of a reconcile that compiled p into out (the
// inactive backends appended, as the reconciler does) and applied all of it: the merge
// patch the reconciler sends to the status subresource. The benchmark writes it without an
// operator to measure the least a converge must write.
func PolicyStatusPatch(p *ztv1.ServiceAccessPolicy, out *compiler.Output) ([]byte, error) {
	st := compiler.PolicyStatus(p, out, nil, p.Status.Conditions, metav1.Now())
	return writer.StatusPatch(&st)
}

// lister lists every object of one kind (a new list of it from newList) from c: as
// objects for a resync, as requests for re-verification and mapping.
type lister struct {
	c       client.Reader
	newList func() client.ObjectList
}

func (l lister) objects(ctx context.Context) ([]client.Object, error) {
	list := l.newList()
	if err := l.c.List(ctx, list); err != nil {
		return nil, err
	}
	var out []client.Object
	err := meta.EachListItem(list, func(o runtime.Object) error {
		obj, ok := o.(client.Object)
		if !ok {
			return fmt.Errorf("a %T lists a %T", list, o)
		}
		out = append(out, obj)
		return nil
	})
	return out, err
}

func (l lister) requests(ctx context.Context) ([]reconcile.Request, error) {
	objs, err := l.objects(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]reconcile.Request, len(objs))
	for i, o := range objs {
		out[i] = reconcile.Request{NamespacedName: client.ObjectKeyFromObject(o)}
	}
	return out, nil
}

// afterInitialList drops the Create events of an informer's initial list. It goes on the
// watches of what a controller's objects generate or refer to that are registered before
// the controller starts: the controller's workers start only once every such cache has
// synced, and its own objects' initial list reconciles each of them then, so mapping every
// workload, Service, namespace and generated object of the cluster to its policies at
// start-up adds nothing but CPU (53000 workloads at 10000 policies). Watches added to a
// running controller (a backend activated later) keep them: nothing waits for their sync.
var afterInitialList = predicate.Funcs{
	CreateFunc: func(e event.CreateEvent) bool { return !e.IsInInitialList },
}

// childToPolicy maps an event on a generated object to its policy, so drift is repaired.
func childToPolicy(_ context.Context, o client.Object) []reconcile.Request {
	if writer.IsShared(o) {
		return sharedToPolicies(o)
	}
	l := o.GetLabels()
	if l[ztv1.LabelManagedBy] != ztv1.ManagedByValue || l[ztv1.LabelPolicyName] == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: l[ztv1.LabelPolicyNamespace], Name: l[ztv1.LabelPolicyName]}}}
}

// childToBaseline maps an event on a generated object to its baseline.
func childToBaseline(_ context.Context, o client.Object) []reconcile.Request {
	l := o.GetLabels()
	if l[ztv1.LabelManagedBy] != ztv1.ManagedByValue || l[ztv1.LabelBaseline] == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: l[ztv1.LabelBaseline]}}}
}

// sharedToPolicies maps an event on a shared object to the policies that own it.
func sharedToPolicies(o client.Object) []reconcile.Request {
	var out []reconcile.Request
	for _, r := range o.GetOwnerReferences() {
		if r.Kind == "ServiceAccessPolicy" && r.APIVersion == ztv1.GroupVersion.String() {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKey{Namespace: o.GetNamespace(), Name: r.Name}})
		}
	}
	return out
}
