package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/zerotrust-dev/zerotrust-operator/internal/operator"
)

// samplesFieldOwner is the field manager config/samples are server-side applied under.
const samplesFieldOwner = "zerotrust-samples"

// readyTimeout bounds the wait for the API server and the CRDs once envtest has started them.
const readyTimeout = time.Minute

type localOptions struct {
	Assets        string // kube-apiserver and etcd
	CRDDir        string // config/crd/bases
	SamplesDir    string // config/samples
	KubeconfigOut string // written once the control plane is ready for the user
}

// localPlane is a running local control plane.
type localPlane struct {
	Config *rest.Config // admin, for the operator
	env    *envtest.Environment
	out    string
}

// Stop stops the control plane and removes its kubeconfig, which would point at nothing.
func (lp *localPlane) Stop() error {
	err := lp.env.Stop()
	if rmErr := os.Remove(lp.out); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
		err = errors.Join(err, rmErr)
	}
	return err
}

// startLocal starts kube-apiserver and etcd with the CRDs installed, waits until the API
// server is ready and every CRD is established, applies the samples, and only then writes an
// admin kubeconfig to o.KubeconfigOut (atomically), so that a user or script waiting for that
// file finds a control plane ready to use. A kubeconfig left there by an earlier run is
// removed first: it points at a control plane that is gone.
func startLocal(ctx context.Context, o localOptions) (*localPlane, error) {
	if err := os.Remove(o.KubeconfigOut); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("removing the stale %s: %w", o.KubeconfigOut, err)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: o.Assets,
		CRDDirectoryPaths:     []string{o.CRDDir},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop() // Start leaves the control plane running when installing CRDs fails.
		return nil, fmt.Errorf("starting the local control plane: %w", err)
	}
	lp := &localPlane{Config: cfg, env: env, out: o.KubeconfigOut}
	fail := func(err error) (*localPlane, error) {
		_ = lp.Stop()
		return nil, err
	}
	admin, err := env.AddUser(envtest.User{Name: "local-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fail(fmt.Errorf("creating the local admin user: %w", err))
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		return fail(err)
	}
	if err := waitReady(ctx, cfg, env.CRDs, readyTimeout); err != nil {
		return fail(err)
	}
	applied, total, err := applySamples(ctx, cfg, o.SamplesDir, os.Stderr)
	if err != nil {
		return fail(err)
	}
	fmt.Printf("Installed the CRDs and applied %d of %d objects from %s.\n", applied, total, o.SamplesDir)
	if err := writeFileAtomic(o.KubeconfigOut, kubeconfig, 0o600); err != nil {
		return fail(err)
	}
	return lp, nil
}

// waitReady waits until the API server reports itself ready (/readyz) and every CRD is
// Established with its names accepted.
func waitReady(ctx context.Context, cfg *rest.Config, crds []*apiextensionsv1.CustomResourceDefinition, timeout time.Duration) error {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	scheme := runtime.NewScheme()
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	var notReady error
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		body, err := dc.RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil || strings.TrimSpace(string(body)) != "ok" {
			notReady = fmt.Errorf("the API server is not ready: %v %s", err, body)
			return false, nil
		}
		for _, want := range crds {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := c.Get(ctx, client.ObjectKey{Name: want.Name}, crd); err != nil {
				notReady = fmt.Errorf("CRD %s: %w", want.Name, err)
				return false, nil
			}
			if !crdCondition(crd, apiextensionsv1.Established) || !crdCondition(crd, apiextensionsv1.NamesAccepted) {
				notReady = fmt.Errorf("CRD %s is not established", want.Name)
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		if notReady != nil {
			return fmt.Errorf("waiting for the local control plane: %w", notReady)
		}
		return fmt.Errorf("waiting for the local control plane: %w", err)
	}
	return nil
}

func crdCondition(crd *apiextensionsv1.CustomResourceDefinition, t apiextensionsv1.CustomResourceDefinitionConditionType) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == t {
			return c.Status == apiextensionsv1.ConditionTrue
		}
	}
	return false
}

// writeFileAtomic writes data to a temporary file next to path and renames it into place,
// so that whoever waits for path never reads it half-written.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
			err = fmt.Errorf("writing %s: %w", path, err)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// applySamples server-side applies every object of the folder's YAML files
// (kustomization.yaml aside), Namespaces first, under the field owner "zerotrust-samples".
// It never forces: an object someone else applied first (the user's own YAML, landing at the
// same moment) keeps their values. An object that cannot be applied is reported on one line
// to w and skipped; only an unreadable sample file is an error. It returns how many objects
// were applied, of how many.
func applySamples(ctx context.Context, cfg *rest.Config, dir string, w io.Writer) (applied, total int, err error) {
	objs, err := readSamples(dir)
	if err != nil {
		return 0, 0, err
	}
	c, err := client.New(cfg, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		return 0, 0, err
	}
	for _, u := range objs {
		name := u.GetName()
		if ns := u.GetNamespace(); ns != "" {
			name = ns + "/" + name
		}
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(samplesFieldOwner)); err != nil {
			if apierrors.IsConflict(err) {
				_, _ = fmt.Fprintf(w, "%s: %s %s already exists with other values, kept as it is (%s)\n", dir, u.GetKind(), name, oneLine(err.Error()))
			} else {
				_, _ = fmt.Fprintf(w, "%s: skipped %s %s: %s\n", dir, u.GetKind(), name, oneLine(err.Error()))
			}
			continue
		}
		applied++
	}
	return applied, len(objs), nil
}

// readSamples decodes every object of the folder's YAML files (kustomization.yaml aside),
// Namespaces first.
func readSamples(dir string) ([]*unstructured.Unstructured, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	var objs []*unstructured.Unstructured
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(string(data)), 4096)
		for {
			u := &unstructured.Unstructured{}
			if err := dec.Decode(&u.Object); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			if len(u.Object) > 0 {
				objs = append(objs, u)
			}
		}
	}
	sort.SliceStable(objs, func(a, b int) bool { return objs[a].GetKind() == "Namespace" && objs[b].GetKind() != "Namespace" })
	return objs, nil
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
