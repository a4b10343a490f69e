package compiler

import (
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/model"
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
	var serving []*corev1.Container
	for i := range t.Spec.InitContainers {
		c := &t.Spec.InitContainers[i]
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			serving = append(serving, c)
		}
	}
	for i := range t.Spec.Containers {
		serving = append(serving, &t.Spec.Containers[i])
	}
	for _, c := range serving {
		w.Ports = append(w.Ports, c.Ports...)
	}
	w.Probes = probesOf(serving)
	return w
}

// probesOf lists the HTTP GET probes of containers, with their port resolved against the
// container's declared ports both ways (number and name), so that a mesh can tell which
// probes reach a port however either side names it.
func probesOf(containers []*corev1.Container) []model.Probe {
	seen := map[model.Probe]bool{}
	var out []model.Probe
	for _, c := range containers {
		for _, pr := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
			if pr == nil || pr.HTTPGet == nil {
				continue
			}
			mp := model.Probe{Path: probePath(pr.HTTPGet.Path)}
			switch port := pr.HTTPGet.Port; port.Type {
			case intstr.Int:
				mp.Port = port.IntVal
				for _, cp := range c.Ports {
					if cp.ContainerPort == port.IntVal && cp.Name != "" {
						mp.PortName = cp.Name
						break
					}
				}
			case intstr.String:
				mp.PortName = port.StrVal
				for _, cp := range c.Ports {
					if cp.Name == port.StrVal {
						mp.Port = cp.ContainerPort
						break
					}
				}
			}
			if !seen[mp] {
				seen[mp] = true
				out = append(out, mp)
			}
		}
	}
	sortProbes(out)
	return out
}

func sortProbes(out []model.Probe) {
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Port != b.Port {
			return a.Port < b.Port
		}
		if a.PortName != b.PortName {
			return a.PortName < b.PortName
		}
		return a.Path < b.Path
	})
}

// probePath is the path the kubelet requests, without the query string (meshes match
// routes on the path alone): "/" when the probe names none.
func probePath(p string) string {
	p, _, _ = strings.Cut(p, "?")
	if p == "" {
		return "/"
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return p
}
