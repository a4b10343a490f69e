// Package compiler turns a ServiceAccessPolicy or a ZeroTrustBaseline, and the cluster
// objects it refers to, into the objects that enforce it. It is pure: no client, no clock,
// no logging. The operator and `kubectl-zt render` call the same functions, so what a GitOps
// reviewer sees is what the cluster gets.
//
// The flow is one way: Resolve (policy + Inventory -> Model), then one Backend per
// enforcement kind (Model -> objects). A new enforcement kind is a new Backend; nothing else
// changes.
package compiler

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/model"
)

// Inventory answers the compiler's questions about the cluster. The operator backs it with
// its informer caches and field indexes; kubectl-zt render with the YAML it read. A missing
// object is (nil, nil); an error means the answer is unknown and the caller should retry.
// Implementations must return results in a deterministic order. What they return is
// read-only: the compiler never modifies it (FuzzCompile checks), so implementations may
// share it with their own store, as the operator's cache does with workloads.
type Inventory interface {
	// Service returns the Service namespace/name.
	Service(namespace, name string) (*corev1.Service, error)
	// Workload returns the Deployment, StatefulSet or DaemonSet namespace/name.
	Workload(namespace string, kind ztv1.WorkloadKind, name string) (*Workload, error)
	// WorkloadsByServiceAccount returns the workloads of namespace whose pods run as
	// serviceAccount, sorted by kind and name.
	WorkloadsByServiceAccount(namespace, serviceAccount string) ([]Workload, error)
	// WorkloadsSelected returns the workloads of namespace whose pod template has labels
	// and sel matches them, sorted by kind and name: those a Service or pod selector
	// selects.
	WorkloadsSelected(namespace string, sel labels.Selector) ([]Workload, error)
	// ServiceAccountExists says whether the ServiceAccount namespace/name exists.
	ServiceAccountExists(namespace, name string) (bool, error)
	// Namespace returns the Namespace name.
	Namespace(name string) (*corev1.Namespace, error)
	// Baselines returns every ZeroTrustBaseline, sorted by name.
	Baselines() ([]ztv1.ZeroTrustBaseline, error)
}

// Workload is the part of a Deployment, StatefulSet or DaemonSet the compiler needs; see
// model.Workload.
type Workload = model.Workload

// Options are the operator-wide settings that shape generated objects.
type Options struct {
	// Backends that produce objects. Others are reported as Disabled or NotInstalled by the
	// caller; the compiler only runs these.
	Backends []ztv1.Backend
	// TrustDomain of mesh identities (default cluster.local).
	TrustDomain string
	// OperatorNamespace is the namespace the operator runs in (default
	// DefaultOperatorNamespace). Like kube-system, a baseline selects it only by naming it
	// (see SystemNamespace): the operator's own default deny would cut it off from the API
	// server it needs to lift it.
	OperatorNamespace string
}

// Input is one compilation of a ServiceAccessPolicy.
type Input struct {
	Policy *ztv1.ServiceAccessPolicy
	// Now is the instant at which schedule and expiry are evaluated. The compiler never
	// reads a clock.
	Now     time.Time
	Options Options
}

// Decision is the Ready condition the compilation leads to.
type Decision struct {
	Status  bool
	Reason  string
	Message string
}

// BackendResult is what one backend produced for a policy.
type BackendResult struct {
	Backend ztv1.Backend
	State   ztv1.BackendState
	Message string
	// Denied is what the backend denies that the policy declares (model.Result.Denied);
	// State is then Partial.
	Denied []string
	// Objects the backend generates for the policy, sorted by namespace and name. In DryRun
	// they are what would be created: the caller lists them in status and applies nothing.
	Objects []client.Object
}

// Output is the result of compiling one policy.
type Output struct {
	// Ready is the Ready condition's status, reason and message.
	Ready Decision
	// Target is a short summary of the target, e.g. Service/inventory.
	Target string
	// DryRun is true when nothing may be applied (mode DryRun).
	DryRun bool
	// Active is false when the policy grants nothing now (expired, outside its schedule,
	// DryRun, or nothing resolvable).
	Active bool
	// NextTransition is when schedule or expiry will next change what the policy grants.
	NextTransition *time.Time
	// Backends lists one result per backend in Options.Backends, in that order.
	Backends []BackendResult
}
