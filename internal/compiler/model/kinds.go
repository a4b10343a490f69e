package model

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// KindsBackend is implemented by every backend the compiler's registry lists: what the
// operator caches, watches, prunes and discovers for it comes from here, never from a list
// of its own.
type KindsBackend interface {
	Backend
	// Kinds are the GroupVersionKinds of every object the backend generates, for policies
	// and baselines alike, in the versions it writes them.
	Kinds() []schema.GroupVersionKind
	// Builtin reports whether those kinds are core Kubernetes kinds every cluster serves
	// (the backend can always run), as opposed to CRDs of a mesh or CNI that may not be
	// installed (the backend runs once they are served).
	Builtin() bool
}

// NamespaceBackend is implemented by backends that enforce part of a ZeroTrustBaseline on
// the namespace itself, with labels or annotations rather than objects (e.g. Linkerd's
// default inbound policy annotation).
type NamespaceBackend interface {
	Backend
	// NamespaceMetadata returns the labels and annotations b puts on its namespace; nil
	// maps when it puts none.
	NamespaceMetadata(b *Baseline) (labels, annotations map[string]string)
}
