package writer

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/apply"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
)

// IndexOwner indexes generated objects by what generated them:
// "ServiceAccessPolicy/namespace/name" or "ZeroTrustBaseline/name".
const IndexOwner = "zerotrust.dev/owner"

// NewChild returns an empty object of kind gvk: typed for the built-in kinds (NetworkPolicy,
// Role, RoleBinding), so that their caches hold compact structs and their watches use
// protobuf, unstructured for the mesh kinds.
func NewChild(gvk schema.GroupVersionKind) client.Object {
	if o, err := clientgoscheme.Scheme.New(gvk); err == nil {
		if co, ok := o.(client.Object); ok {
			co.GetObjectKind().SetGroupVersionKind(gvk)
			return co
		}
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	return u
}

// NewChildList returns an empty list of kind gvk, typed as NewChild's objects are.
func NewChildList(gvk schema.GroupVersionKind) client.ObjectList {
	listGVK := gvk.GroupVersion().WithKind(gvk.Kind + "List")
	if o, err := clientgoscheme.Scheme.New(listGVK); err == nil {
		if l, ok := o.(client.ObjectList); ok {
			return l
		}
	}
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(listGVK)
	return l
}

// PolicyOwnerKey and BaselineOwnerKey name what generated an object, as IndexOwner holds it.

// ownerKey names what a generated object belongs to, from its labels.
func ownerKey(o client.Object) string {
	l := o.GetLabels()
	switch {
	case l[ztv1.LabelManagedBy] != ztv1.ManagedByValue:
		return ""
	case l[ztv1.LabelPolicyName] != "":
		return PolicyOwnerKey(l[ztv1.LabelPolicyNamespace], l[ztv1.LabelPolicyName])
	case l[ztv1.LabelBaseline] != "":
		return BaselineOwnerKey(l[ztv1.LabelBaseline])
	}
	return ""
}

func PolicyOwnerKey(namespace, name string) string {
	return "ServiceAccessPolicy/" + namespace + "/" + name
}

func BaselineOwnerKey(name string) string { return "ZeroTrustBaseline/" + name }

// ownerIndex is the IndexOwner function: a shared object is indexed under each policy
// that owns it.
func ownerIndex(o client.Object) []string {
	if IsShared(o) {
		return sharedOwnerKeys(o)
	}
	if k := ownerKey(o); k != "" {
		return []string{k}
	}
	return nil
}

// OwnerIndex is the IndexOwner function, for the caches of mesh kinds (controllers'
// Backends).
func OwnerIndex(o client.Object) []string { return ownerIndex(o) }

// SetupChildIndexes indexes the built-in child kinds (in the manager's cache) by owner.
// Mesh kinds are indexed in their own caches (Backends).
func SetupChildIndexes(ctx context.Context, mgr manager.Manager) error {
	for _, gvk := range compiler.BuiltinKinds() {
		if err := mgr.GetFieldIndexer().IndexField(ctx, NewChild(gvk), IndexOwner, ownerIndex); err != nil {
			return err
		}
	}
	return nil
}

// Key identifies a generated object across kinds.
type Key struct {
	GVK             schema.GroupVersionKind
	Namespace, Name string
}

// Objects are generated objects by key: what the cache holds of an owner's (List), then,
// once Apply has taken out what is still desired, what is stale.
type Objects map[Key]client.Object

// KeyOf is the key of o, which must carry its kind.
func KeyOf(o client.Object) Key {
	return Key{GVK: o.GetObjectKind().GroupVersionKind(), Namespace: o.GetNamespace(), Name: o.GetName()}
}

// List returns the objects of the active kinds generated for owner (PolicyOwnerKey,
// BaselineOwnerKey), in every namespace, through the owner index of the cache holding each
// kind.
func (w *Writer) List(ctx context.Context, owner string, backends Kinds) (Objects, error) {
	c := w.Client
	out := Objects{}
	for _, gvk := range backends.Kinds() {
		list := NewChildList(gvk)
		opts := []client.ListOption{client.MatchingFields{IndexOwner: owner}}
		if _, typed := list.(*unstructured.UnstructuredList); !typed {
			// Typed items are shallow copies of the cached objects: their kind may be set
			// below, and nothing else of them is written. (Unstructured items would share
			// the cached maps.)
			opts = append(opts, client.UnsafeDisableDeepCopy)
		}
		if err := backends.Reader(gvk, c).List(ctx, list, opts...); err != nil {
			return nil, err
		}
		err := meta.EachListItem(list, func(o runtime.Object) error {
			item, ok := o.(client.Object)
			if !ok {
				return fmt.Errorf("%T in a %s list is not an object", o, gvk.Kind)
			}
			// Typed objects from a cache carry no kind: KeyOf and deletes need it.
			item.GetObjectKind().SetGroupVersionKind(gvk)
			out[KeyOf(item)] = item
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// sortedKeys orders children for deterministic deletes.
func sortedKeys(m Objects) []Key {
	keys := make([]Key, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool {
		if keys[a].GVK.String() != keys[b].GVK.String() {
			return keys[a].GVK.String() < keys[b].GVK.String()
		}
		if keys[a].Namespace != keys[b].Namespace {
			return keys[a].Namespace < keys[b].Namespace
		}
		return keys[a].Name < keys[b].Name
	})
	return keys
}

// ReasonDriftRepaired is the reason of the Warning Event on a policy or baseline for each
// generated object someone else changed or deleted and the operator put back.
const ReasonDriftRepaired = "DriftRepaired"

// Apply applies each desired object (see apply.Apply: nothing is written when the cached
// object already matches) and removes it from live, which is left holding what is stale.
// Each repair of someone else's change (an edit, or a deletion) is counted
// (zerotrust_drift_repairs_total) and reported by a DriftRepaired Warning Event on owner
// (the policy or baseline) with the repaired object as related object. A repair that must
// wait (repairs.go) is not made: retry says when to reconcile again for the earliest of
// them (0: none waits). Apply goes on past a failure and returns the first error. Calls
// with disjoint live maps may run in parallel.
func (w *Writer) Apply(ctx context.Context, owner client.Object, desired []client.Object, live Objects) (retry time.Duration, first error) {
	c, own := w.Client, &w.own
	for _, obj := range desired {
		k := KeyOf(obj)
		current := live[k]
		delete(live, k)
		if own.inFlight(k, obj, current) {
			continue
		}
		var tampered []apply.Change
		if current != nil {
			tampered = apply.Tampering(current)
		}
		if wait := own.repairWait(k, len(tampered) > 0); wait > 0 {
			if in, err := apply.InSync(obj, current); err == nil && !in {
				log.FromContext(ctx).V(1).Info("repair deferred: someone keeps changing the object", "kind", k.GVK.Kind, "object", klog.KRef(k.Namespace, k.Name), "after", wait)
				if retry == 0 || wait < retry {
					retry = wait
				}
				continue
			}
		}
		deleted := false
		if current == nil {
			deleted = own.deletedByOthers(k)
		}
		own.begin(k)
		written, err := apply.Apply(ctx, c, obj, current)
		rv, digest := "", ""
		if written != nil {
			if d, err := writeDigest(obj); err == nil {
				rv, digest = written.GetResourceVersion(), d
			}
		}
		own.end(k, rv, digest)
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		if written == nil {
			continue
		}
		repaired := len(tampered) > 0 || deleted
		log.FromContext(ctx).V(1).Info("applied", "kind", k.GVK.Kind, "object", klog.KRef(k.Namespace, k.Name), "repaired", repaired)
		if repaired {
			driftRepairs.WithLabelValues(obj.GetLabels()[ztv1.LabelBackend], k.GVK.Kind).Inc()
			w.Event(owner, obj, corev1.EventTypeWarning, ReasonDriftRepaired, driftAction(tampered), driftMessage(obj, tampered))
			if delay := own.repaired(k); delay == repairBackoffBase {
				log.FromContext(ctx).Info("someone keeps changing a generated object: its next repairs wait, up to "+repairBackoffMax.String()+" each",
					"kind", k.GVK.Kind, "object", klog.KRef(k.Namespace, k.Name), "repairs", repairsFree)
			}
		}
	}
	return retry, first
}

// driftAction is the Event's action: Restore an edited object, Recreate a deleted one. The
// Event's related object is the repaired one, so that repairs of different objects are
// different Events; repeated repairs of one object within minutes become one Event's series.
func driftAction(changes []apply.Change) string {
	if len(changes) == 0 {
		return "Recreate"
	}
	return "Restore"
}

// driftMessage says what happened to a generated object and that it was put back.
func driftMessage(obj client.Object, changes []apply.Change) string {
	what := fmt.Sprintf("%s %s", obj.GetObjectKind().GroupVersionKind().Kind, klog.KObj(obj))
	if len(changes) == 0 {
		return what + " was deleted by someone other than the operator; recreated"
	}
	parts := make([]string, len(changes))
	for i, ch := range changes {
		parts[i] = ch.Manager
		if len(ch.Fields) > 0 {
			parts[i] += " (" + strings.Join(ch.Fields, ", ") + ")"
		}
	}
	return what + " was changed by " + strings.Join(parts, ", ") + "; restored to what the operator generates"
}

// Delete deletes generated objects that are no longer called for (stale, as Apply left it),
// each exactly as seen (same UID).
func (w *Writer) Delete(ctx context.Context, stale Objects) error {
	c, own := w.Client, &w.own
	for _, k := range sortedKeys(stale) {
		// Exactly the object seen: not one that replaced it since under the same name.
		var opts []client.DeleteOption
		if uid := stale[k].GetUID(); uid != "" {
			opts = append(opts, client.Preconditions{UID: &uid})
		}
		own.willDelete(k)
		if err := c.Delete(ctx, stale[k], opts...); client.IgnoreNotFound(err) != nil {
			return err
		}
		log.FromContext(ctx).V(1).Info("deleted", "kind", k.GVK.Kind, "object", klog.KRef(k.Namespace, k.Name))
	}
	return nil
}
