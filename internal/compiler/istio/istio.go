// Package istio is the Istio backend: it enforces a ServiceAccessPolicy with one ALLOW
// security.istio.io/v1 AuthorizationPolicy on the target pods, and the mesh part of a
// ZeroTrustBaseline with a namespace-wide PeerAuthentication and an allow-nothing
// AuthorizationPolicy.
//
// Istio authorizes what its sidecars can prove: mesh identities (the ServiceAccount a
// caller runs as), namespaces (derived from those identities), the peer's IP address, and
// for HTTP the method and path. Every caller kind is authorized by the ServiceAccounts its
// pods run as, which the resolver finds through the workloads the caller names or selects;
// a ServiceAccount that workloads outside the caller also run as is not authorized, since
// it would admit them too. Ports are matched by number: a named port is resolved through
// the pod templates of the target's workloads, per workload where they disagree.
//
// An ALLOW policy that selects a workload denies every request no ALLOW policy of that
// workload matches, so, like an ingress NetworkPolicy, the generated policy isolates the
// target: only what ServiceAccessPolicies grant reaches it. It fails closed: the target is
// isolated even when no caller can be expressed (an ALLOW policy without rules), and what
// cannot be expressed is denied and reported (model.Result.Denied), never left open.
//
// Objects are written as the API server stores them: the Istio CRDs default nothing, the
// protobuf JSON form omits empty fields and the ALLOW action (its zero value), so a
// server-side apply of an unchanged object is a no-op.
package istio

import (
	"crypto/sha256"
	"encoding/hex"
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

// Compile returns the ALLOW AuthorizationPolicies that enforce p on the target pods, in the
// policy's namespace: one that selects the target (the base, named IngressName), with one
// rule per kind of caller (identities, namespaces, IP blocks), each limited to the ports
// whose number is the same on every target pod and to their methods and paths; and, for a
// named port whose number differs between the target's workloads, one more per workload
// that opens it with that workload's number (see model.PodGroups). ALLOW policies add up, so
// a workload's pods admit exactly the base's rules and their own.
//
// It fails closed: the base policy is generated whenever the target selects pods, even
// when no caller or port can be expressed, and an ALLOW policy that selects a workload
// denies every request no ALLOW policy of that workload admits. What Istio cannot express
// (a caller without an identity it can authorize, a port whose number is unknown) is
// denied, and listed in Result.Denied. In Audit mode the policies carry the dry-run
// annotation.
//
// It skips targets that are not mesh workloads (the Kubernetes API, external CIDRs).
func (b Backend) Compile(p *model.Policy) (model.Result, error) {
	switch {
	case p.Target.Kind == model.TargetKubernetesAPI:
		return skip("Istio does not govern access to the Kubernetes API; the RBAC backend enforces kubernetesAPI targets"), nil
	case p.Target.Kind == model.TargetExternal:
		return skip("Istio does not enforce egress to external CIDRs; the NetworkPolicy and Cilium backends do"), nil
	case !p.Target.Kind.Selects() || p.Target.PodSelector == nil:
		return skip("Istio has nothing to select for this target"), nil
	}

	var notes, denied []string
	groups, portDenied := model.PodGroups(p)
	for _, d := range portDenied {
		denied = append(denied, "Istio matches port numbers and denies "+d)
	}
	if len(p.Target.PodSelector.MatchExpressions) > 0 {
		if len(groups) == 0 {
			return skip(fmt.Sprintf("Istio selects workloads by labels only, and the target selector %s has matchExpressions and selects the pods of no Deployment, StatefulSet or DaemonSet "+
				"whose labels Istio could select instead; use matchLabels only in spec.target.podSelector, or target the workload", metav1.FormatLabelSelector(p.Target.PodSelector))), nil
		}
		notes = append(notes, fmt.Sprintf("Istio selects workloads by labels only: the target selector %s has matchExpressions, so Istio enforces the policy on the pods of %s, "+
			"selected by their pod template labels; pods of no Deployment, StatefulSet or DaemonSet that the selector matches are not isolated by Istio",
			metav1.FormatLabelSelector(p.Target.PodSelector), model.WorkloadRefs(p.Target.Workloads)))
	}
	for _, r := range model.PortRules(p) {
		if r.Protocol != "TCP" {
			notes = append(notes, fmt.Sprintf("Istio intercepts TCP only: port %s/%s is left to NetworkPolicy and Cilium", r.Port.String(), r.Protocol))
		}
	}

	srcs, callerDenied := sources(p)
	denied = append(denied, callerDenied...)

	labels := model.PolicyLabels(p, ztv1.BackendIstio)
	var objs []client.Object
	for _, g := range groups {
		var rules []*securityapi.Rule
		if ops, open := operations(p, g.Rules); open || len(ops) > 0 {
			for _, s := range srcs {
				rules = append(rules, &securityapi.Rule{From: []*securityapi.Rule_From{{Source: s.DeepCopy()}}, To: copyOps(ops)})
			}
		}
		name := model.IngressName(p)
		if g.Workload != "" {
			if len(rules) == 0 && groups[0].Workload == "" {
				continue // adds nothing to the base's isolation
			}
			name = model.IngressPartName(p, workloadPart(g.Workload))
		}
		ap := &securityv1.AuthorizationPolicy{
			TypeMeta:   authorizationPolicyType(),
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: p.Namespace, Labels: copyMap(labels)},
			// Action is ALLOW, the zero value: left unset, as the API server stores it.
			// No rules (nothing expressible) is an allow-nothing policy: the target is
			// isolated and nothing of this policy is admitted.
			Spec: securityapi.AuthorizationPolicy{Rules: rules},
		}
		// An empty podSelector target is every pod of the namespace: no selector, as Istio
		// means it, rather than an empty one the reader has to interpret.
		if len(g.Selector.MatchLabels) > 0 {
			ap.Spec.Selector = &typeapi.WorkloadSelector{MatchLabels: copyMap(g.Selector.MatchLabels)}
		}
		if p.Mode == ztv1.ModeAudit {
			ap.Annotations = map[string]string{DryRunAnnotation: "true"}
		}
		objs = append(objs, ap)
	}
	return model.Result{Objects: objs, Message: strings.Join(notes, "; "), Denied: denied}, nil
}

// workloadPart names the AuthorizationPolicy of one workload's ports: "w-" and a hash of
// its kind and name (workload names may hold dots, which name parts may not).
func workloadPart(ref string) string {
	sum := sha256.Sum256([]byte(ref))
	return "w-" + hex.EncodeToString(sum[:])[:10]
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
// namespaces, and IP blocks; plus, for every caller (or part of one) Istio cannot admit, a
// sentence saying so: Istio denies it.
//
// Every caller kind that runs as known ServiceAccounts is authorized by them (the resolver
// keeps only ServiceAccounts no workload outside the caller runs as). CIDR callers become
// ipBlocks, not remoteIpBlocks: ipBlocks match the address of the connection's peer, which
// the sidecar sees and no client can forge, the same address a NetworkPolicy ipBlock
// matches. remoteIpBlocks match the client address taken from X-Forwarded-For or the PROXY
// protocol, which is trustworthy only behind a gateway configured with numTrustedProxies;
// at a sidecar a client could set the header itself. North-south traffic that enters
// through an Istio ingress gateway arrives from the gateway's pods: authorize the gateway
// (its workload or ServiceAccount), and restrict client addresses with remoteIpBlocks on
// the gateway's own AuthorizationPolicy.
func sources(p *model.Policy) ([]*securityapi.Source, []string) {
	var principals, namespaces, blocks []string
	var denied []string
	for i := range p.Callers {
		c := &p.Callers[i]
		switch {
		case c.Kind == model.CallerCIDR:
			blocks = append(blocks, c.CIDR)
			continue
		case c.AllPods:
			namespaces = append(namespaces, c.Namespace)
			continue
		}
		principals = append(principals, c.Identities(p.TrustDomain)...)
		if len(c.MeshGaps) > 0 {
			denied = append(denied, fmt.Sprintf("Istio does not admit from[%d] (%s): %s", c.Index, c.Describe(), strings.Join(c.MeshGaps, "; ")))
		} else if len(c.ServiceAccounts) == 0 {
			denied = append(denied, fmt.Sprintf("Istio does not admit from[%d] (%s): it has no mesh identity; name its workload or serviceAccount", c.Index, c.Describe()))
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
	return out, denied
}

// operations are the ports of rules as Istio operations: one operation for every port open
// to any request, and one per HTTP rule of each port with HTTP rules (fields of one
// operation are ANDed, operations ORed, exactly as a rule's methods and paths and a port's
// rules). Istio's path syntax (exact, or a prefix with a trailing '*') is the API's, so
// paths are copied as written. open is true, with no operations, when the policy opens
// every port. UDP and SCTP ports are left out: a sidecar never sees them, and "8125" in an
// Istio rule would open TCP 8125 instead. Every rule's number is known (model.PodGroups).
func operations(p *model.Policy, rules []model.PortRule) (ops []*securityapi.Rule_To, open bool) {
	if p.AllPorts {
		return nil, true
	}
	var openPorts []string
	for _, pr := range rules {
		if pr.Protocol != "TCP" || pr.Number == 0 {
			continue
		}
		port := strconv.Itoa(int(pr.Number))
		if pr.Open() {
			openPorts = append(openPorts, port)
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
	if len(openPorts) > 0 {
		sortPorts(openPorts)
		openPorts = unique(openPorts)
		ops = append([]*securityapi.Rule_To{{Operation: &securityapi.Operation{Ports: openPorts}}}, ops...)
	}
	return ops, false
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
