// Command kubectl-zt renders and checks zerotrust.dev policies offline, from the same YAML a
// GitOps pipeline applies, with the same compiler the operator runs: what it prints is what
// the operator would apply.
//
// Exit codes: 0 success (check: allowed), 1 check: denied, 2 bad input or usage.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/inventory/static"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, time.Now))
}

// Exit codes.
const (
	exitOK     = 0
	exitDenied = 1
	exitUsage  = 2
)

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func usageErr(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// run is main without the process: tests call it with their own streams and clock. The
// clock is read here and nowhere else; the compiler never reads one.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, clock func() time.Time) int {
	if len(args) == 0 {
		_, _ = fmt.Fprint(stderr, usage)
		return exitUsage
	}
	var err error
	switch args[0] {
	case "-h", "-help", "--help", "help":
		_, _ = fmt.Fprint(stdout, usage)
		return exitOK
	case "render":
		err = runRender(args[1:], stdin, stdout, stderr, clock)
	case "check":
		err = runCheck(args[1:], stdin, stdout, stderr, clock)
	case "audit":
		err = runAudit(args[1:], stdout)
	default:
		err = usageErr("unknown command %q\n\n%s", args[0], usage)
	}
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.code != exitDenied {
			_, _ = fmt.Fprintf(stderr, "error: %v\n", ee.err)
		}
		return ee.code
	}
	_, _ = fmt.Fprintf(stderr, "error: %v\n", err)
	return exitUsage
}

const usage = `kubectl-zt renders and checks zerotrust.dev policies offline, with the operator's compiler.

Commands:
  render -f PATH...   print the objects the operator would create, as a YAML stream
  check -f PATH... --from NS/KIND/NAME --to NS/KIND/NAME --port P [--method M --path X]
                      exit 0 and the granting policy if the call is allowed, 1 and the reason if not
  audit [--kubeconfig PATH --context NAME]
                      over-privilege findings in the namespaces the cluster's baselines select;
                      exit 1 when there are any

Run 'kubectl-zt COMMAND -h' for a command's flags. Exit codes: 0 ok, 1 denied (check) or findings (audit), 2 bad input.
`

// parseFlags parses a command's flags; -h prints them and ends the command successfully.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) (help bool, err error) {
	var buf strings.Builder
	fs.SetOutput(&buf)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			_, _ = fmt.Fprint(stdout, buf.String())
			return true, nil
		}
		return false, usageErr("%v\n%s", err, buf.String())
	}
	if fs.NArg() > 0 {
		return false, usageErr("%s: unexpected argument %q (files are read with -f)", fs.Name(), fs.Arg(0))
	}
	return false, nil
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// common are the flags every offline command shares.
type common struct {
	files       []string
	namespace   string
	backends    string
	now         string
	trustDomain string
}

func (c *common) register(fs *flag.FlagSet) {
	files := (*stringList)(&c.files)
	fs.Var(files, "f", "YAML or JSON file or folder (recursively *.yaml, *.yml, *.json); - for stdin. Repeatable")
	fs.Var(files, "filename", "same as -f")
	fs.StringVar(&c.namespace, "n", "default", "namespace of objects that name none, as for kubectl apply")
	fs.StringVar(&c.namespace, "namespace", "default", "same as -n")
	fs.StringVar(&c.backends, "backends", "networkpolicy,rbac", "enforcement backends: networkpolicy, istio, linkerd, cilium, rbac, or all. Offline there is no cluster to discover them from")
	fs.StringVar(&c.now, "now", "", "instant at which schedules and expiry are evaluated (RFC 3339); default: the current time")
	fs.StringVar(&c.trustDomain, "trust-domain", compiler.DefaultTrustDomain, "mesh trust domain of ServiceAccount identities")
}

// loaded is the input of a command, read and checked.
type loaded struct {
	inv  *static.Inventory
	opts compiler.Options
	now  time.Time
}

func (c *common) load(stdin io.Reader, clock func() time.Time) (*loaded, error) {
	if len(c.files) == 0 {
		return nil, usageErr("-f is required: name the files or folders to read, or - for stdin")
	}
	backends, err := parseBackends(c.backends)
	if err != nil {
		return nil, err
	}
	now := clock()
	if c.now != "" {
		if now, err = time.Parse(time.RFC3339, c.now); err != nil {
			return nil, usageErr("--now: %q is not an RFC 3339 instant, e.g. 2026-06-15T10:00:00Z", c.now)
		}
	}
	objs, err := static.Load(c.files, stdin, c.namespace)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	inv, err := static.Build(objs)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	return &loaded{inv: inv, now: now, opts: compiler.Options{Backends: backends, TrustDomain: c.trustDomain}}, nil
}

func (l *loaded) render() (*compiler.Rendering, error) {
	baselines, err := l.inv.Baselines()
	if err != nil {
		return nil, err
	}
	r, err := compiler.DefaultRegistry().Render(l.inv, l.inv.Policies(), baselines, l.inv.Namespaces(), l.now, l.opts)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	return r, nil
}

var backendNames = map[string]ztv1.Backend{
	"networkpolicy": ztv1.BackendNetworkPolicy,
	"istio":         ztv1.BackendIstio,
	"linkerd":       ztv1.BackendLinkerd,
	"cilium":        ztv1.BackendCilium,
	"rbac":          ztv1.BackendRBAC,
}

// allBackends is the order of "all", and the order backends run in whatever the order of
// the flag, so that output never depends on how the flag was written.
var allBackends = []ztv1.Backend{ztv1.BackendNetworkPolicy, ztv1.BackendIstio, ztv1.BackendLinkerd, ztv1.BackendCilium, ztv1.BackendRBAC}

func parseBackends(s string) ([]ztv1.Backend, error) {
	want := map[ztv1.Backend]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.ToLower(strings.TrimSpace(part))
		switch {
		case part == "":
		case part == "all":
			for _, b := range allBackends {
				want[b] = true
			}
		case backendNames[part] != "":
			want[backendNames[part]] = true
		default:
			names := make([]string, 0, len(backendNames))
			for n := range backendNames {
				names = append(names, n)
			}
			sort.Strings(names)
			return nil, usageErr("--backends: unknown backend %q; use %s or all", part, strings.Join(names, ", "))
		}
	}
	var out []ztv1.Backend
	for _, b := range allBackends {
		if want[b] {
			out = append(out, b)
		}
	}
	return out, nil
}

// runRender prints the objects the operator would apply. Policies that are not Ready (a
// missing Service, an expired policy...) are reported on stderr; they render nothing, as in
// the cluster, and do not fail the command: under GitOps what they refer to may come from
// another repository.
func runRender(args []string, stdin io.Reader, stdout, stderr io.Writer, clock func() time.Time) error {
	var c common
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	c.register(fs)
	if help, err := parseFlags(fs, args, stdout); help || err != nil {
		return err
	}
	l, err := c.load(stdin, clock)
	if err != nil {
		return err
	}
	r, err := l.render()
	if err != nil {
		return err
	}
	out, err := compiler.EncodeYAML(r.Objects)
	if err != nil {
		return err
	}
	if _, err := stdout.Write(out); err != nil {
		return err
	}
	for _, p := range r.Policies {
		if !p.Output.Ready.Status {
			_, _ = fmt.Fprintf(stderr, "warning: ServiceAccessPolicy %s/%s is not Ready (%s): %s\n", p.Namespace, p.Name, p.Output.Ready.Reason, p.Output.Ready.Message)
		}
	}
	return nil
}
