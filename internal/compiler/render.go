package compiler

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

// PolicyResult is the compilation of one policy within a Rendering.
type PolicyResult struct {
	Namespace, Name string
	Output          *Output
}

// Rendering is everything the operator would make of a set of policies and baselines.
type Rendering struct {
	// Objects the operator would apply (DryRun policies excluded), sorted by apiVersion,
	// kind, namespace and name.
	Objects []client.Object
	// Policies are the compilation of every policy, sorted by namespace and name, so that
	// tools can report what is not Ready.
	Policies []PolicyResult
	// Namespaces are the labels and annotations the baselines put on namespaces
	// (NamespaceMetadata), sorted by name; namespaces that get none are left out.
	Namespaces []NamespaceResult
	// Exclusions are, per baseline (sorted by name), the system namespaces its selector
	// matches but does not name, which it leaves alone (BaselineSelection): what the
	// operator lists in the baseline's status.excludedNamespaces. Baselines that exclude
	// none are left out.
	Exclusions []BaselineExclusion
}

// BaselineExclusion is the system namespaces one baseline leaves alone within a Rendering.
type BaselineExclusion struct {
	Baseline string
	// Namespaces, sorted.
	Namespaces []string
}

// ExcludedMessage says that a baseline leaves the system namespaces excluded alone, and how
// to select them: the Ready message of the baseline and kubectl-zt render's warning.
func ExcludedMessage(excluded []string) string {
	return fmt.Sprintf("system namespace(s) %s left out: a baseline selects kube-system, kube-public, kube-node-lease and the operator's namespace only when spec.namespaceSelector names them (kubernetes.io/metadata.name in matchLabels or an In expression)",
		strings.Join(excluded, ", "))
}

// NamespaceResult is what the baselines put on one namespace within a Rendering.
type NamespaceResult struct {
	Name                string
	Labels, Annotations map[string]string
}

// RenderAll returns every object the operator would apply for these policies and
// baselines at now, excluding what DryRun policies would create, sorted by apiVersion,
// kind, namespace and name: Render's objects, which kubectl-zt render and the operator's
// tests get through the static inventory's Render, so that what a pipeline reviews is what
// the cluster gets.
func RenderAll(inv Inventory, policies []ztv1.ServiceAccessPolicy, baselines []ztv1.ZeroTrustBaseline,
	namespaces []corev1.Namespace, now time.Time, opts Options) ([]client.Object, error) {
	r, err := defaultRegistry.Render(inv, policies, baselines, namespaces, now, opts)
	if err != nil {
		return nil, err
	}
	return r.Objects, nil
}

// Render is RenderAll with the compilation of every policy and the namespace metadata as
// well. Each baseline is compiled for each namespace it applies to, as the operator
// enforces it there given the other baselines (EffectiveBaseline); policies and baselines
// being deleted generate nothing, as in the cluster. Policies resolve against inv, which
// should hold the same baselines and namespaces.
func (r Registry) Render(inv Inventory, policies []ztv1.ServiceAccessPolicy, baselines []ztv1.ZeroTrustBaseline,
	namespaces []corev1.Namespace, now time.Time, opts Options) (*Rendering, error) {
	out := &Rendering{}
	ps := make([]*ztv1.ServiceAccessPolicy, 0, len(policies))
	for i := range policies {
		ps = append(ps, &policies[i])
	}
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].Namespace != ps[j].Namespace {
			return ps[i].Namespace < ps[j].Namespace
		}
		return ps[i].Name < ps[j].Name
	})
	for _, p := range ps {
		if !p.DeletionTimestamp.IsZero() {
			continue // the operator removes what it generated
		}
		o, err := r.Compile(inv, Input{Policy: p, Now: now, Options: opts})
		if err != nil {
			return nil, fmt.Errorf("ServiceAccessPolicy %s/%s: %w", p.Namespace, p.Name, err)
		}
		out.Policies = append(out.Policies, PolicyResult{Namespace: p.Namespace, Name: p.Name, Output: o})
		if o.DryRun {
			continue
		}
		for _, br := range o.Backends {
			if br.State == ztv1.BackendApplied || br.State == ztv1.BackendPartial {
				out.Objects = append(out.Objects, br.Objects...)
			}
		}
	}

	nss := make([]*corev1.Namespace, 0, len(namespaces))
	for i := range namespaces {
		nss = append(nss, &namespaces[i])
	}
	sort.Slice(nss, func(i, j int) bool { return nss[i].Name < nss[j].Name })
	sorted := make([]corev1.Namespace, len(nss))
	for i, ns := range nss {
		sorted[i] = *ns
	}
	for i := range baselines {
		b := &baselines[i]
		// The operator enforces nothing of a baseline whose selector is invalid (its status
		// says why); a review should not pass over it.
		_, excluded, err := BaselineSelection(b, sorted, opts)
		if err != nil {
			return nil, err
		}
		if len(excluded) > 0 && b.DeletionTimestamp.IsZero() {
			out.Exclusions = append(out.Exclusions, BaselineExclusion{Baseline: b.Name, Namespaces: excluded})
		}
		for _, ns := range nss {
			eff, _ := EffectiveBaseline(b, baselines, ns, opts)
			if eff == nil {
				continue
			}
			objs, err := r.CompileBaseline(eff, ns, opts)
			if err != nil {
				return nil, err
			}
			out.Objects = append(out.Objects, objs...)
		}
	}
	for _, ns := range nss {
		labels, annotations := r.NamespaceMetadata(baselines, ns, opts)
		if len(labels)+len(annotations) > 0 {
			out.Namespaces = append(out.Namespaces, NamespaceResult{Name: ns.Name, Labels: labels, Annotations: annotations})
		}
	}

	sort.Slice(out.Exclusions, func(i, j int) bool { return out.Exclusions[i].Baseline < out.Exclusions[j].Baseline })

	sortObjects(out.Objects)
	kept := out.Objects[:0]
	for i, o := range out.Objects {
		if i > 0 && objectKey(kept[len(kept)-1]) == objectKey(o) {
			// Objects shared between policies (e.g. Linkerd's one Server per pod and port)
			// are generated identically by each of them: the cluster holds one.
			if same, err := sameObject(kept[len(kept)-1], o); err != nil || !same {
				return nil, fmt.Errorf("two policies or baselines generate %s; is one of them listed twice?", objectKey(o))
			}
			continue
		}
		kept = append(kept, o)
	}
	out.Objects = kept
	return out, nil
}

func sameObject(a, b client.Object) (bool, error) {
	ya, err := EncodeYAML([]client.Object{a})
	if err != nil {
		return false, err
	}
	yb, err := EncodeYAML([]client.Object{b})
	if err != nil {
		return false, err
	}
	return bytes.Equal(ya, yb), nil
}

// sortObjects sorts by apiVersion, kind, namespace and name: the order of kubectl-zt
// output and of golden files.
func sortObjects(objs []client.Object) {
	sort.SliceStable(objs, func(i, j int) bool { return objectKey(objs[i]) < objectKey(objs[j]) })
}

func objectKey(o client.Object) string {
	gvk := o.GetObjectKind().GroupVersionKind()
	return gvk.GroupVersion().String() + " " + gvk.Kind + " " + o.GetNamespace() + "/" + o.GetName()
}

// EncodeYAML writes objects as a YAML stream ("---" between documents), in the form the
// operator applies them: no status, no creationTimestamp, keys sorted. It is the output of
// kubectl-zt render and of golden files.
func EncodeYAML(objs []client.Object) ([]byte, error) {
	var buf bytes.Buffer
	for i, o := range objs {
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", objectKey(o), err)
		}
		unstructured.RemoveNestedField(u, "metadata", "creationTimestamp")
		unstructured.RemoveNestedField(u, "status")
		if md, ok := u["metadata"].(map[string]any); ok && len(md) == 0 {
			delete(u, "metadata")
		}
		b, err := yaml.Marshal(u)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", objectKey(o), err)
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(b)
	}
	return buf.Bytes(), nil
}
