package testenv

import (
	"encoding/json"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Comparable keeps what the operator decides about a generated object, for comparing what
// it created with what kubectl-zt render prints: identity, labels and annotations, and
// everything outside metadata and status. Server-set metadata and owner references (which
// need the live owners' UIDs) are left out. Numbers come out as JSON numbers on both sides
// (decoded YAML has float64, the API client int64).
func Comparable(u *unstructured.Unstructured) (map[string]any, error) {
	out := map[string]any{}
	for k, v := range u.Object {
		if k != "metadata" && k != "status" {
			out[k] = v
		}
	}
	out["metadata"] = map[string]any{
		"name": u.GetName(), "namespace": u.GetNamespace(),
		"labels": u.GetLabels(), "annotations": u.GetAnnotations(),
	}
	data, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	var normalized map[string]any
	if err := json.Unmarshal(data, &normalized); err != nil {
		return nil, err
	}
	return normalized, nil
}

// ComparableKey names a generated object among others of any kind, for maps of Comparable.
func ComparableKey(u *unstructured.Unstructured) string {
	return u.GetAPIVersion() + " " + u.GetKind() + " " + u.GetNamespace() + "/" + u.GetName()
}
