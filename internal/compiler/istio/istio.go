// Package istio is the Istio backend: it enforces a ServiceAccessPolicy with one ALLOW
// security.istio.io/v1 AuthorizationPolicy on the target pods, and the mesh part of a
// ZeroTrustBaseline with a namespace-wide PeerAuthentication and an allow-nothing
// AuthorizationPolicy.
//
// Istio authorizes what its sidecars can prove: mesh identities (the ServiceAccount a
// caller runs as), namespaces (derived from those identities), the peer's IP address, and
// for HTTP the method and path. A caller the model knows only by pod labels (a Service or
// podSelector caller) has no identity Istio could match and is left out, with a message;
// it is never widened to its namespace. So is a workload caller whose ServiceAccount other
// workloads share: authorizing the ServiceAccount would admit them too.
//
// An ALLOW policy that selects a workload denies every request no ALLOW policy of that
// workload matches, so, like an ingress NetworkPolicy, the generated policy isolates the
// target: only what ServiceAccessPolicies grant reaches it. No policy is generated when no
// caller can be expressed, since one without rules would deny everything.
//
// Objects are written as the API server stores them: the Istio CRDs default nothing, the
// protobuf JSON form omits empty fields and the ALLOW action (its zero value), so a
// server-side apply of an unchanged object is a no-op.
package istio

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"istio.io/api/annotation"
	securityapi "istio.io/api/security/v1beta1"
	typeapi "istio.io/api/type/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/model"
)

// DryRunAnnotation puts an AuthorizationPolicy in dry-run: Istio evaluates and logs it but
// enforces nothing. Audit-mode policies carry it with the value "true"; it is generated,
// never copied from the ServiceAccessPolicy.
var DryRunAnnotation = annotation.IoIstioDryRun.Name

// Baseline object parts, for model.BaselineName.
const (
	// BaselineMTLSPart names the namespace-wide PeerAuthentication.
	BaselineMTLSPart = "mtls"
	// BaselineDenyPart names the allow-nothing AuthorizationPolicy.
	BaselineDenyPart = "deny"
)

// Backend is the Istio backend. The zero value is ready to use.
type Backend struct{}

// New returns the Istio backend.
func New() Backend { return Backend{} }

var _ model.BaselineBackend = Backend{}

// Name is ztv1.BackendIstio.
func (Backend) Name() ztv1.Backend { return ztv1.BackendIstio }

// Compile returns one ALLOW AuthorizationPolicy in the policy's namespace that selects the
// target pods and has one rule per kind of caller (identities, namespaces, IP blocks), each
// limited to the policy's TCP ports, methods and paths. In Audit mode it carries the
// dry-run annotation.
//
// It skips the policy when Istio cannot express its target exactly: the Kubernetes API or
// external CIDRs (not mesh workloads), a target selector with matchExpressions (Istio
// selects by labels only, and dropping an expression would widen the selection), or a
// named target port whose number the model does not know (Istio matches port numbers).
func (b Backend) Compile(p *model.Policy) (model.Result, error) {
	switch {
	case p.Target.Kind == model.TargetKubernetesAPI:
		return skip("Istio does not govern access to the Kubernetes API; the RBAC backend enforces kubernetesAPI targets"), nil
	case p.Target.Kind == model.TargetExternal:
		return skip("Istio does not enforce egress to external CIDRs; the NetworkPolicy and Cilium backends do"), nil
	case !p.Target.Kind.Selects() || p.Target.PodSelector == nil:
		return skip("Istio has nothing to select for this target"), nil
	case len(p.Target.PodSelector.MatchExpressions) > 0:
		return skip(fmt.Sprintf("Istio selects workloads by labels only, and the target selector %s has matchExpressions; "+
			"use matchLabels only in spec.target.podSelector, or target the workload", metav1.FormatLabelSelector(p.Target.PodSelector))), nil
	}

	var notes []string
	ops, portNotes, unexpressible := operations(p)
	if unexpressible != "" {
		return skip(unexpressible), nil
	}
	notes = append(notes, portNotes...)
	if !p.AllPorts && len(ops) == 0 {
		return skip("Istio intercepts TCP only, and the policy opens no TCP port; NetworkPolicy and Cilium enforce its UDP and SCTP ports"), nil
	}

	srcs, callerNotes := sources(p)
	notes = append(notes, callerNotes...)
	if len(srcs) == 0 {
		return model.Result{Skipped: true, Message: strings.Join(append(notes,
			"no from entry has an identity Istio can authorize, so no AuthorizationPolicy is generated (one without rules would deny everything)"), "; ")}, nil
	}

	rules := make([]*securityapi.Rule, 0, len(srcs))
	for _, s := range srcs {
		rules = append(rules, &securityapi.Rule{
			From: []*securityapi.Rule_From{{Source: s}},
			To:   copyOps(ops),
		})
	}
	ap := &securityv1.AuthorizationPolicy{
		TypeMeta:   authorizationPolicyType(),
		ObjectMeta: metav1.ObjectMeta{Name: model.IngressName(p), Namespace: p.Namespace, Labels: model.PolicyLabels(p, ztv1.BackendIstio)},
		Spec: securityapi.AuthorizationPolicy{
			Rules: rules,
			// Action is ALLOW, the zero value: left unset, as the API server stores it.
		},
	}
	// An empty podSelector target is every pod of the namespace: no selector, as Istio
	// means it, rather than an empty one the reader has to interpret.
	if len(p.Target.PodSelector.MatchLabels) > 0 {
		ap.Spec.Selector = &typeapi.WorkloadSelector{MatchLabels: copyMap(p.Target.PodSelector.MatchLabels)}
	}
	if p.Mode == ztv1.ModeAudit {
		ap.Annotations = map[string]string{DryRunAnnotation: "true"}
	}
	return model.Result{Objects: []client.Object{ap}, Message: strings.Join(notes, "; ")}, nil
}

// CompileBaseline returns, for b's mesh part, a namespace-wide PeerAuthentication with b's
// mutual TLS mode and, with mesh.defaultDeny, an allow-nothing AuthorizationPolicy (an
// ALLOW policy with no rules matches no request, so every workload of the namespace denies
// whatever no other ALLOW policy grants). Istio honours one namespace-wide
// PeerAuthentication per namespace (the oldest); two baselines selecting one namespace with
// different modes should be avoided.
func (Backend) CompileBaseline(bl *model.Baseline) ([]client.Object, error) {
	if bl.Mesh == nil {
		return nil, nil
	}
	var objs []client.Object
	labels := model.BaselineLabels(bl, ztv1.BackendIstio)
	if mode, ok := mtlsModes[bl.Mesh.MTLS]; ok {
		objs = append(objs, &securityv1.PeerAuthentication{
			TypeMeta:   metav1.TypeMeta{APIVersion: securityv1.SchemeGroupVersion.String(), Kind: "PeerAuthentication"},
			ObjectMeta: metav1.ObjectMeta{Name: model.BaselineName(bl, BaselineMTLSPart), Namespace: bl.Namespace, Labels: copyMap(labels)},
			Spec:       securityapi.PeerAuthentication{Mtls: &securityapi.PeerAuthentication_MutualTLS{Mode: mode}},
		})
	}
	if bl.Mesh.DefaultDeny {
		objs = append(objs, &securityv1.AuthorizationPolicy{
			TypeMeta:   authorizationPolicyType(),
			ObjectMeta: metav1.ObjectMeta{Name: model.BaselineName(bl, BaselineDenyPart), Namespace: bl.Namespace, Labels: copyMap(labels)},
			// spec: {} — no selector (every workload of the namespace), ALLOW, no rules.
		})
	}
	return objs, nil
}

var mtlsModes = map[ztv1.MTLSMode]securityapi.PeerAuthentication_MutualTLS_Mode{
	ztv1.MTLSStrict:     securityapi.PeerAuthentication_MutualTLS_STRICT,
	ztv1.MTLSPermissive: securityapi.PeerAuthentication_MutualTLS_PERMISSIVE,
}

func authorizationPolicyType() metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: securityv1.SchemeGroupVersion.String(), Kind: "AuthorizationPolicy"}
}

func skip(msg string) model.Result { return model.Result{Skipped: true, Message: msg} }

// sources are the callers as Istio sources, one per kind: mesh identities (principals),
// namespaces, and IP blocks; plus a note for every caller left out.
//
// CIDR callers become ipBlocks, not remoteIpBlocks: ipBlocks match the address of the
// connection's peer, which the sidecar sees and no client can forge, the same address a
// NetworkPolicy ipBlock matches. remoteIpBlocks match the client address taken from
// X-Forwarded-For or the PROXY protocol, which is trustworthy only behind a gateway
// configured with numTrustedProxies; at a sidecar a client could set the header itself. North-south
// traffic that enters through an Istio ingress gateway arrives from the gateway's pods:
// authorize the gateway (its workload or ServiceAccount), and restrict client addresses
// with remoteIpBlocks on the gateway's own AuthorizationPolicy.
func sources(p *model.Policy) ([]*securityapi.Source, []string) {
	var principals, namespaces, blocks []string
	var notes []string
	for i := range p.Callers {
		c := &p.Callers[i]
		switch {
		case c.Kind == model.CallerCIDR:
			blocks = append(blocks, c.CIDR)
		case c.AllPods:
			namespaces = append(namespaces, c.Namespace)
		case len(c.ServiceAccountPeers) > 0:
			notes = append(notes, sharedIdentityNote("Istio", c))
		case len(c.ServiceAccounts) > 0:
			principals = append(principals, c.Identities(p.TrustDomain)...)
		default:
			notes = append(notes, fmt.Sprintf("Istio authorizes mesh identities, and from[%d] (%s) names pods by label only: "+
				"it is not authorized by Istio; name its workload or serviceAccount instead", c.Index, c.Describe()))
		}
	}
	var out []*securityapi.Source
	if len(principals) > 0 {
		out = append(out, &securityapi.Source{Principals: sortedUnique(principals)})
	}
	if len(namespaces) > 0 {
		out = append(out, &securityapi.Source{Namespaces: sortedUnique(namespaces)})
	}
	if len(blocks) > 0 {
		out = append(out, &securityapi.Source{IpBlocks: sortedUnique(blocks)})
	}
	return out, notes
}

// operations are the policy's ports as Istio operations: one operation for every port
// open to any request, and one per HTTP rule of each port with HTTP rules (fields of one
// operation are ANDed, operations ORed, exactly as a rule's methods and paths and a port's
// rules). Istio's path syntax (exact, or a prefix with a trailing '*') is the API's, so
// paths are copied as written. Nil when the policy opens every port. UDP and SCTP ports are
// left out with a note: a sidecar never sees them, and "8125" in an Istio rule would open
// TCP 8125 instead. unexpressible explains a named port whose number is unknown.
func operations(p *model.Policy) (ops []*securityapi.Rule_To, notes []string, unexpressible string) {
	if p.AllPorts {
		return nil, nil, ""
	}
	var open []string
	for _, pr := range model.PortRules(p) {
		if pr.Protocol != "TCP" {
			notes = append(notes, fmt.Sprintf("Istio intercepts TCP only: port %s/%s is left to NetworkPolicy and Cilium", pr.Port.String(), pr.Protocol))
			continue
		}
		num := pr.Number
		if num == 0 {
			return nil, nil, fmt.Sprintf("Istio matches port numbers, and the target port %q is a name whose number is unknown "+
				"(a Service's named targetPort, or a name in a podSelector target): use a numeric targetPort or port, or target the workload, whose pod template declares the port", pr.Port.StrVal)
		}
		port := strconv.Itoa(int(num))
		if pr.Open() {
			open = append(open, port)
			continue
		}
		for _, r := range pr.HTTP {
			op := &securityapi.Operation{Ports: []string{port}, Paths: append([]string(nil), r.Paths...)}
			for _, m := range r.Methods {
				op.Methods = append(op.Methods, string(m))
			}
			ops = append(ops, &securityapi.Rule_To{Operation: op})
		}
	}
	if len(open) > 0 {
		sortPorts(open)
		open = unique(open)
		ops = append([]*securityapi.Rule_To{{Operation: &securityapi.Operation{Ports: open}}}, ops...)
	}
	return ops, notes, ""
}

func copyOps(in []*securityapi.Rule_To) []*securityapi.Rule_To {
	if in == nil {
		return nil
	}
	out := make([]*securityapi.Rule_To, len(in))
	for i, op := range in {
		out[i] = op.DeepCopy()
	}
	return out
}

// sharedIdentityNote explains why a workload caller whose ServiceAccount other workloads
// share is left out: the mesh identity is the ServiceAccount, so authorizing it would
// admit those workloads too.
func sharedIdentityNote(mesh string, c *model.Caller) string {
	return fmt.Sprintf("%s authorizes ServiceAccounts, and from[%d] (%s) runs as ServiceAccount %s/%s, which %s also run as: "+
		"it is not authorized by %s, since that would admit them too; give the workload a ServiceAccount of its own, "+
		"or name the ServiceAccount in from if all of them may call", mesh, c.Index, c.Describe(), c.Namespace,
		strings.Join(c.ServiceAccounts, ","), strings.Join(c.ServiceAccountPeers, ", "), mesh)
}

func sortPorts(ports []string) {
	sort.Slice(ports, func(i, j int) bool {
		a, _ := strconv.Atoi(ports[i])
		b, _ := strconv.Atoi(ports[j])
		return a < b
	})
}

func unique(sorted []string) []string {
	out := sorted[:0]
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}

func sortedUnique(in []string) []string {
	out := append([]string(nil), in...)
	sort.Strings(out)
	return unique(out)
}

func copyMap(in map[string]string) map[string]string {
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}
