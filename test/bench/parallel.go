package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/zerotrust-dev/zerotrust-operator/internal/operator"
)

// tunedClient is the benchmark's writer: no client-side rate limit (QPS and Burst -1), one
// HTTP/2 connection that carries every worker's requests, protobuf for built-in kinds.
func tunedClient(cfg *rest.Config) (client.WithWatch, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = -1, -1
	cfg.Timeout = 2 * time.Minute
	cfg.UserAgent = "zerotrust-bench"
	return client.NewWithWatch(cfg, client.Options{Scheme: operator.Scheme()})
}

// parallel runs fn(0..n-1) on workers goroutines and returns the first error, after which
// no new item starts.
func parallel(ctx context.Context, workers, n int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			defer func() {
				if p := recover(); p != nil {
					cancel(fmt.Errorf("panic: %v\n%s", p, debug.Stack()))
				}
			}()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return nil
}

// retries counts requests the writers had to repeat (throttled or server-side timeouts).
var retries atomic.Int64

// retry runs fn until it succeeds, fails for good, or 8 attempts fail for a transient
// reason (429, 5xx, timeouts, reset connections).
func retry(ctx context.Context, fn func() error) error {
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || !transient(err) || attempt == 8 || ctx.Err() != nil {
			return err
		}
		retries.Add(1)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func transient(err error) bool {
	var ne net.Error
	return apierrors.IsTooManyRequests(err) || apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) ||
		apierrors.IsInternalError(err) || apierrors.IsServiceUnavailable(err) || errors.As(err, &ne)
}

// create creates obj, retrying transient failures. An attempt that timed out may have
// created it: a retry that finds it reads it back instead.
func create(ctx context.Context, c client.Client, obj client.Object) error {
	tried := false
	err := retry(ctx, func() error {
		err := c.Create(ctx, obj)
		if tried && apierrors.IsAlreadyExists(err) {
			err = c.Get(ctx, client.ObjectKeyFromObject(obj), obj)
		}
		tried = true
		return err
	})
	if err != nil {
		return fmt.Errorf("creating %T %s/%s: %w", obj, obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}

// createAll creates objs with workers writers and returns the elapsed time.
func createAll[T client.Object](ctx context.Context, c client.Client, workers int, objs []T) (time.Duration, error) {
	start := time.Now()
	err := parallel(ctx, workers, len(objs), func(ctx context.Context, i int) error {
		return create(ctx, c, objs[i])
	})
	return time.Since(start), err
}
