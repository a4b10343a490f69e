package controllers

import (
	"context"
	"fmt"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/writer"
)

// BackendMode is how a flag sets a backend: auto (on when its CRDs are served), on, off.
type BackendMode string

// Backend modes.
const (
	ModeAuto BackendMode = "auto"
	ModeOn   BackendMode = "on"
	ModeOff  BackendMode = "off"
)

// ParseBackendModes reads "--backends": a comma-separated list of NAME, NAME=auto, NAME=on
// or NAME=off, NAME being a backend's flag name in the compiler's registry (any case), or
// "all" (every backend auto). Backends not listed are off; NAME alone is auto.
func ParseBackendModes(s string) (map[ztv1.Backend]BackendMode, error) {
	modes := map[ztv1.Backend]BackendMode{}
	for _, b := range compiler.AllBackends() {
		modes[b] = ModeOff
	}
	if strings.TrimSpace(s) == "all" {
		for _, b := range compiler.AllBackends() {
			modes[b] = ModeAuto
		}
		return modes, nil
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, mode, _ := strings.Cut(part, "=")
		m := BackendMode(strings.ToLower(mode))
		if mode == "" {
			m = ModeAuto
		}
		if m != ModeAuto && m != ModeOn && m != ModeOff {
			return nil, fmt.Errorf("backend %q: mode %q is not auto, on or off", name, mode)
		}
		b, err := compiler.ParseBackendName(name)
		if err != nil {
			return nil, err
		}
		modes[b] = m
	}
	return modes, nil
}

// Backends knows which backends are enabled by flags and installed in the cluster. Mesh
// backends are re-discovered whenever a CustomResourceDefinition changes, so a mesh
// installed after the operator started is picked up without a restart.
type Backends struct {
	modes     map[ztv1.Backend]BackendMode
	discovery discovery.DiscoveryInterface

	mu        sync.RWMutex
	installed map[ztv1.Backend]bool
	// caches hold the objects of an active mesh backend's kinds: one cache per backend,
	// created when the backend becomes active (a cache cannot be configured for kinds the
	// API server does not serve yet), filtered by the managed-by label and indexed by owner.
	caches map[ztv1.Backend]cache.Cache
	// onInstall is called (once per backend) when a mesh backend becomes active, so that
	// controllers watch its kinds.
	onInstall []func(ztv1.Backend, cache.Cache) error
	// onChange is called whenever an enabled backend comes or goes (see OnChange).
	onChange []func()
	mgr      manager.Manager
	newCache func(kinds []schema.GroupVersionKind) (cache.Cache, error)
}

// NewBackends checks once which backends are installed.
func NewBackends(ctx context.Context, modes map[ztv1.Backend]BackendMode, dc discovery.DiscoveryInterface) (*Backends, error) {
	b := &Backends{modes: modes, discovery: dc, installed: map[ztv1.Backend]bool{}, caches: map[ztv1.Backend]cache.Cache{}}
	if _, _, err := b.Refresh(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

// served reports whether every kind of backend is served by the API server.
func (b *Backends) served(backend ztv1.Backend) (bool, error) {
	if compiler.IsBuiltin(backend) {
		return true, nil
	}
	for _, gvk := range compiler.BackendKinds(backend) {
		list, err := b.discovery.ServerResourcesForGroupVersion(gvk.GroupVersion().String())
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("discovering %s: %w", gvk.GroupVersion(), err)
		}
		found := false
		for _, r := range list.APIResources {
			if r.Kind == gvk.Kind {
				found = true
			}
		}
		if !found {
			return false, nil
		}
	}
	return true, nil
}

// Refresh re-discovers the mesh backends and returns those that became active, and whether
// any enabled backend came or went.
func (b *Backends) Refresh(ctx context.Context) (added []ztv1.Backend, changed bool, err error) {
	for _, backend := range compiler.AllBackends() {
		ok, err := b.served(backend)
		if err != nil {
			return nil, false, err
		}
		b.mu.Lock()
		was := b.installed[backend]
		b.installed[backend] = ok
		b.mu.Unlock()
		if ok && !was && b.modes[backend] != ModeOff {
			added = append(added, backend)
		}
		if was != ok {
			changed = changed || b.modes[backend] != ModeOff
			log.FromContext(ctx).Info("backend discovery", "backend", backend, "installed", ok)
		}
	}
	return added, changed, nil
}

// OnChange registers fn to run whenever an enabled backend comes or goes after start-up:
// what one backend generates may depend on which others run (compiler: Cilium's HTTP rules
// beside a mesh), and a backend that goes leaves its policies' status to update.
func (b *Backends) OnChange(fn func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.onChange = append(b.onChange, fn)
}

func (b *Backends) changed() {
	b.mu.RLock()
	fns := append([]func(){}, b.onChange...)
	b.mu.RUnlock()
	for _, fn := range fns {
		fn()
	}
}

// Installed reports whether backend's kinds were served at the last discovery (whatever
// its mode): the audit reads Istio's AuthorizationPolicies only then.
func (b *Backends) Installed(backend ztv1.Backend) bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return compiler.IsBuiltin(backend) || b.installed[backend]
}

// Active lists the backends that run: enabled and installed, or forced on.
func (b *Backends) Active() []ztv1.Backend {
	b.mu.RLock()
	defer b.mu.RUnlock()
	var out []ztv1.Backend
	for _, backend := range compiler.AllBackends() {
		switch b.modes[backend] {
		case ModeOn:
			out = append(out, backend)
		case ModeAuto:
			if b.installed[backend] {
				out = append(out, backend)
			}
		}
	}
	return out
}

// Kinds lists the generated kinds of the active backends whose objects are cached (a
// mesh forced on while its CRDs are missing has nothing to list).
func (b *Backends) Kinds() []schema.GroupVersionKind {
	var out []schema.GroupVersionKind
	for _, backend := range b.Active() {
		b.mu.RLock()
		_, cached := b.caches[backend]
		b.mu.RUnlock()
		if compiler.IsBuiltin(backend) || cached {
			out = append(out, compiler.BackendKinds(backend)...)
		}
	}
	return out
}

// Reader returns the cache that holds objects of kind gvk, or fallback (the manager's
// client) for built-in kinds.
func (b *Backends) Reader(gvk schema.GroupVersionKind, fallback client.Reader) client.Reader {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for backend, c := range b.caches {
		for _, k := range compiler.BackendKinds(backend) {
			if k == gvk {
				return c
			}
		}
	}
	return fallback
}

// Inactive reports the backends that do not run, as status entries
// (compiler.InactiveBackends): Disabled by a flag, or NotInstalled when their CRDs are not
// served.
func (b *Backends) Inactive() []compiler.BackendResult {
	b.mu.RLock()
	defer b.mu.RUnlock()
	var disabled, notInstalled []ztv1.Backend
	for _, backend := range compiler.AllBackends() {
		switch {
		case b.modes[backend] == ModeOff:
			disabled = append(disabled, backend)
		case b.modes[backend] == ModeAuto && !b.installed[backend]:
			notInstalled = append(notInstalled, backend)
		}
	}
	return compiler.InactiveBackends(disabled, notInstalled)
}

// OnInstall registers fn to run when a mesh backend becomes active, with the cache of its
// kinds. It is how controllers start watching a mesh's kinds after start-up.
func (b *Backends) OnInstall(fn func(ztv1.Backend, cache.Cache) error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.onInstall = append(b.onInstall, fn)
	return nil
}

// Start activates the mesh backends that are active now; later ones are activated by the
// discovery controller. Call it after every controller registered its OnInstall.
func (b *Backends) Start(mgr manager.Manager, newCache func(kinds []schema.GroupVersionKind) (cache.Cache, error)) error {
	b.mu.Lock()
	b.mgr, b.newCache = mgr, newCache
	b.mu.Unlock()
	var meshes []ztv1.Backend
	for _, backend := range b.Active() {
		if !compiler.IsBuiltin(backend) {
			meshes = append(meshes, backend)
		}
	}
	return b.activate(meshes)
}

// activate gives each newly active mesh backend its cache, starts it with the manager and
// runs the OnInstall callbacks.
func (b *Backends) activate(added []ztv1.Backend) error {
	for _, backend := range added {
		b.mu.Lock()
		if _, done := b.caches[backend]; done || compiler.IsBuiltin(backend) || b.mgr == nil || !b.installed[backend] {
			b.mu.Unlock()
			continue
		}
		c, err := b.newCache(compiler.BackendKinds(backend))
		if err != nil {
			b.mu.Unlock()
			return fmt.Errorf("creating the cache of backend %s: %w", backend, err)
		}
		for _, gvk := range compiler.BackendKinds(backend) {
			if err := c.IndexField(context.Background(), writer.NewChild(gvk), writer.IndexOwner, writer.OwnerIndex); err != nil {
				b.mu.Unlock()
				return err
			}
		}
		if err := b.mgr.Add(c); err != nil {
			b.mu.Unlock()
			return err
		}
		b.caches[backend] = c
		fns := append([]func(ztv1.Backend, cache.Cache) error(nil), b.onInstall...)
		b.mu.Unlock()
		for _, fn := range fns {
			if err := fn(backend, c); err != nil {
				return err
			}
		}
	}
	return nil
}
