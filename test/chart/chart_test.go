// Package chart_test lints the Helm chart (charts/zerotrust-operator) with `helm lint
// --strict`, renders it with `helm template` under several value sets and hands every
// rendered object to a real API server (envtest): the chart's CRDs are installed for real,
// everything else is server-side applied with dry-run=All, so any object the API server
// refuses (schema, validation, unknown kind) fails the test.
//
// helm comes from $HELM (make test sets it to bin/helm, installed by `make helm`), else
// ../../bin/helm.
package chart_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/zerotrust-dev/zerotrust-operator/internal/testenv"
)

const (
	release    = "zerotrust-operator"
	namespace  = "zerotrust-system"
	fieldOwner = "chart-test"
)

var (
	helm     string
	chartDir = filepath.Join(testenv.RepoRoot(), "charts", "zerotrust-operator")
	cfg      *rest.Config
	k8s      client.Client
	ctx      = context.Background()
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	if helm, err = findHelm(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	assets, err := testenv.AssetsDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// The optional objects' kinds (ServiceMonitor, PrometheusRule, cert-manager's Certificate
	// and Issuer), from their projects' own CRDs (test/crds), so that the dry-run checks
	// them against the real schemas.
	crdDir := filepath.Join(testenv.RepoRoot(), "test", "crds")
	env := &envtest.Environment{BinaryAssetsDirectory: assets, CRDDirectoryPaths: []string{
		filepath.Join(crdDir, "prometheus-operator"), filepath.Join(crdDir, "cert-manager"),
	}, ErrorIfCRDPathMissing: true, ControlPlaneStartTimeout: testenv.StartTimeout}
	if cfg, err = env.Start(); err != nil {
		_ = env.Stop()
		fmt.Fprintln(os.Stderr, "starting envtest:", err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping envtest:", err)
		}
	}()
	if k8s, err = client.New(cfg, client.Options{Scheme: scheme.Scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// The release namespace exists before an install (helm install --namespace, or
	// --create-namespace); namespaced objects cannot be dry-run into a missing one.
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if err := k8s.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// findHelm returns the helm binary: $HELM, else bin/helm of the repository.
func findHelm() (string, error) {
	path := os.Getenv("HELM")
	if path == "" {
		path = filepath.Join("..", "..", "bin", "helm")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if fi, err := os.Stat(abs); err != nil || fi.IsDir() {
		return "", fmt.Errorf("helm not found at %s (set HELM, or run `make helm` to install the pinned version into ./bin)", abs)
	}
	return abs, nil
}

// valueSet is one way of installing the chart.
type valueSet struct {
	name   string
	values string // a values file
	// check inspects the rendered objects beyond what the API server validates.
	check func(t *testing.T, objs []*unstructured.Unstructured)
}

func valueSets() []valueSet {
	return []valueSet{
		{name: "defaults", check: func(t *testing.T, objs []*unstructured.Unstructured) {
			args := managerArgs(t, objs)
			wantArg(t, args, "--leader-elect", true)
			wantArg(t, args, "--backends=networkpolicy,istio,linkerd,cilium", true)
			wantArg(t, args, "--enable-webhook", false)
			// escalate and bind serve only the rbac backend.
			if v := roleVerbs(t, objs); slices.Contains(v, "escalate") || slices.Contains(v, "bind") {
				t.Errorf("ClusterRole grants %v on roles without the rbac backend", v)
			}
			find(t, objs, "PodDisruptionBudget", release)
			find(t, objs, "Service", "zerotrust-operator-metrics")
			image := managerImage(t, objs)
			if strings.HasSuffix(image, ":latest") || !strings.Contains(image, ":") {
				t.Errorf("image %q: want a pinned tag, never latest", image)
			}
			// CRDs are templates (upgraded with the release) kept on uninstall.
			for _, o := range objs {
				if o.GetKind() == "CustomResourceDefinition" && o.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
					t.Errorf("CRD %s lacks helm.sh/resource-policy: keep", o.GetName())
				}
			}
			operatorNetworkPolicy(t, objs, false)
			for _, o := range objs {
				if o.GetKind() == "ServiceMonitor" || o.GetKind() == "PrometheusRule" || o.GetKind() == "Certificate" {
					t.Errorf("%s rendered by default", o.GetKind())
				}
			}
		}},
		{name: "every-backend-on", values: "backends: networkpolicy=on,istio=on,linkerd=on,cilium=on\n", check: func(t *testing.T, objs []*unstructured.Unstructured) {
			wantArg(t, managerArgs(t, objs), "--backends=networkpolicy=on,istio=on,linkerd=on,cilium=on", true)
		}},
		{name: "rbac-backend-with-webhook", values: "backends: networkpolicy,istio,linkerd,cilium,rbac\nwebhook:\n  enabled: true\n", check: func(t *testing.T, objs []*unstructured.Unstructured) {
			args := managerArgs(t, objs)
			wantArg(t, args, "--enable-webhook", true)
			wantArg(t, args, "--backends=networkpolicy,istio,linkerd,cilium,rbac", true)
			find(t, objs, "Service", "zerotrust-operator-webhook")
			if v := roleVerbs(t, objs); !slices.Contains(v, "escalate") || !slices.Contains(v, "bind") {
				t.Errorf("ClusterRole grants %v on roles; the rbac backend needs escalate and bind", v)
			}
			vwc := find(t, objs, "ValidatingWebhookConfiguration", release)
			webhooks, _, _ := unstructured.NestedSlice(vwc.Object, "webhooks")
			if len(webhooks) == 0 {
				t.Fatal("the ValidatingWebhookConfiguration has no webhooks")
			}
			operatorNetworkPolicy(t, objs, true)
			for _, w := range webhooks {
				w, _ := w.(map[string]any)
				if conds, _, _ := unstructured.NestedSlice(w, "matchConditions"); len(conds) != 2 {
					t.Errorf("webhook %v: matchConditions %v, want the kubernetesAPI target and not-the-operator conditions", w["name"], conds)
				}
				if ns, _, _ := unstructured.NestedString(w, "clientConfig", "service", "namespace"); ns != namespace {
					t.Errorf("webhook %v: service namespace %q, want the release namespace %q", w["name"], ns, namespace)
				}
				exprs, _, _ := unstructured.NestedSlice(w, "namespaceSelector", "matchExpressions")
				if !strings.Contains(fmt.Sprint(exprs), "NotIn values:["+namespace+"]") {
					t.Errorf("webhook %v: namespaceSelector %v does not leave out the release namespace", w["name"], exprs)
				}
			}
		}},
		{name: "webhook-cert-manager", values: "backends: networkpolicy,rbac\nwebhook:\n  enabled: true\n  certificates: cert-manager\n", check: func(t *testing.T, objs []*unstructured.Unstructured) {
			args := managerArgs(t, objs)
			wantArg(t, args, "--webhook-manage-certs=false", true)
			cert := find(t, objs, "Certificate", "zerotrust-operator-webhook")
			if name, _, _ := unstructured.NestedString(cert.Object, "spec", "issuerRef", "name"); name != "zerotrust-operator-selfsigned" {
				t.Errorf("Certificate issuerRef %q, want the chart's self-signed Issuer", name)
			}
			find(t, objs, "Issuer", "zerotrust-operator-selfsigned")
			vwc := find(t, objs, "ValidatingWebhookConfiguration", release)
			if got := vwc.GetAnnotations()["cert-manager.io/inject-ca-from"]; got != namespace+"/zerotrust-operator-webhook" {
				t.Errorf("inject-ca-from = %q", got)
			}
			d := find(t, objs, "Deployment", release)
			vols, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "volumes")
			if !strings.Contains(fmt.Sprint(vols), "secretName:zerotrust-operator-webhook-tls") {
				t.Errorf("the webhook certificate volume is not the Certificate's Secret: %v", vols)
			}
			// The operator manages no certificate Secret, so it gets no Role for one.
			for _, o := range objs {
				if o.GetKind() == "Role" && o.GetName() == release {
					t.Error("Role for the certificate Secret rendered with cert-manager")
				}
			}
			operatorNetworkPolicy(t, objs, true)
		}},
		{name: "webhook-cert-manager-issuer", values: "backends: networkpolicy,rbac\nwebhook:\n  enabled: true\n  certificates: cert-manager\n  certManager:\n    issuerRef: {name: corp-ca, kind: ClusterIssuer}\n", check: func(t *testing.T, objs []*unstructured.Unstructured) {
			cert := find(t, objs, "Certificate", "zerotrust-operator-webhook")
			if ref, _, _ := unstructured.NestedStringMap(cert.Object, "spec", "issuerRef"); ref["name"] != "corp-ca" || ref["kind"] != "ClusterIssuer" {
				t.Errorf("Certificate issuerRef %v, want the given ClusterIssuer", ref)
			}
			for _, o := range objs {
				if o.GetKind() == "Issuer" {
					t.Errorf("Issuer %s rendered although an issuerRef was given", o.GetName())
				}
			}
		}},
		{name: "monitoring", values: "metrics:\n  serviceMonitor:\n    enabled: true\n    labels: {release: prom}\n  prometheusRule:\n    enabled: true\n", check: func(t *testing.T, objs []*unstructured.Unstructured) {
			sm := find(t, objs, "ServiceMonitor", release)
			if sm.GetLabels()["release"] != "prom" {
				t.Errorf("ServiceMonitor labels %v lack the configured release=prom", sm.GetLabels())
			}
			sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
			svc := find(t, objs, "Service", "zerotrust-operator-metrics")
			for k, v := range sel {
				if svc.GetLabels()[k] != v {
					t.Errorf("ServiceMonitor selects %s=%s, which the metrics Service does not carry (%v)", k, v, svc.GetLabels())
				}
			}
			rule := find(t, objs, "PrometheusRule", release)
			groups, _, _ := unstructured.NestedSlice(rule.Object, "spec", "groups")
			if len(groups) == 0 {
				t.Error("PrometheusRule has no groups")
			}
		}},
		{name: "crds-managed-elsewhere", values: "crds:\n  install: false\nnetworkPolicy:\n  enabled: false\n", check: func(t *testing.T, objs []*unstructured.Unstructured) {
			for _, o := range objs {
				if o.GetKind() == "CustomResourceDefinition" || o.GetKind() == "NetworkPolicy" {
					t.Errorf("%s %s rendered", o.GetKind(), o.GetName())
				}
			}
		}},
		{name: "crds-not-kept", values: "crds:\n  keep: false\n", check: func(t *testing.T, objs []*unstructured.Unstructured) {
			for _, o := range objs {
				if o.GetKind() == "CustomResourceDefinition" && o.GetAnnotations()["helm.sh/resource-policy"] != "" {
					t.Errorf("CRD %s annotated %v with crds.keep false", o.GetName(), o.GetAnnotations())
				}
			}
		}},
		{name: "leader-election-3-replicas", values: "replicas: 3\nleaderElection:\n  enabled: true\n", check: func(t *testing.T, objs []*unstructured.Unstructured) {
			wantArg(t, managerArgs(t, objs), "--leader-elect", true)
			d := find(t, objs, "Deployment", release)
			if r, _, _ := unstructured.NestedInt64(d.Object, "spec", "replicas"); r != 3 {
				t.Errorf("replicas = %d, want 3", r)
			}
		}},
		{name: "single-replica-no-leader-election", values: "replicas: 1\nleaderElection:\n  enabled: false\nmetrics:\n  service:\n    enabled: false\n", check: func(t *testing.T, objs []*unstructured.Unstructured) {
			wantArg(t, managerArgs(t, objs), "--leader-elect", false)
			for _, o := range objs {
				if o.GetKind() == "PodDisruptionBudget" || o.GetName() == "zerotrust-operator-metrics" {
					t.Errorf("%s %s rendered with one replica and the metrics Service off", o.GetKind(), o.GetName())
				}
			}
		}},
	}
}

func TestChart(t *testing.T) {
	for _, vs := range valueSets() {
		t.Run(vs.name, func(t *testing.T) {
			args := valuesArgs(t, vs.values)
			if out, err := runHelm(t, append([]string{"lint", "--strict", chartDir}, args...)...); err != nil {
				t.Fatalf("helm lint --strict: %v\n%s", err, out)
			}
			objs := render(t, args...)
			var crds, rest []*unstructured.Unstructured
			for _, o := range objs {
				if o.GetKind() == "CustomResourceDefinition" {
					crds = append(crds, o)
				} else {
					rest = append(rest, o)
				}
			}
			if len(crds) > 0 {
				installCRDs(t, crds)
			}
			for _, o := range rest {
				if err := dryRun(o); err != nil {
					t.Errorf("%s %s/%s refused by the API server: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
				}
			}
			t.Logf("%d CRDs installed, %d objects accepted by a server-side dry-run", len(crds), len(rest))
			if vs.check != nil {
				vs.check(t, objs)
			}
		})
	}
}

// dryRun server-side applies o with dry-run=All: validated and admitted, never stored.
func dryRun(o *unstructured.Unstructured) error {
	return k8s.Apply(ctx, client.ApplyConfigurationFromUnstructured(o), client.FieldOwner(fieldOwner), client.ForceOwnership, client.DryRunAll)
}

// TestDryRunCatchesInvalidObjects makes sure the dry-run above can fail: a Deployment whose
// resources the API server cannot parse must be refused.
func TestDryRunCatchesInvalidObjects(t *testing.T) {
	objs := render(t, valuesArgs(t, "resources:\n  requests: {cpu: a-lot}\n")...)
	if err := dryRun(find(t, objs, "Deployment", release)); err == nil {
		t.Fatal("a Deployment with requests.cpu \"a-lot\" was accepted by the dry-run")
	}
}

// TestRefuses: value sets the operator cannot run with are refused when rendering: replicas
// that all reconcile would fight over every object, and the operator exits with the rbac
// backend but no webhook.
func TestRefuses(t *testing.T) {
	for _, tc := range []struct{ name, values, want string }{
		{"replicas-without-leader-election", "replicas: 2\nleaderElection:\n  enabled: false\n", "leaderElection.enabled"},
		{"rbac-without-webhook", "backends: networkpolicy,rbac\n", "webhook.enabled"},
		{"rbac-on-without-webhook", "backends: networkpolicy, rbac=on\n", "webhook.enabled"},
		{"rbac-auto-without-webhook", "backends: rbac=auto\n", "webhook.enabled"},
		{"unknown-backend", "backends: networkpolicy,calico\n", "backends"},
		{"latest-image", "image:\n  tag: latest\n", "image/tag"},
		{"unknown-value", "replica: 3\n", "replica"},
		{"unknown-certificates", "webhook:\n  enabled: true\n  certificates: vault\n", "certificates"},
		{"servicemonitor-without-service", "metrics:\n  service:\n    enabled: false\n  serviceMonitor:\n    enabled: true\n", "metrics.service.enabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"template", release, chartDir, "--namespace", namespace}, valuesArgs(t, tc.values)...)
			out, err := runHelm(t, args...)
			if err == nil || !strings.Contains(out, tc.want) {
				t.Fatalf("helm template with %q: err=%v, want a refusal naming %s\n%s", tc.values, err, tc.want, out)
			}
		})
	}
	// rbac=off is not the rbac backend.
	if out, err := runHelm(t, append([]string{"template", release, chartDir, "--namespace", namespace}, valuesArgs(t, "backends: networkpolicy,rbac=off\n")...)...); err != nil {
		t.Fatalf("helm template with rbac=off: %v\n%s", err, out)
	}
}

// valuesArgs writes values (YAML) to a file and returns the flags that pass it to helm.
func valuesArgs(t *testing.T, values string) []string {
	t.Helper()
	if values == "" {
		return nil
	}
	f := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(f, []byte(values), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"--values", f}
}

// helmCmd is helm with its own cache, config and data directories and no kubeconfig, so
// that nothing of the user's or CI's environment takes part.
func helmCmd(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(helm, args...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+filepath.Join(home, "no-kubeconfig"),
	)
	return cmd
}

// runHelm runs helm and returns its combined output.
func runHelm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := helmCmd(t, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// render runs helm template (CRDs included) and decodes every object it prints.
func render(t *testing.T, args ...string) []*unstructured.Unstructured {
	t.Helper()
	cmd := helmCmd(t, append([]string{"template", release, chartDir, "--namespace", namespace, "--include-crds"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm template: %v\n%s", err, stderr.String())
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(&stdout, 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("decoding helm template output: %v", err)
		}
		if len(m) == 0 {
			continue
		}
		o := &unstructured.Unstructured{Object: m}
		if o.GetKind() == "" || o.GetAPIVersion() == "" || o.GetName() == "" {
			t.Errorf("rendered object without kind, apiVersion or name: %v", m)
			continue
		}
		objs = append(objs, o)
	}
	if len(objs) == 0 {
		t.Fatal("helm template rendered nothing")
	}
	return objs
}

// installCRDs applies the chart's CRDs for real and waits until they are served.
func installCRDs(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, o := range objs {
		if err := k8s.Apply(ctx, client.ApplyConfigurationFromUnstructured(o), client.FieldOwner(fieldOwner), client.ForceOwnership); err != nil {
			t.Fatalf("installing CRD %s: %v", o.GetName(), err)
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, crd); err != nil {
			t.Fatalf("CRD %s: %v", o.GetName(), err)
		}
		crds = append(crds, crd)
	}
	opts := envtest.CRDInstallOptions{PollInterval: 100 * time.Millisecond, MaxTime: 30 * time.Second}
	if err := envtest.WaitForCRDs(cfg, crds, opts); err != nil {
		t.Fatalf("waiting for the chart's CRDs: %v", err)
	}
}

func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %s rendered", kind, name)
	return nil
}

// manager returns the manager container of the operator's Deployment.
func manager(t *testing.T, objs []*unstructured.Unstructured) map[string]any {
	t.Helper()
	d := find(t, objs, "Deployment", release)
	containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	for _, c := range containers {
		if m, ok := c.(map[string]any); ok && m["name"] == "manager" {
			return m
		}
	}
	t.Fatal("the Deployment has no manager container")
	return nil
}

func managerArgs(t *testing.T, objs []*unstructured.Unstructured) []string {
	t.Helper()
	args, _, _ := unstructured.NestedStringSlice(manager(t, objs), "args")
	return args
}

func managerImage(t *testing.T, objs []*unstructured.Unstructured) string {
	t.Helper()
	image, _, _ := unstructured.NestedString(manager(t, objs), "image")
	return image
}

// roleVerbs returns the verbs the operator's ClusterRole grants on roles.
func roleVerbs(t *testing.T, objs []*unstructured.Unstructured) []string {
	t.Helper()
	rules, _, _ := unstructured.NestedSlice(find(t, objs, "ClusterRole", release).Object, "rules")
	var verbs []string
	for _, r := range rules {
		r, _ := r.(map[string]any)
		resources, _, _ := unstructured.NestedStringSlice(r, "resources")
		if slices.Contains(resources, "roles") {
			v, _, _ := unstructured.NestedStringSlice(r, "verbs")
			verbs = append(verbs, v...)
		}
	}
	return verbs
}

func wantArg(t *testing.T, args []string, arg string, want bool) {
	t.Helper()
	if got := slices.Contains(args, arg); got != want {
		t.Errorf("manager args %q: has %s = %v, want %v", args, arg, got, want)
	}
}

// operatorNetworkPolicy checks the operator's own NetworkPolicy: it isolates the operator's
// pods both ways, lets them reach the API server (443 and 6443) and nothing else, and admits
// the webhook port exactly when the webhook is on.
func operatorNetworkPolicy(t *testing.T, objs []*unstructured.Unstructured, webhook bool) {
	t.Helper()
	np := find(t, objs, "NetworkPolicy", release)
	types, _, _ := unstructured.NestedStringSlice(np.Object, "spec", "policyTypes")
	if !slices.Contains(types, "Ingress") || !slices.Contains(types, "Egress") {
		t.Errorf("operator NetworkPolicy policyTypes %v, want Ingress and Egress", types)
	}
	egress, _, _ := unstructured.NestedSlice(np.Object, "spec", "egress")
	if len(egress) != 1 {
		t.Fatalf("operator NetworkPolicy egress %v, want one rule (the API server)", egress)
	}
	ports, _, _ := unstructured.NestedSlice(egress[0].(map[string]any), "ports")
	if got := fmt.Sprint(ports); !strings.Contains(got, "port:443") || !strings.Contains(got, "port:6443") || len(ports) != 2 {
		t.Errorf("operator NetworkPolicy egress ports %s, want 443 and 6443 only", got)
	}
	ingress, _, _ := unstructured.NestedSlice(np.Object, "spec", "ingress")
	if got := strings.Contains(fmt.Sprint(ingress), "port:9443"); got != webhook {
		t.Errorf("operator NetworkPolicy admits the webhook port: %v, want %v (%v)", got, webhook, ingress)
	}
}

// TestWebhookOnlyWhereNeeded installs the chart's ValidatingWebhookConfiguration with no
// operator behind it (an outage) and creates policies: a policy with a kubernetesAPI target
// is refused (the webhook fails closed), every other policy is admitted, because the
// configuration's matchConditions never send it to the webhook.
func TestWebhookOnlyWhereNeeded(t *testing.T) {
	objs := render(t, valuesArgs(t, "backends: networkpolicy,rbac\nwebhook:\n  enabled: true\n")...)
	var crds []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			crds = append(crds, o)
		}
	}
	installCRDs(t, crds)
	vwc := find(t, objs, "ValidatingWebhookConfiguration", release)
	if err := k8s.Apply(ctx, client.ApplyConfigurationFromUnstructured(vwc), client.FieldOwner(fieldOwner), client.ForceOwnership); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(ctx, vwc) })
	team := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}
	if err := k8s.Create(ctx, team); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	policy := func(name, target string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		if err := yamlToUnstructured("apiVersion: zerotrust.dev/v1alpha1\nkind: ServiceAccessPolicy\nmetadata: {name: "+name+", namespace: team-a}\nspec:\n  target: "+target+"\n  from: [{serviceAccount: reporting}]\n", u); err != nil {
			t.Fatal(err)
		}
		return u
	}
	// The API server reads a new configuration within a moment: wait until the webhook is
	// in force, seen as the kubernetesAPI policy refused for the webhook being unreachable.
	api := policy("reads-config", "{kubernetesAPI: {rules: [{apiGroups: [\"\"], resources: [configmaps], verbs: [get]}]}}")
	NewWithT(t).Eventually(func() error { return dryRun(api) }).WithTimeout(30*time.Second).WithPolling(100*time.Millisecond).
		Should(MatchError(ContainSubstring("failed calling webhook")), "a kubernetesAPI policy with the webhook down must be refused")
	for name, target := range map[string]string{
		"service":     "{service: inventory}",
		"workload":    "{workload: {kind: Deployment, name: inventory}}",
		"podselector": "{podSelector: {matchLabels: {app: inventory}}}",
	} {
		if err := dryRun(policy(name, target)); err != nil {
			t.Errorf("a %s policy with the webhook down: %v, want it admitted (it never needs the webhook)", name, err)
		}
	}
}

func yamlToUnstructured(s string, u *unstructured.Unstructured) error {
	return utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(s), 4096).Decode(&u.Object)
}
