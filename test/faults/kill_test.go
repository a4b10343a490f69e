package faults_test

import (
	"fmt"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// killPoints are the N after whose write the operator is killed: every write of a clean
// convergence with -faults.full, else the first, the middle and the last but one.
func killPoints() []int {
	w := writesToConverge
	if *full {
		out := make([]int, w)
		for i := range out {
			out[i] = i + 1
		}
		return out
	}
	return uniqueSorted(1, max(1, w/2), max(1, w-1))
}

func uniqueSorted(ns ...int) []int {
	var out []int
	for _, n := range ns {
		if len(out) == 0 || out[len(out)-1] < n {
			out = append(out, n)
		}
	}
	return out
}

var _ = Describe("SIGKILL after the operator's Nth write", func() {
	It("ends, after changes made while it was down, where a clean start on the changed input ends, with no orphans, for every N", func() {
		Expect(writesToConverge).To(BeNumerically(">=", 3))
		points := killPoints()
		AddReportEntry("kill points", fmt.Sprint(points))
		for _, n := range points {
			By(fmt.Sprintf("killing the operator after its write %d of %d", n, writesToConverge))
			killAfter(n)
		}
	})
})

// killAfter runs the scenario in a run of its own: start the operator, SIGKILL it the
// moment the audit log shows its nth write of the run, change the input, start it again,
// and expect exactly the state of a clean start on the changed input.
func killAfter(n int) {
	GinkgoHelper()
	r := newRun(fmt.Sprintf("k%d", n), false)
	r.create()
	mark := audit.mark()
	var killed atomic.Bool
	var p *operatorProcess
	ready := make(chan struct{})
	audit.onNth(n, r.writesBy(userA), func() {
		<-ready
		killed.Store(true)
		p.kill()
	})
	p = runOperator(userA)
	close(ready)
	// The trigger kills; should this run converge in fewer writes than the clean one (the
	// order of reconciles varies), it is killed once its writes have settled.
	last, quiet := -1, time.Now()
	Eventually(func() bool {
		if !p.running() {
			return true
		}
		if c := len(audit.since(mark, r.writesBy(userA))); c != last {
			last, quiet = c, time.Now()
		} else if time.Since(quiet) > 3*time.Second {
			p.kill()
		}
		return false
	}).WithTimeout(90*time.Second).Should(BeTrue(), "operator not killed after write %d", n)
	wrote := audit.since(mark, r.writesBy(userA))
	if killed.Load() {
		GinkgoWriter.Printf("k%d: killed after write %d (%s); %d writes of the run in the log\n", n, n, wrote[n-1], len(wrote))
	} else {
		GinkgoWriter.Printf("k%d: converged in %d writes, fewer than %d; killed then\n", n, len(wrote), n)
	}

	r.change()
	want := r.want(changedStatuses)
	restart := audit.mark()
	start := time.Now()
	q := runOperator(userA)
	r.expectConverged(want, 60*time.Second)
	GinkgoWriter.Printf("k%d: converged %.1fs after the restart, with %d writes\n", n, time.Since(start).Seconds(), len(audit.since(restart, r.inScope)))
	q.stop()
}
