package controllers

import (
	"fmt"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/model"
)

// The workloads of a chart, or of a team's template, declare the same container ports and
// probes, and its Services the same ports: cached workloads and Services share one copy of
// each distinct list (about 200 bytes a workload, 53000 workloads at 10000 policies).
var (
	sharedPorts        = &sharedSlices[corev1.ContainerPort]{}
	sharedProbes       = &sharedSlices[model.Probe]{}
	sharedServicePorts = &sharedSlices[corev1.ServicePort]{key: servicePortsKey}
)

// servicePortsKey is the key of a list of Service ports: Go syntax, as for the other lists,
// with the value an appProtocol points to rather than its address.
func servicePortsKey(ps []corev1.ServicePort) string {
	var b strings.Builder
	for _, p := range ps {
		app := p.AppProtocol
		p.AppProtocol = nil
		fmt.Fprintf(&b, "%#v %#v;", p, app != nil)
		if app != nil {
			fmt.Fprintf(&b, "%q;", *app)
		}
	}
	return b.String()
}

// maxShared bounds a sharedSlices table. A cluster has a few hundred distinct port lists;
// past the bound, a list is kept by the workload that declares it, as before it was shared.
const maxShared = 4096

// sharedSlices hands out one canonical copy of each distinct slice it is given, up to
// maxShared of them. The copies are read-only, as the cache's contents are. Entries are
// never removed: the table holds at most maxShared small lists.
type sharedSlices[T any] struct {
	// key is the key of a list, unique to its content; nil for Go syntax (%#v), which
	// quotes every string, so that two different lists never share a key. A list holding
	// pointers needs its own.
	key func([]T) string
	mu  sync.Mutex
	m   map[string][]T
}

// get returns the canonical copy of s (s itself past maxShared), nil for an empty s.
func (t *sharedSlices[T]) get(s []T) []T {
	if len(s) == 0 {
		return nil
	}
	var key string
	if t.key != nil {
		key = t.key(s)
	} else {
		key = fmt.Sprintf("%#v", s)
	}
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
