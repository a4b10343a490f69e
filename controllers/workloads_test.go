package controllers_test

import (
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/controllers"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
)

// template is a pod template with everything the compiler reads (labels, service account,
// ports and probes of containers and of a native sidecar) and much it does not.
func template() corev1.PodTemplateSpec {
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}}
	heavy := func(c corev1.Container) corev1.Container {
		c.Env = []corev1.EnvVar{{Name: "A", Value: "1"}}
		c.EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}}}
		c.Command, c.Args = []string{"/app"}, []string{"--x"}
		c.VolumeMounts = []corev1.VolumeMount{{Name: "v", MountPath: "/v"}}
		c.Resources = corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}}
		return c
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"sidecar.istio.io/inject": "true"}},
		Spec: corev1.PodSpec{
			ServiceAccountName: "web",
			InitContainers: []corev1.Container{
				heavy(corev1.Container{Name: "proxy", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
					Ports: []corev1.ContainerPort{{Name: "admin", ContainerPort: 15000}}, StartupProbe: probe}),
				heavy(corev1.Container{Name: "migrate"}),
			},
			Containers: []corev1.Container{heavy(corev1.Container{Name: "web",
				Ports:         []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
				LivenessProbe: probe, ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready?x=1", Port: intstr.FromInt32(8080)}}},
				SecurityContext: &corev1.SecurityContext{RunAsNonRoot: ptr.To(true)}})},
			Volumes:      []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			Affinity:     &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{}},
			Tolerations:  []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}},
			NodeSelector: map[string]string{"pool": "a"},
		},
	}
}

func TestCachedWorkloadsSharePortsAndProbes(t *testing.T) {
	tpl := template()
	cached := func(name string, port int32) compiler.Workload {
		tpl.Spec.Containers[0].Ports[0].ContainerPort = port
		out, err := controllers.CondenseWorkload(&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}, Spec: appsv1.DeploymentSpec{Template: tpl}})
		if err != nil {
			t.Fatal(err)
		}
		return out.(*controllers.CachedWorkload).Workload()
	}
	a, b, c := cached("a", 8080), cached("b", 8080), cached("c", 8081)
	if &a.Ports[0] != &b.Ports[0] || &a.Probes[0] != &b.Probes[0] {
		t.Error("two workloads declaring the same ports and probes hold a copy each")
	}
	if &a.Ports[0] == &c.Ports[0] || c.PortNumber("http", "TCP") != 8081 || a.PortNumber("http", "TCP") != 8080 {
		t.Errorf("workloads declaring different ports share them: %v and %v", a.Ports, c.Ports)
	}
}

func TestCondenseWorkloadKeepsWhatTheCompilerReads(t *testing.T) {
	meta := metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "u1", ResourceVersion: "7", Generation: 3, Labels: map[string]string{"team": "a"},
		Annotations:   map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{...}"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}}
	for name, tc := range map[string]struct {
		obj  any
		kind ztv1.WorkloadKind
	}{
		"Deployment":  {&appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Template: template()}, Status: appsv1.DeploymentStatus{Replicas: 3}}, ztv1.WorkloadDeployment},
		"StatefulSet": {&appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{Template: template()}}, ztv1.WorkloadStatefulSet},
		"DaemonSet":   {&appsv1.DaemonSet{ObjectMeta: meta, Spec: appsv1.DaemonSetSpec{Template: template()}}, ztv1.WorkloadDaemonSet},
	} {
		t.Run(name, func(t *testing.T) {
			tpl := template()
			want := compiler.WorkloadFromTemplate(tc.kind, "ns", "web", &tpl)
			out, err := controllers.CondenseWorkload(tc.obj)
			if err != nil {
				t.Fatal(err)
			}
			w, ok := out.(*controllers.CachedWorkload)
			if !ok {
				t.Fatalf("cached as %T", out)
			}
			if got := w.Workload(); !reflect.DeepEqual(&got, want) {
				t.Errorf("the compiler reads a cached %s differently:\n got %+v\nwant %+v", name, got, *want)
			}
			if w.GetName() != "web" || w.GetNamespace() != "ns" || w.GetUID() != "u1" || w.GetResourceVersion() != "7" || w.GetGeneration() != meta.Generation {
				t.Errorf("identity lost: %s/%s uid %s resourceVersion %s generation %d", w.GetNamespace(), w.GetName(), w.GetUID(), w.GetResourceVersion(), w.GetGeneration())
			}
			if w.GetLabels() != nil || w.GetAnnotations() != nil || w.GetManagedFields() != nil {
				t.Error("the workload's own labels, annotations or managedFields kept (nothing reads them)")
			}
			// Idempotent, as informers require; a view's labels are its own.
			if again, err := controllers.CondenseWorkload(out); err != nil || again != out {
				t.Errorf("condensing a cached workload changed it (%v)", err)
			}
			c := w.DeepCopyObject().(*controllers.CachedWorkload)
			if got := c.Workload(); !reflect.DeepEqual(&got, want) {
				t.Errorf("a copy of a cached %s reads differently: %+v", name, got)
			}
			view := w.Workload()
			view.PodLabels["app"] = "changed"
			if w.Workload().PodLabels["app"] != "web" {
				t.Error("a view of a cached workload shares its labels with the cache")
			}
		})
	}
}
