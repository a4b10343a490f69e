package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// cpuSample is the machine's CPU time, busy and total, in clock ticks (/proc/stat).
type cpuSample struct{ busy, total float64 }

func machineCPU() cpuSample {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuSample{}
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	var s cpuSample
	for i, v := range f[1:] {
		n, _ := strconv.ParseFloat(v, 64)
		s.total += n
		if i != 3 && i != 4 { // idle, iowait
			s.busy += n
		}
	}
	return s
}

// busySince is the share of the machine's CPU time that was busy since s, in percent.
func (s cpuSample) busySince() float64 {
	now := machineCPU()
	if now.total == s.total {
		return 0
	}
	return 100 * (now.busy - s.busy) / (now.total - s.total)
}

// idleBusyPercent is how busy the machine may be, over a second, to count as idle.
const idleBusyPercent = 25

// waitMachineIdle waits, at most max, until the machine's CPU is less than idleBusyPercent
// busy over a second, and returns how long it waited and whether it got there. What runs
// after a converge is not only the operator's: the API server's own informers, etcd's
// compaction, another tenant of the host.
func waitMachineIdle(ctx context.Context, max time.Duration) (time.Duration, bool) {
	start := time.Now()
	for time.Since(start) < max {
		s := machineCPU()
		select {
		case <-ctx.Done():
			return time.Since(start), false
		case <-time.After(time.Second):
		}
		if s.busySince() < idleBusyPercent {
			return time.Since(start), true
		}
	}
	return time.Since(start), false
}

// procCPU is the CPU time (user and system, in seconds) process pid has used, and its
// parent and name.
func procCPU(pid int) (seconds float64, ppid int, name string) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, ""
	}
	// The command name is in parentheses; utime and stime are the 12th and 13th fields
	// after it, the parent the 2nd.
	s := string(data)
	open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return 0, 0, ""
	}
	f := strings.Fields(s[closing+1:])
	if len(f) < 13 {
		return 0, 0, ""
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	ppid, _ = strconv.Atoi(f[1])
	return (u + st) / 100, ppid, s[open+1 : closing] // USER_HZ is 100 on Linux
}

// cpuAccount is the CPU time used so far by the machine and by each process the
// benchmark started (kube-apiserver, etcd, the operator) and the benchmark itself.
type cpuAccount struct {
	machine cpuSample
	procs   map[string]float64
}

func takeCPUAccount() cpuAccount {
	a := cpuAccount{machine: machineCPU(), procs: map[string]float64{}}
	self := os.Getpid()
	a.procs["benchmark"], _, _ = procCPU(self)
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if sec, ppid, name := procCPU(pid); ppid == self {
			if name == "manager" {
				name = "operator"
			}
			a.procs[name] += sec
		}
	}
	return a
}

// cpuUse is the CPU time used over a phase: how busy the machine was, and the CPU-seconds of
// each process the benchmark measures.
type cpuUse struct {
	busy  float64
	procs map[string]float64
}

// measured are the processes a phase's CPU is counted over, in the order they are printed.
var measured = []string{"kube-apiserver", "etcd", "operator", "benchmark"}

// since is what was used between a and now.
func (a cpuAccount) since() cpuUse {
	now := takeCPUAccount()
	u := cpuUse{busy: a.machine.busySince(), procs: map[string]float64{}}
	for _, name := range measured {
		if _, ok := now.procs[name]; ok {
			u.procs[name] = now.procs[name] - a.procs[name]
		}
	}
	return u
}

// total is the CPU-seconds of every measured process.
func (u cpuUse) total() float64 {
	var t float64
	for _, s := range u.procs {
		t += s
	}
	return t
}

func (u cpuUse) String() string {
	var parts []string
	for _, name := range measured {
		if s, ok := u.procs[name]; ok {
			parts = append(parts, fmt.Sprintf("%s %.1f", name, s))
		}
	}
	return fmt.Sprintf("machine %.0f%% busy; CPU-seconds: %s", u.busy, strings.Join(parts, ", "))
}

// apiWrites reads the API server's own count of write requests, by verb and resource.
func apiWrites(ctx context.Context, cfg *rest.Config) (map[string]float64, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	data, err := cs.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, err
	}
	m, err := parseMetrics(strings.NewReader(string(data)))
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, s := range m {
		if s.name != "apiserver_request_total" || !oneOf(s.labels["verb"], "POST|PUT|PATCH|DELETE|APPLY|DELETECOLLECTION") {
			continue
		}
		res := s.labels["resource"]
		if s.labels["subresource"] != "" {
			res += "/" + s.labels["subresource"]
		}
		out[s.labels["verb"]+" "+res] += s.value
	}
	return out, nil
}

// diffWrites is after minus before, as "VERB resource N" sorted by count.
func diffWrites(before, after map[string]float64) string {
	type kv struct {
		k string
		v float64
	}
	var d []kv
	for k, v := range after {
		if n := v - before[k]; n > 0 {
			d = append(d, kv{k, n})
		}
	}
	sort.Slice(d, func(i, j int) bool { return d[i].v > d[j].v })
	var s []string
	for _, e := range d {
		s = append(s, fmt.Sprintf("%s %.0f", e.k, e.v))
	}
	return strings.Join(s, ", ")
}

// childPeakRSS is the peak RSS (VmHWM, MiB) of each process the benchmark started, by name.
func childPeakRSS() map[string]float64 {
	out := map[string]float64{}
	self := os.Getpid()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, ppid, name := procCPU(pid); ppid == self {
			if mib, err := vmHWM(pid); err == nil {
				out[name] = max(out[name], mib)
			}
		}
	}
	return out
}

// vmHWM is the peak RSS of process pid in MiB.
func vmHWM(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024, err
		}
	}
	return 0, errors.New("no VmHWM in /proc/PID/status")
}
