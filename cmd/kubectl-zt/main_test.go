package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
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
	// With every backend, the samples are enforced as declared: no warning.
	r := runCLI(t, "", "render", "-f", samples, "--backends", "all")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("--backends all: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	r = runCLI(t, "", "render", "-f", samples)
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
	// RBAC does not govern a Service target: nothing enforces the policy, which says so.
	r = runCLI(t, "", "render", "-f", dir, "--backends", "rbac")
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "ServiceAccessPolicy shop/p is not Ready (NoBackend)") ||
		strings.Contains(r.stderr, "RBAC Skipped") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	// Istio cannot admit a caller whose workloads are unknown: it fails closed (a policy
	// that isolates the target and admits nobody) and says so on stderr.
	r = runCLI(t, "", "render", "-f", dir, "--backends", "istio")
	if r.code != 0 || !strings.Contains(r.stdout, "kind: AuthorizationPolicy") || strings.Contains(r.stdout, "rules:") ||
		!strings.Contains(r.stderr, "warning: ServiceAccessPolicy shop/p: Istio Partial: Istio does not admit from[0]") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
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

// sharedServiceAccount: payment runs as its namespace's default ServiceAccount, which batch
// runs as too, so a mesh cannot admit payment without admitting batch.
const sharedServiceAccount = `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Namespace
metadata: {name: payments}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: inventory, namespace: shop}
spec:
  selector: {matchLabels: {app: inventory}}
  template:
    metadata: {labels: {app: inventory}}
    spec: {serviceAccountName: inventory, containers: [{name: c, image: i, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: inventory, namespace: shop}
spec:
  selector: {app: inventory}
  ports: [{name: http, port: 80, targetPort: http}]
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
metadata: {name: batch, namespace: payments}
spec:
  selector: {matchLabels: {app: batch}}
  template:
    metadata: {labels: {app: batch}}
    spec: {containers: [{name: c, image: i}]}
---
apiVersion: zerotrust.dev/v1alpha1
kind: ServiceAccessPolicy
metadata: {name: payment-reads-inventory, namespace: shop, generation: 3}
spec:
  target: {service: inventory}
  from: [{workload: {kind: Deployment, name: payment}, namespace: payments}]
  ports:
    - port: http
      http: [{methods: [GET], paths: [/items]}]
`

// TestRenderWarnsPartial: a backend that cannot admit a declared caller is a warning line
// of its own, after the policy's not-Ready line; backends that enforce it all are not.
func TestRenderWarnsPartial(t *testing.T) {
	r := runCLI(t, sharedServiceAccount, "render", "-f", "-", "--backends", "all")
	if r.code != 0 || !strings.Contains(r.stdout, "kind: AuthorizationPolicy") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	want := []string{
		"warning: ServiceAccessPolicy shop/payment-reads-inventory is not Ready (PartiallyEnforced): ",
		"warning: ServiceAccessPolicy shop/payment-reads-inventory: Istio Partial: Istio does not admit from[0] (Deployment payments/payment): ",
		"warning: ServiceAccessPolicy shop/payment-reads-inventory: Linkerd Partial: Linkerd does not admit from[0] (Deployment payments/payment): ",
	}
	if len(lines) != len(want) {
		t.Fatalf("stderr has %d lines, want %d:\n%s", len(lines), len(want), r.stderr)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) || !strings.Contains(lines[i], "Deployment/batch") {
			t.Errorf("line %d:\n%s\nwant a line starting with %q that names Deployment/batch", i, lines[i], w)
		}
	}

	// In DryRun, the preview says what Enforce would leave out.
	r = runCLI(t, strings.Replace(sharedServiceAccount, "  target: {service: inventory}", "  mode: DryRun\n  target: {service: inventory}", 1),
		"render", "-f", "-", "--backends", "networkpolicy,istio")
	if r.code != 0 || r.stdout != "" ||
		!strings.HasPrefix(r.stderr, "warning: ServiceAccessPolicy shop/payment-reads-inventory: Istio Skipped: mode DryRun: would apply these objects; Istio does not admit from[0]") ||
		strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestRenderStatus: --status prints, instead of the objects, the status the operator would
// write to each policy.
func TestRenderStatus(t *testing.T) {
	r := runCLI(t, sharedServiceAccount, "render", "-f", "-", "--backends", "networkpolicy,istio", "--status", "--now", "2026-06-15T10:00:00Z")
	if r.code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "Istio Partial") {
		t.Errorf("stderr has no warning:\n%s", r.stderr)
	}
	var doc struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Metadata   map[string]string `json:"metadata"`
		Status     ztv1.ServiceAccessPolicyStatus
	}
	if err := yaml.UnmarshalStrict([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	st := doc.Status
	if doc.APIVersion != "zerotrust.dev/v1alpha1" || doc.Kind != "ServiceAccessPolicy" ||
		doc.Metadata["namespace"] != "shop" || doc.Metadata["name"] != "payment-reads-inventory" {
		t.Errorf("not the policy's identity: %s %s %v", doc.APIVersion, doc.Kind, doc.Metadata)
	}
	if st.ObservedGeneration != 3 || st.Target != "Service/inventory" || st.Callers != 1 {
		t.Errorf("observedGeneration %d, target %q, callers %d", st.ObservedGeneration, st.Target, st.Callers)
	}
	if len(st.Conditions) != 1 {
		t.Fatalf("conditions: %+v", st.Conditions)
	}
	c := st.Conditions[0]
	if c.Type != ztv1.ConditionReady || c.Status != metav1.ConditionFalse || c.Reason != "PartiallyEnforced" ||
		!strings.Contains(c.Message, "Istio does not admit from[0]") || c.ObservedGeneration != 3 ||
		!c.LastTransitionTime.Time.Equal(testNow) {
		t.Errorf("Ready: %+v", c)
	}
	type backend struct {
		name    ztv1.Backend
		state   ztv1.BackendState
		objects []string // kind namespace/name
		message string
	}
	want := []backend{
		{ztv1.BackendNetworkPolicy, ztv1.BackendApplied, []string{"NetworkPolicy shop/zt-in.payment-reads-inventory"}, ""},
		{ztv1.BackendIstio, ztv1.BackendPartial, []string{"AuthorizationPolicy shop/zt-in.payment-reads-inventory"}, "Deployment/batch"},
		{ztv1.BackendLinkerd, ztv1.BackendDisabled, nil, "disabled by the operator's --backends flag"},
		{ztv1.BackendCilium, ztv1.BackendDisabled, nil, "disabled by the operator's --backends flag"},
		{ztv1.BackendRBAC, ztv1.BackendDisabled, nil, "disabled by the operator's --backends flag"},
	}
	if len(st.Backends) != len(want) {
		t.Fatalf("backends: %+v", st.Backends)
	}
	for i, w := range want {
		b := st.Backends[i]
		var objs []string
		for _, o := range b.Objects {
			objs = append(objs, o.Kind+" "+o.Namespace+"/"+o.Name)
		}
		if b.Name != w.name || b.State != w.state || !strings.Contains(b.Message, w.message) || strings.Join(objs, ",") != strings.Join(w.objects, ",") {
			t.Errorf("backend %d: %s %s %v %q; want %+v", i, b.Name, b.State, objs, b.Message, w)
		}
	}
	if strings.Contains(r.stdout, "spec:") {
		t.Errorf("--status printed objects:\n%s", r.stdout)
	}

	// One document per policy, in namespace and name order.
	r = runCLI(t, "", "render", "-f", filepath.Join("..", "..", "config", "samples"), "--status")
	if r.code != 0 || strings.Count(r.stdout, "kind: ServiceAccessPolicy") != 2 || strings.Count(r.stdout, "\n---\n") != 1 ||
		strings.Index(r.stdout, "name: monitoring-scrapes-inventory") > strings.Index(r.stdout, "name: payment-reads-inventory") {
		t.Fatalf("exit %d\n%s", r.code, r.stdout)
	}
}

// TestCheckLayers: check judges the call in every layer of --backends and names those
// that deny.
func TestCheckLayers(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "cluster.yaml", checkInput)
	call := []string{"--from", "payments/Deployment/payment", "--to", "shop/Service/inventory", "--port", "80"}
	tests := map[string]struct {
		args []string
		code int
		want []string
		not  []string
	}{
		"allowed by NetworkPolicy, denied by Istio at L7": {
			args: []string{"--backends", "networkpolicy,istio", "--method", "DELETE", "--path", "/items/42"},
			code: 1,
			want: []string{"denied by Istio: payments/Deployment/payment -> shop/Service/inventory port 8080 (http)/TCP DELETE /items/42: ",
				"\n  NetworkPolicy: allowed\n", "\n  Istio: denied: no rule of the ALLOW AuthorizationPolicies"},
			not: []string{"declared HTTP rules"},
		},
		"allowed by every layer": {
			args: []string{"--backends", "networkpolicy,istio,linkerd", "--method", "GET", "--path", "/items/42"},
			code: 0,
			want: []string{"allowed: payments/Deployment/payment -> shop/Service/inventory port 8080 (http)/TCP GET /items/42 by ServiceAccessPolicy shop/payment-reads-inventory\n",
				"\n  NetworkPolicy: allowed\n", "\n  Istio: allowed by AuthorizationPolicy shop/zt-in.payment-reads-inventory\n",
				"\n  Linkerd: allowed: "},
			not: []string{"denied"},
		},
		"allowed by every layer, with Cilium": {
			args: []string{"--backends", "all", "--method", "GET", "--path", "/items/42"},
			code: 0,
			want: []string{"allowed: ", "\n  Istio: allowed by ", "\n  Linkerd: allowed: ",
				"\n  Cilium: allowed: egress of the source is allowed by CiliumNetworkPolicy payments/zt-out.shop.payment-reads-inventory.0, NetworkPolicy payments/zt-out.shop.payment-reads-inventory.0; " +
					"ingress of the destination is allowed by CiliumNetworkPolicy shop/zt-in.payment-reads-inventory, NetworkPolicy shop/zt-in.payment-reads-inventory\n"},
			// Cilium enforces the NetworkPolicies: they are judged in its layer. Beside a mesh
			// Cilium enforces ports only (the mesh's mTLS hides HTTP from it), so the
			// NetworkPolicy opens the port too.
			not: []string{"denied", "NetworkPolicy: "},
		},
		"every mesh denies another method": {
			args: []string{"--backends", "networkpolicy,istio,linkerd", "--method", "POST", "--path", "/items"},
			code: 1,
			want: []string{"denied by Istio and Linkerd: ", "\n  NetworkPolicy: allowed\n", "\n  Linkerd: denied: "},
		},
		// Cilium enforces NetworkPolicies with its own rules, where an L4 rule of the
		// ingress NetworkPolicy would admit every request of the caller on the port,
		// whatever HTTP rules the CiliumNetworkPolicy adds. With Cilium among the backends
		// the NetworkPolicy leaves the port with HTTP rules to Cilium, so the HTTP rules
		// hold: the NetworkPolicies isolate the target, and only Cilium's L7 rules admit.
		"Cilium with NetworkPolicies": {
			args: []string{"--backends", "networkpolicy,cilium", "--method", "POST", "--path", "/items"},
			code: 1,
			want: []string{"denied by Cilium: ", "\n  Cilium: denied: ingress of the destination is isolated by ",
				"NetworkPolicy shop/zt-in.payment-reads-inventory and no rule admits the request (CiliumNetworkPolicy shop/zt-in.payment-reads-inventory allows only ^GET$"},
			not: []string{"allowed by NetworkPolicy"},
		},
		"Cilium alone": {
			args: []string{"--backends", "cilium", "--method", "GET", "--path", "/admin"},
			code: 1,
			want: []string{"denied by Cilium: ", "allows only ^GET$"},
			not:  []string{"NetworkPolicy:"},
		},
		"Linkerd alone": {
			args: []string{"--backends", "linkerd", "--method", "GET", "--path", "/items"},
			code: 0,
			want: []string{"allowed: ", "\n  Linkerd: allowed: "},
		},
		"a plain connection on an HTTP port": {
			args: []string{"--backends", "networkpolicy,istio"},
			code: 1,
			want: []string{"denied by Istio: ", "judged as a plain TCP connection"},
		},
		"a caller without a policy is denied in every layer": {
			args: []string{"--backends", "all", "--from", "open/Deployment/tool", "--method", "GET", "--path", "/items"},
			code: 1,
			want: []string{"denied by Istio, Linkerd and Cilium: open/Deployment/tool"},
		},
		"a ServiceAccount caller": {
			args: []string{"--backends", "istio", "--from", "payments/ServiceAccount/default", "--method", "GET", "--path", "/items"},
			code: 0,
			want: []string{"allowed: payments/ServiceAccount/default -> "},
		},
		"no layer governs the call": {
			args: []string{"--backends", "rbac"},
			code: 2,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"check", "-f", f}, call...)
			r := runCLI(t, "", append(args, tc.args...)...)
			if r.code != tc.code {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s", r.code, tc.code, r.stdout, r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("stdout does not contain %q:\n%s", w, r.stdout)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(r.stdout, n) {
					t.Errorf("stdout contains %q:\n%s", n, r.stdout)
				}
			}
		})
	}
}

const apiInput = `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: inventory, namespace: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: inventory, namespace: shop}
spec:
  selector: {matchLabels: {app: inventory}}
  template:
    metadata: {labels: {app: inventory}}
    spec: {serviceAccountName: inventory, containers: [{name: c, image: i}]}
---
apiVersion: zerotrust.dev/v1alpha1
kind: ServiceAccessPolicy
metadata: {name: inventory-reads-config, namespace: shop}
spec:
  target:
    kubernetesAPI:
      rules:
        - {apiGroups: [""], resources: [configmaps], resourceNames: [inventory-config], verbs: [get, watch]}
        - {apiGroups: [apps], resources: [deployments/scale], verbs: [update]}
  from: [{serviceAccount: inventory}]
`

// TestCheckAPI: a call to the Kubernetes API is judged by the generated Roles.
func TestCheckAPI(t *testing.T) {
	tests := map[string]struct {
		args []string
		code int
		want string
	}{
		"granted": {
			args: []string{"--from", "shop/ServiceAccount/inventory", "--verb", "get", "--resource", "configmaps", "--resource-name", "inventory-config"},
			code: 0, want: "allowed: shop/ServiceAccount/inventory (ServiceAccount shop/inventory) -> Kubernetes API get configmaps inventory-config in namespace shop by ServiceAccessPolicy shop/inventory-reads-config",
		},
		"a workload runs as the ServiceAccount": {
			args: []string{"--from", "shop/Deployment/inventory", "--verb", "watch", "--resource", "configmaps", "--resource-name", "inventory-config", "--to", "shop"},
			code: 0, want: "RBAC: allowed by RoleBinding shop/zt-in.inventory-reads-config of Role shop/zt-in.inventory-reads-config",
		},
		"a subresource of a group": {
			args: []string{"--from", "shop/ServiceAccount/inventory", "--verb", "update", "--resource", "deployments.apps/scale"},
			code: 0, want: "allowed",
		},
		"another name": {
			args: []string{"--from", "shop/ServiceAccount/inventory", "--verb", "get", "--resource", "configmaps", "--resource-name", "other"},
			code: 1, want: "denied by RBAC: ",
		},
		"another verb": {
			args: []string{"--from", "shop/ServiceAccount/inventory", "--verb", "delete", "--resource", "configmaps", "--resource-name", "inventory-config"},
			code: 1, want: "no RoleBinding generated by a ServiceAccessPolicy binds ServiceAccount shop/inventory",
		},
		"another namespace": {
			args: []string{"--from", "shop/ServiceAccount/inventory", "--verb", "get", "--resource", "configmaps", "--resource-name", "inventory-config", "--to", "other"},
			code: 1, want: "denied by RBAC",
		},
		"another ServiceAccount": {
			args: []string{"--from", "shop/ServiceAccount/default", "--verb", "get", "--resource", "configmaps", "--resource-name", "inventory-config"},
			code: 1, want: "denied by RBAC",
		},
		"RBAC not in --backends": {
			args: []string{"--backends", "networkpolicy", "--from", "shop/ServiceAccount/inventory", "--verb", "get", "--resource", "configmaps"},
			code: 2, want: "add rbac to --backends",
		},
		"--port with --verb": {
			args: []string{"--from", "shop/ServiceAccount/inventory", "--verb", "get", "--resource", "configmaps", "--port", "80"},
			code: 2, want: "do not apply",
		},
		"--verb without --resource": {
			args: []string{"--from", "shop/ServiceAccount/inventory", "--verb", "get"},
			code: 2, want: "--verb and --resource",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := runCLI(t, apiInput, append([]string{"check", "-f", "-"}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stdout+r.stderr, tc.want) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s\nwant %q", r.code, tc.code, r.stdout, r.stderr, tc.want)
			}
		})
	}
}

func TestNamesObject(t *testing.T) {
	o := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "zt-in.p"}}
	for reason, want := range map[string]bool{
		"allowed by AuthorizationPolicy shop/zt-in.p":                         true,
		"admitted by AuthorizationPolicy shop/zt-in.p (audit)":                true,
		"admitted by AuthorizationPolicy shop/zt-in.p.http.mesh":              false,
		"AuthorizationPolicy shop/zt-in.pq, AuthorizationPolicy shop/zt-in.p": true,
		"allowed by AuthorizationPolicy other/zt-in.p":                        false,
	} {
		if got := names(reason, "AuthorizationPolicy", o); got != want {
			t.Errorf("names(%q) = %v, want %v", reason, got, want)
		}
	}
}
