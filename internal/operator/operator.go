// Package operator builds the controller manager: scheme, caches, indexes and reconcilers.
// main.go (the production binary) and cmd/localrun (make run's local control plane) both
// call New, so they run the same operator.
package operator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/controllers"
	"github.com/zerotrust-dev/zerotrust-operator/internal/certs"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	ztwebhook "github.com/zerotrust-dev/zerotrust-operator/internal/webhook"
	"github.com/zerotrust-dev/zerotrust-operator/internal/writer"
)

// Options are the operator's settings, set by flags in main.go.
type Options struct {
	MetricsAddr string
	// MetricsSecure serves the metrics over HTTPS (a self-signed certificate unless
	// MetricsCertDir holds tls.crt and tls.key) to clients the API server authenticates
	// (TokenReview) and authorizes (SubjectAccessReview: get on the nonResourceURL /metrics),
	// as the kubebuilder layout does. Off, plain HTTP to anyone who reaches the port.
	MetricsSecure  bool
	MetricsCertDir string
	ProbeAddr      string
	// PprofAddr serves net/http/pprof when set and not "0".
	PprofAddr        string
	LeaderElection   bool
	LeaderElectionNS string
	// LeaseDuration, RenewDeadline and RetryPeriod time the leader election (0: the
	// controller-runtime defaults, 15s, 10s and 2s). A standby takes over at most
	// LeaseDuration (plus a RetryPeriod) after the leader stopped renewing.
	LeaseDuration time.Duration
	RenewDeadline time.Duration
	RetryPeriod   time.Duration
	TrustDomain   string
	// Backends sets each enforcement backend auto, on or off (see ParseBackends).
	Backends map[ztv1.Backend]controllers.BackendMode
	// ConcurrentReconciles is the number of policies reconciled in parallel (default
	// DefaultConcurrentReconciles).
	ConcurrentReconciles int
	// SkipNameValidation lets tests run a second manager in the same process.
	SkipNameValidation bool
	// Webhook configures the admission webhook for ServiceAccessPolicies.
	Webhook WebhookOptions
	// Clock is the time the reconcilers decide by: when schedules open and close and
	// policies expire (a timer on it reconciles a policy at its next boundary), and when the
	// baseline audit is due. Default: the real clock. Tests pass a fake one and step it.
	// Certificates are not on it: the API server checks their validity on its own clock.
	Clock clock.WithTickerAndDelayedExecution
	// ReverifyInterval is how often every policy and baseline is reconciled without a watch
	// event, spread evenly over it (0: controllers.DefaultReverifyInterval; negative: never).
	ReverifyInterval time.Duration
	// Namespace is the operator's own namespace (default $POD_NAMESPACE through the
	// --operator-namespace flag, else compiler.DefaultOperatorNamespace). Baselines select
	// it only by naming it (compiler.SystemNamespace), and the webhook keeps its
	// certificate there unless Webhook.Namespace says otherwise.
	Namespace string
}

// WebhookOptions configure the validating admission webhook (internal/webhook), which holds
// policies with a kubernetesAPI target to the RBAC deny list and to their author's own
// permissions. Run it whenever the RBAC backend is enabled: without it, whoever may write a
// policy can grant, through the operator, any permission not on the deny list.
type WebhookOptions struct {
	// Enabled serves the webhook.
	Enabled bool
	// Host and Port it listens on (default all interfaces, 9443).
	Host string
	Port int
	// CertDir holds tls.crt and tls.key (default controller-runtime's,
	// $TMPDIR/k8s-webhook-server/serving-certs).
	CertDir string
	// ManageCerts generates a CA and serving certificate into a Secret of Namespace, writes
	// them to CertDir and keeps the caBundle of the ValidatingWebhookConfiguration current
	// (internal/certs). Off, CertDir must be filled by someone else, e.g. cert-manager.
	ManageCerts bool
	// Namespace is the operator's own: it holds the certificate Secret and is excluded from
	// the webhook (config/webhook).
	Namespace string
	// ServiceName is the webhook's Service in Namespace, the serving certificate's name.
	ServiceName string
	// CertHosts are further DNS names or IP addresses of the serving certificate, e.g.
	// 127.0.0.1 when the API server calls the webhook by URL (tests).
	CertHosts []string
}

// metricsOptions serves the metrics endpoint as o says (Options.MetricsSecure).
func metricsOptions(o Options) metricsserver.Options {
	m := metricsserver.Options{BindAddress: o.MetricsAddr}
	if o.MetricsSecure {
		m.SecureServing = true
		m.CertDir = o.MetricsCertDir
		m.FilterProvider = metricsAuth
	}
	return m
}

// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// DefaultReverifyInterval is the --reverify-interval default.
const DefaultReverifyInterval = controllers.DefaultReverifyInterval

// DefaultConcurrentReconciles is the --concurrent-reconciles default. A reconcile mostly
// waits for the API server (finalizer, applies, status: one request after the other), so
// the operator needs more reconciles in flight than it has cores to keep a remote API
// server busy; 32 held 50% more heap in the benchmark for no measurable gain
// (docs/performance.md).
const DefaultConcurrentReconciles = 16

// ErrRBACWithoutWebhook: the RBAC backend was asked for without the admission webhook, which
// holds every rule of a policy to what its author may do already. Without it, whoever may
// write a ServiceAccessPolicy could grant, through the operator, any permission off the deny
// list; the operator does not start that way.
var ErrRBACWithoutWebhook = errors.New("the rbac backend needs the admission webhook: add --enable-webhook (and its configuration, config/webhook), or leave rbac out of --backends")

// DefaultBackends is the --backends default: NetworkPolicy always, and each mesh once its
// CRDs are served. RBAC is off unless asked for, because it should run with the webhook.
const DefaultBackends = "networkpolicy,istio,linkerd,cilium"

// ParseBackends reads --backends: a comma-separated list of NAME, NAME=auto, NAME=on or
// NAME=off (auto: on while its CRDs are served). Backends not listed are off.
func ParseBackends(s string) (map[ztv1.Backend]controllers.BackendMode, error) {
	return controllers.ParseBackendModes(s)
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
	// Responses uncompressed: the operator runs next to the API server, whose CPU, not the
	// network, is what a large cluster runs short of; gzip of list and watch responses cost
	// the API server more CPU than anything but the writes (docs/performance.md).
	cfg = rest.CopyConfig(cfg)
	cfg.DisableCompression = true
	managed := labels.SelectorFromSet(labels.Set{ztv1.LabelManagedBy: ztv1.ManagedByValue})
	byObject := map[client.Object]cache.ByObject{}
	for _, gvk := range compiler.BuiltinKinds() {
		byObject[writer.NewChild(gvk)] = cache.ByObject{Label: managed, Transform: condense}
	}
	for _, obj := range slimmed() {
		byObject[obj] = cache.ByObject{Transform: slim}
	}
	for _, obj := range controllers.WorkloadTypes() {
		byObject[obj] = cache.ByObject{Transform: controllers.CondenseWorkload}
	}
	byObject[&corev1.Service{}] = cache.ByObject{Transform: controllers.CondenseService}
	byObject[controllers.ServiceAccountMetadata()] = cache.ByObject{Transform: controllers.CondenseServiceAccount}
	byObject[&ztv1.ServiceAccessPolicy{}] = cache.ByObject{Transform: writer.CondensePolicy}
	if o.TrustDomain == "" {
		o.TrustDomain = "cluster.local"
	}
	if o.ReverifyInterval == 0 {
		o.ReverifyInterval = DefaultReverifyInterval
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Namespace == "" {
		o.Namespace = o.Webhook.Namespace
	}
	if o.Webhook.Namespace == "" {
		o.Webhook.Namespace = o.Namespace
	}
	copts := compiler.Options{TrustDomain: o.TrustDomain, OperatorNamespace: o.Namespace}
	if o.ConcurrentReconciles <= 0 {
		o.ConcurrentReconciles = DefaultConcurrentReconciles
	}
	if o.Backends == nil {
		o.Backends, _ = ParseBackends(DefaultBackends)
	}
	if o.Backends[ztv1.BackendRBAC] != controllers.ModeOff && !o.Webhook.Enabled {
		return nil, ErrRBACWithoutWebhook
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating a discovery client: %w", err)
	}
	backends, err := controllers.NewBackends(ctx, o.Backends, dc)
	if err != nil {
		return nil, err
	}
	// Certificates and caBundle are read and written around the cache: the operator may not
	// list Secrets, and must not cache them.
	direct, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		return nil, fmt.Errorf("creating a client: %w", err)
	}
	var hookServer webhook.Server
	certsFailed := false
	if o.Webhook.Enabled {
		if o.Webhook.CertDir == "" {
			o.Webhook.CertDir = filepath.Join(os.TempDir(), "k8s-webhook-server", "serving-certs")
		}
		if o.Webhook.ManageCerts && (o.Webhook.Namespace == "" || o.Webhook.ServiceName == "") {
			return nil, errors.New("managing the webhook certificate needs the operator's namespace and the webhook Service's name")
		}
		if o.Webhook.ManageCerts {
			// The webhook server reads its certificate when it starts: it must exist first.
			err := certs.Ensure(ctx, direct, certOptions(o.Webhook))
			if err != nil && !errors.Is(err, certs.ErrNoWebhookConfiguration) {
				return nil, fmt.Errorf("preparing the webhook certificate: %w", err)
			}
			certsFailed = err != nil
		}
		hookServer = webhook.NewServer(webhook.Options{Host: o.Webhook.Host, Port: o.Webhook.Port, CertDir: o.Webhook.CertDir})
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		LeaseDuration:           positive(o.LeaseDuration),
		RenewDeadline:           positive(o.RenewDeadline),
		RetryPeriod:             positive(o.RetryPeriod),
		WebhookServer:           hookServer,
		Scheme:                  Scheme(),
		Metrics:                 metricsOptions(o),
		HealthProbeBindAddress:  o.ProbeAddr,
		PprofBindAddress:        o.PprofAddr,
		LeaderElection:          o.LeaderElection,
		LeaderElectionID:        "zerotrust-operator.zerotrust.dev",
		LeaderElectionNamespace: o.LeaderElectionNS,
		Cache: cache.Options{
			ByObject:         byObject,
			DefaultTransform: cache.TransformStripManagedFields(),
			NewInformer:      newInformer,
		},
		NewCache: newCondensedCache,
		Client:   client.Options{Cache: &client.CacheOptions{Unstructured: true}},
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	controllers.SetStateSource(mgr.GetCache(), backends)
	if err := writer.SetupChildIndexes(ctx, mgr); err != nil {
		return nil, err
	}
	if err := (&controllers.ServiceAccessPolicyReconciler{
		Client:                  mgr.GetClient(),
		Recorder:                mgr.GetEventRecorder("zerotrust-operator"),
		Clock:                   o.Clock,
		ReverifyInterval:        o.ReverifyInterval,
		Options:                 copts,
		Backends:                backends,
		MaxConcurrentReconciles: o.ConcurrentReconciles,
		SkipNameValidation:      o.SkipNameValidation,
	}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the ServiceAccessPolicy controller: %w", err)
	}
	if err := (&controllers.ZeroTrustBaselineReconciler{
		Client:             mgr.GetClient(),
		Recorder:           mgr.GetEventRecorder("zerotrust-operator"),
		Clock:              o.Clock,
		ReverifyInterval:   o.ReverifyInterval,
		Options:            copts,
		Backends:           backends,
		SkipNameValidation: o.SkipNameValidation,
	}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the ZeroTrustBaseline controller: %w", err)
	}
	if err := (&controllers.BackendDiscoveryReconciler{Backends: backends, Client: mgr.GetClient()}).SetupWithManager(mgr, o.SkipNameValidation); err != nil {
		return nil, fmt.Errorf("setting up backend discovery: %w", err)
	}
	if err := (&controllers.NamespaceReconciler{
		Client:             mgr.GetClient(),
		Options:            copts,
		Backends:           backends,
		SkipNameValidation: o.SkipNameValidation,
	}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the Namespace controller: %w", err)
	}
	if o.Webhook.Enabled {
		ztwebhook.Setup(mgr, copts)
		if o.Webhook.ManageCerts {
			if err := mgr.Add(&certs.Rotator{Client: direct, Options: certOptions(o.Webhook), Failed: certsFailed}); err != nil {
				return nil, err
			}
		}
		// Not ready, and so not sent admission reviews by the Service, before it serves.
		if err := mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker()); err != nil {
			return nil, err
		}
	}
	// Mesh backends get a cache of their own when they become active (now or when their CRDs
	// appear), filtered like the manager's.
	if err := backends.Start(mgr, func(kinds []schema.GroupVersionKind) (cache.Cache, error) {
		byObject := map[client.Object]cache.ByObject{}
		for _, gvk := range kinds {
			byObject[writer.NewChild(gvk)] = cache.ByObject{Label: managed, Transform: condense}
		}
		return cache.New(cfg, cache.Options{Scheme: mgr.GetScheme(), ByObject: byObject, DefaultTransform: cache.TransformStripManagedFields()})
	}); err != nil {
		return nil, err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, err
	}
	return mgr, nil
}

// positive is d, or nil (the default) when d is not positive.
func positive(d time.Duration) *time.Duration {
	if d <= 0 {
		return nil
	}
	return &d
}

func certOptions(o WebhookOptions) certs.Options {
	co := certs.Options{
		Namespace:            o.Namespace,
		ServiceName:          o.ServiceName,
		WebhookConfiguration: ztwebhook.ConfigurationName,
		CertDir:              o.CertDir,
	}
	for _, h := range o.CertHosts {
		if ip := net.ParseIP(h); ip != nil {
			co.IPs = append(co.IPs, ip)
		} else {
			co.DNSNames = append(co.DNSNames, h)
		}
	}
	return co
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
