package apply

import (
	"maps"
	"slices"
	"unique"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Condensed is a generated NetworkPolicy as the operator's cache holds it (Condense): the
// metadata the writer reads, its labels as interned pairs with the digest of its spec among
// them (DigestLabel), and no spec. A NetworkPolicy condensed in its own type cost 957
// bytes, its struct 384 and its labels' map 360, for thousands of objects that differ in
// name, UID and digest; a Condensed costs about half (docs/performance.md).
//
// It is no API type: it never leaves the process, and is read as the NetworkPolicy it
// stands for (NetworkPolicy). Nothing in it is changed once cached.
type Condensed struct {
	namespace, name   string
	uid               types.UID
	resourceVersion   string
	generation        int64
	deletionTimestamp *metav1.Time
	// labels are key, value, key, value..., sorted by key (Pairs).
	labels          []string
	annotations     map[string]string
	ownerReferences []metav1.OwnerReference
	finalizers      []string
	managedFields   []metav1.ManagedFieldsEntry
}

var _ client.Object = &Condensed{}

// condenseNetworkPolicy is np condensed: its spec replaced by its digest.
func condenseNetworkPolicy(np *networkingv1.NetworkPolicy) (*Condensed, error) {
	digest, err := Digest(np)
	if err != nil {
		return nil, err
	}
	l := make(map[string]string, len(np.Labels)+1)
	maps.Copy(l, np.Labels)
	l[DigestLabel] = digest
	c := &Condensed{
		namespace: unique.Make(np.Namespace).Value(), name: np.Name, uid: np.UID, resourceVersion: np.ResourceVersion,
		generation: np.Generation, deletionTimestamp: np.DeletionTimestamp, labels: Pairs(l), annotations: np.Annotations,
		ownerReferences: np.OwnerReferences, finalizers: np.Finalizers, managedFields: np.ManagedFields,
	}
	internOwners(c.ownerReferences)
	return c, nil
}

// NetworkPolicy is the NetworkPolicy c stands for, without kind (as typed objects from a
// cache are) and with no spec but its digest in DigestLabel: a new object, c's own copy.
func (c *Condensed) NetworkPolicy() *networkingv1.NetworkPolicy {
	np := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{
		Namespace: c.namespace, Name: c.name, UID: c.uid, ResourceVersion: c.resourceVersion, Generation: c.generation,
		DeletionTimestamp: c.deletionTimestamp, Annotations: c.annotations, OwnerReferences: c.ownerReferences,
		Finalizers: c.finalizers, ManagedFields: c.managedFields,
	}}
	np = np.DeepCopy()
	np.Labels = PairsMap(c.labels)
	return np
}

// Label returns the value of label key, without building the labels' map.
func (c *Condensed) Label(key string) (string, bool) { return PairsGet(c.labels, key) }

// LabelSet is c's labels for a label selector, without building their map.
func (c *Condensed) LabelSet() labels.Labels { return pairLabels(c.labels) }

// DeepCopyObject implements runtime.Object. A cached object is never changed, so the copy
// shares its labels' pairs (SetLabels replaces them) and copies the rest.
func (c *Condensed) DeepCopyObject() runtime.Object {
	out := *c
	out.deletionTimestamp = c.deletionTimestamp.DeepCopy()
	out.annotations = maps.Clone(c.annotations)
	m := metav1.ObjectMeta{OwnerReferences: c.ownerReferences, ManagedFields: c.managedFields}
	m = *m.DeepCopy()
	out.ownerReferences, out.managedFields = m.OwnerReferences, m.ManagedFields
	out.finalizers = slices.Clone(c.finalizers)
	return &out
}

// GetObjectKind implements runtime.Object: a cached object carries no kind (its informer
// knows it).
func (c *Condensed) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

// metav1.Object: the fields a Condensed keeps; of the others the getters return nothing
// and the setters do nothing.

func (c *Condensed) GetNamespace() string                           { return c.namespace }
func (c *Condensed) SetNamespace(namespace string)                  { c.namespace = namespace }
func (c *Condensed) GetName() string                                { return c.name }
func (c *Condensed) SetName(name string)                            { c.name = name }
func (c *Condensed) GetUID() types.UID                              { return c.uid }
func (c *Condensed) SetUID(uid types.UID)                           { c.uid = uid }
func (c *Condensed) GetResourceVersion() string                     { return c.resourceVersion }
func (c *Condensed) SetResourceVersion(version string)              { c.resourceVersion = version }
func (c *Condensed) GetGeneration() int64                           { return c.generation }
func (c *Condensed) SetGeneration(generation int64)                 { c.generation = generation }
func (c *Condensed) GetDeletionTimestamp() *metav1.Time             { return c.deletionTimestamp }
func (c *Condensed) SetDeletionTimestamp(t *metav1.Time)            { c.deletionTimestamp = t }
func (c *Condensed) GetLabels() map[string]string                   { return PairsMap(c.labels) }
func (c *Condensed) SetLabels(l map[string]string)                  { c.labels = Pairs(l) }
func (c *Condensed) GetAnnotations() map[string]string              { return c.annotations }
func (c *Condensed) SetAnnotations(a map[string]string)             { c.annotations = a }
func (c *Condensed) GetFinalizers() []string                        { return c.finalizers }
func (c *Condensed) SetFinalizers(f []string)                       { c.finalizers = f }
func (c *Condensed) GetOwnerReferences() []metav1.OwnerReference    { return c.ownerReferences }
func (c *Condensed) SetOwnerReferences(r []metav1.OwnerReference)   { c.ownerReferences = r }
func (c *Condensed) GetManagedFields() []metav1.ManagedFieldsEntry  { return c.managedFields }
func (c *Condensed) SetManagedFields(m []metav1.ManagedFieldsEntry) { c.managedFields = m }

func (c *Condensed) GetGenerateName() string               { return "" }
func (c *Condensed) SetGenerateName(string)                {}
func (c *Condensed) GetSelfLink() string                   { return "" }
func (c *Condensed) SetSelfLink(string)                    {}
func (c *Condensed) GetCreationTimestamp() metav1.Time     { return metav1.Time{} }
func (c *Condensed) SetCreationTimestamp(metav1.Time)      {}
func (c *Condensed) GetDeletionGracePeriodSeconds() *int64 { return nil }
func (c *Condensed) SetDeletionGracePeriodSeconds(*int64)  {}

// Pairs is m as a slice of key, value, key, value..., sorted by key, every string interned
// (unique.Make): a Go map of four labels costs 360 bytes, the slice 128, and the strings
// repeat across thousands of cached objects. Nil for an empty m.
func Pairs(m map[string]string) []string {
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, 2*len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, unique.Make(k).Value(), unique.Make(m[k]).Value())
	}
	return out
}

// PairsMap is the map of pairs (Pairs): a new map, nil for no pairs.
func PairsMap(pairs []string) map[string]string {
	if len(pairs) == 0 {
		return nil
	}
	out := make(map[string]string, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		out[pairs[i]] = pairs[i+1]
	}
	return out
}

// PairsGet returns the value of key in pairs (Pairs).
func PairsGet(pairs []string, key string) (string, bool) {
	for i := 0; i < len(pairs); i += 2 {
		if pairs[i] == key {
			return pairs[i+1], true
		}
	}
	return "", false
}

// pairLabels are pairs (Pairs) as labels.Labels.
type pairLabels []string

func (p pairLabels) Has(key string) bool { _, ok := PairsGet(p, key); return ok }

func (p pairLabels) Get(key string) string { v, _ := PairsGet(p, key); return v }

// Lookup implements labels.Labels.
func (p pairLabels) Lookup(key string) (string, bool) { return PairsGet(p, key) }
