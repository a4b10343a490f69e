// Package drift_test checks continuous verification against a real API server: every
// backend's generated objects, changed by another field manager (kubectl-patch,
// kubectl-annotate) or deleted, come back exactly as generated with one DriftRepaired
// Warning Event naming who changed what and one increment of zerotrust_drift_repairs_total;
// a converged cluster is re-verified over and over without an Event or a write; and the
// metrics endpoint answers only authenticated, authorized clients.
package drift_test

import (
	"context"
	"fmt"
	"net"
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

// reverifyInterval is short, so that a spec sees ten re-verifications of every policy in
// seconds.
const reverifyInterval = 300 * time.Millisecond

var (
	env         *envtest.Environment
	cfg         *rest.Config
	k8s         client.Client
	ctx         context.Context
	cancel      context.CancelFunc
	metricsAddr string
	stopped     = make(chan struct{})
)

func TestDrift(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(60 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	RunSpecs(t, "Continuous verification")
}

var _ = BeforeSuite(func() {
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())
	extra, err := testenv.AllMeshCRDPaths()
	Expect(err).NotTo(HaveOccurred())
	env, cfg, err = testenv.Start(testenv.Options{ExtraCRDPaths: extra})
	Expect(err).NotTo(HaveOccurred())
	k8s, err = client.New(cfg, client.Options{Scheme: operator.Scheme()})
	Expect(err).NotTo(HaveOccurred())

	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	metricsAddr = l.Addr().String()
	Expect(l.Close()).To(Succeed())

	backends, err := operator.ParseBackends("networkpolicy=on,istio=on,linkerd=on,cilium=on")
	Expect(err).NotTo(HaveOccurred())
	mgr, err := operator.New(ctx, cfg, operator.Options{
		MetricsAddr: metricsAddr, MetricsSecure: true, ProbeAddr: "0",
		Backends: backends, ReverifyInterval: reverifyInterval,
	})
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

var counter int

func uniqueName(prefix string) string {
	counter++
	return fmt.Sprintf("%s-%d", prefix, counter)
}
