package cilium

import (
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/model"
)

var _ model.KindsBackend = Backend{}

// Kinds is what the backend generates: CiliumNetworkPolicies.
func (Backend) Kinds() []schema.GroupVersionKind {
	return []schema.GroupVersionKind{schema.FromAPIVersionAndKind(APIVersion, Kind)}
}

// Builtin is false: the backend runs where Cilium's CRDs are served.
func (Backend) Builtin() bool { return false }
