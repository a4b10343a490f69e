package audit

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

// podsForDecoding are Pods with every place a security context can sit, and many fields
// around them that the decoder must skip.
func podsForDecoding() []corev1.Pod {
	busy := corev1.Container{
		Name: "app", Image: "registry.example/app:1.2.3", Command: []string{"/app", "--serve"},
		Env:   []corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "B", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi")}},
		LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz"}}},
	}
	withSC := func(c corev1.Container, name string, sc *corev1.SecurityContext) corev1.Container {
		c.Name, c.SecurityContext = name, sc
		return c
	}
	managed := []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply,
		APIVersion: "v1", Time: &metav1.Time{Time: time.Unix(1700000000, 0)}, FieldsType: "FieldsV1",
		FieldsV1: metav1.NewFieldsV1(`{"f:spec":{"f:containers":{}}}`)}}
	return []corev1.Pod{
		{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "root-pod", UID: "u1", Labels: map[string]string{"app": "web"},
				Annotations: map[string]string{"a": "b"}, ManagedFields: managed, ResourceVersion: "42"},
			Spec: corev1.PodSpec{
				SecurityContext: &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](0), FSGroup: ptr.To[int64](2000)},
				InitContainers:  []corev1.Container{withSC(busy, "init", nil)},
				Containers: []corev1.Container{
					withSC(busy, "app", &corev1.SecurityContext{RunAsUser: ptr.To[int64](1000), RunAsNonRoot: ptr.To(true)}),
					withSC(busy, "debug", &corev1.SecurityContext{Privileged: ptr.To(true),
						Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}}}),
				},
				EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
					Name: "shell", Image: "busybox", SecurityContext: &corev1.SecurityContext{RunAsUser: ptr.To[int64](0)}}}},
				Volumes:     []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
				Tolerations: []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}},
				NodeName:    "node-1",
			},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1"},
		},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "plain"}, Spec: corev1.PodSpec{Containers: []corev1.Container{busy}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "empty"}},
	}
}

func encodePodList(t *testing.T, list *corev1.PodList) []byte {
	t.Helper()
	list.APIVersion, list.Kind = "v1", "PodList"
	var buf bytes.Buffer
	if err := protobuf.NewSerializer(scheme.Scheme, scheme.Scheme).Encode(list, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The decoder reads exactly the security view of each Pod, so the audit finds the same.
func TestDecodePodSecurityList(t *testing.T) {
	pods := podsForDecoding()
	list := &corev1.PodList{ListMeta: metav1.ListMeta{Continue: "next-page", ResourceVersion: "43"}, Items: pods}
	got, cont, err := decodePodSecurityList(encodePodList(t, list))
	if err != nil {
		t.Fatal(err)
	}
	if cont != "next-page" {
		t.Errorf("continue: got %q, want next-page", cont)
	}
	if len(got) != len(pods) {
		t.Fatalf("got %d pods, want %d", len(got), len(pods))
	}
	for i := range pods {
		// Semantic: securityView makes empty lists where the decoder leaves none.
		if want := securityView(&pods[i]); !equality.Semantic.DeepEqual(got[i], want) {
			t.Errorf("pod %s:\n got %+v\nwant %+v", pods[i].Name, got[i], want)
		}
	}
	in := func(ps []corev1.Pod) Input {
		return Input{Namespaces: map[string]ztv1.PodSecurityLevel{"shop": ""}, Pods: ps}
	}
	want, err := Run(in(pods))
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < 4 {
		t.Fatalf("the fixture should make findings for the pod user, debug and shell; got %v", want)
	}
	if findings, err := Run(in(got)); err != nil || !reflect.DeepEqual(findings, want) {
		t.Errorf("findings differ:\n got %v\nwant %v", findings, want)
	}
}

func TestDecodePodSecurityListRefusesOtherEncodings(t *testing.T) {
	if _, _, err := decodePodSecurityList([]byte(`{"kind":"PodList","items":[]}`)); err == nil {
		t.Error("JSON accepted as protobuf")
	}
	data := encodePodList(t, &corev1.PodList{Items: podsForDecoding()})
	if _, _, err := decodePodSecurityList(data[:len(data)-3]); err == nil {
		t.Error("a truncated response decoded without error")
	}
}
