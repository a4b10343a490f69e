// Command bench is the scale benchmark behind `make bench`. It starts a local control plane
// (kube-apiserver and etcd, as envtest), fills it with a generated cluster of
// BENCH_POLICIES ServiceAccessPolicies and the Namespaces, Services, ServiceAccounts,
// Deployments and Pods they refer to, and measures the operator, built from this tree and
// run as a separate process with the production flags of config/default (the chart rendered):
//
//   - how long it takes to converge, against the time a tuned parallel client needs to
//     write the same generated objects (the physical limit), and against the time it needs
//     to write those objects and each policy's status (the least a converge must write);
//   - the write requests of a forced full resync of the converged state (operator restart);
//   - how fast, and with how many writes, it repairs drifted NetworkPolicies;
//   - its peak RSS, its heap, and its API requests per policy;
//   - how long a new ZeroTrustBaseline takes over 1000 existing empty namespaces, against
//     the raw write time of the same objects.
//
// It prints a table and writes the figures as one JSON object to BENCH_OUT. Every wait has
// a timeout; everything it starts is stopped again, on failure and on Ctrl-C too.
// docs/performance.md explains the method and the figures.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// config is read from the environment (the interface of `make bench`).
type config struct {
	policies int    // BENCH_POLICIES (1000)
	out      string // BENCH_OUT (bin/bench.json)
	workers  int    // BENCH_WORKERS: parallel writers of the benchmark's client (32)
	seed     uint64 // BENCH_SEED (1)
	idle     int    // BENCH_IDLE_NAMESPACES: empty namespaces of the baseline scenario (1000)
	drift    int    // BENCH_DRIFT: NetworkPolicies drifted one at a time (100)
	// rawRepeats is BENCH_RAW_REPEATS: raw writes are repeated and the fastest counts (3).
	rawRepeats int
	// convergeRepeats is BENCH_CONVERGE_REPEATS: converges from the same unconverged state,
	// the fastest counts (3 up to 3000 policies, 1 above: a reset and converge of 10000
	// take about four minutes).
	convergeRepeats int
	timeout         time.Duration // BENCH_TIMEOUT: bound of each wait (10m plus 60ms a policy)
}

func loadConfig() (config, error) {
	c := config{policies: 1000, out: "bin/bench.json", workers: 32, seed: 1, idle: 1000, drift: 100, rawRepeats: 3}
	for _, v := range []struct {
		name string
		into *int
	}{{"BENCH_POLICIES", &c.policies}, {"BENCH_WORKERS", &c.workers}, {"BENCH_IDLE_NAMESPACES", &c.idle}, {"BENCH_DRIFT", &c.drift}, {"BENCH_RAW_REPEATS", &c.rawRepeats},
		{"BENCH_CONVERGE_REPEATS", &c.convergeRepeats}} {
		if s := os.Getenv(v.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				return c, fmt.Errorf("%s=%q: want a positive integer", v.name, s)
			}
			*v.into = n
		}
	}
	if c.convergeRepeats == 0 {
		c.convergeRepeats = 3
		if c.policies > 3000 {
			c.convergeRepeats = 1
		}
	}
	if s := os.Getenv("BENCH_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return c, fmt.Errorf("BENCH_SEED=%q: %w", s, err)
		}
		c.seed = n
	}
	if s := os.Getenv("BENCH_OUT"); s != "" {
		c.out = s
	}
	c.timeout = 10*time.Minute + time.Duration(c.policies)*60*time.Millisecond
	if s := os.Getenv("BENCH_TIMEOUT"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return c, fmt.Errorf("BENCH_TIMEOUT=%q: %w", s, err)
		}
		c.timeout = d
	}
	return c, nil
}

// result is the JSON object written to BENCH_OUT.
type result struct {
	ConvergeSeconds float64 `json:"converge_seconds"`
	RawWriteSeconds float64 `json:"raw_write_seconds"`
	ConvergeRatio   float64 `json:"converge_ratio"`
	// The least a converge must write (the raw write plus one status a policy), written
	// the same way; its ratio to the raw write, the floor of converge_ratio on this machine;
	// and the converge's ratio to it, what the operator adds to that floor.
	FloorWriteSeconds  float64 `json:"floor_write_seconds"`
	FloorRatio         float64 `json:"floor_ratio"`
	ConvergeFloorRatio float64 `json:"converge_floor_ratio"`
	// The CPU-seconds of kube-apiserver, etcd, the operator and the benchmark over the
	// converge and over the fastest raw write, and their ratio: on a machine both keep busy,
	// steadier than wall time when others share its host.
	ConvergeCPUSeconds   float64            `json:"converge_cpu_seconds"`
	RawWriteCPUSeconds   float64            `json:"raw_write_cpu_seconds"`
	ConvergeCPURatio     float64            `json:"converge_cpu_ratio"`
	NoopResyncWrites     int                `json:"noop_resync_writes"`
	DriftRepairP50Ms     float64            `json:"drift_repair_p50_ms"`
	DriftRepairP99Ms     float64            `json:"drift_repair_p99_ms"`
	WritesPerRepair      float64            `json:"writes_per_repair"`
	EventsPerRepair      float64            `json:"events_per_repair"`
	OperatorRSSMiB       float64            `json:"operator_rss_mib"`
	OperatorHeapMiB      float64            `json:"operator_heap_mib"`
	APIRequestsPerPolicy map[string]float64 `json:"api_requests_per_policy"`
	BaselineSeconds      float64            `json:"baseline_seconds"`
	BaselineRatio        float64            `json:"baseline_ratio"`
	Policies             int                `json:"policies"`
	Namespaces           int                `json:"namespaces"`
	Pods                 int                `json:"pods"`
	Cores                int                `json:"cores"`
	GoVersion            string             `json:"go_version"`
}

func main() {
	cfg, err := loadConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctrllog.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	// The benchmark shares the cores it measures and holds the whole generated cluster
	// (about 750 MiB at 10000 policies): with Go's default, collecting that heap over and
	// over took a tenth of the machine's CPU during a converge. Memory is cheaper here than
	// the CPU the measured processes need. GOGC set in the environment wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	os.Exit(run(cfg))
}

// run runs the benchmark and stops what it started, also when it fails, panics or is
// interrupted (SIGINT, SIGTERM, SIGHUP).
func run(cfg config) int {
	b := &bench{cfg: cfg, start: time.Now()}
	defer b.cleanup()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop() // first, so that a second Ctrl-C during the clean-up kills the benchmark
	if err := b.run(ctx); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("interrupted (%w)", err)
		}
		fmt.Fprintln(os.Stderr, "\nbench: FAILED:", err)
		return 1
	}
	return 0
}

func (b *bench) logf(format string, args ...any) {
	fmt.Printf("[%7.1fs] %s\n", time.Since(b.start).Seconds(), fmt.Sprintf(format, args...))
}

func round(v float64, digits int) float64 {
	p := math.Pow10(digits)
	return math.Round(v*p) / p
}

func (b *bench) writeResult(r *result) error {
	if err := os.MkdirAll(filepath.Dir(b.cfg.out), 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(b.cfg.out, append(data, '\n'), 0o644)
}

func (b *bench) printTable(r *result) {
	line := strings.Repeat("-", 86)
	fmt.Println()
	fmt.Println(line)
	fmt.Printf("zerotrust-operator scale benchmark: %d policies, %d namespaces, %d pods; %d cores, %s\n",
		r.Policies, r.Namespaces, r.Pods, r.Cores, r.GoVersion)
	fmt.Println(line)
	row := func(name, value, note string) { fmt.Printf("%-28s %-18s %s\n", name, value, note) }
	row("converge_seconds", fmt.Sprintf("%.2f", r.ConvergeSeconds), fmt.Sprintf("operator start -> %d policies Ready (+ baseline)", r.Policies))
	row("raw_write_seconds", fmt.Sprintf("%.2f", r.RawWriteSeconds), fmt.Sprintf("%d generated objects applied by %d writers, no operator", b.info.rawObjects, b.cfg.workers))
	row("converge_ratio", fmt.Sprintf("%.2f", r.ConvergeRatio), "target <= 1.5 (aim 1.2)")
	row("floor_write_seconds", fmt.Sprintf("%.2f", r.FloorWriteSeconds), fmt.Sprintf("the same objects and %d statuses written by %d writers, no operator", r.Policies, b.cfg.workers))
	row("floor_ratio", fmt.Sprintf("%.2f", r.FloorRatio), "floor / raw write: the least converge_ratio can be here")
	row("converge_floor_ratio", fmt.Sprintf("%.2f", r.ConvergeFloorRatio), "converge / floor: what the operator adds")
	row("converge_cpu_ratio", fmt.Sprintf("%.2f", r.ConvergeCPURatio), fmt.Sprintf("%.1f against %.1f CPU-seconds (every measured process)", r.ConvergeCPUSeconds, r.RawWriteCPUSeconds))
	row("noop_resync_writes", fmt.Sprint(r.NoopResyncWrites), fmt.Sprintf("writes of a restarted operator over the converged state (resync %.1fs); target 0", b.info.resyncSeconds))
	row("drift_repair_p50_ms", fmt.Sprintf("%.1f", r.DriftRepairP50Ms), fmt.Sprintf("%d NetworkPolicies deleted or edited one at a time", b.cfg.drift))
	row("drift_repair_p99_ms", fmt.Sprintf("%.1f", r.DriftRepairP99Ms), "target <= 50 (idle)")
	row("writes_per_repair", fmt.Sprintf("%.2f", r.WritesPerRepair), "writes of generated objects a repair; target 1")
	row("events_per_repair", fmt.Sprintf("%.2f", r.EventsPerRepair), "DriftRepaired Event writes a repair (the alarm); 1 by design")
	row("operator_rss_mib", fmt.Sprintf("%.1f", r.OperatorRSSMiB), "peak (VmHWM) over every operator process; target <= 100 at 1000 policies")
	row("operator_heap_mib", fmt.Sprintf("%.1f", r.OperatorHeapMiB), "go_memstats_heap_inuse_bytes after converging")
	verbs := make([]string, 0, len(r.APIRequestsPerPolicy))
	for _, v := range slices.Sorted(maps.Keys(r.APIRequestsPerPolicy)) {
		verbs = append(verbs, fmt.Sprintf("%s %.2f", v, r.APIRequestsPerPolicy[v]))
	}
	row("api_requests_per_policy", strings.Join(verbs, ", "), "")
	row("baseline_seconds", fmt.Sprintf("%.2f", r.BaselineSeconds), fmt.Sprintf("new ZeroTrustBaseline over %d empty namespaces -> all denied", b.cfg.idle))
	row("baseline_ratio", fmt.Sprintf("%.2f", r.BaselineRatio), fmt.Sprintf("against %.2fs raw write of the same %d objects", b.info.baselineRawSeconds, b.cfg.idle))
	fmt.Println(line)
	fmt.Printf("CPU, raw write: %s.\nCPU, floor write: %s.\nCPU, converge:  %s.\nCPU, baseline raw write: %s.\nCPU, baseline: %s.\n",
		b.info.rawCPU, b.info.floorCPU, b.info.convergeCPU, b.info.baselineRawCPU, b.info.baselineCPU)
	for _, n := range b.info.notes {
		fmt.Println(n)
	}
	fmt.Printf("Figures written to %s.\n", b.cfg.out)
}

func machine() (int, string) { return runtime.NumCPU(), runtime.Version() }
