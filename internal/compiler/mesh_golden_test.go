package compiler_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/linkerd"
	"github.com/zerotrust-dev/zerotrust-operator/internal/inventory/static"
)

// networkBackends are the backends that enforce calls between pods, in the order kubectl-zt
// runs them: NetworkPolicy (the port-level reference the others are read against) and the
// L7 backends. RBAC is left out: it has nothing to do with these cases.
var networkBackends = []ztv1.Backend{ztv1.BackendNetworkPolicy, ztv1.BackendIstio, ztv1.BackendLinkerd, ztv1.BackendCilium}

// TestMeshGolden renders every testdata/mesh/<case>.yaml as `kubectl-zt render --backends
// networkpolicy,istio,linkerd,cilium` would, followed by the Linkerd namespace annotations
// of every baseline, and compares the result with testdata/mesh/<case>.golden.yaml.
// Run `go test ./internal/compiler -run TestMeshGolden -update` to accept a change.
func TestMeshGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/mesh/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, in := range inputs {
		if strings.HasSuffix(in, ".golden.yaml") {
			continue
		}
		n++
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		t.Run(name, func(t *testing.T) {
			got := renderCaseWith(t, in, networkBackends)
			got = append(got, linkerdAnnotations(t, in)...)
			golden := filepath.Join("testdata", "mesh", name+".golden.yaml")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (run with -update to accept, then review the diff):\n%s", golden, lineDiff(string(want), string(got)))
			}
		})
	}
	if n < 6 {
		t.Fatalf("found only %d mesh golden cases in testdata/mesh", n)
	}
}

// linkerdAnnotations lists, as comments, the namespace annotations Linkerd's part of every
// baseline asks for in each namespace it selects.
func linkerdAnnotations(t *testing.T, path string) []byte {
	t.Helper()
	inv, err := static.LoadInventory([]string{path}, nil, "default")
	if err != nil {
		t.Fatal(err)
	}
	baselines, err := inv.Baselines()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for i := range baselines {
		b := &baselines[i]
		for _, ns := range inv.Namespaces() {
			ok, err := compiler.BaselineSelects(b, &ns, compiler.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				continue
			}
			ann := linkerd.NamespaceAnnotations(compiler.BaselineModel(b, ns.Name))
			keys := make([]string, 0, len(ann))
			for k := range ann {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var kv []string
			for _, k := range keys {
				kv = append(kv, k+"="+ann[k])
			}
			if len(kv) == 0 {
				kv = []string{"none"}
			}
			fmt.Fprintf(&buf, "# Linkerd annotations of Namespace %s (ZeroTrustBaseline %s): %s\n", ns.Name, b.Name, strings.Join(kv, ", "))
		}
	}
	return buf.Bytes()
}
