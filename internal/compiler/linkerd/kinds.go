package linkerd

import (
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/model"
)

var (
	_ model.KindsBackend     = Backend{}
	_ model.NamespaceBackend = Backend{}
)

// Kinds is what the backend generates, in the versions the CRDs store.
func (Backend) Kinds() []schema.GroupVersionKind {
	return []schema.GroupVersionKind{
		schema.FromAPIVersionAndKind(ServerVersion, "Server"),
		schema.FromAPIVersionAndKind(HTTPRouteVersion, "HTTPRoute"),
		schema.FromAPIVersionAndKind(AuthorizationPolicyVersion, "AuthorizationPolicy"),
		schema.FromAPIVersionAndKind(MeshTLSAuthenticationVersion, "MeshTLSAuthentication"),
		schema.FromAPIVersionAndKind(NetworkAuthenticationVersion, "NetworkAuthentication"),
	}
}

// Builtin is false: the backend runs where Linkerd's CRDs are served.
func (Backend) Builtin() bool { return false }

// NamespaceMetadata is Linkerd's part of baseline b on its namespace: no labels, and the
// annotations of NamespaceAnnotations.
func (Backend) NamespaceMetadata(b *model.Baseline) (labels, annotations map[string]string) {
	return nil, NamespaceAnnotations(b)
}
