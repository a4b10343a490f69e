package controllers

import (
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/model"
)

// The workloads of a chart, or of a team's template, declare the same container ports and
// probes: cached workloads share one copy of each distinct list (about 200 bytes a workload,
// 53000 workloads at 10000 policies).
var (
	sharedPorts  = &sharedSlices[corev1.ContainerPort]{}
	sharedProbes = &sharedSlices[model.Probe]{}
)

// maxShared bounds a sharedSlices table. A cluster has a few hundred distinct port lists;
// past the bound, a list is kept by the workload that declares it, as before it was shared.
const maxShared = 4096

// sharedSlices hands out one canonical copy of each distinct slice it is given, up to
// maxShared of them. The copies are read-only, as the cache's contents are. Entries are
// never removed: the table holds at most maxShared small lists.
type sharedSlices[T any] struct {
	mu sync.Mutex
	m  map[string][]T
}

// get returns the canonical copy of s (s itself past maxShared), nil for an empty s.
func (t *sharedSlices[T]) get(s []T) []T {
	if len(s) == 0 {
		return nil
	}
	// Go syntax quotes every string, so that two different lists never share a key.
	key := fmt.Sprintf("%#v", s)
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, ok := t.m[key]; ok {
		return c
	}
	if len(t.m) >= maxShared {
		return s
	}
	if t.m == nil {
		t.m = map[string][]T{}
	}
	c := make([]T, len(s))
	copy(c, s)
	t.m[key] = c
	return c
}
