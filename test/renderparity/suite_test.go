// Package renderparity_test proves, against a real API server with every backend's CRDs
// installed, that the operator running every backend (NetworkPolicy, Istio, Linkerd,
// Cilium, RBAC) creates exactly what `kubectl-zt render --backends all` prints for the same
// objects: the same generated objects (kind, namespace, name, labels and spec), no more, and
// the same namespace labels and annotations, including where baselines overlap.
package renderparity_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/zerotrust-dev/zerotrust-operator/internal/operator"
	"github.com/zerotrust-dev/zerotrust-operator/internal/testenv"
)

var (
	env     *envtest.Environment
	cfg     *rest.Config
	k8s     client.Client
	ctx     context.Context
	cancel  context.CancelFunc
	stopped = make(chan struct{})
)

func TestRenderParity(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(60 * time.Second)
	SetDefaultEventuallyPollingInterval(250 * time.Millisecond)
	RunSpecs(t, "Render parity")
}

var _ = BeforeSuite(func() {
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())
	paths, err := testenv.AllMeshCRDPaths()
	Expect(err).NotTo(HaveOccurred())
	// The webhook is prepared (envtest writes a serving certificate) but not installed: the
	// RBAC backend needs the operator to serve it, and these policies need no admission.
	env, cfg, err = testenv.Start(testenv.Options{ExtraCRDPaths: paths,
		Webhooks: &envtest.WebhookInstallOptions{LocalServingHost: "127.0.0.1"}})
	Expect(err).NotTo(HaveOccurred())
	k8s, err = client.New(cfg, client.Options{Scheme: operator.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	backends, err := operator.ParseBackends("all")
	Expect(err).NotTo(HaveOccurred())
	wio := &env.WebhookInstallOptions
	mgr, err := operator.New(ctx, cfg, operator.Options{MetricsAddr: "0", ProbeAddr: "0", Backends: backends,
		Webhook: operator.WebhookOptions{Enabled: true, Host: wio.LocalServingHost, Port: wio.LocalServingPort, CertDir: wio.LocalServingCertDir}})
	Expect(err).NotTo(HaveOccurred())
	go func() {
		defer GinkgoRecover()
		defer close(stopped)
		Expect(operator.Run(ctx, mgr)).To(Succeed())
	}()
})

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
		Eventually(stopped).Should(BeClosed())
	}
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})
