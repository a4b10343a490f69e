package writer

import (
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

// A cached policy keeps its spec, finalizers and condensed status, and of its metadata
// only the status digest: a GitOps tool's labels and annotations (here kubectl's copy of
// the whole object) are nothing the operator reads.
func TestCondensePolicy(t *testing.T) {
	ready := metav1.Condition{Type: ztv1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Enforced"}
	p := &ztv1.ServiceAccessPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-access", Finalizers: []string{"zerotrust.dev/cleanup"},
			Labels:        map[string]string{"argocd.argoproj.io/instance": "shop"},
			Annotations:   map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"spec":{}}`},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "argocd-controller"}}},
		Spec:   ztv1.ServiceAccessPolicySpec{Target: ztv1.Target{Service: "web"}},
		Status: ztv1.ServiceAccessPolicyStatus{ObservedGeneration: 3, Conditions: []metav1.Condition{ready}, Target: "Service/web"},
	}
	digest := statusDigest(&p.Status)
	spec := *p.Spec.DeepCopy()
	out, err := CondensePolicy(p)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*ztv1.ServiceAccessPolicy)
	if got.Labels != nil || got.ManagedFields != nil || !reflect.DeepEqual(got.Annotations, map[string]string{StatusDigestAnnotation: digest}) {
		t.Errorf("metadata: want only the status digest, got labels %v, annotations %v, managedFields %v", got.Labels, got.Annotations, got.ManagedFields)
	}
	wantStatus := ztv1.ServiceAccessPolicyStatus{ObservedGeneration: 3, Conditions: []metav1.Condition{ready}}
	if !reflect.DeepEqual(got.Spec, spec) || !reflect.DeepEqual(got.Status, wantStatus) || len(got.Finalizers) != 1 {
		t.Errorf("want spec, finalizers and condensed status kept, got %+v", got)
	}
	if !statusIs(got, &ztv1.ServiceAccessPolicyStatus{ObservedGeneration: 3, Conditions: []metav1.Condition{ready}, Target: "Service/web"}) {
		t.Error("statusIs: the cached policy does not match the status it was condensed from")
	}
	again, _ := CondensePolicy(got)
	if !reflect.DeepEqual(again, got) {
		t.Errorf("not idempotent: %+v", again)
	}
}
