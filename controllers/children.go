package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

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

// newChildList returns an empty list of kind gvk, typed as NewChild's objects are.
func newChildList(gvk schema.GroupVersionKind) client.ObjectList {
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

// ownerKey names what a generated object belongs to, from its labels.
func ownerKey(o client.Object) string {
	l := o.GetLabels()
	switch {
	case l[ztv1.LabelManagedBy] != ztv1.ManagedByValue:
		return ""
	case l[ztv1.LabelPolicyName] != "":
		return policyOwnerKey(l[ztv1.LabelPolicyNamespace], l[ztv1.LabelPolicyName])
	case l[ztv1.LabelBaseline] != "":
		return baselineOwnerKey(l[ztv1.LabelBaseline])
	}
	return ""
}

func policyOwnerKey(namespace, name string) string {
	return "ServiceAccessPolicy/" + nsName(namespace, name)
}

func baselineOwnerKey(name string) string { return "ZeroTrustBaseline/" + name }

// ownerIndex is the IndexOwner function: a shared object is indexed under each policy
// that owns it.
func ownerIndex(o client.Object) []string {
	if isShared(o) {
		return sharedOwnerKeys(o)
	}
	if k := ownerKey(o); k != "" {
		return []string{k}
	}
	return nil
}

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

// childKey identifies a generated object across kinds.
type childKey struct {
	gvk             schema.GroupVersionKind
	namespace, name string
}

func keyOf(o client.Object) childKey {
	return childKey{gvk: o.GetObjectKind().GroupVersionKind(), namespace: o.GetNamespace(), name: o.GetName()}
}

// listChildren returns the objects of the active backends' kinds generated for owner (see
// ownerKey), in every namespace, through the owner index of the cache holding each kind.
func listChildren(ctx context.Context, c client.Reader, owner string, backends *Backends) (map[childKey]client.Object, error) {
	out := map[childKey]client.Object{}
	for _, gvk := range backends.Kinds() {
		list := newChildList(gvk)
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
			// Typed objects from a cache carry no kind: keyOf and deletes need it.
			item.GetObjectKind().SetGroupVersionKind(gvk)
			out[keyOf(item)] = item
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// sortedKeys orders children for deterministic deletes.
func sortedKeys(m map[childKey]client.Object) []childKey {
	keys := make([]childKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool {
		if keys[a].gvk.String() != keys[b].gvk.String() {
			return keys[a].gvk.String() < keys[b].gvk.String()
		}
		if keys[a].namespace != keys[b].namespace {
			return keys[a].namespace < keys[b].namespace
		}
		return keys[a].name < keys[b].name
	})
	return keys
}

// childToPolicy maps an event on a generated object to its policy, so drift is repaired.
func childToPolicy(_ context.Context, o client.Object) []reconcile.Request {
	if isShared(o) {
		return sharedToPolicies(o)
	}
	l := o.GetLabels()
	if l[ztv1.LabelManagedBy] != ztv1.ManagedByValue || l[ztv1.LabelPolicyName] == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: l[ztv1.LabelPolicyNamespace], Name: l[ztv1.LabelPolicyName]}}}
}

// childToBaseline maps an event on a generated object to its baseline.
func childToBaseline(_ context.Context, o client.Object) []reconcile.Request {
	l := o.GetLabels()
	if l[ztv1.LabelManagedBy] != ztv1.ManagedByValue || l[ztv1.LabelBaseline] == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: l[ztv1.LabelBaseline]}}}
}

// ownWrites remembers, per generated object, the operator's last write of it until a watch
// event shows it: the event showing exactly that write (same resourceVersion) does not
// trigger a reconcile (a first converge would otherwise reconcile each policy once more per
// object it generated, for nothing), and a reconcile that runs before the event does not
// write the same object again. Any event of the object consumes its entry; events that show
// someone else's change (a newer resourceVersion) or a deletion always pass.
//
// A write's own events can be handled before the write returns and is recorded; a deletion
// among them would then be followed by a record that nothing clears (no object left to show
// it), and a reconcile would take the deleted object for one in flight and never put it
// back. So writes are bracketed (begin, end): a deletion seen while a write of the object
// is in flight keeps that write from being recorded.
type ownWrites struct {
	mu sync.Mutex
	m  map[childKey]ownWrite
	// writing counts the writes of each object in flight; deleted marks those of them whose
	// object a deletion event showed meanwhile.
	writing map[childKey]int
	deleted map[childKey]bool
	// deleting holds the operator's own deletions whose event has not come yet; gone the
	// objects someone else deleted, until the operator puts them back (a DriftRepaired
	// Event) or an hour has passed (their owner went too).
	deleting map[childKey]bool
	gone     map[childKey]time.Time
	// repairs spaces out the repairs of objects someone else keeps changing (repairs.go).
	repairs repairBackoff
}

// goneTTL bounds how long a deletion by someone else is remembered: an object that is not
// put back within it was not the operator's to put back (its owner is gone too).
const goneTTL = time.Hour

// willDelete records that the operator is about to delete k, so that its event is not
// taken for someone else's deletion.
func (w *ownWrites) willDelete(k childKey) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.deleting == nil {
		w.deleting = map[childKey]bool{}
	}
	w.deleting[k] = true
	delete(w.gone, k)
}

// deletedByOthers reports, once, whether someone other than the operator deleted k since
// the operator last wrote it.
func (w *ownWrites) deletedByOthers(k childKey) bool {
	if w == nil {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.gone[k]
	delete(w.gone, k)
	return ok
}

// repairWait returns how long a repair of k (someone else changed it, or deleted it:
// deletedByOthers without consuming it) must wait; 0 when k needs no repair or the repair
// may be made now.
func (w *ownWrites) repairWait(k childKey, tampered bool) time.Duration {
	if w == nil {
		return 0
	}
	if !tampered {
		w.mu.Lock()
		_, tampered = w.gone[k]
		w.mu.Unlock()
	}
	if !tampered {
		return 0
	}
	return w.repairs.wait(k)
}

// repaired records a repair of k (repairBackoff.repaired).
func (w *ownWrites) repaired(k childKey) time.Duration {
	if w == nil {
		return 0
	}
	return w.repairs.repaired(k)
}

// sawDeletion classifies a deletion event of k: the operator's own, or someone else's.
// Called with w.mu held.
func (w *ownWrites) sawDeletion(k childKey) {
	if w.deleting[k] {
		delete(w.deleting, k)
		return
	}
	now := time.Now()
	if w.gone == nil {
		w.gone = map[childKey]time.Time{}
	}
	for g, at := range w.gone {
		if now.Sub(at) > goneTTL {
			delete(w.gone, g)
		}
	}
	w.gone[k] = now
}

type ownWrite struct {
	resourceVersion string // the API server gave the write
	digest          string // of what was written (writeDigest)
}

// writeDigest identifies what the operator writes of a generated object: its content and
// the metadata it sets (labels, annotations, ownerReferences).
func writeDigest(o client.Object) (string, error) {
	content, err := apply.Digest(o)
	if err != nil {
		return "", err
	}
	meta, err := json.Marshal([]any{o.GetLabels(), o.GetAnnotations(), o.GetOwnerReferences()})
	if err != nil {
		return "", err
	}
	return apply.Sum(append([]byte(content), meta...)), nil
}

// begin marks a write of k in flight; end must follow.
func (w *ownWrites) begin(k childKey) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.writing == nil {
		w.writing, w.deleted = map[childKey]int{}, map[childKey]bool{}
	}
	w.writing[k]++
}

// end ends a write of k begun by begin, and records what it wrote (resourceVersion empty:
// nothing) unless a deletion of k was seen since it began.
func (w *ownWrites) end(k childKey, resourceVersion, digest string) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	deleted := w.deleted[k]
	if w.writing[k]--; w.writing[k] <= 0 {
		delete(w.writing, k)
		delete(w.deleted, k)
	}
	if resourceVersion == "" || deleted {
		return
	}
	if w.m == nil {
		w.m = map[childKey]ownWrite{}
	}
	w.m[k] = ownWrite{resourceVersion: resourceVersion, digest: digest}
}

// inFlight reports whether the operator wrote desired to k and the cache (current, nil when
// it holds none) does not show that write yet: writing again would change nothing. A cached
// object as new as the write, or any watch event of the object, ends the entry.
func (w *ownWrites) inFlight(k childKey, desired, current client.Object) bool {
	if w == nil {
		return false
	}
	w.mu.Lock()
	e, ok := w.m[k]
	if ok && current != nil {
		if cmp, err := resourceversion.CompareResourceVersion(current.GetResourceVersion(), e.resourceVersion); err != nil || cmp >= 0 {
			delete(w.m, k)
			ok = false
		}
	}
	w.mu.Unlock()
	if !ok {
		return false
	}
	digest, err := writeDigest(desired)
	return err == nil && digest == e.digest
}

// forget drops the entry of an object whose deletion a watch event showed.
func (w *ownWrites) forget(gvk schema.GroupVersionKind, o client.Object) {
	if w == nil {
		return
	}
	k := childKey{gvk: gvk, namespace: o.GetNamespace(), name: o.GetName()}
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.m, k)
	if w.writing[k] > 0 {
		w.deleted[k] = true
	}
	w.sawDeletion(k)
}

// own reports whether o, of kind gvk, is exactly what the operator last wrote, and forgets
// the write: from any event of the object on, the cache is the truth.
func (w *ownWrites) own(gvk schema.GroupVersionKind, o client.Object) bool {
	if w == nil {
		return false
	}
	k := childKey{gvk: gvk, namespace: o.GetNamespace(), name: o.GetName()}
	w.mu.Lock()
	defer w.mu.Unlock()
	e, ok := w.m[k]
	if ok {
		delete(w.m, k)
	}
	return ok && e.resourceVersion == o.GetResourceVersion()
}

// predicate drops the create and update events of the operator's own writes of objects
// of kind gvk (cached typed objects carry no kind). Deletions always pass.
func (w *ownWrites) predicate(gvk schema.GroupVersionKind) predicate.Funcs {
	return predicate.Funcs{
		CreateFunc: func(e event.CreateEvent) bool { return !w.own(gvk, e.Object) },
		UpdateFunc: func(e event.UpdateEvent) bool { return !w.own(gvk, e.ObjectNew) },
		// A write's own event may come before the write is recorded: a deletion must clear
		// the entry, or the object would look in flight and never be put back.
		DeleteFunc: func(e event.DeleteEvent) bool { w.forget(gvk, e.Object); return true },
	}
}

// ReasonDriftRepaired is the reason of the Warning Event on a policy or baseline for each
// generated object someone else changed or deleted and the operator put back.
const ReasonDriftRepaired = "DriftRepaired"

// driftSink hears of each repair of someone else's change to a generated object: the
// object as desired, and what was done to it (apply.Tampering's changes; none: deleted).
type driftSink func(obj client.Object, changes []apply.Change)

// applyChildren applies each desired object (see apply.Apply: nothing is written when the
// cached object already matches) and removes it from live, which is left holding what is
// stale. Writes are recorded in own; repairs of others' changes go to drift (may be nil).
// A repair that must wait (repairs.go) is not made: retry says when to reconcile again for
// the earliest of them (0: none waits). It goes on past a failure and returns the first
// error.
func applyChildren(ctx context.Context, c client.Client, desired []client.Object, live map[childKey]client.Object, own *ownWrites, drift driftSink) (retry time.Duration, first error) {
	for _, obj := range desired {
		k := keyOf(obj)
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
				log.FromContext(ctx).V(1).Info("repair deferred: someone keeps changing the object", "kind", k.gvk.Kind, "object", klog.KRef(k.namespace, k.name), "after", wait)
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
		log.FromContext(ctx).V(1).Info("applied", "kind", k.gvk.Kind, "object", klog.KRef(k.namespace, k.name), "repaired", repaired)
		if repaired {
			driftRepairs.WithLabelValues(obj.GetLabels()[ztv1.LabelBackend], k.gvk.Kind).Inc()
			if drift != nil {
				drift(obj, tampered)
			}
			if delay := own.repaired(k); delay == repairBackoffBase {
				log.FromContext(ctx).Info("someone keeps changing a generated object: its next repairs wait, up to "+repairBackoffMax.String()+" each",
					"kind", k.gvk.Kind, "object", klog.KRef(k.namespace, k.name), "repairs", repairsFree)
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

// deleteChildren deletes generated objects that are no longer called for.
func deleteChildren(ctx context.Context, c client.Client, stale map[childKey]client.Object, own *ownWrites) error {
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
		log.FromContext(ctx).V(1).Info("deleted", "kind", k.gvk.Kind, "object", klog.KRef(k.namespace, k.name))
	}
	return nil
}
