package operator

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/zerotrust-dev/zerotrust-operator/internal/apply"
)

// Cache transforms. The operator reads little of the objects it watches: of a workload,
// its pod template's labels, service account, and its serving containers' ports and HTTP
// probes (compiler.WorkloadFromTemplate); of a Service its selector and ports; of a
// Namespace its labels and annotations. It never writes them back. slim keeps, before an
// object enters the informer cache, what is read and drops the rest: a workload is cached
// as a new object holding only those fields (so nothing of the decoded original stays
// referenced), a Service and a Namespace without status, annotations of Services (kubectl's
// last-applied-configuration lives there). At ten 5-10 KB pods a policy, full pod templates
// were two thirds of the operator's heap (docs/performance.md).

// slimmed are the kinds cached through slim; every other kind keeps DefaultTransform.
func slimmed() []client.Object {
	return []client.Object{&appsv1.Deployment{}, &appsv1.StatefulSet{}, &appsv1.DaemonSet{}, &corev1.Service{}, &corev1.Namespace{}}
}

var stripManagedFields = cache.TransformStripManagedFields()

// slim is the cache transform of the kinds in slimmed. It also drops managedFields, like the
// default transform it replaces for them. It is idempotent, as informers require.
func slim(obj any) (any, error) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return &appsv1.Deployment{ObjectMeta: slimMeta(&o.ObjectMeta), Spec: appsv1.DeploymentSpec{Template: slimPodTemplate(&o.Spec.Template)}}, nil
	case *appsv1.StatefulSet:
		return &appsv1.StatefulSet{ObjectMeta: slimMeta(&o.ObjectMeta), Spec: appsv1.StatefulSetSpec{Template: slimPodTemplate(&o.Spec.Template)}}, nil
	case *appsv1.DaemonSet:
		return &appsv1.DaemonSet{ObjectMeta: slimMeta(&o.ObjectMeta), Spec: appsv1.DaemonSetSpec{Template: slimPodTemplate(&o.Spec.Template)}}, nil
	case *corev1.Service:
		o.ManagedFields, o.Annotations, o.Status = nil, nil, corev1.ServiceStatus{}
	case *corev1.Namespace:
		o.ManagedFields, o.Status = nil, corev1.NamespaceStatus{}
	default:
		return stripManagedFields(obj)
	}
	return obj, nil
}

// slimMeta keeps the identity, labels and lifecycle of an object.
func slimMeta(m *metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Namespace: m.Namespace, Name: m.Name, UID: m.UID, ResourceVersion: m.ResourceVersion,
		Generation: m.Generation, Labels: m.Labels, DeletionTimestamp: m.DeletionTimestamp,
	}
}

// slimPodTemplate keeps the template's labels, service account, and each container's name,
// ports, restart policy (a native sidecar serves ports) and HTTP GET probes.
func slimPodTemplate(t *corev1.PodTemplateSpec) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: t.Labels},
		Spec: corev1.PodSpec{
			ServiceAccountName:       t.Spec.ServiceAccountName,
			DeprecatedServiceAccount: t.Spec.DeprecatedServiceAccount,
			InitContainers:           slimContainers(t.Spec.InitContainers),
			Containers:               slimContainers(t.Spec.Containers),
		},
	}
}

func slimContainers(cs []corev1.Container) []corev1.Container {
	if len(cs) == 0 {
		return nil
	}
	out := make([]corev1.Container, len(cs))
	for i := range cs {
		c := &cs[i]
		out[i] = corev1.Container{Name: c.Name, Ports: c.Ports, RestartPolicy: c.RestartPolicy,
			LivenessProbe: httpProbe(c.LivenessProbe), ReadinessProbe: httpProbe(c.ReadinessProbe), StartupProbe: httpProbe(c.StartupProbe)}
	}
	return out
}

func httpProbe(p *corev1.Probe) *corev1.Probe {
	if p == nil || p.HTTPGet == nil {
		return nil
	}
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: p.HTTPGet}}
}

// condense is the cache transform of generated objects: without managedFields, and with
// the content of NetworkPolicies and mesh policies replaced by its digest (apply.Condense).
// The reconcilers compare generated objects with what they should be and never read their
// content otherwise; 4000 NetworkPolicies cost a third of the operator's heap whole.
func condense(obj any) (any, error) {
	obj, err := stripManagedFields(obj)
	if err != nil {
		return obj, err
	}
	if o, ok := obj.(client.Object); ok {
		if err := apply.Condense(o); err != nil {
			return obj, err
		}
	}
	return obj, nil
}
