package v1alpha1

// ConditionReady is the condition every resource of this API reports: True when what the
// spec asks for is enforced, False with a CamelCase reason when it is not.
const ConditionReady = "Ready"

// Label keys carried by every object the operator generates (contract section 3). No other
// labels or annotations are copied from the policy.
const (
	// LabelManagedBy marks generated objects; its value is ManagedByValue.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of LabelManagedBy on generated objects.
	ManagedByValue = "zerotrust-operator"
	// LabelPolicyName names the ServiceAccessPolicy an object was generated for.
	LabelPolicyName = "zerotrust.dev/policy"
	// LabelPolicyNamespace names the namespace of that ServiceAccessPolicy.
	LabelPolicyNamespace = "zerotrust.dev/policy-namespace"
	// LabelBaseline names the ZeroTrustBaseline an object was generated for.
	LabelBaseline = "zerotrust.dev/baseline"
	// LabelBackend names the enforcement backend that produced an object.
	LabelBackend = "zerotrust.dev/backend"
)

// FieldOwner is the server-side apply field manager of everything the operator writes.
const FieldOwner = "zerotrust-operator"

// ObjectReference names one generated object.
type ObjectReference struct {
	// apiVersion of the object, e.g. networking.k8s.io/v1.
	APIVersion string `json:"apiVersion"`
	// kind of the object, e.g. NetworkPolicy.
	Kind string `json:"kind"`
	// namespace of the object; empty for cluster-scoped objects.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// name of the object.
	Name string `json:"name"`
}
