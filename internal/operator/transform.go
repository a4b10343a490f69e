package operator

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Cache transforms. The operator reads little of the objects it watches: of a workload,
// its pod template's labels, service account, and containers' ports and probes
// (compiler.WorkloadFromTemplate); of a Service its selector and ports; of a Namespace its
// labels and annotations. It never writes them back. slim drops, before an object enters
// the informer cache, the large parts nobody reads: status, a workload's own annotations
// (kubectl's last-applied-configuration lives there) and, in its pod template, environment,
// volumes, resources, commands, scheduling constraints. At ten 5-10 KB pods a policy, full
// pod templates were two thirds of the operator's heap (docs/performance.md).

// slimmed are the kinds cached through slim; every other kind keeps DefaultTransform.
func slimmed() []client.Object {
	return []client.Object{&appsv1.Deployment{}, &appsv1.StatefulSet{}, &appsv1.DaemonSet{}, &corev1.Service{}, &corev1.Namespace{}}
}

var stripManagedFields = cache.TransformStripManagedFields()

// slim is the cache transform of the kinds in slimmed. It also drops managedFields, like the
// default transform it replaces for them.
func slim(obj any) (any, error) {
	obj, err := stripManagedFields(obj)
	if err != nil {
		return obj, err
	}
	switch o := obj.(type) {
	case *appsv1.Deployment:
		o.Annotations, o.Status = nil, appsv1.DeploymentStatus{}
		slimPodTemplate(&o.Spec.Template)
	case *appsv1.StatefulSet:
		o.Annotations, o.Status = nil, appsv1.StatefulSetStatus{}
		o.Spec.VolumeClaimTemplates = nil
		slimPodTemplate(&o.Spec.Template)
	case *appsv1.DaemonSet:
		o.Annotations, o.Status = nil, appsv1.DaemonSetStatus{}
		slimPodTemplate(&o.Spec.Template)
	case *corev1.Service:
		o.Status = corev1.ServiceStatus{}
	case *corev1.Namespace:
		o.Status = corev1.NamespaceStatus{}
	}
	return obj, nil
}

// slimPodTemplate keeps the template's metadata, service account, and each container's
// name, image, ports, probes, restart policy and security context.
func slimPodTemplate(t *corev1.PodTemplateSpec) {
	s := &t.Spec
	s.Volumes, s.Affinity, s.Tolerations, s.TopologySpreadConstraints = nil, nil, nil, nil
	s.ImagePullSecrets, s.HostAliases, s.ReadinessGates, s.ResourceClaims = nil, nil, nil, nil
	s.NodeSelector, s.Overhead, s.Resources, s.DNSConfig = nil, nil, nil, nil
	for i := range s.InitContainers {
		slimContainer(&s.InitContainers[i])
	}
	for i := range s.Containers {
		slimContainer(&s.Containers[i])
	}
}

func slimContainer(c *corev1.Container) {
	c.Env, c.EnvFrom, c.Command, c.Args = nil, nil, nil, nil
	c.VolumeMounts, c.VolumeDevices, c.ResizePolicy, c.Lifecycle = nil, nil, nil, nil
	c.Resources = corev1.ResourceRequirements{}
}
