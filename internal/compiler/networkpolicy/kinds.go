package networkpolicy

import (
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/model"
)

var _ model.KindsBackend = Backend{}

// Kinds is what the backend generates: NetworkPolicies.
func (Backend) Kinds() []schema.GroupVersionKind {
	return []schema.GroupVersionKind{networkingv1.SchemeGroupVersion.WithKind("NetworkPolicy")}
}

// Builtin is true: every cluster serves NetworkPolicies (whether its network plugin
// enforces them is another matter).
func (Backend) Builtin() bool { return true }
