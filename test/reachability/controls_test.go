package reachability_test

import (
	"testing"

	"github.com/mattfenwick/cyclonus/pkg/matcher"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestJudgeAssumptions checks, on hand-written NetworkPolicies, the cyclonus behaviour the
// harness relies on, so that a change of judge cannot silently make every scenario pass.
func TestJudgeAssumptions(t *testing.T) {
	w := baseWorld()
	tcpP := corev1.ProtocolTCP
	http := intstr.FromString("http")
	nsSel := func(ns string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: ns}}
	}
	ingress := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "in"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "inventory"}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				Ports: []networkingv1.NetworkPolicyPort{{Port: &http, Protocol: &tcpP}},
				From: []networkingv1.NetworkPolicyPeer{
					{NamespaceSelector: nsSel("payments"), PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "payment"}}},
					{IPBlock: &networkingv1.IPBlock{CIDR: "203.0.113.0/24"}},
				},
			}},
		},
	}
	egress := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "payments", Name: "out"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "payment"}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress: []networkingv1.NetworkPolicyEgressRule{{
				Ports: []networkingv1.NetworkPolicyPort{{Port: &http, Protocol: &tcpP}},
				To:    []networkingv1.NetworkPolicyPeer{{NamespaceSelector: nsSel("shop"), PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "inventory"}}}},
			}},
		},
	}
	judge := matcher.BuildNetworkPolicies(false, []*networkingv1.NetworkPolicy{ingress, egress})
	for _, c := range []struct {
		why      string
		src, dst string
		pp       portProto
		want     bool
	}{
		{"named port, ingress and egress, resolved on the destination (http=8081 on v2)", "payments/payment-0", inventoryV2, tcpPort(8081), true},
		{"named port, ingress and egress, resolved on the destination (http=8080 on v1)", "payments/payment-0", inventoryV1, tcpPort(8080), true},
		{"a number the destination does not name http", "payments/payment-0", inventoryV2, tcpPort(8080), false},
		{"same name, other protocol", "payments/payment-0", inventoryV1, udpPort(8080), false},
		{"same pod labels, other namespace", "other/impostor-0", inventoryV1, tcpPort(8080), false},
		{"egress isolated: only inventory's http is allowed", "payments/payment-0", checkoutPod, tcpPort(8080), false},
		{"external host inside the ipBlock", partner, inventoryV1, tcpPort(8080), true},
		{"external host outside the ipBlock", internet, inventoryV1, tcpPort(8080), false},
		{"pods no policy selects are not isolated", "monitoring/grafana-0", checkoutPod, tcpPort(9999), true},
	} {
		src, dst := w.endpoint(c.src), w.endpoint(c.dst)
		got := judge.IsTrafficAllowed(&matcher.Traffic{
			Source: peer(w, src), Destination: peer(w, dst),
			ResolvedPort: int(c.pp.port), ResolvedPortName: dst.portName(c.pp), Protocol: c.pp.proto,
		}).IsAllowed()
		if got != c.want {
			t.Errorf("cyclonus: %s: %s -> %s %s: got %s, the harness assumes %s", c.why, c.src, c.dst, c.pp, verb(got), verb(c.want))
		}
	}
}

// TestHarnessCatchesKnownBugs plants typical compiler bugs in the generated
// NetworkPolicies of a scenario and checks that the harness reports a given connection as
// a mismatch: the harness can fail, and fails where it should.
func TestHarnessCatchesKnownBugs(t *testing.T) {
	for _, c := range []struct {
		bug      string
		scenario string
		// judgedAgainst is the scenario whose oracle judges the mutated objects; default
		// scenario.
		judgedAgainst string
		mutate        func([]*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy
		// src, dst, pp and want name a check that must be among the mismatches.
		src, dst string
		pp       portProto
		want     bool
	}{
		{
			bug: "the Service port (80) instead of the pods' targetPort", scenario: "1-service-caller-named-targetPort",
			mutate: eachIngressRule(func(r *networkingv1.NetworkPolicyIngressRule) {
				for i := range r.Ports {
					p := intstr.FromInt32(80)
					r.Ports[i].Port = &p
				}
			}),
			src: "payments/payment-0", dst: inventoryV2, pp: tcpPort(8081), want: true,
		},
		{
			bug: "the targetPort name resolved to one pod's number (8080) for every pod", scenario: "1-service-caller-named-targetPort",
			mutate: eachIngressRule(func(r *networkingv1.NetworkPolicyIngressRule) {
				for i := range r.Ports {
					p := intstr.FromInt32(8080)
					r.Ports[i].Port = &p
				}
			}),
			src: "payments/payment-0", dst: inventoryV2, pp: tcpPort(8081), want: true,
		},
		{
			bug: "a caller peer without its namespaceSelector (the policy's namespace instead)", scenario: "1-service-caller-named-targetPort",
			mutate: eachIngressRule(func(r *networkingv1.NetworkPolicyIngressRule) {
				for i := range r.From {
					r.From[i].NamespaceSelector = nil
				}
			}),
			src: "payments/payment-0", dst: inventoryV1, pp: tcpPort(8080), want: true,
		},
		{
			bug: "a caller peer without its podSelector (the whole caller namespace)", scenario: "1-service-caller-named-targetPort",
			mutate: eachIngressRule(func(r *networkingv1.NetworkPolicyIngressRule) {
				for i := range r.From {
					r.From[i].PodSelector = nil
				}
			}),
			src: refundsPod, dst: inventoryV1, pp: tcpPort(8080), want: false,
		},
		{
			bug: "a caller selected in every namespace (empty namespaceSelector)", scenario: "3-serviceaccount-caller-two-workloads",
			mutate: eachIngressRule(func(r *networkingv1.NetworkPolicyIngressRule) {
				for i := range r.From {
					r.From[i].NamespaceSelector = &metav1.LabelSelector{}
				}
			}),
			src: "other/impostor-0", dst: inventoryV1, pp: tcpPort(8080), want: false,
		},
		{
			bug: "the baseline's DNS policy missing", scenario: "7-egress-baseline-with-dns",
			mutate: drop("zt-baseline.default.dns"),
			src:    checkoutPod, dst: corednsPod, pp: udpPort(53), want: true,
		},
		{
			bug: "DNS allowed on TCP only", scenario: "7-egress-baseline-with-dns",
			mutate: func(nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
				for _, np := range nps {
					for i := range np.Spec.Egress {
						var keep []networkingv1.NetworkPolicyPort
						for _, p := range np.Spec.Egress[i].Ports {
							if p.Protocol == nil || *p.Protocol != corev1.ProtocolUDP {
								keep = append(keep, p)
							}
						}
						np.Spec.Egress[i].Ports = keep
					}
				}
				return nps
			},
			src: "payments/payment-1", dst: corednsPod, pp: udpPort(53), want: true,
		},
		{
			bug: "no egress policy for the callers under an egress baseline", scenario: "7-egress-baseline-with-dns",
			mutate: dropWhere(func(np *networkingv1.NetworkPolicy) bool {
				return np.Namespace == "payments" && len(np.Spec.Egress) > 0 && np.Name != "zt-baseline.default.dns"
			}),
			src: "payments/payment-0", dst: inventoryV1, pp: tcpPort(8080), want: true,
		},
		{
			bug: "the default-deny policy missing", scenario: "7-egress-baseline-with-dns",
			mutate: drop("zt-baseline.default.deny"),
			src:    "monitoring/grafana-0", dst: checkoutPod, pp: tcpPort(8080), want: false,
		},
		{
			bug: "the CIDR caller missing", scenario: "8-podselector-and-cidr-callers",
			mutate: eachIngressRule(func(r *networkingv1.NetworkPolicyIngressRule) {
				var keep []networkingv1.NetworkPolicyPeer
				for _, p := range r.From {
					if p.IPBlock == nil {
						keep = append(keep, p)
					}
				}
				r.From = keep
			}),
			src: partner, dst: checkoutPod, pp: tcpPort(8080), want: true,
		},
		{
			bug: "an expired policy still enforced", scenario: "1-service-caller-named-targetPort", judgedAgainst: "5-expired-and-outside-schedule",
			mutate: func(nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy { return nps },
			src:    refundsPod, dst: inventoryV1, pp: tcpPort(8080), want: true,
		},
	} {
		t.Run(c.bug, func(t *testing.T) {
			s := scenarioNamed(t, c.scenario)
			w := newScenarioWorld(t, s)
			netpols, rendered := render(t, w, s)
			copies := make([]*networkingv1.NetworkPolicy, 0, len(netpols))
			for _, np := range netpols {
				copies = append(copies, np.DeepCopy())
			}
			against := s
			if c.judgedAgainst != "" {
				against = scenarioNamed(t, c.judgedAgainst)
			}
			j := judge(t, w, against, c.mutate(copies), rendered)
			for _, m := range j.mismatches {
				if m.src.ref == c.src && m.dst.ref == c.dst && m.pp == c.pp && m.want == c.want {
					t.Logf("planted bug caught (%d mismatches), e.g. %s", j.mismatch, m)
					return
				}
			}
			t.Errorf("planted bug %q: the harness does not report %s -> %s %s (expected %s) as a mismatch; it reported %d mismatches",
				c.bug, c.src, c.dst, c.pp, verb(c.want), j.mismatch)
		})
	}
}

func scenarioNamed(t *testing.T, name string) scenario {
	t.Helper()
	for _, s := range scenarios() {
		if s.name == name {
			return s
		}
	}
	t.Fatalf("no scenario %q", name)
	return scenario{}
}

func eachIngressRule(f func(*networkingv1.NetworkPolicyIngressRule)) func([]*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
	return func(nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
		for _, np := range nps {
			for i := range np.Spec.Ingress {
				f(&np.Spec.Ingress[i])
			}
		}
		return nps
	}
}

func drop(name string) func([]*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
	return dropWhere(func(np *networkingv1.NetworkPolicy) bool { return np.Name == name })
}

func dropWhere(f func(*networkingv1.NetworkPolicy) bool) func([]*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
	return func(nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
		var out []*networkingv1.NetworkPolicy
		for _, np := range nps {
			if !f(np) {
				out = append(out, np)
			}
		}
		return out
	}
}
