package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2026, 6, 15, 10, 0, 0, 0, time.UTC)

type result struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb, func() time.Time { return testNow })
	return result{code, out.String(), errb.String()}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRenderSamples renders config/samples (what `make run` applies): every sample policy
// must be Ready and produce objects.
func TestRenderSamples(t *testing.T) {
	samples := filepath.Join("..", "..", "config", "samples")
	if _, err := os.Stat(samples); err != nil {
		t.Skip("no config/samples")
	}
	r := runCLI(t, "", "render", "-f", samples)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "kind: NetworkPolicy") {
		t.Fatalf("no NetworkPolicy rendered:\n%s", r.stdout)
	}
	for _, bad := range []string{"status:", "creationTimestamp", "ownerReferences", "resourceVersion"} {
		if strings.Contains(r.stdout, bad) {
			t.Errorf("output contains %q", bad)
		}
	}
}

// TestRenderMatchesGolden: the CLI prints exactly the objects of the compiler's golden
// files, read from stdin or from a file.
func TestRenderMatchesGolden(t *testing.T) {
	for _, name := range []string{"egress-baseline", "serviceaccount-caller", "time"} {
		t.Run(name, func(t *testing.T) {
			in := filepath.Join("..", "..", "internal", "compiler", "testdata", name+".yaml")
			golden, err := os.ReadFile(filepath.Join("..", "..", "internal", "compiler", "testdata", name+".golden.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			_, want, ok := strings.Cut(string(golden), "\n---\n")
			if !ok {
				t.Fatal("golden file has no objects")
			}
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"-f", in}, {"-f", "-"}} {
				r := runCLI(t, string(data), append([]string{"render", "--now", "2026-06-15T10:00:00Z"}, args...)...)
				if r.code != 0 {
					t.Fatalf("%v: exit %d: %s", args, r.code, r.stderr)
				}
				if r.stdout != want {
					t.Errorf("%v: output differs from %s.golden.yaml:\n%s", args, name, r.stdout)
				}
			}
		})
	}
}

const shop = `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Service
metadata: {name: inventory, namespace: shop}
spec:
  selector: {app: inventory}
  ports: [{name: http, port: 80, targetPort: 8080}]
`

const policy = `apiVersion: zerotrust.dev/v1alpha1
kind: ServiceAccessPolicy
metadata: {name: p, namespace: shop}
spec:
  target: {service: inventory}
  from: [{podSelector: {matchLabels: {app: checkout}}}]
  ports: [{port: http}]
  expiresAt: "2026-07-01T00:00:00Z"
`

func TestRenderFolderAndFlags(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a/shop.yaml", shop)
	writeFile(t, dir, "b/policy.yml", policy)
	writeFile(t, dir, "b/notes.txt", "not: yaml: at all: [")
	writeFile(t, dir, ".hidden/broken.yaml", "kind: [")
	writeFile(t, dir, "c/other.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\n---\nresources: [a.yaml]\n")

	r := runCLI(t, "", "render", "-f", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "name: zt-in.p") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	// The clock is read by the CLI (testNow): after the expiry nothing renders.
	r = runCLI(t, "", "render", "-f", dir, "--now", "2026-07-01T00:00:00Z")
	if r.code != 0 || r.stdout != "" {
		t.Fatalf("expired policy rendered: exit %d\n%s", r.code, r.stdout)
	}
	// A policy that is not Ready is a warning on stderr, not a failure.
	r = runCLI(t, policy, "render", "-f", "-")
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "ServiceAccessPolicy shop/p is not Ready (TargetNotFound)") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	// --backends without networkpolicy renders nothing.
	r = runCLI(t, "", "render", "-f", dir, "--backends", "istio")
	if r.code != 0 || r.stdout != "" {
		t.Fatalf("exit %d\n%s", r.code, r.stdout)
	}
}

// TestBadInput: every mistake exits 2 with a message naming the file, the line of the
// document and the field.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	tests := map[string]struct {
		content string
		args    []string
		want    []string
	}{
		"unknown field in a policy": {
			content: strings.Replace(policy, "target:", "targte:", 1),
			want:    []string{"bad.yaml:1", `unknown field "spec.targte"`},
		},
		"wrong type": {
			content: shop + "---\n" + strings.Replace(policy, "from: [{podSelector: {matchLabels: {app: checkout}}}]", "from: {service: x}", 1),
			want:    []string{"bad.yaml:12", "spec.from"},
		},
		"a rule of the CRD": {
			content: strings.Replace(policy, "{port: http}", "{port: 70000}", 1),
			want:    []string{"bad.yaml:1", "ServiceAccessPolicy shop/p is invalid", "spec.ports[0].port"},
		},
		"defined twice": {
			content: shop + "---\n" + shop,
			want:    []string{"bad.yaml:12", "Namespace shop is defined twice (first at", "bad.yaml:1)"},
		},
		"YAML syntax": {
			content: "apiVersion: v1\nkind: Namespace\nmetadata: {name: [\n",
			want:    []string{"bad.yaml:1"},
		},
		"unknown version of our API": {
			content: strings.Replace(policy, "v1alpha1", "v2", 1),
			want:    []string{"bad.yaml:1", "zerotrust.dev/v2 ServiceAccessPolicy is not a kind this kubectl-zt understands"},
		},
		"bad --now": {
			content: shop, args: []string{"--now", "tomorrow"}, want: []string{"--now"},
		},
		"bad --backends": {
			content: shop, args: []string{"--backends", "networkpolicy,calico"}, want: []string{`unknown backend "calico"`},
		},
		"unknown flag": {
			content: shop, args: []string{"--colour"}, want: []string{"colour"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := writeFile(t, dir, "bad.yaml", tc.content)
			r := runCLI(t, "", append([]string{"render", "-f", p}, tc.args...)...)
			if r.code != 2 {
				t.Fatalf("exit %d; want 2\nstderr: %s", r.code, r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr %q does not contain %q", r.stderr, w)
				}
			}
		})
	}
	for _, args := range [][]string{{}, {"render"}, {"frobnicate"}, {"audit"}, {"render", "-f", filepath.Join(dir, "missing.yaml")}} {
		if r := runCLI(t, "", args...); r.code != 2 {
			t.Errorf("%v: exit %d; want 2", args, r.code)
		}
	}
}

const checkInput = `apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {zerotrust.dev/enforce: "true"}}
---
apiVersion: v1
kind: Namespace
metadata: {name: payments, labels: {zerotrust.dev/enforce: "true"}}
---
apiVersion: v1
kind: Namespace
metadata: {name: open}
---
apiVersion: zerotrust.dev/v1alpha1
kind: ZeroTrustBaseline
metadata: {name: default}
spec:
  namespaceSelector: {matchLabels: {zerotrust.dev/enforce: "true"}}
  network: {defaultDeny: [Ingress, Egress], allowDNS: true}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: inventory, namespace: shop}
spec:
  selector: {matchLabels: {app: inventory}}
  template:
    metadata: {labels: {app: inventory}}
    spec: {containers: [{name: c, image: i, ports: [{name: http, containerPort: 8080}, {name: metrics, containerPort: 9090}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: inventory, namespace: shop}
spec:
  selector: {app: inventory}
  ports: [{name: http, port: 80, targetPort: http}, {name: metrics, port: 9090}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: payment, namespace: payments}
spec:
  selector: {matchLabels: {app: payment}}
  template:
    metadata: {labels: {app: payment}}
    spec: {containers: [{name: c, image: i}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: tool, namespace: open}
spec:
  selector: {matchLabels: {app: tool}}
  template:
    metadata: {labels: {app: tool}}
    spec: {containers: [{name: c, image: i}]}
---
apiVersion: zerotrust.dev/v1alpha1
kind: ServiceAccessPolicy
metadata: {name: payment-reads-inventory, namespace: shop}
spec:
  target: {service: inventory}
  from: [{workload: {kind: Deployment, name: payment}, namespace: payments}]
  ports:
    - port: http
      http: [{methods: [GET], paths: [/items, /items/*]}]
`

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "cluster.yaml", checkInput)
	tests := map[string]struct {
		args []string
		code int
		want string
	}{
		"allowed by the policy, through the Service port": {
			args: []string{"--from", "payments/Deployment/payment", "--to", "shop/Service/inventory", "--port", "80"},
			code: 0, want: "by ServiceAccessPolicy shop/payment-reads-inventory",
		},
		"allowed by Service port name": {
			args: []string{"--from", "payments/deploy/payment", "--to", "shop/svc/inventory", "--port", "http"},
			code: 0, want: "allowed",
		},
		"allowed on the pod port": {
			args: []string{"--from", "payments/Deployment/payment", "--to", "shop/Deployment/inventory", "--port", "8080"},
			code: 0, want: "shop/zt-in.payment-reads-inventory",
		},
		"allowed method and path": {
			args: []string{"--from", "payments/Deployment/payment", "--to", "shop/Service/inventory", "--port", "80", "--method", "GET", "--path", "/items/42"},
			code: 0, want: "allowed",
		},
		"method not allowed": {
			args: []string{"--from", "payments/Deployment/payment", "--to", "shop/Service/inventory", "--port", "80", "--method", "DELETE", "--path", "/items/42"},
			code: 1, want: "allows only GET /items, /items/*",
		},
		"another port": {
			args: []string{"--from", "payments/Deployment/payment", "--to", "shop/Service/inventory", "--port", "metrics"},
			code: 1, want: "denied",
		},
		"a caller without a policy": {
			args: []string{"--from", "open/Deployment/tool", "--to", "shop/Deployment/inventory", "--port", "http"},
			code: 1, want: "ingress of shop/Deployment/inventory is isolated",
		},
		"unisolated on both sides": {
			args: []string{"--from", "open/Deployment/tool", "--to", "203.0.113.7", "--port", "443"},
			code: 0, want: "no ServiceAccessPolicy needed",
		},
		"egress denied by the baseline": {
			args: []string{"--from", "shop/Deployment/inventory", "--to", "203.0.113.7", "--port", "443"},
			code: 1, want: "egress of shop/Deployment/inventory is isolated",
		},
		"unknown endpoint": {
			args: []string{"--from", "shop/Deployment/nope", "--to", "shop/Service/inventory", "--port", "80"},
			code: 2,
		},
		"unknown Service port": {
			args: []string{"--from", "payments/Deployment/payment", "--to", "shop/Service/inventory", "--port", "81"},
			code: 2,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := runCLI(t, "", append([]string{"check", "-f", f}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stdout+r.stderr, tc.want) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s\nwant %q", r.code, tc.code, r.stdout, r.stderr, tc.want)
			}
		})
	}
}
