// Package webhook is the operator's validating admission webhook for ServiceAccessPolicies.
//
// For a policy with a kubernetesAPI target, which the RBAC backend turns into a Role and a
// RoleBinding written with the operator's own escalate and bind permissions, it refuses:
//   - rules on the RBAC deny list that no ZeroTrustBaseline selecting the policy's namespace
//     allows (package rbacguard; the same words as the Forbidden status the operator sets
//     for a policy that got past the webhook);
//   - rules the requesting user could not grant with RBAC directly: the user must already
//     hold every permission the policy grants, in the policy's namespace, asked of the API
//     server's authorizer with one SubjectAccessReview per permission. Without this, anyone
//     allowed to write policies in a namespace could grant themselves, through a
//     ServiceAccount they run as, anything the operator can.
//
// It fails closed: an error reading baselines or reviewing access refuses the request.
// Policies whose spec does not change (the operator adding or removing its finalizer,
// label edits) are let through without checks.
//
// +kubebuilder:webhookconfiguration:mutating=false,name=zerotrust-operator
package webhook

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/rbacguard"
)

// Path is where the API server sends admission reviews of ServiceAccessPolicies; it is the
// path of the +kubebuilder:webhook marker below and of config/webhook/manifests.yaml.
const Path = "/validate-zerotrust-dev-v1alpha1-serviceaccesspolicy"

// ConfigurationName is the name of the ValidatingWebhookConfiguration (config/webhook),
// whose caBundle the operator keeps current when it manages its own certificates.
const ConfigurationName = "zerotrust-operator"

// MaxAccessChecks bounds the SubjectAccessReviews one admission request may cost. The CRD
// bounds each list of a rule, but their product (apiGroups × resources × resourceNames ×
// verbs, over up to 16 rules) can reach millions; a policy past this bound is refused and
// asked to be split, rather than checked partially or slowly past the API server's
// webhook timeout.
const MaxAccessChecks = 256

// +kubebuilder:webhook:path=/validate-zerotrust-dev-v1alpha1-serviceaccesspolicy,mutating=false,failurePolicy=fail,sideEffects=None,groups=zerotrust.dev,resources=serviceaccesspolicies,verbs=create;update,versions=v1alpha1,name=serviceaccesspolicies.zerotrust.dev,admissionReviewVersions=v1,timeoutSeconds=15,serviceName=zerotrust-operator-webhook,serviceNamespace=zerotrust-system

// The escalation guard asks the API server's authorizer what the requesting user holds.
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// AccessReviewer creates SubjectAccessReviews: the API server in the operator, anything that
// answers them in unit tests. A client.Client is one.
type AccessReviewer interface {
	Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error
}

// PolicyValidator is the admission handler for ServiceAccessPolicies.
type PolicyValidator struct {
	// Reader reads ZeroTrustBaselines and Namespaces. The operator passes the manager's API
	// reader: an exception just removed from a baseline must not be honoured from a stale
	// cache.
	Reader client.Reader
	// Reviewer creates the SubjectAccessReviews.
	Reviewer AccessReviewer
	// Decoder decodes the admitted objects.
	Decoder admission.Decoder
	// Options are the compiler's, as the operator's resolver has them: which namespaces a
	// baseline selects depends on the operator's namespace (compiler.SystemNamespace).
	Options compiler.Options
}

// Setup registers the validator on the manager's webhook server at Path. opts are the
// compiler options of the operator's reconcilers, so that both find the same exceptions.
func Setup(mgr manager.Manager, opts compiler.Options) {
	mgr.GetWebhookServer().Register(Path, &admission.Webhook{Handler: &PolicyValidator{
		Reader:   mgr.GetAPIReader(),
		Reviewer: mgr.GetClient(),
		Decoder:  admission.NewDecoder(mgr.GetScheme()),
		Options:  opts,
	}})
}

// decisions counts the webhook's answers: allowed, denied (the policy breaks a rule) or
// error (the webhook could not decide, and refused).
var decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "zerotrust_webhook_decisions_total",
	Help: "Answers of the admission webhook for ServiceAccessPolicies: allowed, denied, or error (refused because it could not decide).",
}, []string{"decision"})

func init() {
	metrics.Registry.MustRegister(decisions)
	for _, d := range []string{"allowed", "denied", "error"} {
		decisions.WithLabelValues(d)
	}
}

// Handle admits or refuses one create or update of a ServiceAccessPolicy, and counts the
// answer.
func (v *PolicyValidator) Handle(ctx context.Context, req admission.Request) admission.Response {
	resp := v.handle(ctx, req)
	switch {
	case resp.Allowed:
		decisions.WithLabelValues("allowed").Inc()
	case resp.Result != nil && resp.Result.Code == http.StatusForbidden:
		decisions.WithLabelValues("denied").Inc()
	default:
		decisions.WithLabelValues("error").Inc()
	}
	return resp
}

func (v *PolicyValidator) handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return admission.Allowed("")
	}
	policy := &ztv1.ServiceAccessPolicy{}
	if err := v.Decoder.Decode(req, policy); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if req.Operation == admissionv1.Update {
		old := &ztv1.ServiceAccessPolicy{}
		if err := v.Decoder.DecodeRaw(req.OldObject, old); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		// What a policy grants is its spec: a finalizer or a label changes nothing, and the
		// operator, which holds none of the permissions, adds and removes the finalizer.
		if equality.Semantic.DeepEqual(old.Spec, policy.Spec) {
			return admission.Allowed("spec unchanged")
		}
	}
	api := policy.Spec.Target.KubernetesAPI
	if api == nil {
		return admission.Allowed("")
	}
	namespace := req.Namespace
	if namespace == "" {
		namespace = policy.Namespace
	}

	allowed, err := v.allowances(ctx, namespace)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf(
			"reading the ZeroTrustBaselines of namespace %s to check the RBAC deny list: %w; the policy is refused until they can be read", namespace, err))
	}
	if msgs := rbacguard.Check(api.Rules, allowed); len(msgs) > 0 {
		return admission.Denied(compiler.ForbiddenMessage(msgs, namespace))
	}

	checks, complete := AccessChecks(api.Rules, MaxAccessChecks)
	if !complete {
		return admission.Denied(fmt.Sprintf(
			"%s: the rules grant more than %d distinct permissions (apiGroups × resources × resourceNames × verbs), the most the admission webhook checks against your own; split the policy",
			rbacguard.RulesPath, MaxAccessChecks))
	}
	for _, c := range checks {
		ok, err := v.holds(ctx, req.UserInfo, namespace, c)
		if err != nil {
			return admission.Errored(http.StatusInternalServerError, fmt.Errorf(
				"%s[%d]: checking whether user %s holds %q in namespace %s: %w; the policy is refused until it can be checked",
				rbacguard.RulesPath, c.Rule, req.UserInfo.Username, c.String(), namespace, err))
		}
		if !ok {
			log.FromContext(ctx).V(1).Info("refused a policy granting more than its author holds",
				"user", req.UserInfo.Username, "namespace", namespace, "permission", c.String())
			return admission.Denied(fmt.Sprintf(
				"%s[%d]: user %s lacks %q in namespace %s; a policy can grant only permissions its author already holds",
				rbacguard.RulesPath, c.Rule, req.UserInfo.Username, c.String(), namespace))
		}
	}
	return admission.Allowed("")
}

func (v *PolicyValidator) allowances(ctx context.Context, namespace string) (rbacguard.Allowances, error) {
	var list ztv1.ZeroTrustBaselineList
	if err := v.Reader.List(ctx, &list); err != nil {
		return nil, err
	}
	ns := &corev1.Namespace{}
	if err := v.Reader.Get(ctx, client.ObjectKey{Name: namespace}, ns); err != nil {
		if !apierrors.IsNotFound(err) {
			return nil, err
		}
		// A policy cannot be created in a namespace that does not exist; keep the name.
		ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	}
	return compiler.RBACAllowances(list.Items, ns, v.Options), nil
}

// holds asks the authorizer whether the requesting user holds permission c in namespace.
func (v *PolicyValidator) holds(ctx context.Context, user authenticationv1.UserInfo, namespace string, c AccessCheck) (bool, error) {
	resource, sub, _ := strings.Cut(c.Resource, "/")
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   user.Username,
		Groups: user.Groups,
		UID:    user.UID,
		Extra:  extraOf(user.Extra),
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: namespace, Verb: c.Verb, Group: c.APIGroup,
			Resource: resource, Subresource: sub, Name: c.Name,
		},
	}}
	if err := v.Reviewer.Create(ctx, sar); err != nil {
		return false, err
	}
	return sar.Status.Allowed && !sar.Status.Denied, nil
}

// AccessCheck is one permission a policy grants: a verb on a resource (optionally one named
// object) of an API group, from rule Rule.
type AccessCheck struct {
	Rule     int
	APIGroup string
	// Resource as the rule writes it, with its subresource: e.g. deployments/scale.
	Resource string
	// Name is one of the rule's resourceNames, or empty when the rule names none.
	Name string
	Verb string
}

// String writes the permission the way messages show it: "get configmaps/app-config",
// "list deployments.apps", "create pods/exec".
func (c AccessCheck) String() string {
	r := c.Resource
	if c.APIGroup != "" {
		r += "." + c.APIGroup
	}
	if c.Name != "" {
		r += "/" + c.Name
	}
	return c.Verb + " " + r
}

// AccessChecks lists every permission rules grant, in rule order and within a rule in the
// order of its apiGroups, resources, resourceNames and verbs, each once (the first rule
// granting it names it). It stops, returning false, as soon as there are more than limit:
// the lists' product is bounded only by the millions.
func AccessChecks(rules []ztv1.APIRule, limit int) ([]AccessCheck, bool) {
	var out []AccessCheck
	seen := map[AccessCheck]bool{}
	for i, r := range rules {
		names := r.ResourceNames
		if len(names) == 0 {
			names = []string{""}
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, n := range names {
					for _, verb := range r.Verbs {
						c := AccessCheck{APIGroup: g, Resource: res, Name: n, Verb: verb}
						if seen[c] {
							continue
						}
						seen[c] = true
						c.Rule = i
						out = append(out, c)
						if len(out) > limit {
							return out, false
						}
					}
				}
			}
		}
	}
	return out, true
}

// extraOf converts the user's extra attributes from the admission request's form to the
// SubjectAccessReview's: authorizers (webhooks, scoped tokens) may decide on them.
func extraOf(in map[string]authenticationv1.ExtraValue) map[string]authorizationv1.ExtraValue {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]authorizationv1.ExtraValue, len(in))
	for k, v := range in {
		out[k] = authorizationv1.ExtraValue(append([]string(nil), v...))
	}
	return out
}
