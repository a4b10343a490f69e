// Package chartrbac_test proves that the RBAC the Helm chart (charts/zerotrust-operator)
// installs is enough for everything the operator does. The chart is rendered with `helm
// template` with every backend on and the webhook enabled; its ServiceAccount, ClusterRole,
// Roles and bindings are applied to a real API server (envtest) with the CRDs of every
// backend, and its ValidatingWebhookConfiguration is pointed at the operator running in this
// process. The operator runs with the flags of the chart's Deployment, impersonating the
// chart's ServiceAccount, and records every response the API server refuses with 403: one
// of them anywhere (discovery, caches, writes, leader election, events, the webhook's
// SubjectAccessReviews, the certificate Secret) fails the suite.
//
// helm comes from $HELM (make test sets it to bin/helm, installed by `make helm`), else
// ../../bin/helm, as in test/chart.
package chartrbac_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/zerotrust-dev/zerotrust-operator/controllers"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/operator"
	"github.com/zerotrust-dev/zerotrust-operator/internal/testenv"
)

const (
	release   = "zerotrust-operator"
	namespace = "zerotrust-system" // the release namespace
	// values turn every backend on, with the webhook the rbac backend needs.
	values = "backends: networkpolicy=on,istio=on,linkerd=on,cilium=on,rbac=on\nwebhook:\n  enabled: true\n"
)

var (
	env       *envtest.Environment
	cfg       *rest.Config
	k8s       client.Client // system:masters
	ctx       context.Context
	cancel    context.CancelFunc
	stopped   = make(chan struct{})
	forbidden = &forbiddenLog{}
)

func TestChartRBAC(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(60 * time.Second)
	SetDefaultEventuallyPollingInterval(200 * time.Millisecond)
	RunSpecs(t, "The chart's RBAC is sufficient")
}

var _ = BeforeSuite(func() {
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())

	helm, err := findHelm()
	if err != nil {
		Fail(err.Error())
	}
	objs := render(helm, values)
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	fromUnstructured(find(objs, "ValidatingWebhookConfiguration", release), vwc)

	paths, err := testenv.AllMeshCRDPaths()
	Expect(err).NotTo(HaveOccurred())
	// envtest points the chart's webhook configuration at LocalServingHost:LocalServingPort
	// by URL; the operator then replaces envtest's caBundle with its own CA.
	env, cfg, err = testenv.Start(testenv.Options{ExtraCRDPaths: paths, Webhooks: &envtest.WebhookInstallOptions{
		ValidatingWebhooks: []*admissionregistrationv1.ValidatingWebhookConfiguration{vwc},
		LocalServingHost:   "127.0.0.1",
	}})
	Expect(err).NotTo(HaveOccurred())
	k8s, err = client.New(cfg, client.Options{Scheme: operator.Scheme()})
	Expect(err).NotTo(HaveOccurred())

	Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}})).To(Succeed())
	applied := map[string]int{}
	for _, o := range objs {
		switch o.GetKind() {
		case "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
			Expect(k8s.Create(ctx, o)).To(Succeed(), "creating the chart's %s %s", o.GetKind(), o.GetName())
			applied[o.GetKind()]++
		}
	}
	for _, kind := range []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"} {
		Expect(applied).To(HaveKey(kind), "the chart rendered no %s", kind)
	}
	AddReportEntry("the chart's RBAC objects applied", fmt.Sprint(applied))

	opts, sa := operatorOptions(find(objs, "Deployment", release))
	Expect(sa).To(Equal(release), "the Deployment's serviceAccountName")
	// What the values ask for, read back from the Deployment's flags.
	Expect(opts.LeaderElection).To(BeTrue(), "--leader-elect")
	Expect(opts.Webhook.Enabled).To(BeTrue(), "--enable-webhook")
	Expect(opts.Webhook.ManageCerts).To(BeTrue(), "--webhook-manage-certs")
	for _, b := range compiler.AllBackends() {
		Expect(opts.Backends).To(HaveKeyWithValue(b, controllers.ModeOn), "--backends: %s", b)
	}
	wio := &env.WebhookInstallOptions
	opts.MetricsAddr, opts.ProbeAddr = "0", "0"
	opts.Webhook.Host, opts.Webhook.Port = wio.LocalServingHost, wio.LocalServingPort
	opts.Webhook.CertDir = GinkgoT().TempDir()
	opts.Webhook.CertHosts = []string{"127.0.0.1", "localhost"}

	opCfg := rest.CopyConfig(cfg)
	opCfg.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + namespace + ":" + sa,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
	}
	opCfg.WrapTransport = forbidden.wrap
	mgr, err := operator.New(ctx, opCfg, opts)
	Expect(err).NotTo(HaveOccurred())
	go func() {
		defer GinkgoRecover()
		defer close(stopped)
		Expect(operator.Run(ctx, mgr)).To(Succeed())
	}()
	// Leader election first: nothing reconciles before the lease is the operator's.
	Eventually(mgr.Elected()).Should(BeClosed(), "the operator never became leader")
})

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
		Eventually(stopped).Should(BeClosed())
		forbidden.mu.Lock()
		AddReportEntry("requests of the operator", forbidden.seen)
		forbidden.mu.Unlock()
		// What the operator does on its way out (giving up the lease, its events) counts too,
		// as does whatever failed the setup.
		forbidden.expectNone()
	}
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})

// forbiddenLog records every response with status 403 that the operator receives.
type forbiddenLog struct {
	mu       sync.Mutex
	requests []string
	reported int // requests[:reported] have failed the test already
	seen     int // every request
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// wrap is a rest.Config WrapTransport: it sees every request of every client the operator
// builds from its configuration (discovery, caches, writes, leader election, events).
func (l *forbiddenLog) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(req)
		l.mu.Lock()
		l.seen++
		l.mu.Unlock()
		if err != nil || resp.StatusCode != http.StatusForbidden {
			return resp, err
		}
		body, readErr := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		// A metav1.Status, in JSON or protobuf (the client's choice for built-in kinds).
		msg := strconv.Quote(string(body))
		if status, ok := decodeStatus(body); ok {
			msg = status.Message
		} else if readErr != nil {
			msg = readErr.Error()
		}
		l.mu.Lock()
		l.requests = append(l.requests, fmt.Sprintf("%s %s: %s", req.Method, req.URL, msg))
		l.mu.Unlock()
		return resp, nil
	})
}

// decodeStatus decodes a response body holding a metav1.Status.
func decodeStatus(body []byte) (*metav1.Status, bool) {
	obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(body, nil, nil)
	status, ok := obj.(*metav1.Status)
	return status, err == nil && ok && status.Message != ""
}

// message describes every refusal recorded since the last report, "" when there is none,
// and marks them reported.
func (l *forbiddenLog) message() string {
	l.mu.Lock()
	refused := l.requests[l.reported:]
	l.reported = len(l.requests)
	l.mu.Unlock()
	if len(refused) == 0 {
		return ""
	}
	return fmt.Sprintf("the API server refused %d requests of the operator, which impersonates the chart's ServiceAccount; "+
		"grant them through the +kubebuilder:rbac markers (then make manifests) or charts/zerotrust-operator/templates/rbac.yaml:\n%s",
		len(refused), strings.Join(refused, "\n"))
}

// expectNone fails the test with every refusal not reported yet.
func (l *forbiddenLog) expectNone() {
	if msg := l.message(); msg != "" {
		Fail(msg, 1)
	}
}

// stopOnAny, called inside an Eventually, ends it at once with every refusal not reported
// yet: the operator does not get past one, and waiting for it to would only hide why.
func (l *forbiddenLog) stopOnAny() {
	if msg := l.message(); msg != "" {
		StopTrying(msg).Now()
	}
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

// render runs `helm template` on the chart in the release namespace with values, with
// helm's own cache, config and data directories and no kubeconfig, and decodes what it
// prints. CustomResourceDefinitions are left out: envtest installs config/crd/bases, which
// `make manifests` copies into the chart.
func render(helm, values string) []*unstructured.Unstructured {
	home := GinkgoT().TempDir()
	valuesFile := filepath.Join(home, "values.yaml")
	Expect(os.WriteFile(valuesFile, []byte(values), 0o600)).To(Succeed())
	cmd := exec.Command(helm, "template", release, filepath.Join(testenv.RepoRoot(), "charts", "zerotrust-operator"),
		"--namespace", namespace, "--values", valuesFile)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+filepath.Join(home, "no-kubeconfig"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	Expect(cmd.Run()).To(Succeed(), "helm template: %s", stderr.String())

	dec := utilyaml.NewYAMLOrJSONDecoder(&stdout, 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			Expect(errors.Is(err, io.EOF)).To(BeTrue(), "decoding helm template output: %v", err)
			break
		}
		if len(m) == 0 {
			continue
		}
		o := &unstructured.Unstructured{Object: m}
		if o.GetKind() != "CustomResourceDefinition" {
			objs = append(objs, o)
		}
	}
	Expect(objs).NotTo(BeEmpty(), "helm template rendered nothing")
	return objs
}

func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	Fail(fmt.Sprintf("the chart rendered no %s %s", kind, name))
	return nil
}

func fromUnstructured(u *unstructured.Unstructured, into any) {
	ExpectWithOffset(1, runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into)).To(Succeed())
}

// operatorOptions reads the operator's options from the manager container of the chart's
// Deployment, as main.go would from its flags and environment, and returns them with the
// Deployment's ServiceAccount. Addresses, ports and the certificate directory are the
// test's to choose; a flag this function does not know fails the test, so that a new flag
// in the chart is looked at here.
func operatorOptions(d *unstructured.Unstructured) (operator.Options, string) {
	deploy := struct {
		Spec struct {
			Template corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}{}
	fromUnstructured(d, &deploy)
	pod := deploy.Spec.Template.Spec
	var manager *corev1.Container
	for i := range pod.Containers {
		if pod.Containers[i].Name == "manager" {
			manager = &pod.Containers[i]
		}
	}
	Expect(manager).NotTo(BeNil(), "the Deployment has no manager container")

	// main.go's defaults.
	o := operator.Options{TrustDomain: "cluster.local"}
	o.Webhook.ManageCerts = true
	o.Webhook.ServiceName = "zerotrust-operator-webhook"
	backends := operator.DefaultBackends
	for _, e := range manager.Env {
		if e.Name == "POD_NAMESPACE" {
			Expect(e.ValueFrom).NotTo(BeNil(), "POD_NAMESPACE")
			Expect(e.ValueFrom.FieldRef.FieldPath).To(Equal("metadata.namespace"))
			o.Webhook.Namespace = namespace
		}
	}
	boolean := func(flag, value string, set bool) bool {
		if !set {
			return true
		}
		b, err := strconv.ParseBool(value)
		Expect(err).NotTo(HaveOccurred(), "%s=%s", flag, value)
		return b
	}
	for _, arg := range manager.Args {
		flag, value, set := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		switch flag {
		case "leader-elect":
			o.LeaderElection = boolean(flag, value, set)
		case "leader-election-namespace":
			o.LeaderElectionNS = value
		case "backends":
			backends = value
		case "reverify-interval":
			d, err := time.ParseDuration(value)
			Expect(err).NotTo(HaveOccurred(), arg)
			o.ReverifyInterval = d
		case "trust-domain":
			o.TrustDomain = value
		case "concurrent-reconciles":
			n, err := strconv.Atoi(value)
			Expect(err).NotTo(HaveOccurred(), arg)
			o.ConcurrentReconciles = n
		case "metrics-secure":
			o.MetricsSecure = boolean(flag, value, set)
		case "enable-webhook":
			o.Webhook.Enabled = boolean(flag, value, set)
		case "webhook-manage-certs":
			o.Webhook.ManageCerts = boolean(flag, value, set)
		case "operator-namespace":
			o.Webhook.Namespace = value
		case "webhook-service-name":
			o.Webhook.ServiceName = value
		case "health-probe-bind-address", "metrics-bind-address", "pprof-bind-address", "webhook-port", "webhook-cert-dir":
			// The test's to choose.
		default:
			if !strings.HasPrefix(flag, "zap-") {
				Fail(fmt.Sprintf("the chart passes %s, which this test does not know: teach operatorOptions", arg))
			}
		}
	}
	// Without --leader-election-namespace the lease is in the pod's own namespace.
	if o.LeaderElectionNS == "" {
		o.LeaderElectionNS = namespace
	}
	var err error
	o.Backends, err = operator.ParseBackends(backends)
	Expect(err).NotTo(HaveOccurred(), "--backends=%s", backends)
	return o, pod.ServiceAccountName
}
