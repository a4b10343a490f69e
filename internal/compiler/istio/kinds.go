package istio

import (
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/model"
)

var _ model.KindsBackend = Backend{}

// Kinds is what the backend generates: AuthorizationPolicies, and PeerAuthentications for
// baselines.
func (Backend) Kinds() []schema.GroupVersionKind {
	return []schema.GroupVersionKind{
		securityv1.SchemeGroupVersion.WithKind("AuthorizationPolicy"),
		securityv1.SchemeGroupVersion.WithKind("PeerAuthentication"),
	}
}

// Builtin is false: the backend runs where Istio's CRDs are served.
func (Backend) Builtin() bool { return false }
