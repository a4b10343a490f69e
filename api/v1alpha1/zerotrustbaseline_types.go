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
	//
	// The system namespaces (kube-system, kube-public, kube-node-lease and the operator's own,
	// zerotrust-system unless the operator runs elsewhere) are selected only when the
	// selector names them: a default deny there can break the cluster. A selector names a
	// namespace when it requires kubernetes.io/metadata.name to equal its name, in
	// matchLabels or with an In expression that lists it, e.g.
	// {matchLabels: {kubernetes.io/metadata.name: kube-system}} or
	// {matchExpressions: [{key: kubernetes.io/metadata.name, operator: In, values: [kube-system, shop]}]}.
	// Any other selector, {} included, leaves them out; status.excludedNamespaces lists the
	// system namespaces it would have selected.
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
// +kubebuilder:validation:XValidation:rule="!has(self.dns) || (has(self.allowDNS) && self.allowDNS)",message="dns sets where allowDNS lets pods send name lookups: set allowDNS: true as well",fieldPath=".allowDNS",reason=FieldValueRequired
type BaselineNetwork struct {
	// defaultDeny lists the directions denied unless a ServiceAccessPolicy allows them.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=2
	DefaultDeny []Direction `json:"defaultDeny,omitempty"`
	// allowDNS allows egress to kube-dns on 53/UDP and 53/TCP when Egress is denied (to the
	// cluster DNS that dns names, when set).
	// +optional
	AllowDNS bool `json:"allowDNS,omitempty"`
	// dns is the cluster DNS that allowDNS opens egress to, on 53/UDP and 53/TCP. Unset, it is
	// kube-dns: pods labelled k8s-app=kube-dns in kube-system.
	// +optional
	DNS *BaselineDNS `json:"dns,omitempty"`
}

// BaselineDNS is the cluster DNS a baseline's allowDNS lets pods reach.
type BaselineDNS struct {
	// namespace of the cluster DNS pods (default kube-system).
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespace string `json:"namespace,omitempty"`
	// podSelector selects the cluster DNS pods in namespace (default
	// {matchLabels: {k8s-app: kube-dns}}). {} selects every pod of namespace.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist'])",message="matchExpressions: operator must be In, NotIn, Exists or DoesNotExist"
	PodSelector *metav1.LabelSelector `json:"podSelector,omitempty"`
	// nodeLocalAddresses are the addresses of a node-local DNS cache (NodeLocal DNSCache
	// listens on 169.254.20.10 by default), each opened as an ipBlock of that one address
	// (/32, or /128 for IPv6), in addition to the pods above.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=45
	// +kubebuilder:validation:items:XValidation:rule="isIP(self)",message="must be an IP address, e.g. 169.254.20.10"
	NodeLocalAddresses []string `json:"nodeLocalAddresses,omitempty"`
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
	// excludedNamespaces are the system namespaces (kube-system, kube-public,
	// kube-node-lease, the operator's own) that namespaceSelector matches but does not name,
	// and that the baseline therefore leaves alone (sorted). See spec.namespaceSelector.
	// +optional
	// +listType=atomic
	ExcludedNamespaces []string `json:"excludedNamespaces,omitempty"`
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
