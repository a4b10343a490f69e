package audit

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

func TestSecurityViewKeepsFindings(t *testing.T) {
	pod := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](0)},
			InitContainers:  []corev1.Container{{Name: "init", Image: "busybox", Env: []corev1.EnvVar{{Name: "A", Value: "1"}}}},
			Containers: []corev1.Container{
				{Name: "app", Image: "app", SecurityContext: &corev1.SecurityContext{RunAsUser: ptr.To[int64](1000)}},
				{Name: "debug", Image: "debug", SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}},
			},
			EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "shell", Image: "sh"}}},
		},
	}
	in := func(p corev1.Pod) Input {
		return Input{Namespaces: map[string]ztv1.PodSecurityLevel{"shop": ""}, Pods: []corev1.Pod{p}}
	}
	want, err := Run(in(pod))
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < 4 {
		t.Fatalf("the fixture should have findings for init, debug (twice) and shell; got %v", want)
	}
	if got, err := Run(in(securityView(&pod))); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("findings on the security view differ:\n got %v\nwant %v", got, want)
	}
}

// securityView is the part of a pod the audit reads (podFindings): its name and the
// security contexts. It is the model PodSource's decoder is held to (podview_test.go).
func securityView(p *corev1.Pod) corev1.Pod {
	v := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name}}
	v.Spec.SecurityContext = p.Spec.SecurityContext
	view := func(cs []corev1.Container) []corev1.Container {
		out := make([]corev1.Container, len(cs))
		for i, c := range cs {
			out[i] = corev1.Container{Name: c.Name, SecurityContext: c.SecurityContext}
		}
		return out
	}
	v.Spec.InitContainers, v.Spec.Containers = view(p.Spec.InitContainers), view(p.Spec.Containers)
	for _, ec := range p.Spec.EphemeralContainers {
		v.Spec.EphemeralContainers = append(v.Spec.EphemeralContainers, corev1.EphemeralContainer{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: ec.Name, SecurityContext: ec.SecurityContext}})
	}
	return v
}
