package semantics_test

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/cilium"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/istio"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/linkerd"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/networkpolicy"
)

// judge is the evaluator of one enforcement layer over the rendered objects: may src call
// dst on pod port port with request r? why explains the verdict.
type judge struct {
	backend ztv1.Backend
	// variant names the judge when a backend has several (e.g. under another default).
	variant string
	// l7: the layer sees methods and paths; otherwise it is judged on callers and ports
	// only (one request per port).
	l7   bool
	eval func(src peer, dst dest, port int32, r httpReq) (allowed bool, why string)
	// skipPort, when set, says that a port of dst is not judged in scenario s (a
	// documented limit of the layer).
	skipPort func(s scenario, dst dest, port int32) bool
	// probe, when set, judges the kubelet's probe of dst.
	probe func(dst dest) (allowed bool, why string)
}

func (j judge) String() string {
	if j.variant == "" {
		return string(j.backend)
	}
	return string(j.backend) + " (" + j.variant + ")"
}

// judges are the evaluators of every layer, over the objects that layer enforces: the
// NetworkPolicies of a cluster without Cilium for the NetworkPolicy layer, Cilium with
// NetworkPolicies but no mesh for Cilium's HTTP rules, and every rendered object for the
// others, Cilium included on callers and ports (see rendering).
func judges(r *rendering) []judge {
	objs := r.Objects
	return []judge{
		networkPolicyJudge(r.withoutCilium.Objects),
		istioJudge(objs),
		linkerdJudge(objs, ""),
		linkerdJudge(objs, "deny"),
		ciliumJudge(r.withoutMesh.Objects, true, "without a mesh"),
		ciliumJudge(objs, false, "beside a mesh"),
	}
}

func networkPolicyJudge(objs []client.Object) judge {
	var nps []networkingv1.NetworkPolicy
	for _, o := range objs {
		if np, ok := o.(*networkingv1.NetworkPolicy); ok {
			nps = append(nps, *np)
		}
	}
	return judge{backend: ztv1.BackendNetworkPolicy, eval: func(src peer, dst dest, port int32, _ httpReq) (bool, string) {
		s := networkpolicy.Endpoint{}
		if src.external {
			s.IP = src.addr()
		} else {
			s = networkpolicy.Endpoint{Namespace: src.ns, NamespaceLabels: nsLabels(src.ns), PodLabels: src.labels}
		}
		d := networkpolicy.Endpoint{Namespace: dst.ns, NamespaceLabels: nsLabels(dst.ns), PodLabels: dst.labels, Ports: dst.ports}
		v := networkpolicy.Evaluate(nps, s, d, networkpolicy.Port{Number: port, Protocol: corev1.ProtocolTCP})
		return v.Allowed(), describeNP(v)
	}}
}

func describeNP(v networkpolicy.Verdict) string {
	side := func(name string, s networkpolicy.Side) string {
		if !s.Applies || !s.Isolated {
			return name + ": not isolated"
		}
		var by []string
		for _, np := range s.AllowedBy {
			by = append(by, np.Namespace+"/"+np.Name)
		}
		if len(by) == 0 {
			return fmt.Sprintf("%s: isolated by %s, allowed by none", name, strings.Join(s.IsolatedBy, ", "))
		}
		return fmt.Sprintf("%s: allowed by %s", name, strings.Join(by, ", "))
	}
	return side("egress", v.Egress) + "; " + side("ingress", v.Ingress)
}

func nsLabels(ns string) map[string]string {
	return map[string]string{corev1.LabelMetadataName: ns}
}

func istioJudge(objs []client.Object) judge {
	return judge{backend: ztv1.BackendIstio, l7: true, eval: func(src peer, dst dest, port int32, r httpReq) (bool, string) {
		return istio.Evaluate(objs, istio.Destination{Namespace: dst.ns, Labels: dst.labels},
			istio.Request{Principal: src.principal(), IP: src.ip, Port: port, Method: r.method, Path: r.path})
	}}
}

// linkerdJudge evaluates with Linkerd's semantics under the default inbound policy def
// ("" is Linkerd's default, all-unauthenticated; "deny" is a namespace a mesh baseline
// annotated). A port no container of the pod declares has no Server (the backend generates
// Servers for declared ports only, as documented), so it is left to the default policy:
// under all-unauthenticated those ports are not judged; under deny they are (and only
// they), except when the policy opens every port of a podSelector target (documented:
// undeclared ports are then left to the default policy, which denies them).
func linkerdJudge(all []client.Object, def string) judge {
	// Evaluate ignores objects of other groups; leaving them out only saves their
	// conversion on every call.
	objs := ofGroups(all, linkerd.Group, "gateway.networking.k8s.io")
	j := judge{backend: ztv1.BackendLinkerd, l7: true}
	dstOf := func(dst dest) linkerd.Destination {
		return linkerd.Destination{Namespace: dst.ns, Labels: dst.labels, Ports: dst.ports, DefaultPolicy: def}
	}
	j.eval = func(src peer, dst dest, port int32, r httpReq) (bool, string) {
		req := linkerd.Request{SourceIP: src.ip, Port: port, Method: r.method, Path: r.path}
		if !src.external {
			req.Identity = linkerd.Identity(src.ns, src.sa, "")
		}
		return linkerd.Evaluate(objs, dstOf(dst), req)
	}
	probe := func(dst dest) (bool, string) {
		return linkerd.Evaluate(objs, dstOf(dst), linkerd.Request{SourceIP: "10.0.0.1", Port: dst.probePort, Method: "GET", Path: dst.probePath, Probe: true})
	}
	undeclared := func(dst dest, port int32) bool {
		for _, cp := range dst.ports {
			if cp.ContainerPort == port {
				return false
			}
		}
		return true
	}
	if def == "" {
		j.probe = probe
		j.skipPort = func(_ scenario, dst dest, port int32) bool { return undeclared(dst, port) }
	} else {
		// Declared ports have Servers, where the default policy plays no part: they are
		// judged once, under the default above.
		j.variant = "default inbound policy " + def
		j.skipPort = func(s scenario, dst dest, port int32) bool {
			return !undeclared(dst, port) || s.allPorts && (s.target == targetPodLabels || s.target == targetPodExpr)
		}
	}
	return j
}

// ciliumJudge evaluates with Cilium's semantics the CiliumNetworkPolicies together with the
// NetworkPolicies: with the cilium backend active, Cilium enforces both as one set of rules
// (an L4 rule of a NetworkPolicy voids the HTTP rules a CiliumNetworkPolicy has on the same
// port for the same peer), so that is what the cluster does.
//
// Beside a mesh Cilium enforces callers and ports only (l7 false): the mesh's mutual TLS
// hides methods and paths from Cilium's L7 proxy, and the mesh enforces them.
func ciliumJudge(all []client.Object, l7 bool, variant string) judge {
	objs := ofGroups(all, "cilium.io", networkingv1.GroupName)
	return judge{backend: ztv1.BackendCilium, l7: l7, variant: variant, eval: func(src peer, dst dest, port int32, r httpReq) (bool, string) {
		s := cilium.Peer{}
		if src.external {
			s.IP = src.addr()
		} else {
			s = cilium.Peer{Namespace: src.ns, NamespaceLabels: nsLabels(src.ns), Labels: src.labels, ServiceAccount: src.sa}
		}
		d := cilium.Peer{Namespace: dst.ns, NamespaceLabels: nsLabels(dst.ns), Labels: dst.labels, ServiceAccount: dst.sa, Ports: dst.ports}
		return cilium.Evaluate(objs, cilium.Request{Source: s, Destination: d, Port: port, Protocol: "TCP", Method: r.method, Path: r.path})
	}}
}

// ofGroups are the objects of objs in one of the API groups.
func ofGroups(objs []client.Object, groups ...string) []client.Object {
	var out []client.Object
	for _, o := range objs {
		g := o.GetObjectKind().GroupVersionKind().Group
		for _, want := range groups {
			if g == want {
				out = append(out, o)
				break
			}
		}
	}
	return out
}
