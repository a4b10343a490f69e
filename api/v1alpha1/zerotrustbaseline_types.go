package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Direction is a traffic direction that a baseline denies by default.
// +kubebuilder:validation:Enum=Ingress;Egress
type Direction string

// Traffic directions.
const (
	DirectionIngress Direction = "Ingress"
	DirectionEgress  Direction = "Egress"
)

// MTLSMode is the mesh's mutual TLS mode for selected namespaces.
// +kubebuilder:validation:Enum=Strict;Permissive
type MTLSMode string

// Mutual TLS modes.
const (
	MTLSStrict     MTLSMode = "Strict"
	MTLSPermissive MTLSMode = "Permissive"
)

// PodSecurityLevel is a Pod Security Standards level.
// +kubebuilder:validation:Enum=privileged;baseline;restricted
type PodSecurityLevel string

// Pod Security Standards levels.
const (
	PodSecurityPrivileged PodSecurityLevel = "privileged"
	PodSecurityBaseline   PodSecurityLevel = "baseline"
	PodSecurityRestricted PodSecurityLevel = "restricted"
)

// ZeroTrustBaselineSpec is the floor for the namespaces it selects.
type ZeroTrustBaselineSpec struct {
	// namespaceSelector selects the namespaces this baseline applies to.
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector"`

	// network sets default-deny NetworkPolicies.
	// +optional
	Network *BaselineNetwork `json:"network,omitempty"`

	// mesh turns on mutual TLS and mesh-level default deny.
	// +optional
	Mesh *BaselineMesh `json:"mesh,omitempty"`

	// podSecurity is the Pod Security Standards level enforced on selected namespaces.
	// +optional
	PodSecurity PodSecurityLevel `json:"podSecurity,omitempty"`

	// rbac holds the exceptions to the operator's RBAC deny list for ServiceAccessPolicies
	// with a kubernetesAPI target in the selected namespaces.
	// +optional
	RBAC *BaselineRBAC `json:"rbac,omitempty"`
}

// BaselineRBAC is the RBAC part of a baseline.
type BaselineRBAC struct {
	// allow lists permissions on the operator's RBAC deny list (wildcards; the verbs escalate,
	// bind and impersonate; create on serviceaccounts/token; pods/exec, pods/attach and
	// nodes/proxy; get, list and watch on secrets without resourceNames) that
	// ServiceAccessPolicies in the selected namespaces may grant anyway. Anything not listed
	// here stays refused, by the admission webhook and by the operator. When several
	// baselines select a namespace, an entry in any of them allows it there.
	//
	// An entry never matches more than it spells out: apiGroup, resource and each verb are
	// compared literally with the values a policy's rule writes. "*" here is not a pattern:
	// it allows only a rule that itself writes the wildcard "*" in that place (and with it
	// everything that wildcard grants), so a wildcard is allowed only by writing it.
	// Empty or missing fields never mean "any": every field is required. One entry per
	// apiGroup and resource.
	// +optional
	// +listType=map
	// +listMapKey=apiGroup
	// +listMapKey=resource
	// +kubebuilder:validation:MaxItems=32
	Allow []RBACException `json:"allow,omitempty"`
}

// RBACException names deny-listed permissions on one resource that a baseline allows.
type RBACException struct {
	// apiGroup of the resource, exactly as the policy's rule writes it: "" is the core
	// group (write apiGroup: ""), not every group.
	// +kubebuilder:validation:MaxLength=253
	APIGroup string `json:"apiGroup"`
	// resource exactly as the policy's rule writes it, e.g. pods/exec or secrets.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Resource string `json:"resource"`
	// verbs allowed on that resource, each exactly as the rule writes it, e.g. [create, get]
	// for pods/exec or [list, watch] for secrets.
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=63
	Verbs []string `json:"verbs"`
}

// BaselineNetwork is the NetworkPolicy part of a baseline.
type BaselineNetwork struct {
	// defaultDeny lists the directions denied unless a ServiceAccessPolicy allows them.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=2
	DefaultDeny []Direction `json:"defaultDeny,omitempty"`
	// allowDNS allows egress to kube-dns on 53/UDP and 53/TCP when Egress is denied.
	// +optional
	AllowDNS bool `json:"allowDNS,omitempty"`
}

// BaselineMesh is the service mesh part of a baseline.
type BaselineMesh struct {
	// mtls is Strict (Istio PeerAuthentication STRICT; Linkerd default-inbound deny) or
	// Permissive.
	// +optional
	MTLS MTLSMode `json:"mtls,omitempty"`
	// defaultDeny installs an allow-nothing mesh authorization policy.
	// +optional
	DefaultDeny bool `json:"defaultDeny,omitempty"`
}

// Finding is one over-privilege found by the audit.
type Finding struct {
	// kind of finding, e.g. PrivilegedBinding, OpenNetworkPolicy, PrivilegedPod.
	Kind string `json:"kind"`
	// object the finding is about.
	Object ObjectReference `json:"object"`
	// message says what is over-privileged and how to fix it.
	Message string `json:"message"`
}

// ZeroTrustBaselineStatus is what the operator enforced and found.
type ZeroTrustBaselineStatus struct {
	// observedGeneration is the generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// matchedNamespaceCount is the number of namespaces the baseline selects.
	// +optional
	MatchedNamespaceCount int32 `json:"matchedNamespaceCount"`
	// namespaces the baseline selects (sorted, at most the first 256).
	// +optional
	// +listType=atomic
	MatchedNamespaces []string `json:"matchedNamespaces,omitempty"`
	// findingsCount is the number of audit findings.
	// +optional
	FindingsCount int32 `json:"findingsCount"`
	// findings of the audit (at most the first 256).
	// +optional
	// +listType=atomic
	Findings []Finding `json:"findings,omitempty"`
	// conditions: Ready is True when the baseline is enforced in every selected namespace.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ZeroTrustBaseline sets default deny, DNS, mutual TLS and pod security for the namespaces
// it selects, and audits them for over-privilege.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=ztb,categories=zerotrust
// +kubebuilder:printcolumn:name="Namespaces",type=integer,JSONPath=`.status.matchedNamespaceCount`
// +kubebuilder:printcolumn:name="Findings",type=integer,JSONPath=`.status.findingsCount`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 63",message="metadata.name must be at most 63 characters: it is a label value on every generated object"
type ZeroTrustBaseline struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the floor the baseline sets.
	Spec ZeroTrustBaselineSpec `json:"spec"`
	// status is what the operator enforced and found.
	// +optional
	Status ZeroTrustBaselineStatus `json:"status,omitempty"`
}

// ZeroTrustBaselineList is a list of ZeroTrustBaselines.
// +kubebuilder:object:root=true
type ZeroTrustBaselineList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ZeroTrustBaseline `json:"items"`
}

func init() {
	register(&ZeroTrustBaseline{}, &ZeroTrustBaselineList{})
}
