package cilium

import (
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/model"
)

// cnp decodes CiliumNetworkPolicies written as YAML in namespace ns (one spec each, as
// documents separated by ---), named p0, p1...
func cnp(t *testing.T, ns string, specs ...string) []client.Object {
	t.Helper()
	var out []client.Object
	for i, s := range specs {
		var spec map[string]any
		if err := yaml.Unmarshal([]byte(s), &spec); err != nil {
			t.Fatalf("spec %d: %v", i, err)
		}
		u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
		u.SetAPIVersion(APIVersion)
		u.SetKind(Kind)
		u.SetNamespace(ns)
		u.SetName("p" + string(rune('0'+i)))
		out = append(out, u)
	}
	return out
}

var (
	inventory = Peer{Namespace: "shop", NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": "shop"},
		Labels: map[string]string{"app": "inventory"}, ServiceAccount: "inventory",
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "dns", ContainerPort: 5353, Protocol: corev1.ProtocolUDP}}}
	checkout = Peer{Namespace: "shop", NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": "shop"},
		Labels: map[string]string{"app": "checkout"}, ServiceAccount: "checkout"}
	payment = Peer{Namespace: "payments", NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": "payments", "team": "pay"},
		Labels: map[string]string{"app": "payment"}, ServiceAccount: "payment"}
	// impostor carries checkout's labels in another namespace.
	impostor = Peer{Namespace: "open", NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": "open"},
		Labels: map[string]string{"app": "checkout"}, ServiceAccount: "checkout"}
	outside = Peer{IP: netip.MustParseAddr("203.0.113.7")}
)

func req(src, dst Peer, port int32, method, path string) Request {
	return Request{Source: src, Destination: dst, Port: port, Method: method, Path: path}
}

func TestDecide(t *testing.T) {
	const sameNS = `
endpointSelector: {matchLabels: {app: inventory}}
ingress: [{fromEndpoints: [{matchLabels: {app: checkout}}]}]`
	const l7 = `
endpointSelector: {matchLabels: {app: inventory}}
ingress:
- fromEndpoints: [{matchLabels: {app: payment, k8s:io.kubernetes.pod.namespace: payments}}]
  toPorts:
  - ports: [{port: http, protocol: TCP}]
    rules:
      http:
      - {method: ^GET$, path: '^/items(\?.*)?$'}
      - {method: ^GET$, path: '^/items/.*$'}`
	tests := map[string]struct {
		specs []string
		ns    string // of the policies; default shop
		r     Request
		allow bool
		why   string // in the reason
	}{
		"no policy: Cilium allows": {
			r: req(checkout, inventory, 8080, "", ""), allow: true, why: "no CiliumNetworkPolicy or NetworkPolicy isolates",
		},
		"a selector without namespace is confined to the policy's namespace": {
			specs: []string{sameNS}, r: req(checkout, inventory, 8080, "", ""), allow: true, why: "is allowed by CiliumNetworkPolicy shop/p0",
		},
		"the same labels in another namespace are not admitted": {
			specs: []string{sameNS}, r: req(impostor, inventory, 8080, "", ""), why: "isolated by CiliumNetworkPolicy shop/p0",
		},
		"the policy selects only its own namespace's endpoints": {
			specs: []string{sameNS}, ns: "open", r: req(impostor, inventory, 8080, "", ""), allow: true,
		},
		"the namespace label admits another namespace": {
			specs: []string{`
endpointSelector: {matchLabels: {k8s:app: inventory}}
ingress: [{fromEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: payments}}]}]`},
			r: req(payment, inventory, 8080, "", ""), allow: true,
		},
		"a namespace's labels": {
			specs: []string{`
endpointSelector: {}
ingress: [{fromEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: payments, io.cilium.k8s.namespace.labels.team: pay}}]}]`},
			r: req(payment, inventory, 8080, "", ""), allow: true,
		},
		"the ServiceAccount label": {
			specs: []string{`
endpointSelector: {matchLabels: {app: inventory}}
ingress: [{fromEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: shop, k8s:io.cilium.k8s.policy.serviceaccount: checkout}}]}]`},
			r: req(checkout, inventory, 8080, "", ""), allow: true,
		},
		"another ServiceAccount": {
			specs: []string{`
endpointSelector: {matchLabels: {app: inventory}}
ingress: [{fromEndpoints: [{matchLabels: {k8s:io.cilium.k8s.policy.serviceaccount: payment}}]}]`},
			r: req(checkout, inventory, 8080, "", ""),
		},
		"matchExpressions": {
			specs: []string{`
endpointSelector: {matchExpressions: [{key: app, operator: In, values: [inventory, stock]}]}
ingress: [{fromEndpoints: [{matchExpressions: [{key: app, operator: NotIn, values: [payment]}, {key: app, operator: Exists}]}]}]`},
			r: req(checkout, inventory, 8080, "", ""), allow: true,
		},
		"matchExpressions exclude": {
			specs: []string{`
endpointSelector: {matchExpressions: [{key: app, operator: In, values: [inventory]}]}
ingress: [{fromEndpoints: [{matchExpressions: [{key: tier, operator: DoesNotExist}, {key: app, operator: NotIn, values: [checkout]}]}]}]`},
			r: req(checkout, inventory, 8080, "", ""),
		},
		"fromCIDR admits an address in it": {
			specs: []string{`
endpointSelector: {}
ingress: [{fromCIDR: [203.0.113.0/24]}]`},
			r: req(outside, inventory, 8080, "", ""), allow: true,
		},
		"fromCIDR never admits a pod": {
			specs: []string{`
endpointSelector: {}
ingress: [{fromCIDR: [0.0.0.0/0]}]`},
			r: req(checkout, inventory, 8080, "", ""),
		},
		"fromCIDRSet except": {
			specs: []string{`
endpointSelector: {}
ingress: [{fromCIDRSet: [{cidr: 203.0.113.0/24, except: [203.0.113.0/29]}]}]`},
			r: req(outside, inventory, 8080, "", ""),
		},
		"a numeric port": {
			specs: []string{`
endpointSelector: {}
ingress: [{fromEndpoints: [{}], toPorts: [{ports: [{port: "8080", protocol: TCP}]}]}]`},
			r: req(checkout, inventory, 8080, "", ""), allow: true,
		},
		"another port": {
			specs: []string{`
endpointSelector: {}
ingress: [{fromEndpoints: [{}], toPorts: [{ports: [{port: "8080", protocol: TCP}]}]}]`},
			r: req(checkout, inventory, 9090, "", ""),
		},
		"a port range": {
			specs: []string{`
endpointSelector: {}
ingress: [{fromEndpoints: [{}], toPorts: [{ports: [{port: "9000", endPort: 9100}]}]}]`},
			r: req(checkout, inventory, 9090, "", ""), allow: true,
		},
		"another protocol": {
			specs: []string{`
endpointSelector: {}
ingress: [{fromEndpoints: [{}], toPorts: [{ports: [{port: "8080", protocol: UDP}]}]}]`},
			r: req(checkout, inventory, 8080, "", ""),
		},
		"protocol ANY": {
			specs: []string{`
endpointSelector: {}
ingress: [{fromEndpoints: [{}], toPorts: [{ports: [{port: "5353", protocol: ANY}]}]}]`},
			r: Request{Source: checkout, Destination: inventory, Port: 5353, Protocol: "UDP"}, allow: true,
		},
		"a named port resolves on the destination": {
			specs: []string{`
endpointSelector: {}
ingress: [{fromEndpoints: [{}], toPorts: [{ports: [{port: http, protocol: TCP}]}]}]`},
			r: req(checkout, inventory, 8080, "", ""), allow: true,
		},
		"a named port is not another number": {
			specs: []string{`
endpointSelector: {}
ingress: [{fromEndpoints: [{}], toPorts: [{ports: [{port: http, protocol: TCP}]}]}]`},
			r: req(checkout, inventory, 8081, "", ""),
		},
		"a named port of another protocol": {
			specs: []string{`
endpointSelector: {}
ingress: [{fromEndpoints: [{}], toPorts: [{ports: [{port: dns, protocol: TCP}]}]}]`},
			r: req(checkout, inventory, 5353, "", ""),
		},
		"HTTP: declared method and path": {
			specs: []string{l7}, r: req(payment, inventory, 8080, "GET", "/items/42"), allow: true,
		},
		"HTTP: an exact path with a query": {
			specs: []string{l7}, r: req(payment, inventory, 8080, "GET", "/items?page=2"), allow: true,
		},
		"HTTP: an exact path is not a prefix": {
			specs: []string{l7}, r: req(payment, inventory, 8080, "GET", "/itemsX"),
		},
		"HTTP: another method": {
			specs: []string{l7}, r: req(payment, inventory, 8080, "POST", "/items"), why: "allows only ^GET$ ^/items(\\?.*)?$",
		},
		"HTTP: regular expressions are anchored": {
			specs: []string{strings.ReplaceAll(l7, "^GET$", "GET")}, r: req(payment, inventory, 8080, "XGET", "/items"),
		},
		"HTTP: a plain connection is not HTTP": {
			specs: []string{l7}, r: req(payment, inventory, 8080, "", ""),
		},
		"HTTP: an L4 rule of another policy admits every request": {
			specs: []string{l7, `
endpointSelector: {}
ingress: [{fromEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: payments}}], toPorts: [{ports: [{port: "8080"}]}]}]`},
			r: req(payment, inventory, 8080, "DELETE", "/admin"), allow: true, why: "shop/p1",
		},
		"enableDefaultDeny false does not isolate": {
			specs: []string{sameNS + "\nenableDefaultDeny: {ingress: false}"}, r: req(impostor, inventory, 8080, "", ""), allow: true,
		},
		"enableDefaultDeny false still allows when another policy isolates": {
			specs: []string{sameNS + "\nenableDefaultDeny: {ingress: false}", "endpointSelector: {}\nenableDefaultDeny: {ingress: true}"},
			r:     req(checkout, inventory, 8080, "", ""), allow: true, why: "shop/p0",
		},
		"enableDefaultDeny true without rules isolates": {
			specs: []string{"endpointSelector: {}\nenableDefaultDeny: {ingress: true}"}, r: req(checkout, inventory, 8080, "", ""),
		},
		"an empty rule admits nothing": {
			specs: []string{"endpointSelector: {}\ningress: [{}]"}, r: req(checkout, inventory, 8080, "", ""),
		},
		"a rule with ports only admits every peer": {
			specs: []string{`
endpointSelector: {}
ingress: [{toPorts: [{ports: [{port: "8080"}]}]}]`},
			r: req(outside, inventory, 8080, "", ""), allow: true,
		},
		"egress isolated by a policy with egress rules": {
			specs: []string{`
endpointSelector: {matchLabels: {app: checkout}}
egress: [{toEndpoints: [{matchLabels: {app: inventory}}]}]`},
			r: req(checkout, outside, 443, "", ""), why: "egress of the source is isolated by CiliumNetworkPolicy shop/p0",
		},
		"egress to the endpoints a rule names": {
			specs: []string{`
endpointSelector: {matchLabels: {app: checkout}}
egress: [{toEndpoints: [{matchLabels: {app: inventory}}], toPorts: [{ports: [{port: http}]}]}]`},
			r: req(checkout, inventory, 8080, "", ""), allow: true,
		},
		"egress to a CIDR": {
			specs: []string{`
endpointSelector: {matchLabels: {app: checkout}}
egress: [{toCIDR: [203.0.113.7/32]}]`},
			r: req(checkout, outside, 443, "", ""), allow: true,
		},
		"egress rules with enableDefaultDeny false only add": {
			specs: []string{`
endpointSelector: {matchLabels: {app: checkout}}
egress: [{toEndpoints: [{matchLabels: {app: inventory}}]}]
enableDefaultDeny: {ingress: false, egress: false}`},
			r: req(checkout, outside, 443, "", ""), allow: true,
		},
		"deny rules are not modelled": {
			specs: []string{"endpointSelector: {}\ningressDeny: [{fromEndpoints: [{}]}]"}, r: req(checkout, inventory, 8080, "", ""), why: "ingressDeny",
		},
		"entities are not modelled": {
			specs: []string{"endpointSelector: {}\ningress: [{fromEntities: [world]}]"}, r: req(checkout, inventory, 8080, "", ""), why: "fromEntities",
		},
		"header matches are not modelled": {
			specs: []string{`
endpointSelector: {}
ingress: [{toPorts: [{ports: [{port: "8080"}], rules: {http: [{method: GET, headers: [X-A]}]}}]}]`},
			r: req(checkout, inventory, 8080, "GET", "/"), why: "headers",
		},
		"peer kinds are exclusive": {
			specs: []string{"endpointSelector: {}\ningress: [{fromEndpoints: [{}], fromCIDR: [10.0.0.0/8]}]"}, r: req(checkout, inventory, 8080, "", ""), why: "mutually exclusive",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ns := tc.ns
			if ns == "" {
				ns = "shop"
			}
			ok, why := Evaluate(cnp(t, ns, tc.specs...), tc.r)
			if ok != tc.allow || !strings.Contains(why, tc.why) {
				t.Fatalf("allowed=%v (%s); want %v and a reason containing %q", ok, why, tc.allow, tc.why)
			}
		})
	}
}

// TestDecideGenerated judges what the backend generates: what the policy declares is
// allowed, everything else is denied.
func TestDecideGenerated(t *testing.T) {
	p := testPolicy()
	p.Ports = []model.Port{{Port: intstr.FromString("http"), Protocol: "TCP",
		HTTP: []ztv1.HTTPRule{{Methods: []ztv1.HTTPMethod{"GET"}, Paths: []string{"/items", "/items/*"}}}}}
	p.Callers = append(p.Callers,
		model.Caller{Index: 1, Kind: model.CallerServiceAccount, Namespace: "payments", Name: "payment", ServiceAccounts: []string{"payment"}},
		model.Caller{Index: 2, Kind: model.CallerCIDR, CIDR: "203.0.113.0/24"})
	p.EgressDenied = []string{"payments"}
	res, err := New().Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	a := Peer{Namespace: "shop", Labels: map[string]string{"app": "a"}, ServiceAccount: "default"}
	other := Peer{Namespace: "shop", Labels: map[string]string{"app": "b"}, ServiceAccount: "default"}
	tests := []struct {
		name  string
		r     Request
		allow bool
	}{
		{"pod caller, declared request", req(a, inventory, 8080, "GET", "/items"), true},
		{"pod caller, declared prefix", req(a, inventory, 8080, "GET", "/items/7"), true},
		{"pod caller, another method", req(a, inventory, 8080, "POST", "/items"), false},
		{"pod caller, another path", req(a, inventory, 8080, "GET", "/admin"), false},
		{"pod caller, another port", req(a, inventory, 9090, "GET", "/items"), false},
		{"not a caller", req(other, inventory, 8080, "GET", "/items"), false},
		{"ServiceAccount caller across namespaces (egress allowed too)", req(payment, inventory, 8080, "GET", "/items"), true},
		{"ServiceAccount caller, another method", req(payment, inventory, 8080, "DELETE", "/items"), false},
		{"ServiceAccount caller's egress elsewhere is not isolated by the egress policy", req(payment, outside, 443, "", ""), true},
		{"CIDR caller", req(outside, inventory, 8080, "GET", "/items/1"), true},
		{"another address", req(Peer{IP: netip.MustParseAddr("198.51.100.1")}, inventory, 8080, "GET", "/items"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, why := Evaluate(res.Objects, tc.r)
			if ok != tc.allow {
				t.Fatalf("allowed=%v (%s); want %v", ok, why, tc.allow)
			}
		})
	}
}

// TestDecideNetworkPolicies: Cilium enforces NetworkPolicies with its own rules, as one set.
func TestDecideNetworkPolicies(t *testing.T) {
	tcp := corev1.ProtocolTCP
	http := intstr.FromString("http")
	np := func(name string, spec networkingv1.NetworkPolicySpec) client.Object {
		return &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name}, Spec: spec}
	}
	inventoryPods := metav1.LabelSelector{MatchLabels: map[string]string{"app": "inventory"}}
	denyAll := np("deny", networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}})
	paymentOnHTTP := np("payment", networkingv1.NetworkPolicySpec{PodSelector: inventoryPods,
		Ingress: []networkingv1.NetworkPolicyIngressRule{{
			From: []networkingv1.NetworkPolicyPeer{{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "payments"}},
				PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": "payment"}},
			}},
			Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &http}},
		}}})
	sameNamespace := np("same", networkingv1.NetworkPolicySpec{PodSelector: inventoryPods,
		Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}}}})
	cidrs := np("cidrs", networkingv1.NetworkPolicySpec{PodSelector: inventoryPods,
		Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{
			{IPBlock: &networkingv1.IPBlock{CIDR: "203.0.113.0/24", Except: []string{"203.0.113.0/29"}}},
			{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "pay"}}},
		}}}})
	l7 := cnp(t, "shop", `
endpointSelector: {matchLabels: {app: inventory}}
ingress:
- fromEndpoints: [{matchLabels: {app: payment, k8s:io.kubernetes.pod.namespace: payments}}]
  toPorts:
  - ports: [{port: http, protocol: TCP}]
    rules: {http: [{method: ^GET$}]}`)
	tests := map[string]struct {
		objs  []client.Object
		r     Request
		allow bool
		why   string
	}{
		"a NetworkPolicy isolates": {
			objs: []client.Object{denyAll}, r: req(payment, inventory, 8080, "", ""), why: "isolated by NetworkPolicy shop/deny",
		},
		"and isolates egress": {
			objs: []client.Object{denyAll}, r: req(checkout, outside, 443, "", ""), why: "egress of the source",
		},
		"its rules admit": {
			objs: []client.Object{denyAll, paymentOnHTTP}, r: req(payment, inventory, 8080, "", ""), allow: true, why: "NetworkPolicy shop/payment",
		},
		"on their ports only": {
			objs: []client.Object{denyAll, paymentOnHTTP}, r: req(payment, inventory, 9090, "", ""),
		},
		"a pod selector alone stays in the namespace": {
			objs: []client.Object{sameNamespace}, r: req(impostor, inventory, 8080, "", ""),
		},
		"and admits the namespace's pods": {
			objs: []client.Object{sameNamespace}, r: req(checkout, inventory, 8080, "", ""), allow: true,
		},
		"an ipBlock": {
			objs: []client.Object{cidrs}, r: req(Peer{IP: netip.MustParseAddr("203.0.113.9")}, inventory, 8080, "", ""), allow: true,
		},
		"an ipBlock's exception": {
			objs: []client.Object{cidrs}, r: req(outside, inventory, 8080, "", ""),
		},
		"a namespace selector": {
			objs: []client.Object{cidrs}, r: req(payment, inventory, 8080, "", ""), allow: true,
		},
		"HTTP rules alone": {
			objs: append([]client.Object{denyAll}, l7...), r: req(payment, inventory, 8080, "POST", "/"), why: "allows only ^GET$ any path",
		},
		"a NetworkPolicy's L4 rule voids the HTTP rules of the same peer and port": {
			objs: append([]client.Object{denyAll, paymentOnHTTP}, l7...), r: req(payment, inventory, 8080, "POST", "/admin"), allow: true, why: "NetworkPolicy shop/payment",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ok, why := Evaluate(tc.objs, tc.r)
			if ok != tc.allow || !strings.Contains(why, tc.why) {
				t.Fatalf("allowed=%v (%s); want %v and a reason containing %q", ok, why, tc.allow, tc.why)
			}
		})
	}
}
