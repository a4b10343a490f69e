package writer

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/apply"
)

// lastWrites remembers, per policy or baseline, the operator's last writes of it: the
// resourceVersion the API server gave the last one and, for a policy, whether the finalizer
// was added and the status last written. Until the cache shows those writes, a reconcile
// reads the object as it was before them: it would add the finalizer again (and fail on the
// stale resourceVersion), compute the Ready condition anew (another transition time), write
// the status again (a baseline's on its stale resourceVersion) and record its Event again.
type lastWrites struct {
	mu sync.Mutex
	m  map[types.NamespacedName]lastWrite
}

type lastWrite struct {
	resourceVersion string             // after the last write
	finalizer       bool               // added (policies)
	status          bool               // written, as below (policies)
	digest          string             // of the status written
	conditions      []metav1.Condition // written
}

// statusDigest is a digest of a policy's status (its JSON).
func statusDigest(st *ztv1.ServiceAccessPolicyStatus) string {
	b, err := json.Marshal(st)
	if err != nil {
		return ""
	}
	return apply.Sum(b)
}

// wrote notes a write of o (o as the API server returned it).
func (w *lastWrites) wrote(o client.Object) {
	w.update(o, func(*lastWrite) {})
}

// statusWritten notes that st was written to p (p as the API server returned it).
func (w *lastWrites) statusWritten(p *ztv1.ServiceAccessPolicy, st *ztv1.ServiceAccessPolicyStatus) {
	w.update(p, func(e *lastWrite) {
		e.status, e.digest, e.conditions = true, statusDigest(st), slices.Clone(st.Conditions)
	})
}

func (w *lastWrites) update(o client.Object, fn func(*lastWrite)) {
	key := client.ObjectKeyFromObject(o)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[types.NamespacedName]lastWrite{}
	}
	e := w.m[key]
	e.resourceVersion = o.GetResourceVersion()
	fn(&e)
	w.m[key] = e
}

// behind returns what the operator last wrote to o when o (as cached) is older than that
// write. Once the cache has caught up, the cached object is the truth again. Entries live
// as long as their object (a few hundred bytes each).
func (w *lastWrites) behind(o client.Object) (lastWrite, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e, ok := w.m[client.ObjectKeyFromObject(o)]
	if !ok {
		return lastWrite{}, false
	}
	cmp, err := resourceversion.CompareResourceVersion(o.GetResourceVersion(), e.resourceVersion)
	return e, err == nil && cmp < 0
}

// forget drops what is remembered of an object that is gone.
func (w *lastWrites) forget(key types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.m, key)
}

// StatusDigestAnnotation holds, on a policy in the operator's cache only, the digest of the
// status CondensePolicy removed from it. Like apply.DigestLabel it is not a valid
// annotation key, so no object from the API server carries it.
const StatusDigestAnnotation = "zerotrust.dev/cached:status-digest"

// CondensePolicy is the cache transform of ServiceAccessPolicies: without managedFields,
// labels and annotations, and of the status only observedGeneration, active (schedule
// transitions are counted by it) and conditions (the reconciler keeps their transition
// times and reports Ready's transitions) plus the digest of the whole status
// (statusIs compares it), the only annotation left. Backends and the objects they list are
// most of a policy. Nothing reads a policy's labels or annotations (they are never copied
// onto what it generates), and a GitOps tool's can be larger than the spec: kubectl's
// last-applied-configuration is a copy of it. It is idempotent, as informers require.
func CondensePolicy(obj any) (any, error) {
	p, ok := obj.(*ztv1.ServiceAccessPolicy)
	if !ok {
		return obj, nil
	}
	p.ManagedFields = nil
	if _, done := p.Annotations[StatusDigestAnnotation]; done {
		return p, nil
	}
	p.Labels = nil
	p.Annotations = map[string]string{StatusDigestAnnotation: statusDigest(&p.Status)}
	p.Status = ztv1.ServiceAccessPolicyStatus{ObservedGeneration: p.Status.ObservedGeneration, Conditions: p.Status.Conditions, Active: p.Status.Active}
	return p, nil
}

// StatusPatch is the status write of a policy whose status is to be st: a JSON merge patch
// (statusPatch). The benchmark's floor writes the same.
func StatusPatch(st *ztv1.ServiceAccessPolicyStatus) ([]byte, error) { return statusPatch(st) }

// statusIs reports whether p, as cached, already has status st.
func statusIs(p *ztv1.ServiceAccessPolicy, st *ztv1.ServiceAccessPolicyStatus) bool {
	if digest, ok := p.Annotations[StatusDigestAnnotation]; ok {
		return digest == statusDigest(st)
	}
	return equality.Semantic.DeepEqual(*st, p.Status)
}

// statusFields are the JSON names of the status's fields.
var statusFields = func() []string {
	var out []string
	t := reflect.TypeOf(ztv1.ServiceAccessPolicyStatus{})
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}()

// statusPatch is a JSON merge patch that sets the status to st whatever it was: every field
// st leaves out is removed explicitly, so the patch depends on nothing read before (the
// cached policy holds its status condensed).
func statusPatch(st *ztv1.ServiceAccessPolicyStatus) ([]byte, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for _, f := range statusFields {
		if _, ok := m[f]; !ok {
			m[f] = nil
		}
	}
	return json.Marshal(map[string]any{"status": m})
}

// AddFinalizer adds finalizer to o (a policy or baseline) unless it has it, or the
// operator added it and the cache does not show that yet. The patch carries o's
// resourceVersion: it fails rather than write over a change the cache has not seen.
func (w *Writer) AddFinalizer(ctx context.Context, o client.Object, finalizer string) error {
	if controllerutil.ContainsFinalizer(o, finalizer) {
		return nil
	}
	if last, ok := w.last.behind(o); ok && last.finalizer {
		return nil // added, and on its way to the cache
	}
	base, ok := o.DeepCopyObject().(client.Object)
	if !ok {
		return fmt.Errorf("%T is not an object", o)
	}
	controllerutil.AddFinalizer(o, finalizer)
	if err := w.Client.Patch(ctx, o, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return err
	}
	w.last.update(o, func(e *lastWrite) { e.finalizer = true })
	return nil
}

// RemoveFinalizer removes finalizer from o, if it has it; an object already gone is no
// error.
func (w *Writer) RemoveFinalizer(ctx context.Context, o client.Object, finalizer string) error {
	if !controllerutil.ContainsFinalizer(o, finalizer) {
		return nil
	}
	base, ok := o.DeepCopyObject().(client.Object)
	if !ok {
		return fmt.Errorf("%T is not an object", o)
	}
	controllerutil.RemoveFinalizer(o, finalizer)
	return client.IgnoreNotFound(w.Client.Patch(ctx, o, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})))
}

// UpdateStatus writes o's status (an update of the status subresource) and remembers the
// write, so that Behind knows when the cache lags it.
func (w *Writer) UpdateStatus(ctx context.Context, o client.Object) error {
	if err := w.Client.Status().Update(ctx, o); err != nil {
		return err
	}
	w.last.wrote(o)
	return nil
}

// PolicyStatus writes the status status(prev) computes for p, prev being the conditions of
// the status the operator last wrote: p's own, or, while the cache does not show the last
// status written, that one's (their transition times stay). Nothing is written when the
// status is the one p has, or the one last written. It returns prev and the status written
// (nil: none).
func (w *Writer) PolicyStatus(ctx context.Context, p *ztv1.ServiceAccessPolicy,
	status func(prev []metav1.Condition) ztv1.ServiceAccessPolicyStatus) ([]metav1.Condition, *ztv1.ServiceAccessPolicyStatus, error) {
	prev := p.Status.Conditions
	st := status(prev)
	if last, ok := w.last.behind(p); ok && last.status {
		prev = last.conditions
		st = status(prev)
		if statusDigest(&st) == last.digest {
			return prev, nil, nil
		}
	} else if statusIs(p, &st) {
		return prev, nil, nil
	}
	patch, err := statusPatch(&st)
	if err != nil {
		return prev, nil, err
	}
	if err := w.Client.Status().Patch(ctx, p, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return prev, nil, err
	}
	w.last.statusWritten(p, &st)
	return prev, &st, nil
}
