package main

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

// event is one watch event as the benchmark saw it, with the instant it arrived.
type event struct {
	typ watch.EventType
	obj client.Object
	at  time.Time
	// initial marks the objects of the list that precedes the watch.
	initial bool
}

// follow lists what newList lists (with opts, in pages) and then watches it, calling fn for
// every listed object (initial) and every later event, until ctx ends. When the watch
// closes it lists again. synced is closed once the first watch is open.
func follow(ctx context.Context, c client.WithWatch, newList func() client.ObjectList, opts []client.ListOption,
	fn func(event), synced chan<- struct{}) error {
	first := true
	for ctx.Err() == nil {
		rv := ""
		cont := ""
		for {
			list := newList()
			if err := c.List(ctx, list, append(append([]client.ListOption{}, opts...), client.Limit(2000), client.Continue(cont))...); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("listing: %w", err)
			}
			if rv == "" {
				rv = list.GetResourceVersion()
			}
			items, err := meta.ExtractList(list)
			if err != nil {
				return err
			}
			now := time.Now()
			for _, it := range items {
				fn(event{typ: watch.Added, obj: it.(client.Object), at: now, initial: true})
			}
			if cont = list.GetContinue(); cont == "" {
				break
			}
		}
		lo := &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true}}
		for _, o := range opts {
			o.ApplyToList(lo)
		}
		w, err := c.Watch(ctx, newList(), lo)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("watching: %w", err)
		}
		if first {
			close(synced)
			first = false
		}
		for e := range w.ResultChan() {
			if e.Type == watch.Error {
				break // re-list
			}
			if e.Type == watch.Bookmark {
				continue
			}
			fn(event{typ: e.Type, obj: e.Object.(client.Object), at: time.Now()})
		}
		w.Stop()
	}
	return nil
}

// startFollow runs follow in a goroutine and returns once its watch is open. The channel
// receives follow's error (or panic) when it ends.
func startFollow(ctx context.Context, c client.WithWatch, newList func() client.ObjectList, opts []client.ListOption, fn func(event)) (<-chan error, error) {
	synced := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				errc <- fmt.Errorf("panic: %v\n%s", p, debug.Stack())
			}
		}()
		errc <- follow(ctx, c, newList, opts, fn, synced)
	}()
	select {
	case <-synced:
		return errc, nil
	case err := <-errc:
		if err == nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("watching: %w", err)
	case <-time.After(time.Minute):
		return nil, errors.New("timed out opening a watch")
	}
}

// readiness tracks which policies are Ready for their current generation. It keeps per
// policy only whether it is Ready and, if not, why, and counts the Ready ones as events
// arrive: the benchmark polls it every 10 ms and must not spend the CPU it measures (10000
// whole policies scanned per poll cost it a tenth of the machine).
type readiness struct {
	mu       sync.Mutex
	notReady map[types.NamespacedName]string
	ready    map[types.NamespacedName]bool
}

func newReadiness() *readiness {
	return &readiness{notReady: map[types.NamespacedName]string{}, ready: map[types.NamespacedName]bool{}}
}

func (r *readiness) observe(e event) {
	p := e.obj.(*ztv1.ServiceAccessPolicy)
	k := types.NamespacedName{Namespace: p.Namespace, Name: p.Name}
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.notReady, k)
	delete(r.ready, k)
	switch {
	case e.typ == watch.Deleted:
	case policyReady(p):
		r.ready[k] = true
	default:
		why := "no status yet"
		if c := meta.FindStatusCondition(p.Status.Conditions, ztv1.ConditionReady); c != nil {
			why = fmt.Sprintf("%s %s: %s", c.Status, c.Reason, c.Message)
		}
		r.notReady[k] = fmt.Sprintf("generation %d, observed %d; %s", p.Generation, p.Status.ObservedGeneration, why)
	}
}

func policyReady(p *ztv1.ServiceAccessPolicy) bool {
	if p.Status.ObservedGeneration != p.Generation {
		return false
	}
	c := meta.FindStatusCondition(p.Status.Conditions, ztv1.ConditionReady)
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration <= p.Generation
}

// count returns the number of policies seen and of those Ready.
func (r *readiness) count() (seen, ready int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ready) + len(r.notReady), len(r.ready)
}

// pending describes up to 5 policies that are not Ready.
func (r *readiness) pending() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for k, why := range r.notReady {
		if len(out) == 5 {
			break
		}
		out = append(out, fmt.Sprintf("%s (%s)", k, why))
	}
	return out
}

// sameAsGenerated reports whether live holds what want held: the same spec, want's labels
// and the same ownerReferences.
func sameAsGenerated(live, want *networkingv1.NetworkPolicy) bool {
	if !equality.Semantic.DeepEqual(live.Spec, want.Spec) {
		return false
	}
	for k, v := range want.Labels {
		if live.Labels[k] != v {
			return false
		}
	}
	return equality.Semantic.DeepEqual(live.OwnerReferences, want.OwnerReferences)
}
