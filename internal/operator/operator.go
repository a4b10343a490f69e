// Package operator builds the controller manager: scheme, caches, indexes and reconcilers.
// main.go (the production binary) and cmd/localrun (make run's local control plane) both
// call New, so they run the same operator.
package operator

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/controllers"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
)

// Options are the operator's settings, set by flags in main.go.
type Options struct {
	MetricsAddr          string
	ProbeAddr            string
	LeaderElection       bool
	LeaderElectionNS     string
	TrustDomain          string
	Backends             []ztv1.Backend
	ConcurrentReconciles int
	// SkipNameValidation lets tests run a second manager in the same process.
	SkipNameValidation bool
}

// DefaultBackends are the backends enabled unless flags say otherwise.
var DefaultBackends = []ztv1.Backend{ztv1.BackendNetworkPolicy}

// ParseBackends turns a comma-separated flag value into backends.
func ParseBackends(s string) ([]ztv1.Backend, error) {
	all := []ztv1.Backend{ztv1.BackendNetworkPolicy, ztv1.BackendIstio, ztv1.BackendLinkerd, ztv1.BackendCilium, ztv1.BackendRBAC}
	var out []ztv1.Backend
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		found := false
		for _, b := range all {
			if strings.EqualFold(part, string(b)) {
				out, found = append(out, b), true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown backend %q (known: networkpolicy, istio, linkerd, cilium, rbac)", part)
		}
	}
	return out, nil
}

// Scheme holds the types the operator reads and writes.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntimeMust(clientgoscheme.AddToScheme(s))
	utilruntimeMust(ztv1.AddToScheme(s))
	return s
}

func utilruntimeMust(err error) {
	if err != nil {
		panic(err)
	}
}

// New builds the manager with every reconciler registered. Generated objects are cached
// only when they carry the managed-by label; managedFields are dropped from every cached
// object; ServiceAccounts are cached as metadata; Pods are not cached at all.
func New(ctx context.Context, cfg *rest.Config, o Options) (ctrl.Manager, error) {
	managed := labels.SelectorFromSet(labels.Set{ztv1.LabelManagedBy: ztv1.ManagedByValue})
	byObject := map[client.Object]cache.ByObject{}
	for _, gvk := range controllers.ChildKinds {
		byObject[controllers.NewChild(gvk)] = cache.ByObject{Label: managed}
	}
	if o.TrustDomain == "" {
		o.TrustDomain = "cluster.local"
	}
	if o.Backends == nil {
		o.Backends = DefaultBackends
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  Scheme(),
		Metrics:                 metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress:  o.ProbeAddr,
		LeaderElection:          o.LeaderElection,
		LeaderElectionID:        "zerotrust-operator.zerotrust.dev",
		LeaderElectionNamespace: o.LeaderElectionNS,
		Cache: cache.Options{
			ByObject:         byObject,
			DefaultTransform: cache.TransformStripManagedFields(),
		},
		Client: client.Options{Cache: &client.CacheOptions{Unstructured: true}},
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	if err := controllers.SetupIndexes(ctx, mgr); err != nil {
		return nil, err
	}
	if err := controllers.SetupChildIndexes(ctx, mgr); err != nil {
		return nil, err
	}
	if err := (&controllers.ServiceAccessPolicyReconciler{
		Client:                  mgr.GetClient(),
		Recorder:                mgr.GetEventRecorder("zerotrust-operator"),
		Options:                 compiler.Options{Backends: o.Backends, TrustDomain: o.TrustDomain},
		MaxConcurrentReconciles: o.ConcurrentReconciles,
		SkipNameValidation:      o.SkipNameValidation,
	}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the ServiceAccessPolicy controller: %w", err)
	}
	if err := (&controllers.ZeroTrustBaselineReconciler{
		Client:             mgr.GetClient(),
		Recorder:           mgr.GetEventRecorder("zerotrust-operator"),
		Options:            compiler.Options{Backends: o.Backends, TrustDomain: o.TrustDomain},
		SkipNameValidation: o.SkipNameValidation,
	}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the ZeroTrustBaseline controller: %w", err)
	}
	if err := (&controllers.NamespaceReconciler{
		Client:             mgr.GetClient(),
		SkipNameValidation: o.SkipNameValidation,
	}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the Namespace controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, err
	}
	return mgr, nil
}

// Run starts the manager and logs "operator running" once its caches have synced, the
// moment it starts enforcing. It returns when ctx ends or the manager fails.
func Run(ctx context.Context, mgr ctrl.Manager) error {
	log := ctrl.Log.WithName("setup")
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		if mgr.GetCache().WaitForCacheSync(ctx) {
			log.Info("operator running")
		}
		<-ctx.Done()
		return nil
	})); err != nil {
		return err
	}
	return mgr.Start(ctx)
}
