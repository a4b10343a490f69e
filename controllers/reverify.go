package controllers

import (
	"context"
	"time"

	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// DefaultReverifyInterval is --reverify-interval's default.
const DefaultReverifyInterval = 10 * time.Minute

// reverifySource re-verifies every object list returns once per interval: it reconciles
// them one by one, evenly spread over the interval (never in one burst), so that each
// policy or baseline is compared with what it should be even when no watch event said
// anything changed, e.g. after a change made while the operator was partitioned from the
// API server. A reconcile that finds everything in place writes nothing. interval <= 0
// turns it off. It runs while its controller does, so only on the leader.
func reverifySource(kind string, interval time.Duration, list func(context.Context) ([]reconcile.Request, error)) source.Source {
	return source.Func(func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		if interval <= 0 {
			return nil
		}
		go func() {
			logger := log.FromContext(ctx).WithValues("reverify", kind)
			for {
				reqs, err := list(ctx)
				if err != nil {
					logger.Error(err, "listing for re-verification")
				}
				// n objects: one every interval/n; none: wait a whole interval.
				step := interval
				if len(reqs) > 0 {
					step = interval / time.Duration(len(reqs))
				}
				if len(reqs) == 0 && !wait(ctx, step) {
					return
				}
				for _, req := range reqs {
					if !wait(ctx, step) {
						return
					}
					q.Add(req)
					reverifications.WithLabelValues(kind).Inc()
				}
			}
		}()
		return nil
	})
}

// wait sleeps for d, false when ctx ends first.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
