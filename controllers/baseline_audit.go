package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/audit"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
)

// auditFindings is the number of distinct findings across all baselines, by kind: a label
// with five values (audit.Kinds), never an object name.
var auditFindings = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "zerotrust_audit_findings",
	Help: "Over-privileges found by the ZeroTrustBaseline audit in the namespaces baselines select, by kind.",
}, []string{"kind"})

func init() {
	metrics.Registry.MustRegister(auditFindings)
	for _, kind := range audit.Kinds {
		auditFindings.WithLabelValues(kind)
	}
}

func (r *ZeroTrustBaselineReconciler) auditInterval() time.Duration {
	if r.AuditInterval > 0 {
		return r.AuditInterval
	}
	return 5 * time.Minute
}

// audit returns the baseline's findings: those of the last audit while it is fresh (same
// generation and namespaces, younger than the interval), otherwise a new audit.
func (r *ZeroTrustBaselineReconciler) audit(ctx context.Context, b *ztv1.ZeroTrustBaseline, matched []corev1.Namespace, all []ztv1.ZeroTrustBaseline) ([]ztv1.Finding, error) {
	names := make([]string, len(matched))
	for i := range matched {
		names[i] = matched[i].Name
	}
	key := strings.Join(names, ",")
	now := r.Clock.Now()
	r.mu.Lock()
	last, ok := r.audits[b.Name]
	r.mu.Unlock()
	if ok && last.generation == b.Generation && last.namespaces == key && now.Sub(last.at) < r.auditInterval() {
		return last.findings, nil
	}

	in := audit.Input{Namespaces: map[string]ztv1.PodSecurityLevel{}}
	for i := range matched {
		in.Namespaces[matched[i].Name] = compiler.PodSecurityLevel(all, &matched[i], r.Options)
	}
	if len(matched) > 0 {
		if err := audit.Gather(ctx, r.APIReader, r.AuditPods, &in, r.Backends != nil && r.Backends.Installed(ztv1.BackendIstio)); err != nil {
			return nil, err
		}
		if len(in.NetworkPolicies)+len(in.AuthorizationPolicies) > 0 {
			if err := r.declared(ctx, &in, matched); err != nil {
				return nil, err
			}
		}
	}
	findings, err := audit.Run(in)
	if err != nil {
		return nil, err
	}

	r.mu.Lock()
	if r.audits == nil {
		r.audits = map[string]auditRun{}
	}
	r.audits[b.Name] = auditRun{at: now, generation: b.Generation, namespaces: key, findings: findings}
	r.updateMetricLocked()
	r.mu.Unlock()
	return findings, nil
}

// declared adds to in what the audit compares unmanaged network policies with, all from the
// manager's caches: the ServiceAccessPolicies, the workloads and ServiceAccounts of the
// selected namespaces (the probes), every namespace (the callers' labels), and the
// inventory the compiler resolves the policies against.
func (r *ZeroTrustBaselineReconciler) declared(ctx context.Context, in *audit.Input, matched []corev1.Namespace) error {
	var policies ztv1.ServiceAccessPolicyList
	if err := r.Client.List(ctx, &policies, client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("listing ServiceAccessPolicies: %w", err)
	}
	var namespaces corev1.NamespaceList
	if err := r.Client.List(ctx, &namespaces, client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("listing namespaces: %w", err)
	}
	in.Policies, in.AllNamespaces = policies.Items, namespaces.Items
	for i := range matched {
		ns := matched[i].Name
		ws, err := r.caches.workloads.InNamespace(ns)
		if err != nil {
			return fmt.Errorf("listing workloads of %s: %w", ns, err)
		}
		in.Workloads = append(in.Workloads, ws...)
		sas, err := r.caches.serviceAccounts.Names(ns)
		if err != nil {
			return fmt.Errorf("listing ServiceAccounts of %s: %w", ns, err)
		}
		for _, sa := range sas {
			in.ServiceAccounts = append(in.ServiceAccounts, types.NamespacedName{Namespace: ns, Name: sa})
		}
	}
	in.Inventory = &cacheInventory{ctx: ctx, c: r.Client, inventoryCaches: r.caches}
	in.Options, in.Now = r.Options, r.Clock.Now()
	return nil
}

// forget drops what is remembered of a deleted baseline: its findings (and so the metric's
// series) and its last write.
func (r *ZeroTrustBaselineReconciler) forget(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.audits, name)
	r.w.Forget(types.NamespacedName{Name: name})
	r.updateMetricLocked()
}

func (r *ZeroTrustBaselineReconciler) updateMetricLocked() {
	seen := map[string]bool{}
	var distinct []ztv1.Finding
	for _, run := range r.audits {
		for _, f := range run.findings {
			k := f.Kind + "|" + f.Object.Kind + "|" + f.Object.Namespace + "|" + f.Object.Name + "|" + f.Message
			if !seen[k] {
				seen[k] = true
				distinct = append(distinct, f)
			}
		}
	}
	for kind, n := range audit.Summary(distinct) {
		auditFindings.WithLabelValues(kind).Set(float64(n))
	}
}

// summarize is "2 PrivilegedBinding, 1 RootPod".
func summarize(findings []ztv1.Finding) string {
	var parts []string
	for _, k := range audit.Kinds {
		if n := audit.Summary(findings)[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, k))
		}
	}
	return strings.Join(parts, ", ")
}
