package controllers

import (
	"encoding/json"
	"hash/fnv"
	"sort"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
)

// Reasons set by the reconciler itself; the compiler decides every other reason.
const (
	// ReasonApplyFailed: the API server refused a generated object.
	ReasonApplyFailed = "ApplyFailed"
)

// refOf names a generated object in status.
func refOf(o client.Object) ztv1.ObjectReference {
	gvk := o.GetObjectKind().GroupVersionKind()
	return ztv1.ObjectReference{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind, Namespace: o.GetNamespace(), Name: o.GetName()}
}

// policyStatus computes the status a policy should have after a reconcile: a pure function
// of the previous status (for condition transition times), the compilation and the errors
// met while applying (per backend).
func policyStatus(p *ztv1.ServiceAccessPolicy, out *compiler.Output, applyErrs map[ztv1.Backend]error) ztv1.ServiceAccessPolicyStatus {
	st := ztv1.ServiceAccessPolicyStatus{
		ObservedGeneration: p.Generation,
		Target:             out.Target,
		Callers:            int32(len(p.Spec.From)),
		Conditions:         append([]metav1.Condition(nil), p.Status.Conditions...),
	}
	if out.NextTransition != nil {
		t := metav1.NewTime(*out.NextTransition)
		st.NextTransition = &t
	}
	ready := metav1.Condition{Type: ztv1.ConditionReady, ObservedGeneration: p.Generation,
		Status: metav1.ConditionFalse, Reason: out.Ready.Reason, Message: out.Ready.Message}
	if out.Ready.Status {
		ready.Status = metav1.ConditionTrue
	}
	var failed []string
	for _, b := range out.Backends {
		bs := ztv1.BackendStatus{Name: b.Backend, State: b.State, Message: b.Message}
		if err := applyErrs[b.Backend]; err != nil {
			bs.State, bs.Message = ztv1.BackendFailed, err.Error()
			failed = append(failed, string(b.Backend))
		}
		for _, o := range b.Objects {
			bs.Objects = append(bs.Objects, refOf(o))
		}
		st.Backends = append(st.Backends, bs)
	}
	if len(failed) > 0 {
		sort.Strings(failed)
		ready.Status, ready.Reason = metav1.ConditionFalse, ReasonApplyFailed
		ready.Message = "the API server refused objects of backend(s) " + strings.Join(failed, ", ") +
			"; see status.backends for its message"
	}
	meta.SetStatusCondition(&st.Conditions, ready)
	return st
}

// statusWrites remembers the last status the reconciler wrote to each policy, with the
// resourceVersion the policy had just before. Until the cache shows that write, a reconcile
// reads the policy as it was before it and would write the same status again, and record
// its Event again.
type statusWrites struct {
	mu sync.Mutex
	m  map[types.NamespacedName]statusWrite
}

type statusWrite struct {
	over   string // resourceVersion the write was made over
	digest uint64 // of the status written
}

func statusDigest(st *ztv1.ServiceAccessPolicyStatus) uint64 {
	b, err := json.Marshal(st)
	if err != nil {
		return 0
	}
	h := fnv.New64a()
	_, _ = h.Write(b)
	return h.Sum64()
}

// record notes that after (the policy as written) replaced the status of before.
func (w *statusWrites) record(before, after *ztv1.ServiceAccessPolicy) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[types.NamespacedName]statusWrite{}
	}
	w.m[client.ObjectKeyFromObject(after)] = statusWrite{over: before.ResourceVersion, digest: statusDigest(&after.Status)}
}

// pending reports whether st was already written over the version of p the cache holds:
// the write is on its way to the cache. Once the cache holds a newer version the entry is
// dropped, and the cached status is the truth again.
func (w *statusWrites) pending(p *ztv1.ServiceAccessPolicy, st ztv1.ServiceAccessPolicyStatus) bool {
	key := client.ObjectKeyFromObject(p)
	w.mu.Lock()
	defer w.mu.Unlock()
	e, ok := w.m[key]
	if !ok {
		return false
	}
	if e.over != p.ResourceVersion {
		delete(w.m, key)
		return false
	}
	return e.digest == statusDigest(&st)
}

// forget drops what is remembered of a policy that is gone.
func (w *statusWrites) forget(key types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.m, key)
}
