package controllers

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/writer"
)

// The operator's own metrics (docs/metrics.md). Every label has a bounded set of values:
// backends, kinds, Ready reasons, modes; never an object's name or namespace. Reconcile
// duration and errors are controller-runtime's (controller_runtime_reconcile_time_seconds,
// controller_runtime_reconcile_errors_total, by controller).

// reverifications counts the periodic re-verifications (--reverify-interval) by what was
// re-verified.
var reverifications = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "zerotrust_reverifications_total",
	Help: "Periodic re-verifications of a ServiceAccessPolicy or ZeroTrustBaseline against the API server, by kind.",
}, []string{"kind"})

// scheduleTransitions counts policies whose schedule or expiry started or stopped granting.
var scheduleTransitions = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "zerotrust_schedule_transitions_total",
	Help: "ServiceAccessPolicies whose schedule window or expiry started (to=active) or stopped (to=inactive) granting access.",
}, []string{"to"})

func init() {
	metrics.Registry.MustRegister(reverifications, scheduleTransitions)
	scheduleTransitions.WithLabelValues("active")
	scheduleTransitions.WithLabelValues("inactive")
	// Every series exists from the start, so that rate() and increase() see the first one.
	for _, kind := range []string{"ServiceAccessPolicy", "ZeroTrustBaseline"} {
		reverifications.WithLabelValues(kind)
	}
}

var (
	policiesDesc = prometheus.NewDesc("zerotrust_policies",
		"ServiceAccessPolicies by Ready status, Ready reason and mode.", []string{"ready", "reason", "mode"}, nil)
	generatedDesc = prometheus.NewDesc("zerotrust_generated_objects",
		"Objects the operator generated and holds in its caches, by backend and kind.", []string{"backend", "kind"}, nil)
)

// StateMetrics are gauges of what the operator's caches hold, computed at each scrape (a
// list from memory, no request to the API server): policies by Ready and mode, generated
// objects by backend and kind.
type StateMetrics struct {
	mu       sync.Mutex
	reader   client.Reader
	backends *Backends
}

// stateMetrics is registered once; the operator points it at its caches (SetStateSource).
var stateMetrics = &StateMetrics{}

func init() { metrics.Registry.MustRegister(stateMetrics) }

// SetStateSource points the state gauges at a manager's cache and backends.
func SetStateSource(reader client.Reader, backends *Backends) {
	stateMetrics.mu.Lock()
	defer stateMetrics.mu.Unlock()
	stateMetrics.reader, stateMetrics.backends = reader, backends
}

// Describe implements prometheus.Collector.
func (m *StateMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- policiesDesc
	ch <- generatedDesc
}

// Collect implements prometheus.Collector.
func (m *StateMetrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	reader, backends := m.reader, m.backends
	m.mu.Unlock()
	if reader == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	type key struct{ ready, reason, mode string }
	counts := map[key]int{}
	err := eachCached(ctx, reader, &ztv1.ServiceAccessPolicyList{}, func(o client.Object) {
		p, ok := o.(*ztv1.ServiceAccessPolicy)
		if !ok {
			return
		}
		k := key{ready: "Unknown", mode: string(p.Spec.Mode)}
		if k.mode == "" {
			k.mode = string(ztv1.ModeEnforce)
		}
		if c := meta.FindStatusCondition(p.Status.Conditions, ztv1.ConditionReady); c != nil && c.ObservedGeneration == p.Generation {
			k.ready, k.reason = string(c.Status), c.Reason
		}
		counts[k]++
	})
	if err != nil {
		log.FromContext(ctx).V(1).Info("metrics: listing policies", "error", err.Error())
	} else {
		for k, n := range counts {
			ch <- prometheus.MustNewConstMetric(policiesDesc, prometheus.GaugeValue, float64(n), k.ready, k.reason, k.mode)
		}
	}
	if backends == nil {
		return
	}
	for _, gvk := range backends.Kinds() {
		counts := map[string]int{}
		err := eachCached(ctx, backends.Reader(gvk, reader), writer.NewChildList(gvk), func(o client.Object) {
			counts[label(o, ztv1.LabelBackend)]++
		})
		if err != nil {
			continue
		}
		for backend, n := range counts {
			ch <- prometheus.MustNewConstMetric(generatedDesc, prometheus.GaugeValue, float64(n), backend, gvk.Kind)
		}
	}
}

// cachedObjects is a cache that hands out the objects it holds themselves (the operator's,
// condensedCache): a gauge over 10000 policies would otherwise copy 4.7 MB at each scrape.
type cachedObjects interface {
	EachCached(ctx context.Context, list client.ObjectList, fn func(client.Object)) (bool, error)
}

// eachCached calls fn with each object of list's kind in r, read-only: the cache's own
// objects when r hands them out, else the items of a list without deep copies.
func eachCached(ctx context.Context, r client.Reader, list client.ObjectList, fn func(client.Object)) error {
	if c, ok := r.(cachedObjects); ok {
		if done, err := c.EachCached(ctx, list, fn); done {
			return err
		}
	}
	if err := r.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return err
	}
	return meta.EachListItem(list, func(o runtime.Object) error {
		if co, ok := o.(client.Object); ok {
			fn(co)
		}
		return nil
	})
}

// label is o's value of label key, read without building a map when o can (apply.Condensed).
func label(o client.Object, key string) string {
	if l, ok := o.(interface{ Label(string) (string, bool) }); ok {
		v, _ := l.Label(key)
		return v
	}
	return o.GetLabels()[key]
}
