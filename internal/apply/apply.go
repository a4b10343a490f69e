// Package apply writes generated objects with server-side apply under the operator's field
// owner, and only when the live object differs from the desired one, so that a converged
// reconcile makes no write at all.
package apply

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"unique"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

// ToUnstructured converts a typed or unstructured object to an unstructured one.
func ToUnstructured(obj client.Object) (*unstructured.Unstructured, error) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		return u, nil
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// InSync reports whether live already holds everything desired says: every top-level field
// other than metadata and status equal, desired labels and annotations present with their
// values, and desired ownerReferences present. Fields others added to metadata are theirs.
// The compiler sets every field the API server defaults, so equality here means a
// server-side apply would change nothing.
//
// A live object from the operator's cache may hold, instead of its content, the digest of
// it (DigestLabel, see Condense): then the digests are compared.
func InSync(desired, live client.Object) (bool, error) {
	if live == nil {
		return false, nil
	}
	if digest, ok := live.GetLabels()[DigestLabel]; ok {
		want, err := Digest(desired)
		if err != nil || want != digest {
			return false, err
		}
	} else {
		d, err := ToUnstructured(desired)
		if err != nil {
			return false, err
		}
		l, err := ToUnstructured(live)
		if err != nil {
			return false, err
		}
		for k, v := range d.Object {
			if !isContent(k) {
				continue
			}
			if !equality.Semantic.DeepEqual(v, l.Object[k]) {
				return false, nil
			}
		}
		for k := range l.Object {
			if !isContent(k) {
				continue
			}
			if _, ok := d.Object[k]; !ok {
				return false, nil
			}
		}
	}
	// Labels others add are theirs (they mean nothing to any backend); annotations can change
	// what a mesh enforces (istio.io/dry-run turns an AuthorizationPolicy off), so the live
	// object carries exactly the desired ones.
	if !Subset(desired.GetLabels(), live.GetLabels()) || !sameAnnotations(desired.GetAnnotations(), live.GetAnnotations()) {
		return false, nil
	}
	for _, want := range desired.GetOwnerReferences() {
		found := false
		for _, have := range live.GetOwnerReferences() {
			if have.UID == want.UID && have.Kind == want.Kind && have.Name == want.Name &&
				equality.Semantic.DeepEqual(have.Controller, want.Controller) &&
				equality.Semantic.DeepEqual(have.BlockOwnerDeletion, want.BlockOwnerDeletion) {
				found = true
				break
			}
		}
		if !found {
			return false, nil
		}
	}
	return true, nil
}

// sameAnnotations reports whether live holds exactly the desired annotations.
func sameAnnotations(desired, live map[string]string) bool {
	return len(live) == len(desired) && Subset(desired, live)
}

// isContent reports whether a top-level field is content (compared whole), not metadata.
func isContent(field string) bool {
	switch field {
	case "apiVersion", "kind", "metadata", "status":
		return false
	}
	return true
}

// DigestLabel holds, on a generated object in the operator's cache only, the digest of the
// content Condense removed from it. The key is not a valid label key (the colon), so no
// object from the API server can carry it: nobody can forge a digest to hide drift. It is
// never written (replace leaves it out). It is a label rather than an annotation because
// the labels' map is there anyway (a generated object has four), while an annotations map
// only for the digest cost 340 bytes a NetworkPolicy (docs/performance.md).
const DigestLabel = "zerotrust.dev/cached:content-digest"

// Digest is a digest of obj's content, every top-level field InSync compares whole: of a
// typed NetworkPolicy its spec in protobuf (deterministic, and cheap to compute from the
// typed objects of a cache), of anything else its content as JSON with sorted keys.
func Digest(obj client.Object) (string, error) {
	var b []byte
	var err error
	if np, ok := obj.(*networkingv1.NetworkPolicy); ok {
		b, err = np.Spec.Marshal()
		b = append([]byte("networkpolicy-spec-proto:"), b...)
	} else {
		var u *unstructured.Unstructured
		if u, err = ToUnstructured(obj); err == nil {
			content := make(map[string]any, len(u.Object))
			for k, v := range u.Object {
				if isContent(k) {
					content[k] = v
				}
			}
			b, err = json.Marshal(content)
		}
	}
	if err != nil {
		return "", err
	}
	return Sum(b), nil
}

// Sum is the digest the operator keeps of what it writes and caches: 128 bits of SHA-256,
// in hex.
func Sum(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// Condense replaces the content of a generated object (a NetworkPolicy's spec, a mesh
// policy's spec: all but metadata and status) by its digest in DigestLabel, for the
// operator's cache: InSync then compares digests, and thousands of generated objects cost
// the cache their metadata only. A NetworkPolicy becomes a Condensed (a new object); an
// unstructured object is changed in place, its label keys and values interned; any other
// object is returned unchanged. It is idempotent (informers may transform an object again):
// a condensed object is returned as it is.
func Condense(obj client.Object) (client.Object, error) {
	if _, done := obj.GetLabels()[DigestLabel]; done {
		return obj, nil
	}
	switch o := obj.(type) {
	case *networkingv1.NetworkPolicy:
		return condenseNetworkPolicy(o)
	case *unstructured.Unstructured:
		digest, err := Digest(o)
		if err != nil {
			return nil, err
		}
		for k := range o.Object {
			if isContent(k) || k == "status" {
				delete(o.Object, k)
			}
		}
		o.SetLabels(internWith(o.GetLabels(), DigestLabel, digest))
	}
	return obj, nil
}

var yes, no = true, false

// internOwners interns what a generated object's owner references share with its
// siblings' (the policy's apiVersion, kind, name and UID are the same on each of its
// objects), and points their flags at shared booleans.
func internOwners(refs []metav1.OwnerReference) {
	flag := func(b *bool) *bool {
		switch {
		case b == nil:
			return nil
		case *b:
			return &yes
		}
		return &no
	}
	for i := range refs {
		refs[i].APIVersion, refs[i].Kind = unique.Make(refs[i].APIVersion).Value(), unique.Make(refs[i].Kind).Value()
		refs[i].Name, refs[i].UID = unique.Make(refs[i].Name).Value(), types.UID(unique.Make(string(refs[i].UID)).Value())
		refs[i].Controller, refs[i].BlockOwnerDeletion = flag(refs[i].Controller), flag(refs[i].BlockOwnerDeletion)
	}
}

// internWith returns a copy of m with its keys and values replaced by canonical copies
// (unique.Make), so that the label maps of thousands of cached objects share their strings,
// and key set to value (not interned: a digest is unique).
func internWith(m map[string]string, key, value string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for k, v := range m {
		out[unique.Make(k).Value()] = unique.Make(v).Value()
	}
	out[key] = value
	return out
}

// Subset reports whether have holds every key of want with the same value.
func Subset(want, have map[string]string) bool {
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			return false
		}
	}
	return true
}

// Apply writes desired unless live is already in sync, and returns the object as the API
// server wrote it, or nil when it wrote nothing. A new object is created with server-side
// apply under the operator's field owner. An existing one is replaced (replace): one update
// that leaves its content exactly as desired, whatever another field manager added, changed
// or removed; server-side apply cannot remove fields others own, and an added field can turn
// an ALLOW into a DENY.
//
// A field the API server never lets change (Immutable) cannot be repaired by an apply: when
// desired and live differ in one, the live object is deleted and desired created. That is
// also the answer when the cache does not hold the conflicting object (it lacks the
// managed-by label) and the API server refuses the apply for that field.
func Apply(ctx context.Context, c client.Client, desired, live client.Object) (*unstructured.Unstructured, error) {
	ok, err := InSync(desired, live)
	if err != nil || ok {
		return nil, err
	}
	u, err := ToUnstructured(desired)
	if err != nil {
		return nil, err
	}
	u = u.DeepCopy()
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "status")
	fields := Immutable[u.GroupVersionKind().GroupKind()]
	if live != nil {
		changed, err := immutableChanged(u, live, fields)
		if err != nil {
			return nil, err
		}
		if !changed {
			if err := replace(ctx, c, u, live); err != nil {
				return nil, err
			}
			return u, nil
		}
		if err := recreate(ctx, c, live); err != nil {
			return nil, err
		}
	}
	err = serverSideApply(ctx, c, u)
	if err != nil && len(fields) > 0 && refusedFor(err, fields) {
		// Someone else's object with this name (not in the cache) differs in an immutable
		// field: the name is the operator's (see model's naming scheme), so it is replaced.
		if err := recreate(ctx, c, u); err != nil {
			return nil, err
		}
		err = serverSideApply(ctx, c, u)
	}
	if err != nil {
		return nil, fmt.Errorf("applying %s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
	return u, nil
}

// replace writes u over live with one update (PUT): the content and annotations exactly as
// desired, the labels and finalizers others added kept (they change nothing a backend
// enforces), and managedFields replaced by the operator's own entry (ownedFields), so that
// the operator alone owns the object again and the next change another manager makes is
// the only one managedFields name (Tampering).
// live's resourceVersion makes the update fail rather than overwrite a change it has not
// seen; on such a conflict the object is read again and the update retried once, unless u
// carries its own resourceVersion (shared objects, whose ownerReferences were computed from
// that version).
func replace(ctx context.Context, c client.Client, u *unstructured.Unstructured, live client.Object) error {
	pinned := u.GetResourceVersion() != ""
	base := live
	for attempt := 0; ; attempt++ {
		obj := u.DeepCopy()
		if !pinned {
			obj.SetResourceVersion(base.GetResourceVersion())
		}
		labels := map[string]string{}
		maps.Copy(labels, base.GetLabels())
		delete(labels, DigestLabel) // the cache's, never written
		maps.Copy(labels, u.GetLabels())
		obj.SetLabels(labels)
		obj.SetFinalizers(base.GetFinalizers())
		obj.SetManagedFields(ownedFields(obj))
		err := c.Update(ctx, obj, client.FieldOwner(ztv1.FieldOwner))
		if err == nil {
			u.Object = obj.Object
			return nil
		}
		if pinned || attempt > 0 || !apierrors.IsConflict(err) {
			return fmt.Errorf("replacing %s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
		fresh := &unstructured.Unstructured{}
		fresh.SetGroupVersionKind(u.GroupVersionKind())
		if err := c.Get(ctx, client.ObjectKeyFromObject(u), fresh); err != nil {
			if apierrors.IsNotFound(err) {
				return serverSideApply(ctx, c, u)
			}
			return err
		}
		base = fresh
	}
}

// ownedFields is the managedFields replace writes: one entry of the operator's. Not the
// reset ([{}]) that clears them: the API server stops tracking updates to an object without
// managedFields (until the next apply), so a second change by someone else would name no
// manager, and its repair would be neither told nor counted.
func ownedFields(u *unstructured.Unstructured) []metav1.ManagedFieldsEntry {
	return []metav1.ManagedFieldsEntry{{
		Manager:    ztv1.FieldOwner,
		Operation:  metav1.ManagedFieldsOperationUpdate,
		APIVersion: u.GetAPIVersion(),
		FieldsType: "FieldsV1",
		// An entry must own a field, or the API server drops it: the managed-by label,
		// which every generated object carries.
		FieldsV1: metav1.NewFieldsV1(`{"f:metadata":{"f:labels":{"f:` + ztv1.LabelManagedBy + `":{}}}}`),
	}}
}

func serverSideApply(ctx context.Context, c client.Client, u *unstructured.Unstructured) error {
	return c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(ztv1.FieldOwner), client.ForceOwnership)
}

// Immutable lists, per kind the operator generates, the top-level fields the API server
// refuses to change once the object exists. Apply replaces an object whose immutable field
// must change instead of failing on it forever.
var Immutable = map[schema.GroupKind][]string{
	// A RoleBinding's roleRef is immutable: binding another role is a new binding.
	{Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"}:        {"roleRef"},
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}: {"roleRef"},
}

func immutableChanged(desired *unstructured.Unstructured, live client.Object, fields []string) (bool, error) {
	l, err := ToUnstructured(live)
	if err != nil {
		return false, err
	}
	for _, f := range fields {
		if !equality.Semantic.DeepEqual(desired.Object[f], l.Object[f]) {
			return true, nil
		}
	}
	return false, nil
}

// refusedFor reports whether err is the API server refusing a change to one of fields.
func refusedFor(err error, fields []string) bool {
	if !apierrors.IsInvalid(err) {
		return false
	}
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Details == nil {
		return false
	}
	for _, cause := range status.Status().Details.Causes {
		for _, f := range fields {
			if cause.Field == f {
				return true
			}
		}
	}
	return false
}

// recreate deletes obj so that it can be created anew, waiting for nothing: an object
// without finalizers is gone when Delete returns. The UID precondition (when obj comes
// from the cache) keeps it from deleting an object that was replaced meanwhile.
func recreate(ctx context.Context, c client.Client, obj client.Object) error {
	var opts []client.DeleteOption
	if uid := obj.GetUID(); uid != "" {
		opts = append(opts, client.Preconditions{UID: &uid})
	}
	target := &unstructured.Unstructured{}
	target.SetGroupVersionKind(obj.GetObjectKind().GroupVersionKind())
	target.SetNamespace(obj.GetNamespace())
	target.SetName(obj.GetName())
	if err := c.Delete(ctx, target, opts...); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting %s %s/%s to change an immutable field: %w",
			target.GetKind(), target.GetNamespace(), target.GetName(), err)
	}
	return nil
}
