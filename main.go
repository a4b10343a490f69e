// Command manager is the zerotrust-operator: it turns ServiceAccessPolicies and
// ZeroTrustBaselines into NetworkPolicies (and, as backends are added, mesh and RBAC
// objects) and keeps them so.
package main

import (
	"flag"
	"os"

	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/zerotrust-dev/zerotrust-operator/internal/operator"
)

func main() {
	var o operator.Options
	var backends string
	flag.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8080", "Address of the Prometheus metrics endpoint; 0 disables it.")
	flag.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "Address of the health and readiness probes.")
	flag.BoolVar(&o.LeaderElection, "leader-elect", false, "Elect a leader so that only one replica reconciles.")
	flag.StringVar(&o.LeaderElectionNS, "leader-election-namespace", "", "Namespace of the leader election lease (default: the pod's own).")
	flag.StringVar(&o.TrustDomain, "trust-domain", "cluster.local", "Trust domain of mesh identities (TRUST_DOMAIN/ns/NS/sa/NAME).")
	flag.StringVar(&backends, "backends", "networkpolicy", "Comma-separated enforcement backends to run: networkpolicy, istio, linkerd, cilium, rbac.")
	flag.IntVar(&o.ConcurrentReconciles, "concurrent-reconciles", 4, "Policies reconciled in parallel.")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()

	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	klog.SetLogger(ctrl.Log)
	log := ctrl.Log.WithName("setup")

	var err error
	if o.Backends, err = operator.ParseBackends(backends); err != nil {
		log.Error(err, "invalid --backends")
		os.Exit(2)
	}
	ctx := ctrl.SetupSignalHandler()
	mgr, err := operator.New(ctx, ctrl.GetConfigOrDie(), o)
	if err != nil {
		log.Error(err, "setting up the operator")
		os.Exit(1)
	}
	if err := operator.Run(ctx, mgr); err != nil {
		log.Error(err, "operator stopped")
		os.Exit(1)
	}
}
