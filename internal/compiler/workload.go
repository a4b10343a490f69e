package compiler

import (
	corev1 "k8s.io/api/core/v1"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

// WorkloadFromTemplate is the compiler's view of a Deployment, StatefulSet or DaemonSet
// with pod template t. Every Inventory should build its Workloads with it, so that the
// operator and kubectl-zt read pod templates the same way.
func WorkloadFromTemplate(kind ztv1.WorkloadKind, namespace, name string, t *corev1.PodTemplateSpec) *Workload {
	w := &Workload{Kind: kind, Namespace: namespace, Name: name, ServiceAccount: "default"}
	if len(t.Labels) > 0 {
		w.PodLabels = make(map[string]string, len(t.Labels))
		for k, v := range t.Labels {
			w.PodLabels[k] = v
		}
	}
	switch {
	case t.Spec.ServiceAccountName != "":
		w.ServiceAccount = t.Spec.ServiceAccountName
	case t.Spec.DeprecatedServiceAccount != "":
		w.ServiceAccount = t.Spec.DeprecatedServiceAccount
	}
	// Native sidecars (init containers that keep running) serve ports like containers.
	for _, c := range t.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			w.Ports = append(w.Ports, c.Ports...)
		}
	}
	for _, c := range t.Spec.Containers {
		w.Ports = append(w.Ports, c.Ports...)
	}
	return w
}
