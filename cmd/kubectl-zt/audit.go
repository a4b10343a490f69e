package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/audit"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/inventory/static"
	"github.com/zerotrust-dev/zerotrust-operator/internal/operator"
)

// runAudit reports the over-privilege findings of the namespaces the cluster's
// ZeroTrustBaselines select, with the operator's own audit. Exit 1 when there are findings.
// Unmanaged NetworkPolicies and (where Istio's CRDs are served) AuthorizationPolicies are
// compared with what the cluster's ServiceAccessPolicies declare, compiled from the
// cluster's Services, workloads and ServiceAccounts as the operator compiles them.
func runAudit(args []string, stdout io.Writer, clock func() time.Time) error {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "Path to the kubeconfig (default: $KUBECONFIG or ~/.kube/config).")
	kubeContext := fs.String("context", "", "The kubeconfig context to use.")
	timeout := fs.Duration("timeout", time.Minute, "How long to wait for the API server.")
	trustDomain := fs.String("trust-domain", compiler.DefaultTrustDomain, "mesh trust domain of ServiceAccount identities (the operator's --trust-domain)")
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
	opts := compiler.Options{OperatorNamespace: operatorNS, TrustDomain: *trustDomain}
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
	istioServed, err := served(cfg, audit.AuthorizationPolicyGVK)
	if err != nil {
		return usageErr("%v", err)
	}
	if err := audit.Gather(ctx, c, pods, &in, istioServed); err != nil {
		return usageErr("%v", err)
	}
	if len(in.NetworkPolicies)+len(in.AuthorizationPolicies) > 0 {
		if err := declared(ctx, c, &in, namespaces.Items, baselines.Items); err != nil {
			return usageErr("%v", err)
		}
		in.Options, in.Now = opts, clock()
	}
	findings, err := audit.Run(in)
	if err != nil {
		return usageErr("%v", err)
	}
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

// served reports whether the API server serves kind gvk.
func served(cfg *rest.Config, gvk schema.GroupVersionKind) (bool, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return false, err
	}
	list, err := dc.ServerResourcesForGroupVersion(gvk.GroupVersion().String())
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("discovering %s: %w", gvk.GroupVersion(), err)
	}
	for _, r := range list.APIResources {
		if r.Kind == gvk.Kind {
			return true, nil
		}
	}
	return false, nil
}

// declared adds to in what the comparison of network policies needs, read from the cluster
// into a static inventory (the operator reads the same from its caches): the
// ServiceAccessPolicies and what they refer to (Services, workloads, ServiceAccounts) in
// every namespace, the namespaces and baselines.
func declared(ctx context.Context, c client.Reader, in *audit.Input, namespaces []corev1.Namespace, baselines []ztv1.ZeroTrustBaseline) error {
	inv := static.New()
	for i := range namespaces {
		if err := inv.Add(&namespaces[i]); err != nil {
			return err
		}
	}
	for i := range baselines {
		if err := inv.Add(&baselines[i]); err != nil {
			return err
		}
	}
	var policies ztv1.ServiceAccessPolicyList
	var services corev1.ServiceList
	var serviceAccounts corev1.ServiceAccountList
	var deployments appsv1.DeploymentList
	var statefulSets appsv1.StatefulSetList
	var daemonSets appsv1.DaemonSetList
	for _, l := range []client.ObjectList{&policies, &services, &serviceAccounts, &deployments, &statefulSets, &daemonSets} {
		if err := c.List(ctx, l); err != nil {
			return fmt.Errorf("listing %T: %w", l, err)
		}
		items, err := meta.ExtractList(l)
		if err != nil {
			return err
		}
		for _, item := range items {
			if err := inv.Add(item.(client.Object)); err != nil {
				return err
			}
		}
	}
	in.Policies, in.AllNamespaces, in.Inventory = policies.Items, namespaces, inv
	for ns := range in.Namespaces {
		in.Workloads = append(in.Workloads, inv.Workloads(ns)...)
	}
	for _, sa := range serviceAccounts.Items {
		in.ServiceAccounts = append(in.ServiceAccounts, types.NamespacedName{Namespace: sa.Namespace, Name: sa.Name})
	}
	return nil
}
