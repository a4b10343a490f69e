package writer

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/model"
)

// driftRepairs counts repairs of someone else's change to a generated object: an edit
// (restored) or a deletion (recreated). docs/metrics.md.
var driftRepairs = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "zerotrust_drift_repairs_total",
	Help: "Generated objects someone else changed or deleted and the operator put back, by backend and kind. Each has a DriftRepaired Warning Event.",
}, []string{"backend", "kind"})

func init() {
	metrics.Registry.MustRegister(driftRepairs)
	// Every series exists from the start, so that rate() and increase() see the first one.
	for _, b := range compiler.Backends() {
		for _, gvk := range b.Kinds {
			driftRepairs.WithLabelValues(model.BackendLabel(b.Name), gvk.Kind)
		}
	}
}
