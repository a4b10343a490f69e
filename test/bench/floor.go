package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/controllers"
	"github.com/zerotrust-dev/zerotrust-operator/internal/apply"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
)

// floorWrite measures the least a converge has to write, with no operator: the raw write's
// objects and, after each policy's objects, the status the operator writes for it
// (controllers.PolicyStatusPatch over the compiler's output, the inactive backends included)
// with the operator's request, by the same tuned parallel client. A policy is Ready at its
// generation only once its status says so, so no operator can converge faster than this on
// the same machine; the finalizers and Events the operator also writes are left out. Like
// the raw write it is repeated (BENCH_RAW_REPEATS), the cluster reset in between (objects
// deleted, statuses removed), and the fastest counts. It runs after the raw write, on the
// unconverged cluster, and leaves it so.
func (b *bench) floorWrite(ctx context.Context) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.timeout)
	defer cancel()
	writes, err := b.floorWrites(ctx)
	if err != nil {
		return 0, err
	}
	b.logf("floor: the %d objects and %d policies' statuses the operator will write, by %d writers, no operator; best of %d",
		len(b.rendered), len(b.policies), b.cfg.workers, b.cfg.rawRepeats)
	names := b.w.namespaceNames()
	write := func(ctx context.Context) (time.Duration, error) {
		start := time.Now()
		err := parallel(ctx, b.cfg.workers, len(writes), func(ctx context.Context, i int) error {
			return retry(ctx, func() error { return writes[i](ctx) })
		})
		return time.Since(start), err
	}
	reset := func(ctx context.Context) error {
		if err := b.deleteGenerated(ctx, names, nil); err != nil {
			return err
		}
		return b.resetPolicies(ctx, false)
	}
	return b.fastestOf(ctx, len(writes), write, reset, &b.info.floorCPU)
}

// floorWrites are the writes of floorWrite in the order the operator makes them per policy
// (its objects, then its status), the baseline's objects last.
func (b *bench) floorWrites(ctx context.Context) ([]func(context.Context) error, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(b.admin)
	if err != nil {
		return nil, err
	}
	// Which backends the cluster serves, as the operator finds out (without its log lines).
	backends, err := controllers.NewBackends(ctrllog.IntoContext(ctx, logr.Discard()), b.modes, dc)
	if err != nil {
		return nil, err
	}
	byPolicy := map[types.NamespacedName][]client.Object{}
	var rest []client.Object
	for _, o := range b.rendered {
		l := o.GetLabels()
		if l[ztv1.LabelPolicyName] == "" {
			rest = append(rest, o)
			continue
		}
		key := types.NamespacedName{Namespace: l[ztv1.LabelPolicyNamespace], Name: l[ztv1.LabelPolicyName]}
		byPolicy[key] = append(byPolicy[key], o)
	}
	applyOne := func(o client.Object) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := apply.Apply(ctx, b.c, o, nil)
			return err
		}
	}
	var writes []func(context.Context) error
	b.floorStatuses = map[types.NamespacedName]ztv1.ServiceAccessPolicyStatus{}
	now := time.Now()
	for i := range b.policies {
		p := &b.policies[i]
		out, err := compiler.Compile(b.inv, compiler.Input{Policy: p, Now: now, Options: b.opts})
		if err != nil {
			return nil, fmt.Errorf("compiling %s/%s: %w", p.Namespace, p.Name, err)
		}
		out.Backends = append(out.Backends, backends.Inactive()...)
		patch, err := controllers.PolicyStatusPatch(p, out)
		if err != nil {
			return nil, err
		}
		var written struct {
			Status ztv1.ServiceAccessPolicyStatus `json:"status"`
		}
		if err := json.Unmarshal(patch, &written); err != nil {
			return nil, err
		}
		b.floorStatuses[client.ObjectKeyFromObject(p)] = written.Status
		for _, o := range byPolicy[client.ObjectKeyFromObject(p)] {
			writes = append(writes, applyOne(o))
		}
		target := &ztv1.ServiceAccessPolicy{}
		target.Namespace, target.Name = p.Namespace, p.Name
		writes = append(writes, func(ctx context.Context) error {
			return b.c.Status().Patch(ctx, target, client.RawPatch(types.MergePatchType, patch))
		})
	}
	for _, o := range rest {
		writes = append(writes, applyOne(o))
	}
	return writes, nil
}

// verifyStatuses checks that the operator wrote every policy the status floorWrite wrote
// for it (the Ready condition's transition time aside): else the floor measured other writes
// than the converge's.
func (b *bench) verifyStatuses(ctx context.Context) error {
	var list ztv1.ServiceAccessPolicyList
	if err := b.c.List(ctx, &list); err != nil {
		return err
	}
	var differ []string
	for i := range list.Items {
		p := &list.Items[i]
		want, ok := b.floorStatuses[client.ObjectKeyFromObject(p)]
		if !ok || !sameStatus(p.Status, want) {
			differ = append(differ, p.Namespace+"/"+p.Name)
		}
	}
	if len(differ) > 0 || len(list.Items) != len(b.floorStatuses) {
		b.note("WARNING: the operator's statuses differ from the floor write's: %d of %d policies %v",
			len(differ), len(list.Items), head(differ))
		b.logf("  %s", b.info.notes[len(b.info.notes)-1])
		return nil
	}
	b.logf("  the operator wrote exactly the %d statuses of the floor write", len(list.Items))
	return nil
}

// sameStatus compares two statuses but for their conditions' transition times.
func sameStatus(a, b ztv1.ServiceAccessPolicyStatus) bool {
	untimed := func(st ztv1.ServiceAccessPolicyStatus) []byte {
		st.Conditions = slices.Clone(st.Conditions)
		for i := range st.Conditions {
			st.Conditions[i].LastTransitionTime = metav1.Time{}
		}
		data, _ := json.Marshal(st)
		return data
	}
	return string(untimed(a)) == string(untimed(b))
}
