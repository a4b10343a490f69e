package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/zerotrust-dev/zerotrust-operator/internal/testenv"
)

// managerArgs returns the container arguments and environment of the operator's Deployment in
// config/default (what production runs), minus leader election, with every listening address and port
// moved to a free local one and every directory to a fresh one under scratch, and the
// manifest's Namespace (the operator's own). The metrics are served over plain HTTP: the
// benchmark scrapes them itself, and its figures should not include a TokenReview per scrape.
func managerArgs(root, scratch string) (args, env []string, metricsAddr string, ns *corev1.Namespace, err error) {
	m, err := testenv.ManagerArgs(root, scratch)
	return m.Args, m.Env, m.MetricsAddr, m.Namespace, err
}

// operatorProcess is the operator binary running as a child process.
type operatorProcess struct {
	cmd     *exec.Cmd
	metrics string // http://host:port/metrics
	logPath string
	started time.Time
	exited  chan struct{}
	waitErr error
}

// startOperator runs bin with the production arguments against kubeconfig, its output to
// logPath. The process gets SIGKILL if the benchmark dies without stopping it.
// It returns the process, and its command line as the manifest and the BENCH_OPERATOR_*
// variables make it (environment, then arguments).
func startOperator(root, bin, kubeconfig, logPath, scratch string) (*operatorProcess, []string, error) {
	args, env, metricsAddr, _, err := managerArgs(root, scratch)
	if err != nil {
		return nil, nil, err
	}
	env = append(env, strings.Fields(os.Getenv("BENCH_OPERATOR_ENV"))...)
	args = append(args, "--kubeconfig="+kubeconfig)
	// For experiments: BENCH_OPERATOR_ARGS adds flags (a repeated flag's last value wins),
	// BENCH_OPERATOR_ENV environment variables, e.g. GOGC=50.
	args = append(args, strings.Fields(os.Getenv("BENCH_OPERATOR_ARGS"))...)
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a Ctrl-C in the terminal reaches the benchmark, which stops
	// the operator itself; Pdeathsig covers the benchmark being killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &operatorProcess{cmd: cmd, metrics: "http://" + metricsAddr + "/metrics", logPath: logPath, exited: make(chan struct{})}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		_ = logf.Close()
		close(p.exited)
	}()
	return p, append(env, append([]string{"bin/manager"}, args...)...), nil
}

func (p *operatorProcess) alive() error {
	select {
	case <-p.exited:
		return fmt.Errorf("the operator exited (%v); see %s", p.waitErr, p.logPath)
	default:
		return nil
	}
}

// stop sends SIGTERM, and SIGKILL after grace.
func (p *operatorProcess) stop(grace time.Duration) {
	if p == nil {
		return
	}
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// peakRSSMiB is VmHWM of the running process.
func (p *operatorProcess) peakRSSMiB() (float64, error) { return vmHWM(p.cmd.Process.Pid) }

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

type metrics []sample

// scrape reads the operator's /metrics.
func (p *operatorProcess) scrape(ctx context.Context) (metrics, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.metrics, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", p.metrics, resp.Status)
	}
	return parseMetrics(resp.Body)
}

func parseMetrics(r io.Reader) (metrics, error) {
	var out metrics
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		s := sample{labels: map[string]string{}}
		rest := line
		if i := strings.IndexAny(line, "{ "); i >= 0 && line[i] == '{' {
			s.name = line[:i]
			var err error
			if rest, err = parseLabels(line[i+1:], s.labels); err != nil {
				return nil, fmt.Errorf("%q: %w", line, err)
			}
		} else if i >= 0 {
			s.name, rest = line[:i], line[i:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", line, err)
		}
		s.value = v
		out = append(out, s)
	}
	return out, sc.Err()
}

// parseLabels reads `a="x",b="y"}` into into and returns what follows the brace.
func parseLabels(s string, into map[string]string) (string, error) {
	for {
		s = strings.TrimLeft(s, " ,")
		if strings.HasPrefix(s, "}") {
			return s[1:], nil
		}
		eq := strings.IndexByte(s, '=')
		if eq < 0 || len(s) < eq+2 || s[eq+1] != '"' {
			return "", errors.New("malformed labels")
		}
		name := s[:eq]
		var val strings.Builder
		i := eq + 2
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
				switch s[i] {
				case 'n':
					val.WriteByte('\n')
				default:
					val.WriteByte(s[i])
				}
				continue
			}
			val.WriteByte(s[i])
		}
		if i >= len(s) {
			return "", errors.New("unterminated label value")
		}
		into[name] = val.String()
		s = s[i+1:]
	}
}

// sum adds the samples of name whose labels match want; a want value may list
// alternatives separated by "|".
func (m metrics) sum(name string, want map[string]string) float64 {
	total := 0.0
next:
	for _, s := range m {
		if s.name != name {
			continue
		}
		for k, v := range want {
			if !oneOf(s.labels[k], v) {
				continue next
			}
		}
		total += s.value
	}
	return total
}

func oneOf(have, alternatives string) bool {
	for _, a := range strings.Split(alternatives, "|") {
		if have == a {
			return true
		}
	}
	return false
}

// byLabel adds the samples of name per value of label.
func (m metrics) byLabel(name, label string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range m {
		if s.name == name {
			out[s.labels[label]] += s.value
		}
	}
	return out
}

const writeMethods = "POST|PUT|PATCH|DELETE"

// writes is the number of write requests the operator has sent to the API server.
func (m metrics) writes() float64 {
	return m.sum("rest_client_requests_total", map[string]string{"method": writeMethods})
}
