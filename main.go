// Command manager is the zerotrust-operator: it turns ServiceAccessPolicies and
// ZeroTrustBaselines into NetworkPolicies (and, as backends are added, mesh and RBAC
// objects) and keeps them so.
package main

import (
	"errors"
	"flag"
	"os"
	"time"

	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/zerotrust-dev/zerotrust-operator/internal/operator"
)

// version is the operator's version, set at build time from git
// (-ldflags "-X main.version=$(git describe --tags --always --dirty)"; see the Makefile's image
// target and the Dockerfile).
var version = "dev"

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func main() {
	var o operator.Options
	var backends string
	flag.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8443", "Address of the Prometheus metrics endpoint; 0 disables it.")
	flag.BoolVar(&o.MetricsSecure, "metrics-secure", true, "Serve the metrics over HTTPS to clients the API server authenticates and authorizes (get on the nonResourceURL /metrics); false: plain HTTP to anyone.")
	flag.StringVar(&o.MetricsCertDir, "metrics-cert-dir", "", "Directory of the metrics endpoint's tls.crt and tls.key (default: a self-signed certificate).")
	flag.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "Address of the health and readiness probes.")
	flag.StringVar(&o.PprofAddr, "pprof-bind-address", "0", "Address of the Go profiler (net/http/pprof), for diagnosis; 0 (the default) disables it.")
	flag.BoolVar(&o.LeaderElection, "leader-elect", false, "Elect a leader so that only one replica reconciles.")
	flag.StringVar(&o.LeaderElectionNS, "leader-election-namespace", "", "Namespace of the leader election lease (default: the pod's own).")
	flag.DurationVar(&o.LeaseDuration, "leader-election-lease-duration", 15*time.Second, "How long a standby waits, after the leader last renewed its lease, before it takes over.")
	flag.DurationVar(&o.RenewDeadline, "leader-election-renew-deadline", 10*time.Second, "How long the leader retries renewing its lease before it gives up leadership (and exits).")
	flag.DurationVar(&o.RetryPeriod, "leader-election-retry-period", 2*time.Second, "How often leader election clients try to acquire or renew the lease.")
	flag.StringVar(&o.TrustDomain, "trust-domain", "cluster.local", "Trust domain of mesh identities (TRUST_DOMAIN/ns/NS/sa/NAME).")
	flag.StringVar(&backends, "backends", operator.DefaultBackends, "Enforcement backends, comma-separated: networkpolicy, istio, linkerd, cilium, rbac, each NAME (on while its CRDs are served), NAME=on or NAME=off; unlisted ones are off.")
	flag.DurationVar(&o.ReverifyInterval, "reverify-interval", operator.DefaultReverifyInterval, "How often every policy and baseline is re-verified without a watch event, spread evenly over the interval; 0 or less: never.")
	flag.IntVar(&o.ConcurrentReconciles, "concurrent-reconciles", operator.DefaultConcurrentReconciles, "Policies reconciled in parallel.")
	flag.BoolVar(&o.Webhook.Enabled, "enable-webhook", false, "Serve the admission webhook that holds kubernetesAPI policies to the RBAC deny list and to their author's permissions. Required by the rbac backend.")
	flag.IntVar(&o.Webhook.Port, "webhook-port", 9443, "Port of the admission webhook.")
	flag.StringVar(&o.Webhook.CertDir, "webhook-cert-dir", "", "Directory of the webhook's tls.crt and tls.key (default $TMPDIR/k8s-webhook-server/serving-certs).")
	flag.BoolVar(&o.Webhook.ManageCerts, "webhook-manage-certs", true, "Generate the webhook's CA and serving certificate into a Secret of the operator's namespace and keep the ValidatingWebhookConfiguration's caBundle current; false when cert-manager fills --webhook-cert-dir.")
	flag.StringVar(&o.Namespace, "operator-namespace", envOr("POD_NAMESPACE", "zerotrust-system"), "The operator's namespace: it holds the webhook certificate Secret, and ZeroTrustBaselines select it only by naming it (default $POD_NAMESPACE).")
	flag.StringVar(&o.Webhook.ServiceName, "webhook-service-name", "zerotrust-operator-webhook", "The webhook's Service in the operator's namespace, named in the serving certificate.")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	if o.ReverifyInterval <= 0 {
		o.ReverifyInterval = -1 // never (Options: 0 is the default)
	}

	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	klog.SetLogger(ctrl.Log)
	log := ctrl.Log.WithName("setup")
	log.Info("zerotrust-operator", "version", version)

	if limit := operator.SetMemoryLimit(); limit > 0 {
		log.Info("soft memory limit set to 90% of the container's (GOMEMLIMIT overrides it)", "bytes", limit)
	}
	var err error
	if o.Backends, err = operator.ParseBackends(backends); err != nil {
		log.Error(err, "invalid --backends")
		os.Exit(2)
	}
	ctx := ctrl.SetupSignalHandler()
	mgr, err := operator.New(ctx, ctrl.GetConfigOrDie(), o)
	if errors.Is(err, operator.ErrRBACWithoutWebhook) {
		log.Error(err, "invalid flags")
		os.Exit(2)
	}
	if err != nil {
		log.Error(err, "setting up the operator")
		os.Exit(1)
	}
	if err := operator.Run(ctx, mgr); err != nil {
		log.Error(err, "operator stopped")
		os.Exit(1)
	}
}
