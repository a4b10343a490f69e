package writer

import (
	"context"
	"encoding/json"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

// Shared objects. Some generated objects stand for what several policies select rather
// than for one policy: Linkerd admits one Server per pod and port, so every policy that
// opens the same pods and port generates the same Server (same name, same content). Such
// an object carries the managed-by label and no policy label; each policy that generates it
// is one of its ownerReferences (none the controller). A policy applies it with its own
// reference added to those it has, and when it no longer generates it, removes its
// reference, deleting the object only when it was the last owner (the garbage collector
// does the same when a policy is deleted). Writes of ownerReferences carry the
// resourceVersion they were computed from, so two policies never drop each other's.

// SharedOwnerKeys are the owner keys (PolicyOwnerKey) of the policies that own shared
// object o.
func SharedOwnerKeys(o client.Object) []string { return sharedOwnerKeys(o) }

// IsShared reports whether o is a generated object shared between policies.
func IsShared(o client.Object) bool {
	l := o.GetLabels()
	return l[ztv1.LabelManagedBy] == ztv1.ManagedByValue && l[ztv1.LabelPolicyName] == "" && l[ztv1.LabelBaseline] == ""
}

// sharedOwnerKeys are the owner keys (ownerKey) of the policies that own shared object o.
func sharedOwnerKeys(o client.Object) []string {
	var out []string
	for _, r := range o.GetOwnerReferences() {
		if r.Kind == "ServiceAccessPolicy" && r.APIVersion == ztv1.GroupVersion.String() {
			out = append(out, PolicyOwnerKey(o.GetNamespace(), r.Name))
		}
	}
	return out
}

// Share prepares shared object obj, which the policy owner generates, for Apply: it reads
// obj as the cache holds it (added to live when the policy is not among its owners yet, so
// that Apply compares with it) and sets obj's ownerReferences (shareWith).
func (w *Writer) Share(ctx context.Context, obj client.Object, live Objects, owner metav1.OwnerReference, backends Kinds) error {
	current, err := w.sharedCurrent(ctx, obj, live, backends)
	if err != nil {
		return err
	}
	shareWith(obj, current, owner)
	return nil
}

// sharedCurrent is shared object obj as the cache holds it (nil when it does not exist),
// added to live when missing there.
func (w *Writer) sharedCurrent(ctx context.Context, obj client.Object, live Objects, backends Kinds) (client.Object, error) {
	k := KeyOf(obj)
	if current, ok := live[k]; ok {
		return current, nil
	}
	current := NewChild(k.GVK)
	err := backends.Reader(k.GVK, w.Client).Get(ctx, client.ObjectKey{Namespace: k.Namespace, Name: k.Name}, current)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading shared %s %s/%s: %w", k.GVK.Kind, k.Namespace, k.Name, err)
	}
	current.GetObjectKind().SetGroupVersionKind(k.GVK)
	live[k] = current
	return current, nil
}

// shareWith sets the ownerReferences of shared object obj, which policy owner generates:
// those of current (the object as the cache holds it, nil when it does not exist) with
// owner's added, none of them the controller. With current, obj carries its
// resourceVersion, so that the write fails rather than drop an owner added meanwhile.
func shareWith(obj, current client.Object, owner metav1.OwnerReference) {
	owner.Controller = ptr.To(false)
	var refs []metav1.OwnerReference
	if current != nil {
		for _, r := range current.GetOwnerReferences() {
			if r.UID != owner.UID {
				refs = append(refs, r)
			}
		}
		obj.SetResourceVersion(current.GetResourceVersion())
	}
	obj.SetOwnerReferences(append(refs, owner))
}

// Prune removes what policy (namespace/name) no longer generates: stale objects of its own
// are deleted; of stale shared objects, only its ownerReference is removed (see
// releaseShared).
func (w *Writer) Prune(ctx context.Context, stale Objects, policy string) error {
	c, own := w.Client, &w.own
	for k, o := range stale {
		if !IsShared(o) {
			continue
		}
		delete(stale, k)
		if err := releaseShared(ctx, c, o, policy, own); err != nil {
			return err
		}
	}
	return w.Delete(ctx, stale)
}

// releaseShared removes the policy named policy from the owners of shared object o,
// deleting o when no other owner is left.
func releaseShared(ctx context.Context, c client.Client, o client.Object, policy string, own *ownWrites) error {
	var rest []metav1.OwnerReference
	mine := false
	for _, r := range o.GetOwnerReferences() {
		if r.Kind == "ServiceAccessPolicy" && r.Name == policy {
			mine = true
			continue
		}
		rest = append(rest, r)
	}
	if !mine {
		return nil
	}
	if len(rest) == 0 {
		opts := []client.DeleteOption{client.Preconditions{ResourceVersion: ptr.To(o.GetResourceVersion())}}
		own.willDelete(KeyOf(o))
		if err := c.Delete(ctx, o, opts...); client.IgnoreNotFound(err) != nil {
			return err
		}
		log.FromContext(ctx).V(1).Info("deleted shared object", "kind", o.GetObjectKind().GroupVersionKind().Kind, "object", klog.KObj(o))
		return nil
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"ownerReferences": rest, "resourceVersion": o.GetResourceVersion()}})
	if err != nil {
		return err
	}
	if err := c.Patch(ctx, o, client.RawPatch(types.MergePatchType, patch), client.FieldOwner(ztv1.FieldOwner)); client.IgnoreNotFound(err) != nil {
		if apierrors.IsConflict(err) {
			return fmt.Errorf("releasing shared %s %s/%s: %w", o.GetObjectKind().GroupVersionKind().Kind, o.GetNamespace(), o.GetName(), err)
		}
		return err
	}
	return nil
}
