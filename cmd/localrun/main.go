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
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
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
	zapOpts := zap.Options{Development: true}
	zapOpts.BindFlags(flag.CommandLine)
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
	cfg, reachErr := reachableCluster()
	if cfg != nil && !forceLocal {
		fmt.Printf("Running against the cluster of the current kubeconfig (%s).\n", cfg.Host)
		return start(ctx, cfg, o)
	}
	if !forceLocal {
		fmt.Printf("No reachable cluster (%v): starting a local control plane.\n", reachErr)
	}
	env, cfg, err := startLocal(kubeconfigOut)
	if err != nil {
		return err
	}
	defer func() {
		fmt.Println("Stopping the local control plane.")
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the local control plane:", err)
		}
	}()
	fmt.Printf("\nLocal control plane at %s. Use it with:\n  kubectl --kubeconfig %s get sap -A\n\n", cfg.Host, kubeconfigOut)
	return start(ctx, cfg, o)
}

func start(ctx context.Context, cfg *rest.Config, o operator.Options) error {
	mgr, err := operator.New(ctx, cfg, o)
	if err != nil {
		return err
	}
	return operator.Run(ctx, mgr)
}

// reachableCluster returns the current kubeconfig's cluster when it answers within seconds.
func reachableCluster() (*rest.Config, error) {
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return nil, err
	}
	probe := rest.CopyConfig(cfg)
	probe.Timeout = 3 * time.Second
	dc, err := discovery.NewDiscoveryClientForConfig(probe)
	if err != nil {
		return nil, err
	}
	if _, err := dc.ServerVersion(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// startLocal starts kube-apiserver and etcd with the CRDs installed, writes an admin
// kubeconfig and applies config/samples.
func startLocal(kubeconfigOut string) (*envtest.Environment, *rest.Config, error) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		return nil, nil, errors.New("KUBEBUILDER_ASSETS is not set: run through `make run`, which builds kube-apiserver and etcd with hack/envtest-assets.sh")
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join("config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop() // Start leaves the control plane running when installing CRDs fails.
		return nil, nil, fmt.Errorf("starting the local control plane: %w", err)
	}
	fail := func(err error) (*envtest.Environment, *rest.Config, error) {
		_ = env.Stop()
		return nil, nil, err
	}
	admin, err := env.AddUser(envtest.User{Name: "local-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fail(fmt.Errorf("creating the local admin user: %w", err))
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		return fail(err)
	}
	if err := os.MkdirAll(filepath.Dir(kubeconfigOut), 0o755); err != nil {
		return fail(err)
	}
	if err := os.WriteFile(kubeconfigOut, kubeconfig, 0o600); err != nil {
		return fail(fmt.Errorf("writing %s: %w", kubeconfigOut, err))
	}
	n, err := applySamples(cfg, filepath.Join("config", "samples"))
	if err != nil {
		return fail(err)
	}
	fmt.Printf("Installed the CRDs and applied %d objects from config/samples.\n", n)
	return env, cfg, nil
}

// applySamples creates every object of the folder's YAML files (kustomization.yaml aside),
// Namespaces first.
func applySamples(cfg *rest.Config, dir string) (int, error) {
	c, err := client.New(cfg, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		return 0, err
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return 0, err
	}
	var objs []*unstructured.Unstructured
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return 0, err
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(string(data)), 4096)
		for {
			u := &unstructured.Unstructured{}
			if err := dec.Decode(&u.Object); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return 0, fmt.Errorf("%s: %w", f, err)
			}
			if len(u.Object) > 0 {
				objs = append(objs, u)
			}
		}
	}
	sort.SliceStable(objs, func(a, b int) bool { return objs[a].GetKind() == "Namespace" && objs[b].GetKind() != "Namespace" })
	ctx := context.Background()
	for _, u := range objs {
		if err := c.Create(ctx, u); err != nil {
			return 0, fmt.Errorf("applying %s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
	return len(objs), nil
}
