// Package model is the resolved form of a ServiceAccessPolicy or a ZeroTrustBaseline: every
// reference looked up, every port translated, nothing left to ask the cluster. Backends turn
// a model into objects and never see the Inventory, so a backend cannot grant something the
// resolver did not resolve, and adding a backend never changes how references are resolved.
//
// It is a package of its own (and not part of package compiler) so that backends can import
// it while package compiler imports the backends for its default registry.
package model

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

// Backend turns a resolved policy into the objects of one enforcement kind. Implementations
// are pure and deterministic, like the compiler: no client, no clock, no logging.
type Backend interface {
	// Name is the backend's name in ServiceAccessPolicy status and in Options.Backends.
	Name() ztv1.Backend
	// Compile returns the objects that enforce p. It is called only for a policy that is
	// active now (in its schedule, not expired) whose target resolved and at least one of
	// whose callers resolved. An error is a bug or an internal limit, never a missing
	// reference: those were settled by the resolver.
	Compile(p *Policy) (Result, error)
}

// BaselineBackend is implemented by backends that also enforce part of a ZeroTrustBaseline
// (default deny, DNS, mutual TLS). It is a separate interface because a backend may enforce
// policies without having anything to add to a baseline (RBAC).
type BaselineBackend interface {
	Backend
	// CompileBaseline returns the objects that enforce b in one namespace.
	CompileBaseline(b *Baseline) ([]client.Object, error)
}

// Result is what a backend made of a policy.
type Result struct {
	// Objects enforce the policy, fully populated (TypeMeta, labels, every defaulted field),
	// without owner references: the reconciler adds them.
	Objects []client.Object
	// Skipped says the backend has no way to enforce this policy (e.g. NetworkPolicy in
	// Audit mode, or a kubernetesAPI target). Objects is then empty, and Message says why
	// in words a user can act on.
	Skipped bool
	// Message explains a skip, or notes something a user should know about what the backend
	// generated (e.g. why no egress policy was needed).
	Message string
	// Denied lists, each as a sentence that names the backend, the spec field and what to
	// change, what the policy declares that the backend cannot express and therefore denies
	// (a caller without an identity it can authorize, a port whose number it cannot know).
	// The backend still isolates the target: failing closed, never open. A result with
	// Denied is Partial in status, and the policy is not Ready.
	Denied []string
}

// TargetKind is what kind of thing a policy opens.
type TargetKind string

// Target kinds, one per field of spec.target.
const (
	TargetService       TargetKind = "Service"
	TargetWorkload      TargetKind = "Workload"
	TargetPodSelector   TargetKind = "PodSelector"
	TargetKubernetesAPI TargetKind = "KubernetesAPI"
	TargetExternal      TargetKind = "External"
)

// Selects reports whether the target is a set of pods (and so can be selected by a
// NetworkPolicy or a mesh policy), as opposed to the Kubernetes API or CIDRs.
func (k TargetKind) Selects() bool {
	return k == TargetService || k == TargetWorkload || k == TargetPodSelector
}

// Policy is a ServiceAccessPolicy with every reference resolved.
type Policy struct {
	// Namespace and Name of the ServiceAccessPolicy. They name and label generated objects.
	Namespace string
	Name      string
	// Mode is Enforce, Audit or DryRun (never empty: the resolver defaults it). Backends
	// decide what Audit means for them; DryRun objects are generated like Enforce ones, and
	// the caller applies nothing.
	Mode ztv1.Mode
	// TrustDomain of mesh identities, e.g. cluster.local.
	TrustDomain string

	Target Target
	// Ports are the ports on the target pods (Service ports already translated to
	// targetPorts), in spec order. Empty with AllPorts true means every port.
	Ports []Port
	// AllPorts is true when the policy opens every port of the target.
	AllPorts bool
	// Callers are the from entries that resolved, in spec order. Entries that did not
	// resolve are absent: they grant nothing.
	Callers []Caller
	// EgressDenied lists, sorted, the namespaces of Callers (and, for an external target, the
	// policy's namespace) where a ZeroTrustBaseline denies egress. Only there may a backend
	// create egress rules: an egress NetworkPolicy anywhere else would cut the selected pods
	// off from everything it does not list.
	EgressDenied []string
	// Backends are the backends that enforce this compilation (those of Options.Backends the
	// registry implements), in Options.Backends order. Backends read it where what one of
	// them generates changes what another's objects mean: Cilium enforces NetworkPolicies
	// with its own engine, where a NetworkPolicy's L4 rule voids the HTTP rules of a
	// CiliumNetworkPolicy on the same port, so the NetworkPolicy backend leaves those ports
	// to Cilium (see package networkpolicy). Set by the compiler before any backend runs.
	Backends []ztv1.Backend
}

// Enforces reports whether backend b enforces this compilation (is among Backends).
func (p *Policy) Enforces(b ztv1.Backend) bool {
	for _, x := range p.Backends {
		if x == b {
			return true
		}
	}
	return false
}

// CiliumEnforcesL7 reports whether Cilium enforces the policy's HTTP methods and paths:
// Cilium is among the backends and no mesh is. A mesh encrypts traffic between its proxies
// (mutual TLS), which Cilium's L7 proxy cannot read: Cilium's own guide for running beside
// Istio requires disabling Istio's mTLS for Cilium HTTP policies, and Linkerd's mTLS is
// always on. With a mesh, the mesh enforces methods and paths and Cilium the ports.
func (p *Policy) CiliumEnforcesL7() bool {
	return p.Enforces(ztv1.BackendCilium) && !p.MeshEnforces()
}

// MeshEnforces reports whether a service mesh (Istio or Linkerd) is among the backends.
func (p *Policy) MeshEnforces() bool {
	return p.Enforces(ztv1.BackendIstio) || p.Enforces(ztv1.BackendLinkerd)
}

// DeniesEgress reports whether a baseline denies egress in namespace ns.
func (p *Policy) DeniesEgress(ns string) bool {
	for _, n := range p.EgressDenied {
		if n == ns {
			return true
		}
	}
	return false
}

// Target is the resolved spec.target.
type Target struct {
	Kind TargetKind
	// Namespace is the policy's namespace: a policy never opens anything elsewhere.
	Namespace string
	// Name of the Service or workload; empty for other kinds.
	Name string
	// WorkloadKind is set for a workload target.
	WorkloadKind ztv1.WorkloadKind
	// PodSelector selects the target pods in Namespace (Service, Workload and PodSelector
	// targets). The resolver never makes it empty for a Service or workload (an empty
	// selector opens every pod of the namespace); a podSelector target is taken as written.
	PodSelector *metav1.LabelSelector
	// CIDRs of an external target.
	CIDRs []string
	// APIRules of a kubernetesAPI target.
	APIRules []ztv1.APIRule
	// APIAllowances are the exceptions to the RBAC deny list (package rbacguard) that the
	// ZeroTrustBaselines selecting the policy's namespace allow, for a kubernetesAPI target.
	APIAllowances []ztv1.RBACException
	// Probes are the HTTP GET liveness, readiness and startup probes of the target pods
	// (of every workload in Workloads), sorted; meaningful only when ProbesKnown. A mesh that
	// routes HTTP on a port must keep the kubelet's probes on that port reachable (see the
	// Linkerd backend).
	Probes []Probe
	// ProbesKnown is true when the resolver read the pod templates of the target's pods:
	// always for a workload target, and for a Service or podSelector target that selects at
	// least one workload's pod template.
	ProbesKnown bool
	// Workloads are the Deployments, StatefulSets and DaemonSets whose pods the target
	// selects, sorted by kind and name: the workload itself for a workload target, those
	// whose pod template labels the selector matches for a Service or podSelector target.
	// Pods no workload template describes (bare pods, Jobs) are selected too, but their
	// ports and probes are unknown.
	Workloads []Workload
}

// Workload is the part of a Deployment, StatefulSet or DaemonSet the compiler needs.
type Workload struct {
	Kind      ztv1.WorkloadKind
	Namespace string
	Name      string
	// PodLabels are the labels of the pod template.
	PodLabels map[string]string
	// ServiceAccount the pods run as ("default" when the template names none).
	ServiceAccount string
	// Ports are the container ports of every container of the pod template.
	Ports []corev1.ContainerPort
	// Probes are the HTTP GET probes of the pod template's containers, sorted and
	// deduplicated.
	Probes []Probe
}

// Ref is "Kind/name", how messages name a workload of a known namespace.
func (w *Workload) Ref() string { return string(w.Kind) + "/" + w.Name }

// PortNumber is the number of the container port named name with protocol proto, 0 when
// no container of w declares it.
func (w *Workload) PortNumber(name string, proto ztv1.Protocol) int32 {
	for _, cp := range w.Ports {
		p := ztv1.Protocol(cp.Protocol)
		if p == "" {
			p = "TCP"
		}
		if cp.Name == name && p == proto {
			return cp.ContainerPort
		}
	}
	return 0
}

// Probe is one HTTP GET probe of the target pods, as the kubelet sends it.
type Probe struct {
	// Port is the container port the probe is sent to: its number when the probe gives one
	// or names a declared port, else 0.
	Port int32
	// PortName is the name of that container port, when it has one.
	PortName string
	// Path of the probe without its query string ("/" when the probe gives none).
	Path string
}

// Port is one port of the target pods.
type Port struct {
	// Port on the pods: a number, or a container port name (kept as a name so the rule
	// follows the pods when they renumber).
	Port intstr.IntOrString
	// Protocol is TCP, UDP or SCTP (never empty).
	Protocol ztv1.Protocol
	// Number is the port's number on the pods: Port itself when it is a number, the number
	// of the declared container port when Port is a name that every workload of
	// Target.Workloads that declares it declares with the same number, or 0 when it is not
	// known (no workload declares the name, or they disagree: see PodGroups). Backends that
	// cannot express port names (Istio) use it.
	Number int32
	// ServicePort is the Service port this was translated from, for a Service target.
	ServicePort int32
	// HTTP rules of the port, for backends that enforce L7.
	HTTP []ztv1.HTTPRule
}

// CallerKind is what kind of identity a from entry names.
type CallerKind string

// Caller kinds, one per field of a from entry (Namespace is "namespace alone").
const (
	CallerService        CallerKind = "Service"
	CallerWorkload       CallerKind = "Workload"
	CallerServiceAccount CallerKind = "ServiceAccount"
	CallerNamespace      CallerKind = "Namespace"
	CallerPodSelector    CallerKind = "PodSelector"
	CallerCIDR           CallerKind = "CIDR"
)

// Caller is one resolved from entry.
type Caller struct {
	// Index of the entry in spec.from; generated object names carry it.
	Index int
	Kind  CallerKind
	// Namespace of the caller pods; empty for a CIDR.
	Namespace string
	// Name of the Service, workload or ServiceAccount the entry names.
	Name string
	// WorkloadKind is set for a workload caller.
	WorkloadKind ztv1.WorkloadKind
	// AllPods is true when the caller is every pod of Namespace (namespace alone).
	AllPods bool
	// PodSelectors select the caller pods in Namespace, one per workload for a
	// ServiceAccount. Empty (and AllPods false) for a ServiceAccount that runs no workload:
	// such a caller has a mesh identity but no pods a NetworkPolicy could select.
	PodSelectors []metav1.LabelSelector
	// ServiceAccounts are the identities a mesh (and RBAC) may authorize for the caller,
	// sorted: the ServiceAccount a serviceAccount entry names; for a workload, Service or
	// podSelector caller, the ServiceAccounts its workloads run as that no workload outside
	// the caller runs as (authorizing a shared one would admit those workloads too).
	ServiceAccounts []string
	// MeshGaps say, one sentence each, which of the caller's pods no mesh identity can
	// admit exactly, and why (a ServiceAccount shared with workloads outside the caller, or
	// no workload whose ServiceAccount is known). Meshes deny those pods; NetworkPolicy,
	// which selects pods by label, does not need identities.
	MeshGaps []string
	// CIDR of a caller outside the cluster.
	CIDR string
}

// MeshExpressible reports whether a mesh can admit the caller at all: by namespace, by a
// ServiceAccount identity or by address.
func (c *Caller) MeshExpressible() bool {
	return c.AllPods || c.Kind == CallerCIDR || len(c.ServiceAccounts) > 0
}

// Describe names the caller for messages, e.g. "Deployment payments/checkout".
func (c *Caller) Describe() string {
	switch c.Kind {
	case CallerService:
		return "Service " + c.Namespace + "/" + c.Name
	case CallerWorkload:
		return string(c.WorkloadKind) + " " + c.Namespace + "/" + c.Name
	case CallerServiceAccount:
		return "ServiceAccount " + c.Namespace + "/" + c.Name
	case CallerNamespace:
		return "namespace " + c.Namespace
	case CallerCIDR:
		return "CIDR " + c.CIDR
	case CallerPodSelector:
		sels := make([]string, 0, len(c.PodSelectors))
		for i := range c.PodSelectors {
			sels = append(sels, metav1.FormatLabelSelector(&c.PodSelectors[i]))
		}
		return "pods " + strings.Join(sels, ", ") + " in namespace " + c.Namespace
	}
	return string(c.Kind)
}

// Identities are the mesh identities of the caller, e.g.
// cluster.local/ns/payments/sa/payment (the SPIFFE path Istio matches in principals).
func (c *Caller) Identities(trustDomain string) []string {
	out := make([]string, 0, len(c.ServiceAccounts))
	for _, sa := range c.ServiceAccounts {
		out = append(out, fmt.Sprintf("%s/ns/%s/sa/%s", trustDomain, c.Namespace, sa))
	}
	return out
}

// Baseline is a ZeroTrustBaseline as it applies to one namespace.
type Baseline struct {
	// Name of the ZeroTrustBaseline.
	Name string
	// Namespace the objects are generated for.
	Namespace string
	// DenyIngress and DenyEgress are the directions of spec.network.defaultDeny.
	DenyIngress bool
	DenyEgress  bool
	// AllowDNS allows egress to the cluster DNS (DNS); meaningful only with DenyEgress.
	AllowDNS bool
	// DNS is the cluster DNS AllowDNS opens, with the defaults (kube-dns) filled in.
	DNS DNSTarget
	// Mesh is spec.mesh, for mesh backends; nil when unset.
	Mesh *ztv1.BaselineMesh
}

// DNSTarget is the cluster DNS a baseline lets pods reach, on 53/UDP and 53/TCP.
type DNSTarget struct {
	// Namespace and PodSelector select the DNS pods.
	Namespace   string
	PodSelector metav1.LabelSelector
	// NodeLocalAddresses are IP addresses of a node-local DNS cache, each reached as a
	// single-address CIDR.
	NodeLocalAddresses []string
}

// BackendLabel is the value of the zerotrust.dev/backend label for backend b: its name in
// lower case, e.g. networkpolicy.
func BackendLabel(b ztv1.Backend) string {
	return strings.ToLower(string(b))
}

// PolicyLabels are the labels of every object generated for policy p by backend b. They
// name the policy (the reconciler finds and prunes children by them, including those in
// other namespaces where owner references cannot reach) and copy nothing from the policy:
// a GitOps tool's tracking label copied onto a child would make that tool prune it.
func PolicyLabels(p *Policy, b ztv1.Backend) map[string]string {
	return map[string]string{
		ztv1.LabelManagedBy:       ztv1.ManagedByValue,
		ztv1.LabelPolicyName:      p.Name,
		ztv1.LabelPolicyNamespace: p.Namespace,
		ztv1.LabelBackend:         BackendLabel(b),
	}
}

// BaselineLabels are the labels of every object generated for baseline b by backend be.
func BaselineLabels(b *Baseline, be ztv1.Backend) map[string]string {
	return map[string]string{
		ztv1.LabelManagedBy: ztv1.ManagedByValue,
		ztv1.LabelBaseline:  b.Name,
		ztv1.LabelBackend:   BackendLabel(be),
	}
}
