package main

import (
	"strings"
	"testing"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/inventory/static"
)

const systemNamespaces = `
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Namespace
metadata: {name: kube-system}
---
apiVersion: v1
kind: Namespace
metadata: {name: zerotrust-system}
---
apiVersion: v1
kind: Namespace
metadata: {name: platform}
---
apiVersion: zerotrust.dev/v1alpha1
kind: ZeroTrustBaseline
metadata: {name: all}
spec:
  namespaceSelector: {}
  network: {defaultDeny: [Ingress]}
`

// TestRenderSystemNamespaces: render leaves the system namespaces and the operator's
// (--operator-namespace) out of a baseline that does not name them, says so on stderr, and
// prints exactly what the compiler renders with the operator's namespace as the operator
// has it.
func TestRenderSystemNamespaces(t *testing.T) {
	for _, tc := range []struct {
		args           []string
		operatorNS     string
		selected, left []string
	}{
		{operatorNS: "zerotrust-system", selected: []string{"platform", "shop"}, left: []string{"kube-system", "zerotrust-system"}},
		{args: []string{"--operator-namespace", "platform"}, operatorNS: "platform",
			selected: []string{"shop", "zerotrust-system"}, left: []string{"kube-system", "platform"}},
	} {
		t.Run(tc.operatorNS, func(t *testing.T) {
			r := runCLI(t, systemNamespaces, append([]string{"render", "-f", "-"}, tc.args...)...)
			if r.code != 0 {
				t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
			}
			for _, ns := range tc.selected {
				if !strings.Contains(r.stdout, "namespace: "+ns+"\n") {
					t.Errorf("nothing rendered in %s:\n%s", ns, r.stdout)
				}
			}
			for _, ns := range tc.left {
				if strings.Contains(r.stdout, "namespace: "+ns+"\n") {
					t.Errorf("rendered in system namespace %s:\n%s", ns, r.stdout)
				}
			}
			want := "warning: ZeroTrustBaseline all: system namespace(s) " + strings.Join(tc.left, ", ") + " left out"
			if !strings.HasPrefix(r.stderr, want) || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("stderr:\n%s\nwant one line starting %q", r.stderr, want)
			}

			// Parity: the operator compiles with its namespace in compiler.Options.
			inv, err := static.FromYAML([]byte(systemNamespaces), "-", "default")
			if err != nil {
				t.Fatal(err)
			}
			rendering, err := inv.Render(testNow, compiler.Options{Backends: []ztv1.Backend{ztv1.BackendNetworkPolicy, ztv1.BackendRBAC},
				TrustDomain: compiler.DefaultTrustDomain, OperatorNamespace: tc.operatorNS})
			if err != nil {
				t.Fatal(err)
			}
			out, err := compiler.EncodeYAML(rendering.Objects)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != r.stdout {
				t.Errorf("render differs from the compiler with OperatorNamespace %s:\n%s\nwant:\n%s", tc.operatorNS, r.stdout, out)
			}
		})
	}

	if r := runCLI(t, systemNamespaces, "render", "-f", "-", "--operator-namespace", ""); r.code != exitUsage || !strings.Contains(r.stderr, "--operator-namespace") {
		t.Errorf("empty --operator-namespace: exit %d, stderr %s", r.code, r.stderr)
	}
}
