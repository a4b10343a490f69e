package rbac

import (
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/model"
)

var _ model.KindsBackend = Backend{}

// Kinds is what the backend generates: Roles and RoleBindings.
func (Backend) Kinds() []schema.GroupVersionKind {
	return []schema.GroupVersionKind{
		rbacv1.SchemeGroupVersion.WithKind("Role"),
		rbacv1.SchemeGroupVersion.WithKind("RoleBinding"),
	}
}

// Builtin is true: RBAC is part of every cluster.
func (Backend) Builtin() bool { return true }
