// Package apply writes generated objects with server-side apply under the operator's field
// owner, and only when the live object differs from the desired one, so that a converged
// reconcile makes no write at all.
package apply

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

// ToUnstructured converts a typed or unstructured object to an unstructured one.
func ToUnstructured(obj client.Object) (*unstructured.Unstructured, error) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		return u, nil
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// InSync reports whether live already holds everything desired says: every top-level field
// other than metadata and status equal, desired labels and annotations present with their
// values, and desired ownerReferences present. Fields others added to metadata are theirs.
// The compiler sets every field the API server defaults, so equality here means a
// server-side apply would change nothing.
func InSync(desired, live client.Object) (bool, error) {
	if live == nil {
		return false, nil
	}
	d, err := ToUnstructured(desired)
	if err != nil {
		return false, err
	}
	l, err := ToUnstructured(live)
	if err != nil {
		return false, err
	}
	for k, v := range d.Object {
		switch k {
		case "apiVersion", "kind", "metadata", "status":
			continue
		}
		if !equality.Semantic.DeepEqual(v, l.Object[k]) {
			return false, nil
		}
	}
	for k := range l.Object {
		switch k {
		case "apiVersion", "kind", "metadata", "status":
			continue
		}
		if _, ok := d.Object[k]; !ok {
			return false, nil
		}
	}
	if !subset(desired.GetLabels(), live.GetLabels()) || !subset(desired.GetAnnotations(), live.GetAnnotations()) {
		return false, nil
	}
	for _, want := range desired.GetOwnerReferences() {
		found := false
		for _, have := range live.GetOwnerReferences() {
			if have.UID == want.UID && have.Kind == want.Kind && have.Name == want.Name &&
				equality.Semantic.DeepEqual(have.Controller, want.Controller) &&
				equality.Semantic.DeepEqual(have.BlockOwnerDeletion, want.BlockOwnerDeletion) {
				found = true
				break
			}
		}
		if !found {
			return false, nil
		}
	}
	return true, nil
}

func subset(want, have map[string]string) bool {
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			return false
		}
	}
	return true
}

// Apply server-side applies desired with the operator's field owner, taking over fields that
// someone else changed (drift), unless live is already in sync. It reports whether it wrote.
func Apply(ctx context.Context, c client.Client, desired, live client.Object) (bool, error) {
	ok, err := InSync(desired, live)
	if err != nil || ok {
		return false, err
	}
	u, err := ToUnstructured(desired)
	if err != nil {
		return false, err
	}
	u = u.DeepCopy()
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "status")
	if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
		client.FieldOwner(ztv1.FieldOwner), client.ForceOwnership); err != nil {
		return false, fmt.Errorf("applying %s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
	return true, nil
}
