package faults_test

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

// The lease of the test: shorter than the default (15 s, 10 s, 2 s) to keep it short.
const (
	leaseDuration = 6 * time.Second
	renewDeadline = 4 * time.Second
	retryPeriod   = 1 * time.Second
	leaseName     = "zerotrust-operator.zerotrust.dev"
)

var _ = Describe("leader failover", func() {
	It("the standby takes over within the lease after the leader's SIGKILL, writes nothing already converged, and converges a change", func() {
		flags := []string{"--leader-elect", "--leader-election-namespace=" + operatorNS,
			"--leader-election-lease-duration=" + leaseDuration.String(),
			"--leader-election-renew-deadline=" + renewDeadline.String(),
			"--leader-election-retry-period=" + retryPeriod.String()}
		r := newRun("lf", false)
		r.create()

		By("starting two replicas; the first leads and converges")
		mark := audit.mark()
		a := runOperator(userA, flags...)
		Eventually(func() []auditEvent { return audit.since(mark, leaseWriteBy(userA)) }).ShouldNot(BeEmpty(), "a acquires the lease")
		b := runOperator(userB, flags...)
		r.expectConverged(r.want(cleanStatuses), 60*time.Second)
		Eventually(func() (string, error) {
			data, err := os.ReadFile(b.log)
			return string(data), err
		}).Should(ContainSubstring("ttempting to acquire leader lease"), "b stands by")
		lease := &coordinationv1.Lease{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: operatorNS, Name: leaseName}, lease)).To(Succeed())
		Expect(lease.Spec.HolderIdentity).NotTo(BeNil())
		holder := *lease.Spec.HolderIdentity
		Expect(audit.since(mark, leaseWriteBy(userB))).To(BeEmpty(), "b took the lease while a held it")

		By("killing the leader")
		killed := audit.mark()
		a.kill()
		at := time.Now()
		Eventually(func(g Gomega) {
			l := &coordinationv1.Lease{}
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: operatorNS, Name: leaseName}, l)).To(Succeed())
			g.Expect(l.Spec.HolderIdentity).NotTo(BeNil())
			g.Expect(*l.Spec.HolderIdentity).NotTo(Equal(holder))
		}).WithPolling(50 * time.Millisecond).Should(Succeed())
		took := time.Since(at)
		GinkgoWriter.Printf("b took over %.1fs after a's SIGKILL (lease %s, retry %s)\n", took.Seconds(), leaseDuration, retryPeriod)
		AddReportEntry("failover", fmt.Sprintf("%.1fs", took.Seconds()))
		Expect(audit.since(killed, leaseWriteBy(userB))).NotTo(BeEmpty(), "the new holder is b")
		// b sees the lease change at most a retry period after a renewed it for the last
		// time, waits out the lease from then, and retries every retry period.
		Expect(took).To(BeNumerically("<=", leaseDuration+2*retryPeriod+2*time.Second))

		By("expecting the new leader to write nothing already converged")
		var policies ztv1.ServiceAccessPolicyList
		Expect(k8s.List(ctx, &policies)).To(Succeed())
		var baselines ztv1.ZeroTrustBaselineList
		Expect(k8s.List(ctx, &baselines)).To(Succeed())
		Eventually(func(g Gomega) {
			m, err := reconciles(b.metrics)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(m["serviceaccesspolicy"]).To(BeNumerically(">=", len(policies.Items)))
			g.Expect(m["zerotrustbaseline"]).To(BeNumerically(">=", len(baselines.Items)))
		}).Should(Succeed(), "b reconciles every policy and baseline once it leads")
		Expect(settled(killed, stateWriteBy(userB))).To(BeEmpty(), "b rewrote converged objects or statuses")

		By("changing the input: the new leader converges it")
		changed := audit.mark()
		r.change()
		r.expectConverged(r.want(changedStatuses), 60*time.Second)
		Expect(audit.since(changed, r.writesBy(userB))).NotTo(BeEmpty())
		Expect(b.running()).To(BeTrue())
	})
})

func leaseWriteBy(user string) func(auditEvent) bool {
	return func(e auditEvent) bool {
		return e.isWrite() && e.User.Username == user && e.ObjectRef.Resource == "leases" && e.ObjectRef.Name == leaseName
	}
}

// stateWriteBy matches user's writes of anything but its lease, Events and what it keeps in
// its own namespace (the webhook's certificate): generated objects, statuses, finalizers,
// namespace labels.
func stateWriteBy(user string) func(auditEvent) bool {
	return func(e auditEvent) bool {
		return e.isWrite() && e.User.Username == user && e.ObjectRef.Resource != "leases" &&
			e.ObjectRef.Resource != "events" && e.ObjectRef.Namespace != operatorNS
	}
}

// reconciles is controller_runtime_reconcile_total per controller, from the operator's
// metrics endpoint (plain HTTP: --metrics-secure=false).
func reconciles(url string) (map[string]float64, error) {
	resp, err := http.Get(url) //nolint:gosec,noctx // a local test endpoint
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, `controller_runtime_reconcile_total{controller="`)
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(rest, `"`)
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			return nil, err
		}
		out[name] += v
	}
	return out, sc.Err()
}
