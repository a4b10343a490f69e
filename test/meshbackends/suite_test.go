// Package meshbackends_test proves, against a real API server, that the operator picks up
// service mesh backends whose CRDs are installed after it started, applies their objects,
// repairs them and removes them with the policy.
package meshbackends_test

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
	crds    map[string][]string
	stopped = make(chan struct{})
)

func TestMeshBackends(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(60 * time.Second)
	SetDefaultEventuallyPollingInterval(200 * time.Millisecond)
	RunSpecs(t, "Mesh backends")
}

var _ = BeforeSuite(func() {
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())
	var err error
	crds, err = testenv.MeshCRDs()
	Expect(err).NotTo(HaveOccurred())
	// No mesh CRDs yet: the operator starts without any mesh backend.
	env, cfg, err = testenv.Start(testenv.Options{})
	Expect(err).NotTo(HaveOccurred())
	k8s, err = client.New(cfg, client.Options{Scheme: operator.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	backends, err := operator.ParseBackends("networkpolicy,istio,linkerd,cilium")
	Expect(err).NotTo(HaveOccurred())
	mgr, err := operator.New(ctx, cfg, operator.Options{MetricsAddr: "0", ProbeAddr: "0", Backends: backends})
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
