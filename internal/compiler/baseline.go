package compiler

import (
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/model"
)

// BaselineSelects reports whether baseline b applies to namespace ns. The error is an
// invalid spec.namespaceSelector; such a baseline selects nothing.
//
// The namespace's kubernetes.io/metadata.name label is assumed even when ns lacks it: the
// API server sets it on every namespace, but Namespaces written in YAML for kubectl-zt often
// omit it, and a selector on it must select the same namespaces offline as in the cluster.
func BaselineSelects(b *ztv1.ZeroTrustBaseline, ns *corev1.Namespace) (bool, error) {
	sel, err := metav1.LabelSelectorAsSelector(b.Spec.NamespaceSelector)
	if err != nil {
		return false, fmt.Errorf("ZeroTrustBaseline %s: spec.namespaceSelector: %w", b.Name, err)
	}
	set := labels.Set{}
	for k, v := range ns.Labels {
		set[k] = v
	}
	set[corev1.LabelMetadataName] = ns.Name
	return sel.Matches(set), nil
}

// BaselineApplies reports whether baseline b enforces anything in namespace ns: b selects
// ns (an invalid selector selects nothing; the baseline's status says so) and neither is
// being deleted (the objects of a baseline being deleted are removed; a namespace being
// deleted is left alone).
func BaselineApplies(b *ztv1.ZeroTrustBaseline, ns *corev1.Namespace) bool {
	if !b.DeletionTimestamp.IsZero() || !ns.DeletionTimestamp.IsZero() {
		return false
	}
	ok, err := BaselineSelects(b, ns)
	return err == nil && ok
}

// EffectiveBaseline is baseline b as the operator enforces it in namespace ns, given every
// baseline of the cluster (all, which may hold b itself): nil when b does not apply to ns
// (BaselineApplies). Where other baselines apply to ns too, the stricter of them applies.
// Default-deny NetworkPolicies add up by themselves (isolation is a union), and so do
// Pod Security labels (PodSecurityLevel) and namespace annotations (NamespaceMetadata);
// DNS is allowed only if every baseline that denies egress there allows it, so b's allowDNS
// is dropped when another one denies egress without it. others are the names of those
// other baselines, sorted.
//
// The baseline reconciler and Render both compile what this returns (CompileBaseline), so
// that kubectl-zt render prints what the operator creates.
func EffectiveBaseline(b *ztv1.ZeroTrustBaseline, all []ztv1.ZeroTrustBaseline, ns *corev1.Namespace) (eff *ztv1.ZeroTrustBaseline, others []string) {
	if !BaselineApplies(b, ns) {
		return nil, nil
	}
	eff = b
	for i := range all {
		o := &all[i]
		if o.Name == b.Name || !BaselineApplies(o, ns) {
			continue
		}
		others = append(others, o.Name)
		if DeniesEgress(o) && !o.Spec.Network.AllowDNS && b.Spec.Network != nil && b.Spec.Network.AllowDNS && eff == b {
			eff = b.DeepCopy()
			eff.Spec.Network.AllowDNS = false
		}
	}
	sort.Strings(others)
	return eff, others
}

// BaselineModel is baseline b as it applies to namespace ns: what baseline backends compile,
// and what backends that enforce a baseline on the namespace itself take
// (model.NamespaceBackend, e.g. Linkerd's namespace annotation; see NamespaceMetadata).
func BaselineModel(b *ztv1.ZeroTrustBaseline, ns string) *model.Baseline {
	m := &model.Baseline{Name: b.Name, Namespace: ns, Mesh: b.Spec.Mesh.DeepCopy()}
	if n := b.Spec.Network; n != nil {
		for _, d := range n.DefaultDeny {
			switch d {
			case ztv1.DirectionIngress:
				m.DenyIngress = true
			case ztv1.DirectionEgress:
				m.DenyEgress = true
			}
		}
		m.AllowDNS = n.AllowDNS
	}
	return m
}

// CompileBaseline compiles baseline b for one namespace it selects (see BaselineSelects)
// with the default registry. See Registry.CompileBaseline.
func CompileBaseline(b *ztv1.ZeroTrustBaseline, ns *corev1.Namespace, opts Options) ([]client.Object, error) {
	return defaultRegistry.CompileBaseline(b, ns, opts)
}

// CompileBaseline returns the objects that enforce baseline b in namespace ns: for each
// backend of opts.Backends that enforces baselines (model.BaselineBackend), its part, e.g.
// the default-deny and DNS NetworkPolicies. b is compiled as given: pass what
// EffectiveBaseline returns for it, which also decides that b applies to ns. The result is
// sorted by kind and name.
//
// Pod Security labels and other namespace metadata are not objects of their own (they are
// labels and annotations on ns): see NamespaceMetadata.
func (r Registry) CompileBaseline(b *ztv1.ZeroTrustBaseline, ns *corev1.Namespace, opts Options) ([]client.Object, error) {
	m := BaselineModel(b, ns.Name)
	var out []client.Object
	for _, name := range opts.Backends {
		bb, ok := r[name].(model.BaselineBackend)
		if !ok {
			continue
		}
		objs, err := bb.CompileBaseline(m)
		if err != nil {
			return nil, fmt.Errorf("backend %s: baseline %s in namespace %s: %w", name, b.Name, ns.Name, err)
		}
		out = append(out, objs...)
	}
	sortObjects(out)
	return out, nil
}

// podSecurityRank orders Pod Security levels from least to most strict.
var podSecurityRank = map[ztv1.PodSecurityLevel]int{ztv1.PodSecurityPrivileged: 1, ztv1.PodSecurityBaseline: 2, ztv1.PodSecurityRestricted: 3}

// PodSecurityLevel is the Pod Security level enforced on ns: the strictest podSecurity of
// the baselines (not being deleted) that select it, "" when none sets one. When baselines
// overlap, the stricter applies.
func PodSecurityLevel(baselines []ztv1.ZeroTrustBaseline, ns *corev1.Namespace) ztv1.PodSecurityLevel {
	var level ztv1.PodSecurityLevel
	for i := range baselines {
		b := &baselines[i]
		if b.Spec.PodSecurity == "" || !b.DeletionTimestamp.IsZero() {
			continue
		}
		if ok, err := BaselineSelects(b, ns); err != nil || !ok {
			continue
		}
		if podSecurityRank[b.Spec.PodSecurity] > podSecurityRank[level] {
			level = b.Spec.PodSecurity
		}
	}
	return level
}
