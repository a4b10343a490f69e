package apply

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

// Tampering: who changed a generated object, and which fields. The operator resets the
// managedFields of every object it replaces (replace), so any entry of another field
// manager on a generated object records a change made since the operator's last write:
// `kubectl edit` (kubectl-edit), `kubectl patch` (kubectl-patch), a controller, an apply.

// KeepForeignManagedFields drops the operator's own entries from o's managedFields, for the
// operator's cache: they are the bulk of managedFields and say nothing the operator does not
// know, while other managers' entries (normally none) are what Tampering reads.
func KeepForeignManagedFields(o client.Object) {
	mf := o.GetManagedFields()
	if len(mf) == 0 {
		return
	}
	kept := slices.DeleteFunc(slices.Clone(mf), func(e metav1.ManagedFieldsEntry) bool {
		return e.Manager == ztv1.FieldOwner
	})
	if len(kept) == 0 {
		kept = nil
	}
	o.SetManagedFields(kept)
}

// Change is one other field manager's mark on a generated object.
type Change struct {
	// Manager is the field manager, e.g. kubectl-patch.
	Manager string
	// Fields are the paths it owns, e.g. spec.action or metadata.annotations.istio.io/dry-run,
	// at most maxFields of them.
	Fields []string
}

const maxFields = 5

// Tampering returns the changes field managers other than the operator made to live that
// matter: fields outside metadata.labels (labels others add change nothing the operator
// generates, and are kept). Sorted by manager.
func Tampering(live client.Object) []Change {
	var out []Change
	for _, e := range live.GetManagedFields() {
		if e.Manager == ztv1.FieldOwner || e.Manager == "" {
			continue
		}
		var fields []string
		if e.FieldsV1 != nil {
			var tree map[string]any
			if err := json.Unmarshal(e.FieldsV1.GetRawBytes(), &tree); err == nil {
				fields = fieldPaths(tree, "")
			}
		}
		fields = slices.DeleteFunc(fields, func(f string) bool {
			return f == "metadata.labels" || strings.HasPrefix(f, "metadata.labels.") ||
				f == "metadata.resourceVersion" || f == "metadata.managedFields"
		})
		if len(fields) == 0 && e.FieldsV1 != nil {
			continue
		}
		if len(fields) > maxFields {
			fields = append(fields[:maxFields], "...")
		}
		out = append(out, Change{Manager: e.Manager, Fields: fields})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Manager < out[j].Manager })
	return out
}

// fieldPaths turns a FieldsV1 tree ({"f:spec":{"f:action":{}}}) into leaf paths
// (spec.action), sorted. List items keyed by value or key read as [..]; "." marks the
// owner of a whole map or list and is folded into its parent.
func fieldPaths(tree map[string]any, prefix string) []string {
	var out []string
	for k, v := range tree {
		if k == "." {
			continue
		}
		var name string
		switch {
		case strings.HasPrefix(k, "f:"):
			name = k[2:]
			if prefix != "" {
				name = prefix + "." + name
			}
		case strings.HasPrefix(k, "k:"), strings.HasPrefix(k, "v:"), strings.HasPrefix(k, "i:"):
			name = prefix + "[" + k[2:] + "]"
		default:
			continue
		}
		sub, _ := v.(map[string]any)
		if children := fieldPaths(sub, name); len(children) > 0 {
			out = append(out, children...)
		} else {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}
