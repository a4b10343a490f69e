// Package static is a compiler.Inventory over a fixed set of objects, read from YAML by
// kubectl-zt or built by tests. It answers exactly like the operator's cache-backed
// inventory would for a cluster holding those objects, so that `kubectl-zt render` prints
// what the operator would apply.
package static

import (
	"fmt"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
)

type key struct{ namespace, name string }

type workloadKey struct {
	namespace string
	kind      ztv1.WorkloadKind
	name      string
}

// Inventory holds Namespaces, Services, workloads, ServiceAccounts, Pods, NetworkPolicies,
// ServiceAccessPolicies and ZeroTrustBaselines. The zero value is not usable; call New.
// It is not safe for concurrent writes; reads after the last Add are.
type Inventory struct {
	namespaces      map[string]*corev1.Namespace
	services        map[key]*corev1.Service
	serviceAccounts map[key]*corev1.ServiceAccount
	pods            map[key]*corev1.Pod
	workloads       map[workloadKey]*compiler.Workload
	networkPolicies map[key]*networkingv1.NetworkPolicy
	policies        map[key]*ztv1.ServiceAccessPolicy
	baselines       map[string]*ztv1.ZeroTrustBaseline
}

var _ compiler.Inventory = (*Inventory)(nil)

// New returns an empty Inventory.
func New() *Inventory {
	return &Inventory{
		namespaces:      map[string]*corev1.Namespace{},
		services:        map[key]*corev1.Service{},
		serviceAccounts: map[key]*corev1.ServiceAccount{},
		pods:            map[key]*corev1.Pod{},
		workloads:       map[workloadKey]*compiler.Workload{},
		networkPolicies: map[key]*networkingv1.NetworkPolicy{},
		policies:        map[key]*ztv1.ServiceAccessPolicy{},
		baselines:       map[string]*ztv1.ZeroTrustBaseline{},
	}
}

// FromObjects returns an Inventory of objs. See Add.
func FromObjects(objs ...client.Object) (*Inventory, error) {
	inv := New()
	for _, o := range objs {
		if err := inv.Add(o); err != nil {
			return nil, err
		}
	}
	return inv, nil
}

// Add stores a copy of obj. Objects of other kinds are ignored: a folder of
// manifests holds many kinds the compiler never asks about. An object already present is
// an error, because which of the two the cluster would hold is unknowable.
func (i *Inventory) Add(obj client.Object) error {
	dup := func() error {
		return fmt.Errorf("%s %s is defined twice", kindOf(obj), describeKey(obj))
	}
	k := key{obj.GetNamespace(), obj.GetName()}
	switch o := obj.(type) {
	case *corev1.Namespace:
		if _, ok := i.namespaces[o.Name]; ok {
			return dup()
		}
		i.namespaces[o.Name] = o.DeepCopy()
	case *corev1.Service:
		if _, ok := i.services[k]; ok {
			return dup()
		}
		i.services[k] = o.DeepCopy()
	case *corev1.ServiceAccount:
		if _, ok := i.serviceAccounts[k]; ok {
			return dup()
		}
		i.serviceAccounts[k] = o.DeepCopy()
	case *corev1.Pod:
		if _, ok := i.pods[k]; ok {
			return dup()
		}
		i.pods[k] = o.DeepCopy()
	case *appsv1.Deployment:
		return i.addWorkload(ztv1.WorkloadDeployment, o.Namespace, o.Name, &o.Spec.Template, dup)
	case *appsv1.StatefulSet:
		return i.addWorkload(ztv1.WorkloadStatefulSet, o.Namespace, o.Name, &o.Spec.Template, dup)
	case *appsv1.DaemonSet:
		return i.addWorkload(ztv1.WorkloadDaemonSet, o.Namespace, o.Name, &o.Spec.Template, dup)
	case *networkingv1.NetworkPolicy:
		if _, ok := i.networkPolicies[k]; ok {
			return dup()
		}
		i.networkPolicies[k] = o.DeepCopy()
	case *ztv1.ServiceAccessPolicy:
		if _, ok := i.policies[k]; ok {
			return dup()
		}
		i.policies[k] = o.DeepCopy()
	case *ztv1.ZeroTrustBaseline:
		if _, ok := i.baselines[o.Name]; ok {
			return dup()
		}
		i.baselines[o.Name] = o.DeepCopy()
	}
	return nil
}

func (i *Inventory) addWorkload(kind ztv1.WorkloadKind, ns, name string, t *corev1.PodTemplateSpec, dup func() error) error {
	k := workloadKey{ns, kind, name}
	if _, ok := i.workloads[k]; ok {
		return dup()
	}
	i.workloads[k] = compiler.WorkloadFromTemplate(kind, ns, name, t)
	return nil
}

// Service implements compiler.Inventory.
func (i *Inventory) Service(namespace, name string) (*corev1.Service, error) {
	if s, ok := i.services[key{namespace, name}]; ok {
		return s.DeepCopy(), nil
	}
	return nil, nil
}

// Workload implements compiler.Inventory.
func (i *Inventory) Workload(namespace string, kind ztv1.WorkloadKind, name string) (*compiler.Workload, error) {
	if w, ok := i.workloads[workloadKey{namespace, kind, name}]; ok {
		c := *w // shares labels, ports and probes: read-only (compiler.Inventory)
		return &c, nil
	}
	return nil, nil
}

// WorkloadsByServiceAccount implements compiler.Inventory.
func (i *Inventory) WorkloadsByServiceAccount(namespace, serviceAccount string) ([]compiler.Workload, error) {
	var out []compiler.Workload
	for k, w := range i.workloads {
		if k.namespace == namespace && w.ServiceAccount == serviceAccount {
			out = append(out, *w)
		}
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Kind != out[b].Kind {
			return out[a].Kind < out[b].Kind
		}
		return out[a].Name < out[b].Name
	})
	return out, nil
}

// WorkloadsSelected implements compiler.Inventory.
func (i *Inventory) WorkloadsSelected(namespace string, sel labels.Selector) ([]compiler.Workload, error) {
	var out []compiler.Workload
	for _, w := range i.Workloads(namespace) {
		if len(w.PodLabels) > 0 && sel.Matches(labels.Set(w.PodLabels)) {
			out = append(out, w)
		}
	}
	return out, nil
}

// ServiceAccountExists implements compiler.Inventory. The "default" ServiceAccount exists
// in every known Namespace, as in a cluster, where the API server creates it: manifests
// rarely declare it.
func (i *Inventory) ServiceAccountExists(namespace, name string) (bool, error) {
	if _, ok := i.serviceAccounts[key{namespace, name}]; ok {
		return true, nil
	}
	if _, ok := i.namespaces[namespace]; ok && name == "default" {
		return true, nil
	}
	return false, nil
}

// Namespace implements compiler.Inventory.
func (i *Inventory) Namespace(name string) (*corev1.Namespace, error) {
	if n, ok := i.namespaces[name]; ok {
		return n.DeepCopy(), nil
	}
	return nil, nil
}

// Baselines implements compiler.Inventory.
func (i *Inventory) Baselines() ([]ztv1.ZeroTrustBaseline, error) {
	out := make([]ztv1.ZeroTrustBaseline, 0, len(i.baselines))
	for _, name := range sortedKeys(i.baselines) {
		out = append(out, *i.baselines[name].DeepCopy())
	}
	return out, nil
}

// Namespaces returns every Namespace, sorted by name.
func (i *Inventory) Namespaces() []corev1.Namespace {
	out := make([]corev1.Namespace, 0, len(i.namespaces))
	for _, name := range sortedKeys(i.namespaces) {
		out = append(out, *i.namespaces[name].DeepCopy())
	}
	return out
}

// Policies returns every ServiceAccessPolicy, sorted by namespace and name.
func (i *Inventory) Policies() []ztv1.ServiceAccessPolicy {
	out := make([]ztv1.ServiceAccessPolicy, 0, len(i.policies))
	for _, k := range sortedObjectKeys(i.policies) {
		out = append(out, *i.policies[k].DeepCopy())
	}
	return out
}

// Render is what the operator would make, at now, of the inventory's policies and baselines
// in its namespaces, with every backend of compiler.DefaultRegistry() that opts enables:
// what kubectl-zt render prints for a cluster holding these objects.
func (i *Inventory) Render(now time.Time, opts compiler.Options) (*compiler.Rendering, error) {
	baselines, err := i.Baselines()
	if err != nil {
		return nil, err
	}
	return compiler.DefaultRegistry().Render(i, i.Policies(), baselines, i.Namespaces(), now, opts)
}

// Policy returns the ServiceAccessPolicy namespace/name, or nil.
func (i *Inventory) Policy(namespace, name string) *ztv1.ServiceAccessPolicy {
	if p, ok := i.policies[key{namespace, name}]; ok {
		return p.DeepCopy()
	}
	return nil
}

// NetworkPolicies returns the NetworkPolicies read from the input (not generated ones),
// sorted by namespace and name.
func (i *Inventory) NetworkPolicies() []networkingv1.NetworkPolicy {
	out := make([]networkingv1.NetworkPolicy, 0, len(i.networkPolicies))
	for _, k := range sortedObjectKeys(i.networkPolicies) {
		out = append(out, *i.networkPolicies[k].DeepCopy())
	}
	return out
}

// Pod returns the Pod namespace/name, or nil.
func (i *Inventory) Pod(namespace, name string) *corev1.Pod {
	if p, ok := i.pods[key{namespace, name}]; ok {
		return p.DeepCopy()
	}
	return nil
}

// Pods returns every Pod of namespace, sorted by name.
func (i *Inventory) Pods(namespace string) []corev1.Pod {
	var out []corev1.Pod
	for _, k := range sortedObjectKeys(i.pods) {
		if k.namespace == namespace {
			out = append(out, *i.pods[k].DeepCopy())
		}
	}
	return out
}

// Workloads returns every workload of namespace, sorted by kind and name.
func (i *Inventory) Workloads(namespace string) []compiler.Workload {
	var out []compiler.Workload
	for k, w := range i.workloads {
		if k.namespace == namespace {
			out = append(out, *w)
		}
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Kind != out[b].Kind {
			return out[a].Kind < out[b].Kind
		}
		return out[a].Name < out[b].Name
	})
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortedObjectKeys[V any](m map[key]V) []key {
	out := make([]key, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].namespace != out[b].namespace {
			return out[a].namespace < out[b].namespace
		}
		return out[a].name < out[b].name
	})
	return out
}

func kindOf(obj client.Object) string {
	if k := obj.GetObjectKind().GroupVersionKind().Kind; k != "" {
		return k
	}
	return fmt.Sprintf("%T", obj)
}

func describeKey(obj client.Object) string {
	if obj.GetNamespace() == "" {
		return obj.GetName()
	}
	return obj.GetNamespace() + "/" + obj.GetName()
}
