// Package testenv starts a real API server (envtest: kube-apiserver and etcd) with the
// project's CRDs installed, for integration tests. The binaries come from
// hack/envtest-assets.sh through KUBEBUILDER_ASSETS (make test sets it); when it is unset the
// script is run here, so `go test` works from an IDE too once the binaries are cached.
package testenv

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// RepoRoot is the root of the repository, found from this file's location.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// AssetsDir returns the directory holding kube-apiserver and etcd.
func AssetsDir() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	cmd := exec.Command(filepath.Join(RepoRoot(), "hack", "envtest-assets.sh"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("hack/envtest-assets.sh: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Options adjust the environment.
type Options struct {
	// ExtraCRDPaths are installed besides config/crd/bases (files or folders).
	ExtraCRDPaths []string
	// Webhooks, when set, are installed once the API server runs: envtest points their
	// clientConfig at LocalServingHost:LocalServingPort (picking a free port when unset)
	// and fills caBundle with a CA of its own.
	Webhooks *envtest.WebhookInstallOptions
	// APIServerFlags are added to kube-apiserver's command line (name without dashes: value),
	// e.g. audit-policy-file and audit-log-path.
	APIServerFlags map[string]string
}

// Start starts an API server with the project's CRDs. Stop it with env.Stop().
// StartTimeout is how long an API server of the tests may take to start.
const StartTimeout = 2 * time.Minute

func Start(opts Options) (*envtest.Environment, *rest.Config, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     append([]string{filepath.Join(RepoRoot(), "config", "crd", "bases")}, opts.ExtraCRDPaths...),
		ErrorIfCRDPathMissing: true,
		// go test runs packages side by side on CI's few cores, each starting an API server
		// of its own: give one more than envtest's 20 s to come up.
		ControlPlaneStartTimeout: StartTimeout,
	}
	if opts.Webhooks != nil {
		env.WebhookInstallOptions = *opts.Webhooks
	}
	for k, v := range opts.APIServerFlags {
		env.ControlPlane.GetAPIServer().Configure().Set(k, v)
	}
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop() // Start leaves the control plane running when installing CRDs fails.
		return nil, nil, fmt.Errorf("starting envtest with assets in %s: %w", assets, err)
	}
	// Tests create many objects quickly; client-side throttling only slows them down.
	cfg.QPS, cfg.Burst = -1, -1
	return env, cfg, nil
}

// MeshCRDs returns the CRD files and folders of each service mesh backend, for tests that
// install them: Istio's from the istio.io/api module the Istio backend is built with,
// Linkerd's and Cilium's from test/crds (copies, see its README).
func MeshCRDs() (map[string][]string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "istio.io/api")
	cmd.Dir = RepoRoot()
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("locating the istio.io/api module: %w", err)
	}
	return map[string][]string{
		"Istio":   {filepath.Join(strings.TrimSpace(string(out)), "kubernetes", "customresourcedefinitions.gen.yaml")},
		"Linkerd": {filepath.Join(RepoRoot(), "test", "crds", "linkerd")},
		"Cilium":  {filepath.Join(RepoRoot(), "test", "crds", "cilium")},
	}, nil
}

// AllMeshCRDPaths are the files and folders of every mesh's and CNI's CRDs (MeshCRDs), for
// Options.ExtraCRDPaths.
func AllMeshCRDPaths() ([]string, error) {
	crds, err := MeshCRDs()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, backend := range slices.Sorted(maps.Keys(crds)) {
		out = append(out, crds[backend]...)
	}
	return out, nil
}
