// Command kubectl-zt renders and checks zerotrust.dev policies offline, from the same YAML a
// GitOps pipeline applies, with the same compiler the operator runs: what it prints is what
// the operator would apply.
//
// Exit codes: 0 success (check: allowed), 1 check: denied, diff: access widens, 2 bad
// input or usage.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
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
	exitWidens = 1 // diff: the change admits a connection that the base does not
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
	case "diff":
		err = runDiff(args[1:], stdin, stdout, stderr, clock)
	case "audit":
		err = runAudit(args[1:], stdout, clock)
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
  render -f PATH... [--backends LIST] [--status] [--operator-namespace NS]
                      print the objects the operator would create, as a YAML stream (with
                      --status: the status each ServiceAccessPolicy would get instead); one
                      warning line on stderr per policy that is not Ready, per backend
                      that does not enforce all a policy declares (Partial, Failed), and per
                      baseline that leaves system namespaces out
  check -f PATH... --from NS/KIND/NAME --to NS/KIND/NAME --port P [--method M --path X] [--backends LIST]
                      judge the call in every enforcement layer that applies (NetworkPolicy,
                      and Istio, Linkerd, Cilium among --backends): exit 0 and the granting
                      policy if every layer allows it, 1 and the layers that deny if not
  check -f PATH... --from NS/KIND/NAME --verb V --resource R[.GROUP][/SUB] [--resource-name N] [--to NS]
                      judge a call to the Kubernetes API with the generated Roles (RBAC)
  diff --base PATH... --head PATH... [--backends LIST] [-o text|json]
                      the connections (caller, target, port, request, layer) and Kubernetes
                      API calls that head admits and base does not (+) and the reverse (-),
                      judged as check judges them; exit 1 when head admits any that base
                      does not (access widens), 0 when not
  audit [--kubeconfig PATH --context NAME]
                      over-privilege findings in the namespaces the cluster's baselines select:
                      privileged bindings and pods, and unmanaged NetworkPolicies and Istio
                      AuthorizationPolicies that admit a connection no ServiceAccessPolicy
                      declares (named); exit 1 when there are any

Run 'kubectl-zt COMMAND -h' for a command's flags. Exit codes: 0 ok, 1 denied (check), widened (diff) or findings (audit), 2 bad input.
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
	operatorNS  string
}

func (c *common) register(fs *flag.FlagSet) {
	files := (*stringList)(&c.files)
	fs.Var(files, "f", "YAML or JSON file or folder (recursively *.yaml, *.yml, *.json); - for stdin. Repeatable")
	fs.Var(files, "filename", "same as -f")
	c.registerOptions(fs)
}

// registerOptions registers the flags that shape a rendering, all but the input files.
func (c *common) registerOptions(fs *flag.FlagSet) {
	fs.StringVar(&c.namespace, "n", "default", "namespace of objects that name none, as for kubectl apply")
	fs.StringVar(&c.namespace, "namespace", "default", "same as -n")
	fs.StringVar(&c.backends, "backends", "networkpolicy,rbac", "enforcement backends: networkpolicy, istio, linkerd, cilium, rbac, or all. Offline there is no cluster to discover them from")
	fs.StringVar(&c.now, "now", "", "instant at which schedules and expiry are evaluated (RFC 3339); default: the current time")
	fs.StringVar(&c.trustDomain, "trust-domain", compiler.DefaultTrustDomain, "mesh trust domain of ServiceAccount identities")
	registerOperatorNamespace(fs, &c.operatorNS)
}

// registerOperatorNamespace adds --operator-namespace: the operator's namespace, which, like
// kube-system, a baseline selects only by naming it. It must be the operator's
// (--operator-namespace, $POD_NAMESPACE) for render to print what the operator creates.
func registerOperatorNamespace(fs *flag.FlagSet, v *string) {
	fs.StringVar(v, "operator-namespace", compiler.DefaultOperatorNamespace,
		"namespace the operator runs in: like kube-system, kube-public and kube-node-lease, a ZeroTrustBaseline selects it only when its namespaceSelector names it")
}

// loaded is the input of a command, read and checked.
type loaded struct {
	inv *static.Inventory
	// objects are the objects read, in the order read.
	objects []static.Object
	opts    compiler.Options
	now     time.Time
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
	if c.operatorNS == "" {
		return nil, usageErr("--operator-namespace: name the namespace the operator runs in")
	}
	return &loaded{inv: inv, objects: objs, now: now, opts: compiler.Options{Backends: backends, TrustDomain: c.trustDomain, OperatorNamespace: c.operatorNS}}, nil
}

func (l *loaded) render() (*compiler.Rendering, error) {
	r, err := l.inv.Render(l.now, l.opts)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	return r, nil
}

// parseBackends reads --backends: backend names (any case) or all, as the compiler's
// registry knows them, in registry order whatever the order written, so that output never
// depends on how the flag was written.
func parseBackends(s string) ([]ztv1.Backend, error) {
	backends, err := compiler.ParseBackendList(s)
	if err != nil {
		return nil, usageErr("--backends: %v", err)
	}
	return backends, nil
}

// runRender prints the objects the operator would apply, or with --status the status each
// policy would get. Every policy that is not Ready (a missing Service, a caller left out...)
// and every backend that does not enforce all a policy declares is a warning on stderr
// (see renderWarnings); they do not fail the command: under GitOps what they refer to may
// come from another repository.
func runRender(args []string, stdin io.Reader, stdout, stderr io.Writer, clock func() time.Time) error {
	var c common
	var status bool
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	c.register(fs)
	fs.BoolVar(&status, "status", false, "print, instead of the objects, the status the operator would write to each ServiceAccessPolicy, as a YAML stream")
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
	var out []byte
	if status {
		out, err = encodeStatuses(l, r)
	} else {
		out, err = compiler.EncodeYAML(r.Objects)
	}
	if err != nil {
		return err
	}
	if _, err := stdout.Write(out); err != nil {
		return err
	}
	for _, w := range renderWarnings(r) {
		_, _ = fmt.Fprintln(stderr, w)
	}
	return nil
}

// renderWarnings are the lines render writes to stderr: one per baseline that leaves system
// namespaces of the input out (its status.excludedNamespaces), one per policy that is not
// Ready and one per backend of a policy that does not enforce everything the policy declares:
// Partial (it denies declared callers or ports), Failed, or, in DryRun, a preview that
// would be Partial. Backends that skip a policy they do not govern (the RBAC backend for a
// Service target, a mesh for a kubernetesAPI one), and policies that grant nothing by
// design (expired, outside their schedule, DryRun) are not warnings: status says so, and
// nothing the policy declares is left open or closed by surprise.
func renderWarnings(r *compiler.Rendering) []string {
	var out []string
	for _, e := range r.Exclusions {
		out = append(out, fmt.Sprintf("warning: ZeroTrustBaseline %s: %s", e.Baseline, compiler.ExcludedMessage(e.Namespaces)))
	}
	for _, p := range r.Policies {
		o := p.Output
		if !o.Ready.Status {
			out = append(out, fmt.Sprintf("warning: ServiceAccessPolicy %s/%s is not Ready (%s): %s", p.Namespace, p.Name, o.Ready.Reason, o.Ready.Message))
		}
		for _, b := range o.Backends {
			if b.State == ztv1.BackendPartial || b.State == ztv1.BackendFailed || len(b.Denied) > 0 {
				out = append(out, fmt.Sprintf("warning: ServiceAccessPolicy %s/%s: %s %s: %s", p.Namespace, p.Name, b.Backend, b.State, b.Message))
			}
		}
	}
	return out
}
