// Command localrun is what `make run` runs: the operator against the current kubeconfig or,
// when no cluster is reachable, against a local control plane (kube-apiserver and etcd from
// hack/envtest-assets.sh) that it starts, fills with the CRDs and config/samples, and stops
// again on Ctrl-C.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/zerotrust-dev/zerotrust-operator/internal/operator"
)

func main() {
	var o operator.Options
	var backends, kubeconfigOut string
	var forceLocal bool
	flag.StringVar(&o.MetricsAddr, "metrics-bind-address", "0", "Address of the metrics endpoint; 0 disables it.")
	flag.StringVar(&o.ProbeAddr, "health-probe-bind-address", "0", "Address of the health probes; 0 disables them.")
	flag.StringVar(&backends, "backends", operator.DefaultBackends, "Enforcement backends (see the manager's --backends).")
	flag.StringVar(&kubeconfigOut, "local-kubeconfig", "bin/local.kubeconfig", "Where to write the local control plane's kubeconfig.")
	flag.BoolVar(&forceLocal, "local", false, "Start a local control plane even when a cluster is reachable.")
	// Readable console logs, but no Go stack under every error or warning: `make run` is read
	// by people, and an error there is something to act on, not a bug report
	// (--zap-stacktrace-level brings the stacks back).
	zapOpts := zap.Options{Development: true}
	zapOpts.BindFlags(flag.CommandLine)
	if err := flag.CommandLine.Set("zap-stacktrace-level", "panic"); err != nil {
		panic(err)
	}
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	klog.SetLogger(ctrl.Log)

	var err error
	if o.Backends, err = operator.ParseBackends(backends); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := run(ctrl.SetupSignalHandler(), o, kubeconfigOut, forceLocal); err != nil {
		fmt.Fprintln(os.Stderr, "make run:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o operator.Options, kubeconfigOut string, forceLocal bool) error {
	if !forceLocal {
		cfg, err := reachableCluster(kubeconfigFlag())
		if err == nil {
			fmt.Printf("Running against the cluster of the current kubeconfig (%s).\n", cfg.Host)
			return start(ctx, cfg, o)
		}
		fmt.Printf("No cluster at the current kubeconfig (%v): starting a local control plane.\n", err)
	}
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		return errors.New("KUBEBUILDER_ASSETS is not set: run through `make run`, which builds kube-apiserver and etcd with hack/envtest-assets.sh")
	}
	lp, err := startLocal(ctx, localOptions{
		Assets:        assets,
		CRDDir:        filepath.Join("config", "crd", "bases"),
		SamplesDir:    filepath.Join("config", "samples"),
		KubeconfigOut: kubeconfigOut,
	})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Println("Stopping the local control plane.")
		if err := lp.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the local control plane:", err)
		}
	}()
	fmt.Printf("\nLocal control plane at %s. Use it with:\n  kubectl --kubeconfig %s get sap -A\n\n", lp.Config.Host, kubeconfigOut)
	return start(ctx, lp.Config, o)
}

func start(ctx context.Context, cfg *rest.Config, o operator.Options) error {
	mgr, err := operator.New(ctx, cfg, o)
	if err != nil {
		return err
	}
	return operator.Run(ctx, mgr)
}

// kubeconfigFlag is the value of --kubeconfig, which controller-runtime registers on the
// command line.
func kubeconfigFlag() string {
	if f := flag.Lookup("kubeconfig"); f != nil {
		return f.Value.String()
	}
	return ""
}

// reachableCluster returns the current kubeconfig's cluster when it answers within seconds,
// or why there is none, in one line.
//
// The kubeconfig is loaded here with client-go's rules (--kubeconfig, $KUBECONFIG,
// ~/.kube/config, then the in-cluster config) rather than with ctrl.GetConfig, which logs
// "unable to load in-cluster config" as an error, with a stack in development mode, on every
// machine that has no kubeconfig: the normal case for a newcomer.
func reachableCluster(explicitPath string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = explicitPath
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if clientcmd.IsEmptyConfig(err) {
		return nil, fmt.Errorf("none found in %s", strings.Join(rules.GetLoadingPrecedence(), ", "))
	}
	if err != nil {
		return nil, err
	}
	if cfg.QPS == 0 {
		cfg.QPS = -1 // as ctrl.GetConfig: API priority and fairness rather than client-side limits
	}
	probe := rest.CopyConfig(cfg)
	probe.Timeout = 3 * time.Second
	dc, err := discovery.NewDiscoveryClientForConfig(probe)
	if err != nil {
		return nil, err
	}
	if _, err := dc.ServerVersion(); err != nil {
		return nil, fmt.Errorf("%s does not answer: %w", cfg.Host, err)
	}
	return cfg, nil
}
