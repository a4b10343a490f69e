package compiler

import (
	"fmt"
	"slices"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/model"
)

// DefaultOperatorNamespace is the operator's namespace when Options.OperatorNamespace is
// empty: the one config/ and the chart install it in.
const DefaultOperatorNamespace = "zerotrust-system"

// kubeSystemNamespaces are the namespaces of Kubernetes itself, which every cluster has.
var kubeSystemNamespaces = []string{"kube-node-lease", "kube-public", "kube-system"}

// SystemNamespace reports whether namespace name is one a baseline selects only by naming
// it: kube-system, kube-public, kube-node-lease, and the operator's own (opts). A default
// deny there cuts off the cluster DNS, the control plane's add-ons or the operator itself,
// so a selector that merely matches them ({} above all) must not be enough.
func SystemNamespace(name string, opts Options) bool {
	return slices.Contains(kubeSystemNamespaces, name) || name == operatorNamespaceOf(opts)
}

func operatorNamespaceOf(opts Options) string {
	if opts.OperatorNamespace == "" {
		return DefaultOperatorNamespace
	}
	return opts.OperatorNamespace
}

// NamesNamespace reports whether selector sel names namespace name: it requires
// kubernetes.io/metadata.name to be name, in matchLabels or with an In expression that lists
// it. Only such a selector selects a system namespace (SystemNamespace); NotIn, Exists or
// any other label never names one.
func NamesNamespace(sel *metav1.LabelSelector, name string) bool {
	if sel == nil {
		return false
	}
	if v, ok := sel.MatchLabels[corev1.LabelMetadataName]; ok && v == name {
		return true
	}
	for _, e := range sel.MatchExpressions {
		if e.Key == corev1.LabelMetadataName && e.Operator == metav1.LabelSelectorOpIn && slices.Contains(e.Values, name) {
			return true
		}
	}
	return false
}

// selectorMatches reports whether b's namespaceSelector matches ns, system namespace or not.
//
// The namespace's kubernetes.io/metadata.name label is assumed even when ns lacks it: the
// API server sets it on every namespace, but Namespaces written in YAML for kubectl-zt often
// omit it, and a selector on it must select the same namespaces offline as in the cluster.
func selectorMatches(b *ztv1.ZeroTrustBaseline, ns *corev1.Namespace) (bool, error) {
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

// BaselineSelects reports whether baseline b applies to namespace ns: its namespaceSelector
// matches ns and, when ns is a system namespace (SystemNamespace), names it
// (NamesNamespace). The error is an invalid spec.namespaceSelector; such a baseline selects
// nothing.
func BaselineSelects(b *ztv1.ZeroTrustBaseline, ns *corev1.Namespace, opts Options) (bool, error) {
	ok, err := selectorMatches(b, ns)
	if err != nil || !ok {
		return false, err
	}
	return !SystemNamespace(ns.Name, opts) || NamesNamespace(b.Spec.NamespaceSelector, ns.Name), nil
}

// BaselineExcludes reports whether b's namespaceSelector matches the system namespace ns
// without naming it, so that b leaves ns alone: what status.excludedNamespaces and
// kubectl-zt render report.
func BaselineExcludes(b *ztv1.ZeroTrustBaseline, ns *corev1.Namespace, opts Options) bool {
	if !SystemNamespace(ns.Name, opts) || NamesNamespace(b.Spec.NamespaceSelector, ns.Name) {
		return false
	}
	ok, err := selectorMatches(b, ns)
	return err == nil && ok
}

// BaselineSelection splits namespaces into those baseline b selects (BaselineSelects) and
// the names of the system namespaces its selector matches but leaves out
// (BaselineExcludes), both in the order given. Namespaces being deleted are in neither: a
// baseline leaves them alone. The error is an invalid spec.namespaceSelector, which selects
// nothing. The baseline reconciler and Render both call it, so that status and kubectl-zt
// render report the same exclusions.
func BaselineSelection(b *ztv1.ZeroTrustBaseline, namespaces []corev1.Namespace, opts Options) (selected []corev1.Namespace, excluded []string, err error) {
	if _, err := metav1.LabelSelectorAsSelector(b.Spec.NamespaceSelector); err != nil {
		return nil, nil, fmt.Errorf("ZeroTrustBaseline %s: spec.namespaceSelector: %w", b.Name, err)
	}
	for i := range namespaces {
		ns := &namespaces[i]
		if !ns.DeletionTimestamp.IsZero() {
			continue
		}
		if BaselineExcludes(b, ns, opts) {
			excluded = append(excluded, ns.Name)
			continue
		}
		if ok, _ := BaselineSelects(b, ns, opts); ok {
			selected = append(selected, *ns)
		}
	}
	return selected, excluded, nil
}

// BaselineApplies reports whether baseline b enforces anything in namespace ns: b selects
// ns (BaselineSelects; an invalid selector selects nothing, the baseline's status says so)
// and neither is being deleted (the objects of a baseline being deleted are removed; a
// namespace being deleted is left alone).
func BaselineApplies(b *ztv1.ZeroTrustBaseline, ns *corev1.Namespace, opts Options) bool {
	if !b.DeletionTimestamp.IsZero() || !ns.DeletionTimestamp.IsZero() {
		return false
	}
	ok, err := BaselineSelects(b, ns, opts)
	return err == nil && ok
}

// EffectiveBaseline is baseline b as the operator enforces it in namespace ns, given every
// baseline of the cluster (all, which may hold b itself): nil when b does not apply to ns
// (BaselineApplies). Where other baselines apply to ns too, the stricter of them applies.
// Default-deny NetworkPolicies add up by themselves (isolation is a union), and so do
// Pod Security labels (PodSecurityLevel) and namespace annotations (NamespaceMetadata);
// DNS is allowed only if every baseline that denies egress there allows it, so b's allowDNS
// is dropped when another one denies egress without it; where several allow it, each one's
// DNS policy opens its own spec.network.dns (NetworkPolicies add up). others are the names
// of those other baselines, sorted.
//
// The baseline reconciler and Render both compile what this returns (CompileBaseline), so
// that kubectl-zt render prints what the operator creates.
func EffectiveBaseline(b *ztv1.ZeroTrustBaseline, all []ztv1.ZeroTrustBaseline, ns *corev1.Namespace, opts Options) (eff *ztv1.ZeroTrustBaseline, others []string) {
	if !BaselineApplies(b, ns, opts) {
		return nil, nil
	}
	eff = b
	for i := range all {
		o := &all[i]
		if o.Name == b.Name || !BaselineApplies(o, ns, opts) {
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
	m.DNS = dnsTarget(b.Spec.Network)
	return m
}

// The cluster DNS a baseline's allowDNS opens when spec.network.dns leaves it out: kube-dns,
// selected the way every mainstream distribution labels it (CoreDNS keeps the
// k8s-app=kube-dns label for compatibility).
const (
	DefaultDNSNamespace = "kube-system"
	defaultDNSLabelKey  = "k8s-app"
	defaultDNSLabelVal  = "kube-dns"
)

// dnsTarget is spec.network.dns with its defaults filled in.
func dnsTarget(n *ztv1.BaselineNetwork) model.DNSTarget {
	t := model.DNSTarget{Namespace: DefaultDNSNamespace,
		PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{defaultDNSLabelKey: defaultDNSLabelVal}}}
	if n == nil || n.DNS == nil {
		return t
	}
	if n.DNS.Namespace != "" {
		t.Namespace = n.DNS.Namespace
	}
	if n.DNS.PodSelector != nil {
		t.PodSelector = *n.DNS.PodSelector.DeepCopy()
	}
	t.NodeLocalAddresses = slices.Clone(n.DNS.NodeLocalAddresses)
	return t
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
// the baselines (not being deleted) that select it (BaselineSelects), "" when none sets
// one. When baselines overlap, the stricter applies.
func PodSecurityLevel(baselines []ztv1.ZeroTrustBaseline, ns *corev1.Namespace, opts Options) ztv1.PodSecurityLevel {
	var level ztv1.PodSecurityLevel
	for i := range baselines {
		b := &baselines[i]
		if b.Spec.PodSecurity == "" || !b.DeletionTimestamp.IsZero() {
			continue
		}
		if ok, err := BaselineSelects(b, ns, opts); err != nil || !ok {
			continue
		}
		if podSecurityRank[b.Spec.PodSecurity] > podSecurityRank[level] {
			level = b.Spec.PodSecurity
		}
	}
	return level
}
