package controllers

import (
	"context"
	"maps"
	"sort"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/zerotrust-dev/zerotrust-operator/internal/writer"
)

// baselineApplyWorkers bounds the namespaces whose objects one reconcile applies at once.
const baselineApplyWorkers = 16

// compiledNamespace is a namespace a baseline applies to, and how to compile its objects.
type compiledNamespace struct {
	name    string
	compile func() ([]client.Object, error)
}

// applyPerNamespace compiles and applies the objects of each namespace (writer.Apply, with
// DriftRepaired Events on baseline), several namespaces at a time: a new baseline over 1000 namespaces is 1000 writes, which
// one after the other take three times as long as the API server needs. Objects are
// compiled by the worker that applies them, so that only those in flight are held. What
// no namespace generated is left in live. It returns the earliest retry of a repair that
// waits (writer.Writer.Apply) and the first error.
func applyPerNamespace(ctx context.Context, w *writer.Writer, baseline client.Object, namespaces []compiledNamespace, live writer.Objects) (time.Duration, error) {
	// Each namespace gets its own part of live, so that Apply needs no lock.
	liveByNS := map[string]writer.Objects{}
	for k, o := range live {
		if liveByNS[k.Namespace] == nil {
			liveByNS[k.Namespace] = writer.Objects{}
		}
		liveByNS[k.Namespace][k] = o
	}
	var (
		mu    sync.Mutex
		first error
		retry time.Duration
		wg    sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if first == nil {
			first = err
		}
	}
	sem := make(chan struct{}, baselineApplyWorkers)
	for _, ns := range namespaces {
		part := liveByNS[ns.name]
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			objs, err := ns.compile()
			if err != nil {
				// Nothing of this namespace is stale: what it holds stays until it compiles.
				clear(part)
				fail(err)
				return
			}
			wait, err := w.Apply(ctx, baseline, objs, part)
			if err != nil {
				fail(err)
			}
			if wait > 0 {
				mu.Lock()
				if retry == 0 || wait < retry {
					retry = wait
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	clear(live)
	for _, part := range liveByNS {
		maps.Copy(live, part)
	}
	return retry, first
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

type selectorError struct{ error }

func isSelectorError(err error) bool { _, ok := err.(selectorError); return ok }
