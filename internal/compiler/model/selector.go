package model

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// UnstructuredSelector is s as it stands in an unstructured object (the mesh and CNI kinds
// backends generate): matchLabels and matchExpressions only when not empty, an expression's
// values only when it has some, in the order s lists them. nil is the empty selector.
func UnstructuredSelector(s *metav1.LabelSelector) map[string]any {
	out := map[string]any{}
	if s == nil {
		return out
	}
	if len(s.MatchLabels) > 0 {
		ml := make(map[string]any, len(s.MatchLabels))
		for k, v := range s.MatchLabels {
			ml[k] = v
		}
		out["matchLabels"] = ml
	}
	if len(s.MatchExpressions) > 0 {
		exprs := make([]any, 0, len(s.MatchExpressions))
		for _, e := range s.MatchExpressions {
			x := map[string]any{"key": e.Key, "operator": string(e.Operator)}
			if len(e.Values) > 0 {
				vals := make([]any, 0, len(e.Values))
				for _, v := range e.Values {
					vals = append(vals, v)
				}
				x["values"] = vals
			}
			exprs = append(exprs, x)
		}
		out["matchExpressions"] = exprs
	}
	return out
}
