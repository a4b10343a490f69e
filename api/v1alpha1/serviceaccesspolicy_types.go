package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// ServiceAccessPolicySpec says which callers may reach one target, on which ports and
// endpoints, in which mode and for how long.
// +kubebuilder:validation:XValidation:rule="!has(self.target.external) || self.from.all(f, !has(f.namespace) && !has(f.cidr))",message="an external target opens egress of callers in this namespace only: remove namespace and cidr from every from entry",fieldPath=".from",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="!has(self.target.kubernetesAPI) || self.from.all(f, has(f.serviceAccount) || has(f.workload))",message="a kubernetesAPI target is reached by ServiceAccounts: every from entry must set serviceAccount, or workload (the ServiceAccount it runs as)",fieldPath=".from",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.target.kubernetesAPI) || !has(self.ports)",message="a kubernetesAPI target takes no ports; list the API rules in spec.target.kubernetesAPI.rules",fieldPath=".ports",reason=FieldValueForbidden
type ServiceAccessPolicySpec struct {
	// target is what the policy opens: exactly one of service, workload, podSelector,
	// kubernetesAPI or external. It always lives in the policy's namespace.
	Target Target `json:"target"`

	// from lists the caller identities, one per entry.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	From []Caller `json:"from"`

	// ports the callers may reach. Empty means every port of the target. For a Service target
	// these are Service ports, translated to the pods' targetPort.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	Ports []PortRule `json:"ports,omitempty"`

	// mode is Enforce (default), Audit (mesh policies in dry-run form, nothing blocked) or
	// DryRun (nothing is created; status lists what would be).
	// +optional
	// +kubebuilder:default=Enforce
	Mode Mode `json:"mode,omitempty"`

	// schedule limits access to time windows. Outside every window the policy grants nothing.
	// +optional
	Schedule *Schedule `json:"schedule,omitempty"`

	// expiresAt is the instant at which access ends; from then on the policy grants nothing.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`
}

// Target is what a policy opens. Exactly one field is set.
// +kubebuilder:validation:XValidation:rule="[has(self.service), has(self.workload), has(self.podSelector), has(self.kubernetesAPI), has(self.external)].filter(x, x).size() == 1",message="target must set exactly one of service, workload, podSelector, kubernetesAPI or external"
type Target struct {
	// service is the name of a core/v1 Service in the policy's namespace.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	Service string `json:"service,omitempty"`

	// workload is a Deployment, StatefulSet or DaemonSet in the policy's namespace.
	// +optional
	Workload *WorkloadReference `json:"workload,omitempty"`

	// podSelector selects the target pods in the policy's namespace by label.
	// +optional
	PodSelector *metav1.LabelSelector `json:"podSelector,omitempty"`

	// kubernetesAPI grants access to API objects of the policy's namespace, as RBAC rules.
	// +optional
	KubernetesAPI *KubernetesAPITarget `json:"kubernetesAPI,omitempty"`

	// external opens egress from the callers (all in this namespace) to CIDRs outside the
	// cluster.
	// +optional
	External *ExternalTarget `json:"external,omitempty"`
}

// WorkloadKind is the kind of a workload reference.
// +kubebuilder:validation:Enum=Deployment;StatefulSet;DaemonSet
type WorkloadKind string

// Workload kinds that a policy can refer to.
const (
	WorkloadDeployment  WorkloadKind = "Deployment"
	WorkloadStatefulSet WorkloadKind = "StatefulSet"
	WorkloadDaemonSet   WorkloadKind = "DaemonSet"
)

// WorkloadReference names a Deployment, StatefulSet or DaemonSet.
type WorkloadReference struct {
	// kind is Deployment, StatefulSet or DaemonSet.
	Kind WorkloadKind `json:"kind"`
	// name of the workload.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// KubernetesAPITarget grants RBAC rules on the policy's namespace.
type KubernetesAPITarget struct {
	// rules are the permissions granted, as in a Role.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Rules []APIRule `json:"rules"`
}

// APIRule is one RBAC rule: the verbs allowed on resources of API groups, optionally limited
// to named objects.
type APIRule struct {
	// apiGroups of the resources; "" is the core group.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=253
	APIGroups []string `json:"apiGroups"`
	// resources, e.g. configmaps or deployments/scale.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	Resources []string `json:"resources"`
	// resourceNames limits the rule to these objects.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	ResourceNames []string `json:"resourceNames,omitempty"`
	// verbs allowed, e.g. get, list, watch.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=63
	Verbs []string `json:"verbs"`
}

// ExternalTarget is a set of CIDRs outside the cluster.
type ExternalTarget struct {
	// cidrs the callers may reach, e.g. 203.0.113.0/24.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=64
	// +kubebuilder:validation:items:XValidation:rule="isCIDR(self) && cidr(self) == cidr(self).masked()",message="must be a CIDR with no host bits set, e.g. 203.0.113.0/24"
	CIDRs []string `json:"cidrs"`
}

// Caller is one caller identity. Exactly one of service, workload, serviceAccount,
// podSelector and cidr is set, or namespace alone (every workload of that namespace).
// +kubebuilder:validation:XValidation:rule="[has(self.service), has(self.workload), has(self.serviceAccount), has(self.podSelector), has(self.cidr)].filter(x, x).size() == 1 || ([has(self.service), has(self.workload), has(self.serviceAccount), has(self.podSelector), has(self.cidr)].filter(x, x).size() == 0 && has(self.namespace))",message="each from entry must set exactly one of service, workload, serviceAccount, podSelector or cidr, or namespace alone"
// +kubebuilder:validation:XValidation:rule="!(has(self.cidr) && has(self.namespace))",message="cidr is a caller outside the cluster and takes no namespace",fieldPath=".namespace",reason=FieldValueForbidden
type Caller struct {
	// service selects the pods behind this Service.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	Service string `json:"service,omitempty"`

	// workload selects the pods of this Deployment, StatefulSet or DaemonSet.
	// +optional
	Workload *WorkloadReference `json:"workload,omitempty"`

	// serviceAccount selects the pods that run as this ServiceAccount (a mesh identity).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	ServiceAccount string `json:"serviceAccount,omitempty"`

	// podSelector selects caller pods by label.
	// +optional
	PodSelector *metav1.LabelSelector `json:"podSelector,omitempty"`

	// cidr is a caller outside the cluster (north-south traffic).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="isCIDR(self) && cidr(self) == cidr(self).masked()",message="must be a CIDR with no host bits set, e.g. 10.20.0.0/16"
	CIDR string `json:"cidr,omitempty"`

	// namespace of the caller; defaults to the policy's namespace. Alone, it selects every
	// workload of that namespace.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespace string `json:"namespace,omitempty"`
}

// Protocol is a transport protocol.
// +kubebuilder:validation:Enum=TCP;UDP;SCTP
type Protocol string

// PortRule is one port of the target, with optional L7 rules.
// +kubebuilder:validation:XValidation:rule="!has(self.http) || self.protocol == 'TCP'",message="http rules apply to TCP ports only",fieldPath=".http",reason=FieldValueForbidden
type PortRule struct {
	// port is a Service port name or number for a Service target, otherwise a container port
	// name or number.
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? (self >= 1 && self <= 65535) : (self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && self.matches('[a-z]'))",message="port must be a number from 1 to 65535 or a port name (at most 15 lowercase letters, digits and '-')"
	Port intstr.IntOrString `json:"port"`

	// protocol is TCP (default), UDP or SCTP.
	// +optional
	// +kubebuilder:default=TCP
	Protocol Protocol `json:"protocol,omitempty"`

	// http restricts calls to these methods and paths. Enforced by a mesh or Cilium;
	// NetworkPolicy enforces the port only.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	HTTP []HTTPRule `json:"http,omitempty"`
}

// HTTPMethod is an HTTP request method.
// +kubebuilder:validation:Enum=GET;HEAD;POST;PUT;PATCH;DELETE;OPTIONS;CONNECT;TRACE
type HTTPMethod string

// HTTPRule allows requests that match one of its methods (any when empty) and one of its
// paths (any when empty).
type HTTPRule struct {
	// methods allowed; empty means any.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=9
	Methods []HTTPMethod `json:"methods,omitempty"`
	// paths allowed: exact paths, or prefixes written with a trailing '*', e.g. /items/*.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=1024
	// +kubebuilder:validation:items:Pattern=`^/[^*?#\s]*\*?$`
	Paths []string `json:"paths,omitempty"`
}

// Mode is how a policy is enforced.
// +kubebuilder:validation:Enum=Enforce;Audit;DryRun
type Mode string

// Modes of a ServiceAccessPolicy.
const (
	ModeEnforce Mode = "Enforce"
	ModeAudit   Mode = "Audit"
	ModeDryRun  Mode = "DryRun"
)

// Schedule is a set of weekly time windows in one time zone.
type Schedule struct {
	// timeZone is an IANA time zone name, e.g. Europe/Berlin. Default UTC.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$`
	TimeZone string `json:"timeZone,omitempty"`
	// windows in which access is granted.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Windows []Window `json:"windows"`
}

// Day is a day of the week.
// +kubebuilder:validation:Enum=Mon;Tue;Wed;Thu;Fri;Sat;Sun
type Day string

// Window is a daily time range on some days of the week. A window whose end is before its
// start runs past midnight into the next day.
// +kubebuilder:validation:XValidation:rule="self.start != self.end",message="start and end must differ",fieldPath=".end",reason=FieldValueInvalid
type Window struct {
	// days on which the window opens; empty means every day.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=7
	Days []Day `json:"days,omitempty"`
	// start time, HH:MM (24-hour clock).
	// +kubebuilder:validation:MaxLength=5
	// +kubebuilder:validation:Pattern=`^([01][0-9]|2[0-3]):[0-5][0-9]$`
	Start string `json:"start"`
	// end time, HH:MM (24-hour clock); 24:00 is the end of the day.
	// +kubebuilder:validation:MaxLength=5
	// +kubebuilder:validation:Pattern=`^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$`
	End string `json:"end"`
}

// Backend names an enforcement backend.
// +kubebuilder:validation:Enum=NetworkPolicy;Istio;Linkerd;Cilium;RBAC
type Backend string

// Enforcement backends.
const (
	BackendNetworkPolicy Backend = "NetworkPolicy"
	BackendIstio         Backend = "Istio"
	BackendLinkerd       Backend = "Linkerd"
	BackendCilium        Backend = "Cilium"
	BackendRBAC          Backend = "RBAC"
)

// BackendState says what a backend did with a policy.
// +kubebuilder:validation:Enum=Applied;Partial;NotInstalled;Disabled;Failed;Skipped
type BackendState string

// Backend states.
const (
	// BackendApplied: the backend's objects are in the cluster as generated.
	BackendApplied BackendState = "Applied"
	// BackendPartial: the backend's objects are in the cluster as generated and isolate the
	// target, but they admit less than the policy declares: the message names the callers
	// or ports the backend cannot express, which it denies.
	BackendPartial BackendState = "Partial"
	// BackendNotInstalled: the backend's CRDs are not served in this cluster.
	BackendNotInstalled BackendState = "NotInstalled"
	// BackendDisabled: the backend was turned off by a flag.
	BackendDisabled BackendState = "Disabled"
	// BackendFailed: the API server refused the backend's objects.
	BackendFailed BackendState = "Failed"
	// BackendSkipped: the backend has nothing to enforce for this policy right now
	// (DryRun, expired, outside its schedule, or not resolvable).
	BackendSkipped BackendState = "Skipped"
)

// BackendStatus is what one backend did with the policy.
type BackendStatus struct {
	// name of the backend.
	Name Backend `json:"name"`
	// state is Applied, Partial, NotInstalled, Disabled, Failed or Skipped.
	State BackendState `json:"state"`
	// message explains a Partial, Failed or Skipped state.
	// +optional
	Message string `json:"message,omitempty"`
	// objects the backend generated (or, in DryRun, would generate).
	// +optional
	// +listType=atomic
	Objects []ObjectReference `json:"objects,omitempty"`
}

// ServiceAccessPolicyStatus is what the operator observed and enforced.
type ServiceAccessPolicyStatus struct {
	// observedGeneration is the generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// target names what the policy opens, e.g. Service/inventory.
	// +optional
	Target string `json:"target,omitempty"`
	// callers is the number of from entries.
	// +optional
	Callers int32 `json:"callers,omitempty"`
	// conditions: Ready is True when the policy is enforced as written.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// backends says, per enforcement backend, what was applied.
	// +optional
	// +listType=map
	// +listMapKey=name
	Backends []BackendStatus `json:"backends,omitempty"`
	// active is true when the policy grants access now: its mode is Enforce or Audit, now
	// is inside its schedule and before its expiresAt, what it names resolves, and a
	// backend enforces it. It is false outside every window, after expiry, in DryRun
	// (nothing is applied, so nothing is granted), and when the policy grants nothing for
	// another reason (Ready's reason says which). It changes at the instant a window
	// opens or closes (status.nextTransition).
	// +optional
	Active bool `json:"active"`
	// nextTransition is when the policy's schedule or expiry next changes what it grants.
	// +optional
	NextTransition *metav1.Time `json:"nextTransition,omitempty"`
}

// ServiceAccessPolicy says which callers may reach one service, workload, set of pods,
// the Kubernetes API or an external CIDR. It lives in the namespace of what it opens.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sap;saps,categories=zerotrust
// +kubebuilder:printcolumn:name="Target",type=string,JSONPath=`.status.target`
// +kubebuilder:printcolumn:name="From",type=integer,JSONPath=`.status.callers`
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.mode`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Active",type=boolean,JSONPath=`.status.active`,priority=1
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 63",message="metadata.name must be at most 63 characters: it is a label value on every generated object"
type ServiceAccessPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what the policy grants.
	Spec ServiceAccessPolicySpec `json:"spec"`
	// status is what the operator enforced.
	// +optional
	Status ServiceAccessPolicyStatus `json:"status,omitempty"`
}

// ServiceAccessPolicyList is a list of ServiceAccessPolicies.
// +kubebuilder:object:root=true
type ServiceAccessPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ServiceAccessPolicy `json:"items"`
}

func init() {
	register(&ServiceAccessPolicy{}, &ServiceAccessPolicyList{})
}
