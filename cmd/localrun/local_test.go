package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/zerotrust-dev/zerotrust-operator/internal/operator"
)

var (
	crdDir     = filepath.Join("..", "..", "config", "crd", "bases")
	samplesDir = filepath.Join("..", "..", "config", "samples")
)

func assets(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		t.Skip("KUBEBUILDER_ASSETS is not set (make test sets it)")
	}
	return dir
}

// No kubeconfig anywhere is the normal case for a newcomer: one line saying so, and nothing
// logged (ctrl.GetConfig logged an ERROR with a Go stack here).
func TestReachableClusterWithoutKubeconfig(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "config")
	t.Setenv("KUBECONFIG", missing)
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
	var logs bytes.Buffer
	ctrl.SetLogger(zap.New(zap.WriteTo(&logs), zap.UseDevMode(true)))

	cfg, err := reachableCluster("")
	if err == nil {
		t.Fatalf("found a cluster at %s", cfg.Host)
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || msg != "none found in "+missing {
		t.Errorf("error = %q, want one line naming %s", msg, missing)
	}
	if logs.Len() > 0 {
		t.Errorf("logged:\n%s", logs.String())
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bin")
	path := filepath.Join(dir, "local.kubeconfig")
	for _, content := range []string{"first", "second"} {
		if err := writeFileAtomic(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("read %q, %v; want %q", got, err, content)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("left in %s: %v", dir, entries)
	}
}

// startLocal replaces a stale kubeconfig only once the control plane is ready: the one it
// writes works, finds the CRDs established and the samples applied; applying the samples
// again changes nothing and fails nothing; Stop removes the kubeconfig.
func TestStartLocal(t *testing.T) {
	a := assets(t)
	ctx := context.Background()
	out := filepath.Join(t.TempDir(), "bin", "local.kubeconfig")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, []byte("stale"), 0o600); err != nil {
		t.Fatal(err)
	}
	lp, err := startLocal(ctx, localOptions{Assets: a, CRDDir: crdDir, SamplesDir: samplesDir, KubeconfigOut: out})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = lp.Stop()
		}
	}()

	userCfg, err := clientcmd.BuildConfigFromFlags("", out)
	if err != nil {
		t.Fatalf("the kubeconfig written: %v", err)
	}
	c, err := client.New(userCfg, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	if err := apiextensionsv1.AddToScheme(c.Scheme()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"serviceaccesspolicies.zerotrust.dev", "zerotrustbaselines.zerotrust.dev"} {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := c.Get(ctx, client.ObjectKey{Name: name}, crd); err != nil {
			t.Fatal(err)
		}
		if !crdCondition(crd, apiextensionsv1.Established) {
			t.Errorf("CRD %s is not established when the kubeconfig is there", name)
		}
	}
	objs, err := readSamples(samplesDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range objs {
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(want.GroupVersionKind())
		if err := c.Get(ctx, client.ObjectKeyFromObject(want), got); err != nil {
			t.Errorf("sample %s %s: %v", want.GetKind(), want.GetName(), err)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(out))
	if len(entries) != 1 {
		t.Errorf("left beside the kubeconfig: %v", entries)
	}

	var report bytes.Buffer
	applied, total, err := applySamples(ctx, lp.Config, samplesDir, &report)
	if err != nil || applied != total || report.Len() > 0 {
		t.Errorf("applying the samples again: %d of %d, %v, %s", applied, total, err, report.String())
	}

	stopped = true
	if err := lp.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("the kubeconfig of a stopped control plane is still there: %v", err)
	}
}

// The user's YAML landing first (the same object created, or created with other values)
// never fails the samples: the same object is applied as usual, a conflicting one keeps the
// user's values and is reported on one line.
func TestApplySamplesOverUsersObjects(t *testing.T) {
	env := &envtest.Environment{BinaryAssetsDirectory: assets(t), CRDDirectoryPaths: []string{crdDir}, ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		t.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	ctx := context.Background()
	c, err := client.New(cfg, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		t.Fatal(err)
	}

	objs, err := readSamples(samplesDir)
	if err != nil {
		t.Fatal(err)
	}
	var baseline *unstructured.Unstructured
	for _, u := range objs {
		if u.GetKind() == "ZeroTrustBaseline" && u.GetName() == "default" {
			baseline = u.DeepCopy()
		}
	}
	if baseline == nil {
		t.Fatal("config/samples has no ZeroTrustBaseline default")
	}
	// The user's baseline, with other values, created the way `kubectl create` does.
	if err := unstructured.SetNestedField(baseline.Object, "baseline", "spec", "podSecurity"); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, baseline, client.FieldOwner("kubectl-create")); err != nil {
		t.Fatal(err)
	}
	// The user's copy of a sample Namespace, identical.
	ns := &unstructured.Unstructured{}
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	ns.SetName("shop")
	if err := c.Create(ctx, ns, client.FieldOwner("kubectl-create")); err != nil {
		t.Fatal(err)
	}

	for range 2 {
		var report bytes.Buffer
		applied, total, err := applySamples(ctx, cfg, samplesDir, &report)
		if err != nil {
			t.Fatal(err)
		}
		if applied != total-1 {
			t.Errorf("applied %d of %d, want all but the conflicting baseline", applied, total)
		}
		lines := strings.Split(strings.TrimSpace(report.String()), "\n")
		if len(lines) != 1 || !strings.Contains(lines[0], "ZeroTrustBaseline default") || !strings.Contains(lines[0], "conflict") {
			t.Errorf("report:\n%s\nwant one line about the conflicting ZeroTrustBaseline default", report.String())
		}
	}
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(baseline.GroupVersionKind())
	if err := c.Get(ctx, client.ObjectKeyFromObject(baseline), got); err != nil {
		t.Fatal(err)
	}
	if ps, _, _ := unstructured.NestedString(got.Object, "spec", "podSecurity"); ps != "baseline" {
		t.Errorf("the user's baseline has podSecurity %q after the samples, want theirs (baseline)", ps)
	}
}
