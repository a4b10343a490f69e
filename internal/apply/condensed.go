package apply

import (
	"maps"
	"slices"
	"unique"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Condensed is a generated NetworkPolicy as the operator's cache holds it (Condense): the
// metadata the writer reads, its labels as interned pairs with the digest of its spec among
// them (DigestLabel), and no spec. A NetworkPolicy condensed in its own type cost 957
// bytes, its struct 384 and its labels' map 360, for thousands of objects that differ in
// name, UID and digest; a Condensed costs 457 (docs/performance.md).
//
// It is no API type: it never leaves the process, and is read as the NetworkPolicy it
// stands for (NetworkPolicy). Nothing in it is changed once cached.
type Condensed struct {
	Identity
	// labels are key, value, key, value..., sorted by key (Pairs).
	labels          []string
	ownerReferences []metav1.OwnerReference
	// rare holds what a generated object seldom has: nil when it has none of it.
	rare *condensedRare
}

// condensedRare is what a generated object seldom has (a user's annotation or finalizer, a
// foreign field manager's entry): kept out of Condensed, whose size class it would raise.
type condensedRare struct {
	annotations   map[string]string
	finalizers    []string
	managedFields []metav1.ManagedFieldsEntry
}

func newCondensedRare(annotations map[string]string, finalizers []string, managedFields []metav1.ManagedFieldsEntry) *condensedRare {
	if len(annotations) == 0 && len(finalizers) == 0 && len(managedFields) == 0 {
		return nil
	}
	return &condensedRare{annotations: annotations, finalizers: finalizers, managedFields: managedFields}
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
	c := &Condensed{Identity: NewIdentity(&np.ObjectMeta, false), labels: Pairs(l), ownerReferences: np.OwnerReferences,
		rare: newCondensedRare(np.Annotations, np.Finalizers, np.ManagedFields)}
	internOwners(c.ownerReferences)
	return c, nil
}

// NetworkPolicy is the NetworkPolicy c stands for, without kind (as typed objects from a
// cache are) and with no spec but its digest in DigestLabel: a new object, c's own copy.
func (c *Condensed) NetworkPolicy() *networkingv1.NetworkPolicy {
	np := &networkingv1.NetworkPolicy{ObjectMeta: c.ObjectMeta()}
	np.Annotations, np.OwnerReferences, np.Finalizers, np.ManagedFields = c.GetAnnotations(), c.ownerReferences, c.GetFinalizers(), c.GetManagedFields()
	np = np.DeepCopy()
	np.Labels = PairsMap(c.labels)
	return np
}

// Label returns the value of label key, without building the labels' map.
func (c *Condensed) Label(key string) (string, bool) { return PairsGet(c.labels, key) }

// LabelSet is c's labels for a label selector, without building their map.
func (c *Condensed) LabelSet() labels.Labels { return (*PairLabels)(&c.labels) }

// DeepCopyObject implements runtime.Object. A cached object is never changed, so the copy
// shares its labels' pairs (SetLabels replaces them) and copies the rest.
func (c *Condensed) DeepCopyObject() runtime.Object {
	out := *c
	out.Identity = c.DeepCopy()
	m := metav1.ObjectMeta{Annotations: c.GetAnnotations(), OwnerReferences: c.ownerReferences, Finalizers: c.GetFinalizers(),
		ManagedFields: c.GetManagedFields()}
	m = *m.DeepCopy()
	out.ownerReferences = m.OwnerReferences
	out.rare = newCondensedRare(m.Annotations, m.Finalizers, m.ManagedFields)
	return &out
}

// metav1.Object: what a Condensed keeps beyond its Identity.

func (c *Condensed) GetLabels() map[string]string                { return PairsMap(c.labels) }
func (c *Condensed) SetLabels(l map[string]string)               { c.labels = Pairs(l) }
func (c *Condensed) GetOwnerReferences() []metav1.OwnerReference { return c.ownerReferences }
func (c *Condensed) SetOwnerReferences(r []metav1.OwnerReference) {
	c.ownerReferences = r
}

func (c *Condensed) GetAnnotations() map[string]string {
	if c.rare == nil {
		return nil
	}
	return c.rare.annotations
}

func (c *Condensed) GetFinalizers() []string {
	if c.rare == nil {
		return nil
	}
	return c.rare.finalizers
}

func (c *Condensed) GetManagedFields() []metav1.ManagedFieldsEntry {
	if c.rare == nil {
		return nil
	}
	return c.rare.managedFields
}

func (c *Condensed) SetAnnotations(a map[string]string) {
	c.rare = newCondensedRare(a, c.GetFinalizers(), c.GetManagedFields())
}

func (c *Condensed) SetFinalizers(f []string) {
	c.rare = newCondensedRare(c.GetAnnotations(), f, c.GetManagedFields())
}

func (c *Condensed) SetManagedFields(m []metav1.ManagedFieldsEntry) {
	c.rare = newCondensedRare(c.GetAnnotations(), c.GetFinalizers(), m)
}

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

// PairLabels are pairs (Pairs) as labels.Labels, for a label selector, without building
// their map. Convert a pointer, (*PairLabels)(&pairs), and no allocation is made.
type PairLabels []string

func (p *PairLabels) Has(key string) bool { _, ok := PairsGet(*p, key); return ok }

func (p *PairLabels) Get(key string) string { v, _ := PairsGet(*p, key); return v }

// Lookup implements labels.Labels.
func (p *PairLabels) Lookup(key string) (string, bool) { return PairsGet(*p, key) }
