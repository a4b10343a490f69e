package controllers_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
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
	// operatorWrites records the write requests of the suite's operator.
	operatorWrites = &writeCounter{}
)

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	RunSpecs(t, "Controllers")
}

var _ = BeforeSuite(func() {
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())
	var err error
	env, cfg, err = testenv.Start(testenv.Options{})
	Expect(err).NotTo(HaveOccurred())
	k8s, err = client.New(cfg, client.Options{Scheme: operator.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	// The suite's operator: its writes are recorded, to count what a converge costs.
	mgr, err := operator.New(ctx, operatorWrites.wrap(cfg), operator.Options{MetricsAddr: "0", ProbeAddr: "0", Namespace: operatorNamespace})
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

// writeCounter counts, and records, the write requests that pass through a rest.Config.
type writeCounter struct {
	n      atomic.Int64
	mu     sync.Mutex
	writes []string // "METHOD path"
	// conflicts are the writes the API server refused with 409 Conflict.
	conflicts []string
}

func (w *writeCounter) wrap(cfg *rest.Config) *rest.Config {
	out := rest.CopyConfig(cfg)
	out.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			switch req.Method {
			case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
				w.n.Add(1)
				w.mu.Lock()
				w.writes = append(w.writes, req.Method+" "+req.URL.Path)
				w.mu.Unlock()
				GinkgoWriter.Printf("write: %s %s\n", req.Method, req.URL.Path)
			}
			resp, err := rt.RoundTrip(req)
			if err == nil && resp.StatusCode == http.StatusConflict && req.Method != http.MethodPost {
				w.mu.Lock()
				w.conflicts = append(w.conflicts, req.Method+" "+req.URL.Path)
				w.mu.Unlock()
			}
			return resp, err
		})
	})
	return out
}

// count returns the number of recorded writes with method whose path has prefix and
// suffix.
func (w *writeCounter) count(method, prefix, suffix string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, wr := range w.writes {
		m, path, _ := strings.Cut(wr, " ")
		if m == method && strings.HasPrefix(path, prefix) && strings.HasSuffix(path, suffix) {
			n++
		}
	}
	return n
}

// conflictsOn returns the refused writes (409 Conflict) whose path has prefix.
func (w *writeCounter) conflictsOn(prefix string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, c := range w.conflicts {
		if _, path, _ := strings.Cut(c, " "); strings.HasPrefix(path, prefix) {
			out = append(out, c)
		}
	}
	return out
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

var nsCounter atomic.Int64

// uniqueName returns a name not used by any other test in this run.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, nsCounter.Add(1))
}
