package faults_test

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("the API server unreachable", func() {
	It("for 3 s while policies change: the leader recovers without a restart and converges", func() {
		// With leader election, as config/default runs it: 3 s is within the renew deadline
		// (10 s), so the leader keeps its lease.
		outage("o3", 3*time.Second, "--leader-elect", "--leader-election-namespace="+operatorNS)
	})

	It("for 30 s while policies change: the operator recovers without a restart and converges", func() {
		if !*full {
			Skip("a 30 s outage runs with -faults.full (make test-faults)")
		}
		// Without leader election: a leader cut off for longer than its renew deadline
		// gives up the lease and exits on purpose (its Deployment restarts it), so that two
		// replicas never both reconcile.
		outage("o30", 30*time.Second)
	})
})

// outage converges a run, cuts the operator off the API server for d, deletes and edits
// policies meanwhile, and expects the same process to converge on the changed input.
func outage(name string, d time.Duration, flags ...string) {
	GinkgoHelper()
	r := newRun(name, false)
	r.create()
	p := runOperator(userA, flags...)
	r.expectConverged(r.want(cleanStatuses), 60*time.Second)
	pid := p.pid()

	By(fmt.Sprintf("cutting the operator off the API server for %s", d))
	cut := audit.mark()
	apiProxy.cut()
	began := time.Now()
	r.change()
	time.Sleep(d - time.Since(began)) // the fault itself is timed
	during := audit.since(cut, func(e auditEvent) bool { return e.isWrite() && e.User.Username == userA })
	apiProxy.restore()
	Expect(during).To(BeEmpty(), "the operator wrote through the outage: the proxy let it through")

	By("expecting the same process to converge on the changed input")
	restored := time.Now()
	r.expectConverged(r.want(changedStatuses), 90*time.Second)
	GinkgoWriter.Printf("%s: converged %.1fs after the API server came back\n", name, time.Since(restored).Seconds())
	Expect(p.running()).To(BeTrue(), func() string { <-p.exited; return fmt.Sprintf("the operator exited: %v", p.waitErr) })
	Expect(p.pid()).To(Equal(pid))
}
