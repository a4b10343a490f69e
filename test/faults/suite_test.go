// Package faults_test proves what the operator guarantees under faults, with the operator
// as a real separate process (the binary built from this repository, run with the flags of
// config/default) against a real API server (envtest):
//
//   - SIGKILLed after its Nth write, for N along a whole convergence, with policies deleted
//     and edited while it is down, it ends where a clean start on the changed input ends,
//     with no orphans;
//   - the API server unreachable for seconds: it recovers without a restart;
//   - the leader SIGKILLed: the standby takes over within the lease and writes nothing that
//     is already converged.
//
// The operator reaches the API server through an L4 proxy (proxy: outages), and the API
// server's audit log counts its writes (auditLog): the count, not a timer, decides when
// to kill. `make test` runs a sample of the kill points and the short outage;
// `make test-faults` (-faults.full) runs every kill point and the 30 s outage.
package faults_test

import (
	"context"
	"flag"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/zerotrust-dev/zerotrust-operator/controllers"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/operator"
	"github.com/zerotrust-dev/zerotrust-operator/internal/testenv"
)

var full = flag.Bool("faults.full", false, "Kill the operator after every one of its writes of a convergence, and cut the API server off for 30 s too (make test-faults); without it a sample runs.")

// The operator's users: each process authenticates as one of them, so the audit log says
// which process wrote.
const (
	userA = "zerotrust-operator-a"
	userB = "zerotrust-operator-b"
)

var (
	env         *envtest.Environment
	k8s         client.Client
	ctx         context.Context
	cancel      context.CancelFunc
	tmp         string
	managerBin  string
	procs       int
	apiProxy    *proxy
	audit       *auditLog
	kubeconfigs = map[string]string{}
	// operatorNS is the operator's own namespace (config/default's): leases live there.
	operatorNS string
	// renderOptions are the compiler options of the operator under config/default's flags,
	// with the backends this API server serves (the built-in ones: no mesh CRDs).
	renderOptions compiler.Options
	// writesToConverge (W) is the number of writes of a clean start on the scenario.
	writesToConverge int
	// cleanStatuses and changedStatuses are the statuses a clean start gives on the
	// scenario and on the changed scenario.
	cleanStatuses, changedStatuses map[string]any
)

func TestFaults(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(60 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	RunSpecs(t, "Faults")
}

// auditPolicy records every request at Metadata level once it completes: who wrote what.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
  - level: Metadata
    verbs: [create, update, patch, delete, deletecollection]
  - level: None
`

var _ = BeforeSuite(func() {
	ctx, cancel = context.WithCancel(context.Background())
	var err error
	tmp, err = os.MkdirTemp("", "zt-faults-")
	Expect(err).NotTo(HaveOccurred())

	By("building the operator")
	managerBin = filepath.Join(tmp, "manager")
	build := exec.Command("go", "build", "-o", managerBin, ".")
	build.Dir = testenv.RepoRoot()
	build.Stdout, build.Stderr = GinkgoWriter, GinkgoWriter
	Expect(build.Run()).To(Succeed())

	By("starting the API server with an audit log")
	policyPath := filepath.Join(tmp, "audit-policy.yaml")
	Expect(os.WriteFile(policyPath, []byte(auditPolicy), 0o600)).To(Succeed())
	auditPath := filepath.Join(tmp, "audit.log")
	e, restCfg, err := testenv.Start(testenv.Options{APIServerFlags: map[string]string{
		"audit-policy-file": policyPath, "audit-log-path": auditPath,
	}})
	Expect(err).NotTo(HaveOccurred())
	env = e
	audit = tailAudit(auditPath)
	k8s, err = client.New(restCfg, client.Options{Scheme: operator.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	apiURL, err := url.Parse(restCfg.Host)
	Expect(err).NotTo(HaveOccurred())
	apiProxy, err = newProxy(apiURL.Host)
	Expect(err).NotTo(HaveOccurred())
	for _, u := range []string{userA, userB} {
		kubeconfigs[u] = writeKubeconfig(env, u, apiProxy.addr())
	}

	m, err := testenv.ManagerArgs(testenv.RepoRoot(), "")
	Expect(err).NotTo(HaveOccurred())
	Expect(m.Namespace).NotTo(BeNil(), "config/default has the operator's Namespace")
	operatorNS = m.Namespace.Name
	Expect(k8s.Create(ctx, m.Namespace)).To(Succeed())
	renderOptions = compiler.Options{TrustDomain: "cluster.local", OperatorNamespace: operatorNS}
	backends := operator.DefaultBackends
	for _, a := range m.Args {
		if v, ok := strings.CutPrefix(a, "--backends="); ok {
			backends = v
		}
		if v, ok := strings.CutPrefix(a, "--trust-domain="); ok {
			renderOptions.TrustDomain = v
		}
	}
	modes, err := operator.ParseBackends(backends)
	Expect(err).NotTo(HaveOccurred())
	for _, info := range compiler.Backends() {
		if info.Builtin && modes[info.Name] != controllers.ModeOff {
			renderOptions.Backends = append(renderOptions.Backends, info.Name)
		}
	}

	By("measuring a clean start on the scenario, and on the changed scenario")
	clean, changed := newRun("clean", false), newRun("changed", true)
	clean.create()
	changed.create()
	start := audit.mark()
	p := startOperator(userA)
	defer p.cleanup()
	want, wantChanged := clean.want(nil), changed.want(nil)
	Eventually(func(g Gomega) {
		got := clean.observe(g)
		g.Expect(got.Objects).To(Equal(want.Objects))
		g.Expect(got.Namespaces).To(Equal(want.Namespaces))
		clean.readyStatuses(g)
		changed.readyStatuses(g)
		got = changed.observe(g)
		g.Expect(got.Objects).To(Equal(wantChanged.Objects))
		g.Expect(got.Namespaces).To(Equal(wantChanged.Namespaces))
	}).Should(Succeed())
	settled(start, changed.inScope)
	writes := settled(start, clean.inScope)
	writesToConverge = len(writes)
	// Taken once every write is in: what a clean start leaves.
	cleanStatuses, changedStatuses = clean.readyStatuses(Default), changed.readyStatuses(Default)
	GinkgoWriter.Printf("a clean start writes %d times to converge:\n", writesToConverge)
	for i, w := range writes {
		GinkgoWriter.Printf("  %2d %s\n", i+1, w)
	}
	AddReportEntry("W (writes of a clean convergence)", writesToConverge)
	Expect(cleanStatuses).To(HaveLen(4), "three policies and a baseline")
	Expect(changedStatuses).To(HaveLen(3), "two policies and a baseline")
})

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
	}
	if apiProxy != nil {
		apiProxy.close()
	}
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
	if audit != nil {
		audit.close()
	}
	if tmp != "" {
		_ = os.RemoveAll(tmp)
	}
})

// settled waits until no write matching match has been added for two seconds, and returns
// the writes since mark.
func settled(mark int, match func(auditEvent) bool) []auditEvent {
	GinkgoHelper()
	last, since := -1, time.Now()
	Eventually(func() bool {
		n := len(audit.since(mark, match))
		if n != last {
			last, since = n, time.Now()
		}
		return time.Since(since) >= 2*time.Second
	}).Should(BeTrue())
	return audit.since(mark, match)
}
