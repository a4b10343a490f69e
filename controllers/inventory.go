package controllers

import (
	"context"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
)

// cacheInventory answers the compiler's questions from the manager's caches: Gets by key
// and Lists through field indexes, never a list of the whole cluster.
type cacheInventory struct {
	ctx context.Context
	c   client.Reader
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
	s := &corev1.Service{}
	if ok, err := i.get(namespace, name, s); !ok {
		return nil, err
	}
	return s, nil
}

// workloadOf reduces a Deployment, StatefulSet or DaemonSet to what the compiler needs,
// exactly as kubectl-zt's offline inventory does.
func workloadOf(kind ztv1.WorkloadKind, meta metav1.ObjectMeta, tpl *corev1.PodTemplateSpec) *compiler.Workload {
	return compiler.WorkloadFromTemplate(kind, meta.Namespace, meta.Name, tpl)
}

func (i *cacheInventory) Workload(namespace string, kind ztv1.WorkloadKind, name string) (*compiler.Workload, error) {
	switch kind {
	case ztv1.WorkloadDeployment:
		d := &appsv1.Deployment{}
		if ok, err := i.get(namespace, name, d); !ok {
			return nil, err
		}
		return workloadOf(kind, d.ObjectMeta, &d.Spec.Template), nil
	case ztv1.WorkloadStatefulSet:
		s := &appsv1.StatefulSet{}
		if ok, err := i.get(namespace, name, s); !ok {
			return nil, err
		}
		return workloadOf(kind, s.ObjectMeta, &s.Spec.Template), nil
	case ztv1.WorkloadDaemonSet:
		d := &appsv1.DaemonSet{}
		if ok, err := i.get(namespace, name, d); !ok {
			return nil, err
		}
		return workloadOf(kind, d.ObjectMeta, &d.Spec.Template), nil
	}
	return nil, nil
}

func (i *cacheInventory) WorkloadsByServiceAccount(namespace, serviceAccount string) ([]compiler.Workload, error) {
	opts := []client.ListOption{client.InNamespace(namespace), client.MatchingFields{IndexPodServiceAccount: serviceAccount}}
	var out []compiler.Workload
	var deps appsv1.DeploymentList
	if err := i.c.List(i.ctx, &deps, opts...); err != nil {
		return nil, err
	}
	for _, d := range deps.Items {
		out = append(out, *workloadOf(ztv1.WorkloadDeployment, d.ObjectMeta, &d.Spec.Template))
	}
	var sts appsv1.StatefulSetList
	if err := i.c.List(i.ctx, &sts, opts...); err != nil {
		return nil, err
	}
	for _, s := range sts.Items {
		out = append(out, *workloadOf(ztv1.WorkloadStatefulSet, s.ObjectMeta, &s.Spec.Template))
	}
	var dss appsv1.DaemonSetList
	if err := i.c.List(i.ctx, &dss, opts...); err != nil {
		return nil, err
	}
	for _, d := range dss.Items {
		out = append(out, *workloadOf(ztv1.WorkloadDaemonSet, d.ObjectMeta, &d.Spec.Template))
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Kind != out[b].Kind {
			return out[a].Kind < out[b].Kind
		}
		return out[a].Name < out[b].Name
	})
	return out, nil
}

func (i *cacheInventory) ServiceAccountExists(namespace, name string) (bool, error) {
	sa := &metav1.PartialObjectMetadata{}
	sa.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ServiceAccount"))
	return i.get(namespace, name, sa)
}

func (i *cacheInventory) Namespace(name string) (*corev1.Namespace, error) {
	ns := &corev1.Namespace{}
	if ok, err := i.get("", name, ns); !ok {
		return nil, err
	}
	return ns, nil
}

func (i *cacheInventory) Baselines() ([]ztv1.ZeroTrustBaseline, error) {
	var list ztv1.ZeroTrustBaselineList
	if err := i.c.List(i.ctx, &list); err != nil {
		return nil, err
	}
	sort.Slice(list.Items, func(a, b int) bool { return list.Items[a].Name < list.Items[b].Name })
	return list.Items, nil
}
