package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/audit"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/operator"
)

// runAudit reports the over-privilege findings of the namespaces the cluster's
// ZeroTrustBaselines select, with the operator's own audit. Exit 1 when there are findings.
func runAudit(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "Path to the kubeconfig (default: $KUBECONFIG or ~/.kube/config).")
	kubeContext := fs.String("context", "", "The kubeconfig context to use.")
	timeout := fs.Duration("timeout", time.Minute, "How long to wait for the API server.")
	var operatorNS string
	registerOperatorNamespace(fs, &operatorNS)
	if help, err := parseFlags(fs, args, stdout); help || err != nil {
		return err
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = *kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: *kubeContext}).ClientConfig()
	if err != nil {
		return usageErr("kubeconfig: %v", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		return usageErr("%v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	var baselines ztv1.ZeroTrustBaselineList
	if err := c.List(ctx, &baselines); err != nil {
		return usageErr("listing ZeroTrustBaselines: %v", err)
	}
	var namespaces corev1.NamespaceList
	if err := c.List(ctx, &namespaces); err != nil {
		return usageErr("listing namespaces: %v", err)
	}
	opts := compiler.Options{OperatorNamespace: operatorNS}
	in := audit.Input{Namespaces: map[string]ztv1.PodSecurityLevel{}}
	for i := range namespaces.Items {
		ns := &namespaces.Items[i]
		for j := range baselines.Items {
			if ok, _ := compiler.BaselineSelects(&baselines.Items[j], ns, opts); ok {
				in.Namespaces[ns.Name] = compiler.PodSecurityLevel(baselines.Items, ns, opts)
				break
			}
		}
	}
	if len(in.Namespaces) == 0 {
		_, _ = fmt.Fprintln(stdout, "no ZeroTrustBaseline selects any namespace: nothing to audit")
		return nil
	}
	pods, err := audit.NewPodSource(cfg)
	if err != nil {
		return usageErr("%v", err)
	}
	if err := audit.Gather(ctx, c, pods, &in); err != nil {
		return usageErr("%v", err)
	}
	findings := audit.Run(in)
	names := make([]string, 0, len(in.Namespaces))
	for n := range in.Namespaces {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(findings) == 0 {
		_, _ = fmt.Fprintf(stdout, "no over-privilege found in %d namespace(s)\n", len(names))
		return nil
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(w, "KIND\tOBJECT\tFINDING")
	for _, f := range findings {
		obj := f.Object.Kind + "/" + f.Object.Name
		if f.Object.Namespace != "" {
			obj = f.Object.Namespace + "/" + obj
		}
		_, _ = fmt.Fprintf(w, "%s\t%s\t%s\n", f.Kind, obj, f.Message)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return &exitError{code: exitDenied, err: fmt.Errorf("%d finding(s) in %d namespace(s)", len(findings), len(names))}
}
