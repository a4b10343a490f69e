package compiler

// Reasons of the Ready condition of a ServiceAccessPolicy. They are one CamelCase word each,
// part of the product's interface: users and alerts match on them.
//
// Ready is True for Enforced, Audit, DryRun, Expired and OutsideSchedule: in each the policy
// does exactly what it says (an expired or off-schedule policy is meant to grant nothing, and
// a GitOps tool should not call it degraded every night). It is False for the others: the
// policy grants less than it says, or nothing, and the message says what to fix.
const (
	// ReasonEnforced: every from entry resolved and the enabled backends enforce the policy.
	ReasonEnforced = "Enforced"
	// ReasonAudit: mode Audit; backends that have an audit form generated it, nothing blocks.
	ReasonAudit = "Audit"
	// ReasonDryRun: mode DryRun; status lists what would be created, nothing is.
	ReasonDryRun = "DryRun"
	// ReasonExpired: spec.expiresAt has passed; the policy grants nothing.
	ReasonExpired = "Expired"
	// ReasonOutsideSchedule: now is outside every spec.schedule window; the policy grants
	// nothing until the next window opens (status.nextTransition).
	ReasonOutsideSchedule = "OutsideSchedule"
	// ReasonInvalidSchedule: spec.schedule cannot be evaluated (unknown time zone, bad
	// window); the policy grants nothing.
	ReasonInvalidSchedule = "InvalidSchedule"
	// ReasonTargetNotFound: spec.target names something that does not exist or selects no
	// pods; the policy grants nothing.
	ReasonTargetNotFound = "TargetNotFound"
	// ReasonPortNotFound: an entry of spec.ports does not exist on the target; the policy
	// grants nothing (opening the other ports only would be a different policy).
	ReasonPortNotFound = "PortNotFound"
	// ReasonCallerNotFound: some from entries do not resolve; they grant nothing, the others
	// are enforced.
	ReasonCallerNotFound = "CallerNotFound"
	// ReasonPartiallyEnforced: an enabled backend enforces the policy but cannot express
	// some of its callers or ports (e.g. a mesh and a caller whose ServiceAccount other
	// workloads share); it denies them, so they cannot call although the policy says they
	// may. The message names each and what to change.
	ReasonPartiallyEnforced = "PartiallyEnforced"
	// ReasonInvalidSpec: the spec breaks a rule the CRD's validation enforces. The API
	// server rejects such a policy, so the operator never sees it; kubectl-zt does, because
	// it reads YAML that no server validated.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonNoBackend: in Enforce mode, no enabled backend can enforce this kind of policy
	// (e.g. a kubernetesAPI target without the RBAC backend); the policy grants nothing.
	ReasonNoBackend = "NoBackend"
	// ReasonForbidden: a rule of a kubernetesAPI target is on the RBAC deny list (package
	// rbacguard) and no ZeroTrustBaseline selecting the policy's namespace allows it; the
	// policy grants nothing. The admission webhook refuses such a policy; this is the
	// operator's own check, for policies that reached the cluster without it.
	ReasonForbidden = "Forbidden"
)
