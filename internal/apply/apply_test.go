package apply

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func networkPolicy() *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "zt-in.p", Labels: map[string]string{"app.kubernetes.io/managed-by": "zerotrust-operator"}},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "inventory"}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "payment"}}}},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromString("http"))}},
			}},
		},
	}
}

// live returns o as the cache holds it: without kind (typed objects from an informer), with
// labels someone else added, condensed.
func condensed(t *testing.T, o client.Object) client.Object {
	t.Helper()
	c := o.DeepCopyObject().(client.Object)
	c.GetObjectKind().SetGroupVersionKind(c.GetObjectKind().GroupVersionKind().GroupVersion().WithKind(""))
	labels := c.GetLabels()
	labels["someone-else"] = "x"
	c.SetLabels(labels)
	out, err := Condense(c)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCondensedNetworkPolicyComparesByDigest(t *testing.T) {
	desired := networkPolicy()
	live := condensed(t, desired).(*Condensed)
	if ok, err := InSync(desired, live); err != nil || !ok {
		t.Fatalf("a condensed copy of the desired object is not in sync: %v %v", ok, err)
	}
	// Read as a NetworkPolicy: no spec, the digest in its labels, in sync too.
	np := live.NetworkPolicy()
	if len(np.Spec.Ingress) != 0 || len(np.Spec.PodSelector.MatchLabels) != 0 || np.Labels[DigestLabel] == "" || np.Labels["someone-else"] != "x" {
		t.Fatalf("read back as %+v", np)
	}
	if ok, err := InSync(desired, np); err != nil || !ok {
		t.Fatalf("a condensed copy read as a NetworkPolicy is not in sync: %v %v", ok, err)
	}
	// Idempotent: an informer may transform the same object again.
	if again, err := Condense(live); err != nil || again != live {
		t.Fatalf("a second Condense changed the object (%v)", err)
	}
	if again, err := Condense(np); err != nil || again != np {
		t.Fatalf("Condense changed a NetworkPolicy read from a Condensed (%v)", err)
	}

	for name, edit := range map[string]func(*networkingv1.NetworkPolicy){
		"source opened": func(np *networkingv1.NetworkPolicy) { np.Spec.Ingress[0].From = nil },
		"port changed":  func(np *networkingv1.NetworkPolicy) { np.Spec.Ingress[0].Ports[0].Port = ptr.To(intstr.FromInt32(80)) },
		"egress isolated": func(np *networkingv1.NetworkPolicy) {
			np.Spec.PolicyTypes = append(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
		},
		"selector widened": func(np *networkingv1.NetworkPolicy) { np.Spec.PodSelector = metav1.LabelSelector{} },
	} {
		drifted := networkPolicy()
		edit(drifted)
		if ok, err := InSync(desired, condensed(t, drifted)); err != nil || ok {
			t.Errorf("%s: drift not seen through the digest (in sync %v, %v)", name, ok, err)
		}
	}
}

func TestCondensedMeshObjectComparesByDigest(t *testing.T) {
	desired := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
		"metadata": map[string]any{"namespace": "shop", "name": "zt-in.p", "labels": map[string]any{"app.kubernetes.io/managed-by": "zerotrust-operator"}},
		"spec":     map[string]any{"action": "ALLOW", "rules": []any{map[string]any{"to": []any{map[string]any{"operation": map[string]any{"ports": []any{"8080"}}}}}}},
	}}
	live := desired.DeepCopy()
	live.Object["status"] = map[string]any{"validationMessages": []any{}} // istiod's
	c := condensed(t, live).(*unstructured.Unstructured)
	if _, ok := c.Object["spec"]; ok {
		t.Fatal("Condense kept the spec")
	}
	if ok, err := InSync(desired, c); err != nil || !ok {
		t.Fatalf("not in sync: %v %v", ok, err)
	}
	drifted := desired.DeepCopy()
	drifted.Object["spec"].(map[string]any)["action"] = "AUDIT"
	if ok, _ := InSync(desired, condensed(t, drifted)); ok {
		t.Fatal("drift not seen through the digest")
	}
}

func TestDigestLabelCannotComeFromTheAPIServer(t *testing.T) {
	if errs := validation.IsQualifiedName(DigestLabel); len(errs) == 0 {
		t.Fatalf("%q is a valid label key: an object on the server could carry a forged digest", DigestLabel)
	}
}
