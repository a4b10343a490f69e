package compiler

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/cilium"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/istio"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/linkerd"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/model"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/networkpolicy"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/rbac"
)

// The registry is the only list of backends: the operator (its flags, discovery, caches,
// watches, pruning and namespace labels) and kubectl-zt (its --backends flag) read it, and
// what each backend generates and puts on namespaces comes from the backend itself
// (model.KindsBackend, model.NamespaceBackend).

// implemented lists every backend this version implements, in the order status lists them,
// kubectl-zt runs them and "all" means.
func implemented() []Backend {
	return []Backend{networkpolicy.New(), istio.New(), linkerd.New(), cilium.New(), rbac.New()}
}

// order is the position of each implemented backend in implemented().
var order = func() map[ztv1.Backend]int {
	out := map[ztv1.Backend]int{}
	for i, b := range implemented() {
		out[b.Name()] = i
	}
	return out
}()

// BackendInfo describes one backend of a registry.
type BackendInfo struct {
	// Name in status and in Options.Backends, e.g. NetworkPolicy.
	Name ztv1.Backend
	// Flag is the name --backends flags use: Name in lower case, e.g. networkpolicy.
	Flag string
	// Kinds are the GroupVersionKinds of the objects the backend generates.
	Kinds []schema.GroupVersionKind
	// Builtin is true for backends of core Kubernetes kinds, which every cluster serves;
	// false for those of CRDs (a mesh, a CNI), which run once the CRDs are served.
	Builtin bool
	// NamespaceMetadata returns the labels and annotations baseline b puts on its namespace
	// for this backend; nil when the backend puts none.
	NamespaceMetadata func(b *model.Baseline) (labels, annotations map[string]string)
}

// Info describes backend b.
func Info(b Backend) BackendInfo {
	info := BackendInfo{Name: b.Name(), Flag: strings.ToLower(string(b.Name()))}
	if kb, ok := b.(model.KindsBackend); ok {
		info.Kinds, info.Builtin = kb.Kinds(), kb.Builtin()
	}
	if nb, ok := b.(model.NamespaceBackend); ok {
		info.NamespaceMetadata = nb.NamespaceMetadata
	}
	return info
}

// Backends describes the backends of r: the implemented ones in their order, then any
// others by name.
func (r Registry) Backends() []BackendInfo {
	out := make([]BackendInfo, 0, len(r))
	for _, b := range r {
		out = append(out, Info(b))
	}
	sort.Slice(out, func(i, j int) bool {
		oi, iok := order[out[i].Name]
		oj, jok := order[out[j].Name]
		switch {
		case iok && jok:
			return oi < oj
		case iok != jok:
			return iok
		}
		return out[i].Name < out[j].Name
	})
	return out
}

var defaultInfo = defaultRegistry.Backends()

// Backends describes every backend this version implements, in the order status lists
// them. The result is shared: do not modify it.
func Backends() []BackendInfo { return defaultInfo }

// AllBackends lists the names of every backend this version implements, in the order
// status lists them and "all" selects them.
func AllBackends() []ztv1.Backend {
	out := make([]ztv1.Backend, len(defaultInfo))
	for i, b := range defaultInfo {
		out[i] = b.Name
	}
	return out
}

// LookupBackend describes the backend named b.
func LookupBackend(b ztv1.Backend) (BackendInfo, bool) {
	for _, info := range defaultInfo {
		if info.Name == b {
			return info, true
		}
	}
	return BackendInfo{}, false
}

// BackendKinds are the kinds backend b generates (nil for an unknown backend).
func BackendKinds(b ztv1.Backend) []schema.GroupVersionKind {
	info, _ := LookupBackend(b)
	return info.Kinds
}

// IsBuiltin reports whether backend b generates core Kubernetes kinds only, which every
// cluster serves.
func IsBuiltin(b ztv1.Backend) bool {
	info, _ := LookupBackend(b)
	return info.Builtin
}

// BuiltinKinds are the kinds of the built-in backends (NetworkPolicy, RBAC).
func BuiltinKinds() []schema.GroupVersionKind {
	var out []schema.GroupVersionKind
	for _, info := range defaultInfo {
		if info.Builtin {
			out = append(out, info.Kinds...)
		}
	}
	return out
}

// ParseBackendName returns the backend a flag names, in any case (networkpolicy, Istio,
// ...). The error names the unknown backend and lists the known ones.
func ParseBackendName(name string) (ztv1.Backend, error) {
	name = strings.TrimSpace(name)
	for _, info := range defaultInfo {
		if strings.EqualFold(name, info.Flag) {
			return info.Name, nil
		}
	}
	return "", fmt.Errorf("unknown backend %q (known: %s)", name, strings.Join(flagNames(), ", "))
}

func flagNames() []string {
	out := make([]string, len(defaultInfo))
	for i, info := range defaultInfo {
		out[i] = info.Flag
	}
	return out
}

// ParseBackendList reads a comma-separated list of backend names (any case) or "all", as
// kubectl-zt's --backends takes it, and returns the backends in registry order whatever the
// order written, each once: output never depends on how the flag was written. Empty entries
// are ignored. The error names the unknown backend and lists the known ones.
func ParseBackendList(s string) ([]ztv1.Backend, error) {
	want := map[ztv1.Backend]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		switch {
		case part == "":
		case strings.EqualFold(part, "all"):
			for _, info := range defaultInfo {
				want[info.Name] = true
			}
		default:
			b, err := ParseBackendName(part)
			if err != nil {
				return nil, fmt.Errorf("unknown backend %q (known: %s, or all)", part, strings.Join(flagNames(), ", "))
			}
			want[b] = true
		}
	}
	var out []ztv1.Backend
	for _, info := range defaultInfo {
		if want[info.Name] {
			out = append(out, info.Name)
		}
	}
	return out, nil
}

// Pod Security Admission labels a baseline's spec.podSecurity sets on the namespaces it
// selects.
const (
	LabelPodSecurityEnforce        = "pod-security.kubernetes.io/enforce"
	LabelPodSecurityEnforceVersion = "pod-security.kubernetes.io/enforce-version"
)

// NamespaceMetadata returns exactly the labels and annotations the baselines put on
// namespace ns with the default registry. See Registry.NamespaceMetadata.
func NamespaceMetadata(baselines []ztv1.ZeroTrustBaseline, ns *corev1.Namespace, opts Options) (labels, annotations map[string]string) {
	return defaultRegistry.NamespaceMetadata(baselines, ns, opts)
}

// NamespaceMetadata returns exactly the labels and annotations the baselines put on
// namespace ns while the backends opts.Backends run: the Pod Security labels of the strictest
// podSecurity among the baselines that apply to ns (PodSecurityLevel), and each active
// backend's part (model.NamespaceBackend, e.g. Linkerd's default inbound policy) of every
// baseline that applies to ns (BaselineApplies). Where two baselines ask for one key, the
// first by name wins. Both maps are non-nil; empty when nothing is asked for.
func (r Registry) NamespaceMetadata(baselines []ztv1.ZeroTrustBaseline, ns *corev1.Namespace, opts Options) (labels, annotations map[string]string) {
	labels, annotations = map[string]string{}, map[string]string{}
	if !ns.DeletionTimestamp.IsZero() {
		return labels, annotations
	}
	if level := PodSecurityLevel(baselines, ns, opts); level != "" {
		labels[LabelPodSecurityEnforce] = string(level)
		labels[LabelPodSecurityEnforceVersion] = "latest"
	}
	applying := make([]*ztv1.ZeroTrustBaseline, 0, len(baselines))
	for i := range baselines {
		if BaselineApplies(&baselines[i], ns, opts) {
			applying = append(applying, &baselines[i])
		}
	}
	sort.Slice(applying, func(i, j int) bool { return applying[i].Name < applying[j].Name })
	for _, name := range opts.Backends {
		nb, ok := r[name].(model.NamespaceBackend)
		if !ok {
			continue
		}
		for _, b := range applying {
			l, a := nb.NamespaceMetadata(BaselineModel(b, ns.Name))
			addMissing(labels, l)
			addMissing(annotations, a)
		}
	}
	return labels, annotations
}

func addMissing(dst, src map[string]string) {
	for k, v := range src {
		if _, ok := dst[k]; !ok {
			dst[k] = v
		}
	}
}
