package faults_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/zerotrust-dev/zerotrust-operator/internal/testenv"
)

// proxy is an L4 (TCP) proxy between the operator and the API server: TLS passes through
// it untouched. An outage drops every connection and refuses new ones until it ends.
type proxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]struct{}
}

func newProxy(target string) (*proxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{l: l, target: target, conns: map[net.Conn]struct{}{}}
	go p.serve()
	return p, nil
}

func (p *proxy) addr() string { return p.l.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			_ = c.Close() // refused: the outage is on
			continue
		}
		go p.pipe(c)
	}
}

// track registers c, or reports false during an outage.
func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *proxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

func (p *proxy) pipe(client net.Conn) {
	defer p.untrack(client)
	defer func() { _ = client.Close() }()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	if !p.track(server) {
		_ = server.Close()
		return
	}
	defer p.untrack(server)
	defer func() { _ = server.Close() }()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(server, client); done <- struct{}{} }()
	go func() { _, _ = io.Copy(client, server); done <- struct{}{} }()
	<-done // either side closing ends both
}

// cut starts an outage: every open connection is dropped, new ones are closed at once.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		_ = c.Close()
	}
}

// restore ends the outage.
func (p *proxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

func (p *proxy) close() { _ = p.l.Close(); p.cut() }

// auditEvent is the part of an audit.k8s.io/v1 Event the tests read.
type auditEvent struct {
	Stage string `json:"stage"`
	Verb  string `json:"verb"`
	User  struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
		APIGroup    string `json:"apiGroup"`
		Subresource string `json:"subresource"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
}

func (e auditEvent) String() string {
	if e.ObjectRef == nil {
		return e.User.Username + " " + e.Verb
	}
	r := e.ObjectRef
	s := fmt.Sprintf("%s %s %s %s/%s", e.User.Username, e.Verb, r.Resource, r.Namespace, r.Name)
	if r.Subresource != "" {
		s += "/" + r.Subresource
	}
	return s
}

// isWrite reports whether e is a successful create, update, patch or delete.
func (e auditEvent) isWrite() bool {
	switch e.Verb {
	case "create", "update", "patch", "delete", "deletecollection":
	default:
		return false
	}
	return e.Stage == "ResponseComplete" && e.ObjectRef != nil && e.ResponseStatus != nil && e.ResponseStatus.Code < 300
}

// auditLog tails the API server's audit log (JSON lines) and counts writes. A trigger
// runs, in the tailing goroutine, the moment the Nth event it matches is read: the API
// server's own record decides, not a timer.
type auditLog struct {
	mu       sync.Mutex
	events   []auditEvent
	triggers []*trigger
	stop     chan struct{}
	stopped  chan struct{}
}

type trigger struct {
	match func(auditEvent) bool
	n     int
	seen  int
	fire  func()
}

// tailAudit follows path from its start (the API server creates it when it starts).
func tailAudit(path string) *auditLog {
	a := &auditLog{stop: make(chan struct{}), stopped: make(chan struct{})}
	go a.tail(path)
	return a
}

func (a *auditLog) tail(path string) {
	defer close(a.stopped)
	var f *os.File
	for f == nil {
		var err error
		if f, err = os.Open(path); err != nil {
			select {
			case <-a.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	defer func() { _ = f.Close() }()
	r := bufio.NewReaderSize(f, 1<<20)
	var partial []byte
	for {
		line, err := r.ReadBytes('\n')
		partial = append(partial, line...)
		if err == nil {
			var e auditEvent
			if json.Unmarshal(bytes.TrimSpace(partial), &e) == nil {
				a.add(e)
			}
			partial = partial[:0]
			continue
		}
		if !errors.Is(err, io.EOF) {
			return
		}
		select {
		case <-a.stop:
			return
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func (a *auditLog) add(e auditEvent) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, e)
	for _, t := range a.triggers {
		if t.seen < t.n && t.match(e) {
			t.seen++
			if t.seen == t.n {
				t.fire()
			}
		}
	}
}

func (a *auditLog) close() {
	close(a.stop)
	<-a.stopped
}

// mark is the position of the next event read.
func (a *auditLog) mark() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.events)
}

// since returns the events from mark on that match.
func (a *auditLog) since(mark int, match func(auditEvent) bool) []auditEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []auditEvent
	for _, e := range a.events[mark:] {
		if match(e) {
			out = append(out, e)
		}
	}
	return out
}

// onNth calls fire when the nth event matching match after this call is read.
func (a *auditLog) onNth(n int, match func(auditEvent) bool, fire func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.triggers = append(a.triggers, &trigger{match: match, n: n, fire: fire})
}

// operatorProcess is the operator binary, built from the repository, as a child process.
type operatorProcess struct {
	user    string
	cmd     *exec.Cmd
	log     string
	exited  chan struct{}
	waitErr error
	metrics string
}

// startOperator runs the manager as config/default runs it (testenv.ManagerArgs), as user,
// through the proxy, with extra flags. The caller stops it (cleanup).
func startOperator(user string, extra ...string) *operatorProcess {
	GinkgoHelper()
	procs++
	scratch := filepath.Join(tmp, fmt.Sprintf("operator-%d", procs))
	Expect(os.MkdirAll(scratch, 0o700)).To(Succeed())
	m, err := testenv.ManagerArgs(testenv.RepoRoot(), scratch)
	Expect(err).NotTo(HaveOccurred())
	args := append(append(m.Args, "--kubeconfig="+kubeconfigs[user]), extra...)
	p := &operatorProcess{user: user, log: filepath.Join(scratch, "operator.log"), exited: make(chan struct{}),
		metrics: "http://" + m.MetricsAddr + "/metrics"}
	logf, err := os.Create(p.log)
	Expect(err).NotTo(HaveOccurred())
	p.cmd = exec.Command(managerBin, args...)
	p.cmd.Env = append(os.Environ(), m.Env...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	Expect(p.cmd.Start()).To(Succeed())
	go func() {
		p.waitErr = p.cmd.Wait()
		_ = logf.Close()
		close(p.exited)
	}()
	return p
}

// runOperator is startOperator, stopped when the spec ends.
func runOperator(user string, extra ...string) *operatorProcess {
	GinkgoHelper()
	p := startOperator(user, extra...)
	DeferCleanup(p.cleanup)
	return p
}

// cleanup stops the process and shows the end of its log (GinkgoWriter shows when the spec
// fails, or with -ginkgo.v).
func (p *operatorProcess) cleanup() {
	p.stop()
	data, _ := os.ReadFile(p.log)
	lines := strings.Split(string(data), "\n")
	GinkgoWriter.Printf("--- last lines of %s (%s, pid %d, %v)\n%s\n", p.log, p.user, p.pid(), p.waitErr, strings.Join(lines[max(0, len(lines)-40):], "\n"))
}

func (p *operatorProcess) pid() int { return p.cmd.Process.Pid }

func (p *operatorProcess) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL: a crash, nothing flushed or released.
func (p *operatorProcess) kill() { _ = p.cmd.Process.Signal(syscall.SIGKILL) }

// stop sends SIGTERM and waits, SIGKILL after 20 s.
func (p *operatorProcess) stop() {
	if !p.running() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		p.kill()
		<-p.exited
	}
}

// writeKubeconfig writes user's kubeconfig, its server the proxy.
func writeKubeconfig(env *envtest.Environment, user, server string) string {
	GinkgoHelper()
	u, err := env.AddUser(envtest.User{Name: user, Groups: []string{"system:masters"}}, nil)
	Expect(err).NotTo(HaveOccurred())
	data, err := u.KubeConfig()
	Expect(err).NotTo(HaveOccurred())
	kc, err := clientcmd.Load(data)
	Expect(err).NotTo(HaveOccurred())
	for _, c := range kc.Clusters {
		c.Server = "https://" + server
	}
	path := filepath.Join(tmp, user+".kubeconfig")
	Expect(clientcmd.WriteToFile(*kc, path)).To(Succeed())
	return path
}
