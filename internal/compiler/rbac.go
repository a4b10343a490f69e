package compiler

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/rbacguard"
)

// RBACAllowances are the exceptions to the RBAC deny list (see package rbacguard) that apply
// to policies in namespace ns: the spec.rbac.allow entries of every baseline that selects
// it (BaselineSelects: a system namespace only when named), in baseline order. A baseline
// with an invalid selector selects nothing, so it allows nothing. The admission webhook and
// the resolver both call it, so they agree.
func RBACAllowances(baselines []ztv1.ZeroTrustBaseline, ns *corev1.Namespace, opts Options) rbacguard.Allowances {
	var out rbacguard.Allowances
	for i := range baselines {
		b := &baselines[i]
		if b.Spec.RBAC == nil || len(b.Spec.RBAC.Allow) == 0 {
			continue
		}
		if ok, _ := BaselineSelects(b, ns, opts); ok {
			for _, e := range b.Spec.RBAC.Allow {
				out = append(out, *e.DeepCopy())
			}
		}
	}
	return out
}

// resolveAPIRules settles a kubernetesAPI target: the rules as written and the deny-list
// exceptions of the policy's namespace. A rule the deny list refuses makes the whole policy
// grant nothing (ReasonForbidden): granting the other rules only would be a different
// policy, and a RoleBinding to a Role without the refused rule would hide the refusal.
func resolveAPIRules(inv Inventory, p *ztv1.ServiceAccessPolicy, m *Model, opts Options) (*Problem, error) {
	baselines, err := inv.Baselines()
	if err != nil {
		return nil, fmt.Errorf("list ZeroTrustBaselines: %w", err)
	}
	ns, err := inv.Namespace(p.Namespace)
	if err != nil {
		return nil, fmt.Errorf("get Namespace %s: %w", p.Namespace, err)
	}
	if ns == nil {
		// Offline YAML often leaves the Namespace out; BaselineSelects assumes its
		// kubernetes.io/metadata.name label, the only one it is certain to have.
		ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: p.Namespace}}
	}
	m.Target.APIAllowances = RBACAllowances(baselines, ns, opts)
	if msgs := rbacguard.Check(m.Target.APIRules, m.Target.APIAllowances); len(msgs) > 0 {
		return &Problem{Reason: ReasonForbidden, Message: ForbiddenMessage(msgs, p.Namespace)}, nil
	}
	return nil, nil
}

// ForbiddenMessage joins the messages of rbacguard.Check and says how to allow an entry. The
// admission webhook refuses a policy with the same words as its status.
func ForbiddenMessage(msgs []string, namespace string) string {
	return strings.Join(msgs, "; ") + fmt.Sprintf(
		"; only a ZeroTrustBaseline that selects namespace %s can allow such a permission, by naming it in spec.rbac.allow", namespace)
}
