// Package v1alpha1 contains the zerotrust.dev/v1alpha1 API: ServiceAccessPolicy and
// ZeroTrustBaseline.
// +kubebuilder:object:generate=true
// +groupName=zerotrust.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every type in this package.
	GroupVersion = schema.GroupVersion{Group: "zerotrust.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this package with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(func(s *runtime.Scheme) error {
		s.AddKnownTypes(GroupVersion, objects...)
		metav1.AddToGroupVersion(s, GroupVersion)
		return nil
	})

	// AddToScheme adds the types of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// objects are the package's types, each types file adding its own (init).
var objects []runtime.Object

func register(objs ...runtime.Object) { objects = append(objects, objs...) }
