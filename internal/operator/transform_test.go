package operator

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

func TestSlimKeepsWhatTheCompilerReads(t *testing.T) {
	meta := metav1.ObjectMeta{Namespace: "ns", Name: "web", Labels: map[string]string{"team": "a"},
		Annotations:   map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{...}"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}}
	for name, tc := range map[string]struct {
		obj      any
		kind     ztv1.WorkloadKind
		template func(any) *corev1.PodTemplateSpec
	}{
		"Deployment": {&appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Template: template()}, Status: appsv1.DeploymentStatus{Replicas: 3}},
			ztv1.WorkloadDeployment, func(o any) *corev1.PodTemplateSpec { return &o.(*appsv1.Deployment).Spec.Template }},
		"StatefulSet": {&appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{Template: template(),
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}}}}, Status: appsv1.StatefulSetStatus{Replicas: 3}},
			ztv1.WorkloadStatefulSet, func(o any) *corev1.PodTemplateSpec { return &o.(*appsv1.StatefulSet).Spec.Template }},
		"DaemonSet": {&appsv1.DaemonSet{ObjectMeta: meta, Spec: appsv1.DaemonSetSpec{Template: template()}, Status: appsv1.DaemonSetStatus{NumberReady: 3}},
			ztv1.WorkloadDaemonSet, func(o any) *corev1.PodTemplateSpec { return &o.(*appsv1.DaemonSet).Spec.Template }},
	} {
		t.Run(name, func(t *testing.T) {
			want := compiler.WorkloadFromTemplate(tc.kind, "ns", "web", tc.template(tc.obj))
			out, err := slim(tc.obj)
			if err != nil {
				t.Fatal(err)
			}
			tpl := tc.template(out)
			if got := compiler.WorkloadFromTemplate(tc.kind, "ns", "web", tpl); !reflect.DeepEqual(got, want) {
				t.Errorf("the compiler reads a slimmed %s differently:\n got %+v\nwant %+v", name, got, want)
			}
			if tpl.Annotations != nil {
				t.Error("the pod template's annotations were kept (nothing reads them)")
			}
			m := out.(metav1.Object)
			if m.GetManagedFields() != nil || m.GetAnnotations() != nil || m.GetLabels()["team"] != "a" {
				t.Errorf("metadata: want labels kept, annotations and managedFields dropped; got %+v", m)
			}
			s := tpl.Spec
			if s.Volumes != nil || s.Affinity != nil || s.Tolerations != nil || s.NodeSelector != nil {
				t.Error("pod-level scheduling and volumes were kept")
			}
			for _, c := range append(s.InitContainers, s.Containers...) {
				if c.Env != nil || c.EnvFrom != nil || c.Command != nil || c.Args != nil || c.VolumeMounts != nil || c.Resources.Limits != nil ||
					c.Image != "" || c.SecurityContext != nil {
					t.Errorf("container %s keeps image, environment, command, mounts, resources or security context", c.Name)
				}
			}
			// Idempotent, as informers require.
			if twice, err := slim(out); err != nil || !reflect.DeepEqual(twice, out) {
				t.Errorf("slimming a slimmed %s changed it (%v)", name, err)
			}
			if !reflect.ValueOf(out).Elem().FieldByName("Status").IsZero() {
				t.Error("status was kept")
			}
		})
	}
}

func TestSlimServiceAndNamespace(t *testing.T) {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Annotations: map[string]string{"a": "b"}},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
		Status:     corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "1.2.3.4"}}}},
	}
	want := svc.Spec.DeepCopy()
	out, err := slim(svc)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*corev1.Service)
	if !reflect.DeepEqual(&got.Spec, want) || got.Annotations != nil || len(got.Status.LoadBalancer.Ingress) != 0 {
		t.Errorf("Service: want spec kept, annotations and status dropped; got %+v", got)
	}

	ns := &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"zerotrust.dev/enforce": "true"}, Annotations: map[string]string{"zerotrust.dev/pod-security": "restricted"}},
		Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
	}
	out, err = slim(ns)
	if err != nil {
		t.Fatal(err)
	}
	gotNS := out.(*corev1.Namespace)
	if gotNS.Labels["zerotrust.dev/enforce"] != "true" || gotNS.Annotations["zerotrust.dev/pod-security"] != "restricted" || gotNS.Status.Phase != "" {
		t.Errorf("Namespace: want labels and annotations kept, status dropped; got %+v", gotNS)
	}
}
