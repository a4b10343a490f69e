package reachability_test

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

// TestReachability runs every scenario and compares cyclonus's verdict with the oracle on
// every (source, destination, port).
func TestReachability(t *testing.T) {
	var results []result
	for _, s := range scenarios() {
		t.Run(s.name, func(t *testing.T) {
			results = append(results, runScenario(t, s))
		})
	}
	total := 0
	for _, r := range results {
		total += r.checks
	}
	t.Logf("%d scenarios, %d (pair, port) checks in all", len(results), total)
}

func sap(ns, name string, target ztv1.Target, from []ztv1.Caller, ports ...ztv1.PortRule) ztv1.ServiceAccessPolicy {
	return ztv1.ServiceAccessPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: ztv1.GroupVersion.String(), Kind: "ServiceAccessPolicy"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       ztv1.ServiceAccessPolicySpec{Target: target, From: from, Ports: ports},
	}
}

func portRule(p intstr.IntOrString) ztv1.PortRule { return ztv1.PortRule{Port: p} }

func baseline(name string, sel metav1.LabelSelector, allowDNS bool, deny ...ztv1.Direction) ztv1.ZeroTrustBaseline {
	return ztv1.ZeroTrustBaseline{
		TypeMeta:   metav1.TypeMeta{APIVersion: ztv1.GroupVersion.String(), Kind: "ZeroTrustBaseline"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: ztv1.ZeroTrustBaselineSpec{
			NamespaceSelector: &sel,
			Network:           &ztv1.BaselineNetwork{DefaultDeny: deny, AllowDNS: allowDNS},
		},
	}
}

// enforcedBaseline denies ingress and egress, and allows DNS, in shop and payments (the
// namespaces labelled zerotrust.dev/enforce=true).
func enforcedBaseline() ztv1.ZeroTrustBaseline {
	return baseline("default", metav1.LabelSelector{MatchLabels: map[string]string{"zerotrust.dev/enforce": "true"}},
		true, ztv1.DirectionIngress, ztv1.DirectionEgress)
}

func at(s string) *metav1.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return &metav1.Time{Time: t}
}

func berlin(start, end string, days ...ztv1.Day) *ztv1.Schedule {
	return &ztv1.Schedule{TimeZone: "Europe/Berlin", Windows: []ztv1.Window{{Days: days, Start: start, End: end}}}
}

// Endpoints the oracles name. The world is the same in every scenario (baseWorld).
var (
	paymentPods   = refs("payments/payment-0", "payments/payment-1")
	inventoryV1   = "shop/inventory-v1-0"
	inventoryV2   = "shop/inventory-v2-0"
	vaultPod      = "shop/vault-0"
	checkoutPod   = "shop/checkout-0"
	ledgerPod     = "payments/ledger-0"
	refundsPod    = "payments/refunds-0"
	corednsPod    = "kube-system/coredns-0"
	partner       = "ext/partner"
	internet      = "ext/internet"
	monitoringAll = baseWorld().podsIn("monitoring")
	enforcedPods  = baseWorld().podsIn("shop", "payments")
	enforcedNS    = []string{"shop", "payments"}
)

// Policies used by several scenarios.

// paymentReadsInventory: payments' payment Service may call shop's inventory Service on
// Service port 80, whose targetPort is the name "http": 8080 on inventory-v1, 8081 on
// inventory-v2.
func paymentReadsInventory() ztv1.ServiceAccessPolicy {
	return sap("shop", "payment-reads-inventory", ztv1.Target{Service: "inventory"},
		[]ztv1.Caller{{Service: "payment", Namespace: "payments"}}, portRule(intstr.FromInt32(80)))
}

func paymentReadsInventoryGrants() []grant {
	return []grant{
		{why: "payment-reads-inventory (http is 8080 on v1)", from: paymentPods, to: refs(inventoryV1), ports: []portProto{tcpPort(8080)}},
		{why: "payment-reads-inventory (http is 8081 on v2)", from: paymentPods, to: refs(inventoryV2), ports: []portProto{tcpPort(8081)}},
	}
}

// paymentCallsVault: payment may call shop's vault Service on port 80, whose targetPort is
// the number 8443.
func paymentCallsVault() ztv1.ServiceAccessPolicy {
	return sap("shop", "payment-calls-vault", ztv1.Target{Service: "vault"},
		[]ztv1.Caller{{Service: "payment", Namespace: "payments"}}, portRule(intstr.FromInt32(80)))
}

func paymentCallsVaultGrants() []grant {
	return []grant{{why: "payment-calls-vault", from: paymentPods, to: refs(vaultPod), ports: []portProto{tcpPort(8443)}}}
}

// monitoringScrapesInventory: every pod of monitoring may call inventory's metrics port
// (Service port "metrics", 9090 -> targetPort "metrics", 9090 on both versions).
func monitoringScrapesInventory() ztv1.ServiceAccessPolicy {
	return sap("shop", "monitoring-scrapes-inventory", ztv1.Target{Service: "inventory"},
		[]ztv1.Caller{{Namespace: "monitoring"}}, portRule(intstr.FromString("metrics")))
}

func monitoringScrapesInventoryGrants() []grant {
	return []grant{{why: "monitoring-scrapes-inventory", from: monitoringAll, to: refs(inventoryV1, inventoryV2), ports: []portProto{tcpPort(9090)}}}
}

// callersOfCheckout: a podSelector target (with matchExpressions) opened on its container
// port named http to a podSelector caller in payments (matchExpressions), a podSelector
// caller in the policy's own namespace, and a CIDR outside the cluster.
func callersOfCheckout() ztv1.ServiceAccessPolicy {
	return sap("shop", "callers-of-checkout",
		ztv1.Target{PodSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"checkout"}}}}},
		[]ztv1.Caller{
			{PodSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "role", Operator: metav1.LabelSelectorOpIn, Values: []string{"batch"}}}}, Namespace: "payments"},
			{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "inventory", "version": "v1"}}},
			{CIDR: "203.0.113.0/24"},
		},
		portRule(intstr.FromString("http")))
}

func callersOfCheckoutGrants() []grant {
	return []grant{{why: "callers-of-checkout", from: refs(refundsPod, inventoryV1, partner), to: refs(checkoutPod), ports: []portProto{tcpPort(8080)}}}
}

// paymentCallsInternet: the payment Deployment may call 198.51.100.0/24 on 443.
func paymentCallsInternet() ztv1.ServiceAccessPolicy {
	return sap("payments", "payment-calls-internet", ztv1.Target{External: &ztv1.ExternalTarget{CIDRs: []string{"198.51.100.0/24"}}},
		[]ztv1.Caller{{Workload: &ztv1.WorkloadReference{Kind: ztv1.WorkloadDeployment, Name: "payment"}}},
		portRule(intstr.FromInt32(443)))
}

// dnsGrant is allowDNS of a baseline: every pod of the namespaces may reach kube-dns on 53
// over UDP and TCP.
func dnsGrant(pods []string) grant {
	return grant{why: "baseline allowDNS", from: pods, to: refs(corednsPod),
		ports: []portProto{udpPort(53), tcpPort(53)}, egressOnly: true}
}

func concat(gs ...[]grant) []grant {
	var out []grant
	for _, g := range gs {
		out = append(out, g...)
	}
	return out
}

func scenarios() []scenario {
	return []scenario{
		{
			// Only payment pods reach inventory, on what the named targetPort is on each
			// pod; not on 9090; not refunds or ledger in payments; not impostor, whose labels
			// are payment's but whose namespace is other.
			name:     "1-service-caller-named-targetPort",
			policies: []ztv1.ServiceAccessPolicy{paymentReadsInventory()},
			oracle:   oracle{grants: paymentReadsInventoryGrants()},
		},
		{
			name:     "2-service-caller-numeric-targetPort",
			policies: []ztv1.ServiceAccessPolicy{paymentCallsVault()},
			oracle:   oracle{grants: paymentCallsVaultGrants()},
		},
		{
			// ServiceAccount payment runs the payment Deployment and the ledger StatefulSet:
			// both reach inventory; refunds (another SA) does not, nor impostor, which runs as
			// a ServiceAccount of the same name in another namespace. The port is the Service
			// port's name.
			name: "3-serviceaccount-caller-two-workloads",
			policies: []ztv1.ServiceAccessPolicy{sap("shop", "payment-sa-reads-inventory", ztv1.Target{Service: "inventory"},
				[]ztv1.Caller{{ServiceAccount: "payment", Namespace: "payments"}}, portRule(intstr.FromString("web")))},
			oracle: oracle{grants: []grant{
				{why: "payment-sa-reads-inventory (v1)", from: append(refs(ledgerPod), paymentPods...), to: refs(inventoryV1), ports: []portProto{tcpPort(8080)}},
				{why: "payment-sa-reads-inventory (v2)", from: append(refs(ledgerPod), paymentPods...), to: refs(inventoryV2), ports: []portProto{tcpPort(8081)}},
			}},
		},
		{
			// The same under the default-deny baseline: one egress policy per workload of the
			// ServiceAccount, and refunds' egress stays closed.
			name: "3b-serviceaccount-caller-under-baseline",
			policies: []ztv1.ServiceAccessPolicy{sap("shop", "payment-sa-reads-inventory", ztv1.Target{Service: "inventory"},
				[]ztv1.Caller{{ServiceAccount: "payment", Namespace: "payments"}}, portRule(intstr.FromString("web")))},
			baselines: []ztv1.ZeroTrustBaseline{enforcedBaseline()},
			oracle: oracle{
				grants: []grant{
					{why: "payment-sa-reads-inventory (v1)", from: append(refs(ledgerPod), paymentPods...), to: refs(inventoryV1), ports: []portProto{tcpPort(8080)}},
					{why: "payment-sa-reads-inventory (v2)", from: append(refs(ledgerPod), paymentPods...), to: refs(inventoryV2), ports: []portProto{tcpPort(8081)}},
					dnsGrant(enforcedPods),
				},
				denyIngress: enforcedNS, denyEgress: enforcedNS,
			},
		},
		{
			// The ServiceAccount "default": grafana's pod template names none, so it runs as
			// default; prometheus (its own ServiceAccount) does not.
			name: "3c-default-serviceaccount-caller",
			policies: []ztv1.ServiceAccessPolicy{sap("shop", "default-sa-calls-vault", ztv1.Target{Service: "vault"},
				[]ztv1.Caller{{ServiceAccount: "default", Namespace: "monitoring"}}, portRule(intstr.FromString("https")))},
			oracle: oracle{grants: []grant{
				{why: "default-sa-calls-vault", from: refs("monitoring/grafana-0"), to: refs(vaultPod), ports: []portProto{tcpPort(8443)}}}},
		},
		{
			name:     "4-namespace-caller",
			policies: []ztv1.ServiceAccessPolicy{monitoringScrapesInventory()},
			oracle:   oracle{grants: monitoringScrapesInventoryGrants()},
		},
		{
			// The same under a baseline that denies egress only, without DNS, in shop and
			// monitoring, selected by kubernetes.io/metadata.name: monitoring pods egress to
			// inventory's metrics port and nowhere else; shop pods egress nowhere.
			name:     "4b-namespace-caller-egress-only-baseline-no-dns",
			policies: []ztv1.ServiceAccessPolicy{monitoringScrapesInventory()},
			baselines: []ztv1.ZeroTrustBaseline{baseline("egress-only", metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpIn, Values: []string{"shop", "monitoring"}}}},
				false, ztv1.DirectionEgress)},
			oracle: oracle{grants: monitoringScrapesInventoryGrants(), denyEgress: []string{"shop", "monitoring"}},
		},
		{
			// Expired (before now, and exactly at now) and outside the schedule (another day;
			// a window that closes exactly at now): nothing is generated, connectivity is
			// as if the policies did not exist.
			name: "5-expired-and-outside-schedule",
			policies: func() []ztv1.ServiceAccessPolicy {
				expired := paymentReadsInventory()
				expired.Spec.ExpiresAt = at("2026-03-01T00:00:00Z")
				weekend := paymentCallsVault()
				weekend.Spec.Schedule = berlin("09:00", "17:00", "Sat", "Sun")
				expiresNow := monitoringScrapesInventory()
				expiresNow.Spec.ExpiresAt = &metav1.Time{Time: now}
				closedNow := callersOfCheckout()
				closedNow.Spec.Schedule = berlin("09:00", "13:00") // 13:00 in Berlin is now
				return []ztv1.ServiceAccessPolicy{expired, weekend, expiresNow, closedNow}
			}(),
			oracle: oracle{},
		},
		{
			// The control for 5: the same policies in force (expiry later, inside a window,
			// a window opening exactly at now) grant what they say.
			name: "5b-not-yet-expired-and-inside-schedule",
			policies: func() []ztv1.ServiceAccessPolicy {
				later := paymentReadsInventory()
				later.Spec.ExpiresAt = at("2026-12-31T00:00:00Z")
				weekdays := paymentCallsVault()
				weekdays.Spec.Schedule = berlin("09:00", "17:00", "Mon", "Tue", "Wed", "Thu", "Fri")
				opensNow := callersOfCheckout()
				opensNow.Spec.Schedule = berlin("13:00", "17:00")
				return []ztv1.ServiceAccessPolicy{later, weekdays, opensNow}
			}(),
			oracle: oracle{grants: concat(paymentReadsInventoryGrants(), paymentCallsVaultGrants(), callersOfCheckoutGrants())},
		},
		{
			// A missing target Service, a missing Service port, a policy whose only caller
			// is a missing workload, one whose only caller is a ServiceAccount that runs no
			// workload (no pods for a NetworkPolicy to select): each grants nothing and
			// isolates nothing, as if the policy did not exist. A missing
			// caller Service next to a resolvable one: the resolvable one works.
			name: "6-unresolvable-target-and-caller",
			policies: []ztv1.ServiceAccessPolicy{
				sap("shop", "ghost", ztv1.Target{Service: "ghost"},
					[]ztv1.Caller{{Service: "payment", Namespace: "payments"}}, portRule(intstr.FromInt32(80))),
				sap("shop", "no-such-port", ztv1.Target{Service: "inventory"},
					[]ztv1.Caller{{Service: "payment", Namespace: "payments"}}, portRule(intstr.FromString("grpc"))),
				sap("shop", "orphan", ztv1.Target{Workload: &ztv1.WorkloadReference{Kind: ztv1.WorkloadDeployment, Name: "checkout"}},
					[]ztv1.Caller{{Workload: &ztv1.WorkloadReference{Kind: ztv1.WorkloadDeployment, Name: "billing"}, Namespace: "payments"}}),
				sap("shop", "idle-sa", ztv1.Target{Service: "inventory"},
					[]ztv1.Caller{{ServiceAccount: "auditor", Namespace: "monitoring"}}, portRule(intstr.FromInt32(80))),
				sap("shop", "vault-mixed", ztv1.Target{Service: "vault"},
					[]ztv1.Caller{{Service: "payment-old", Namespace: "payments"}, {Service: "payment", Namespace: "payments"}},
					portRule(intstr.FromInt32(80))),
			},
			oracle: oracle{grants: []grant{{why: "vault-mixed from[1]", from: paymentPods, to: refs(vaultPod), ports: []portProto{tcpPort(8443)}}}},
		},
		{
			// Default deny both ways with DNS in shop and payments: payment reaches
			// inventory on the granted port only (its egress opened by the policy); every pod
			// of shop and payments reaches kube-dns on 53/UDP and 53/TCP and nothing else;
			// inventory cannot call payment back; nothing enters shop or payments unless
			// granted; namespaces without the baseline are untouched.
			name:      "7-egress-baseline-with-dns",
			policies:  []ztv1.ServiceAccessPolicy{paymentReadsInventory()},
			baselines: []ztv1.ZeroTrustBaseline{enforcedBaseline()},
			oracle: oracle{
				grants:      append(paymentReadsInventoryGrants(), dnsGrant(enforcedPods)),
				denyIngress: enforcedNS, denyEgress: enforcedNS,
			},
		},
		{
			// Two baselines on overlapping namespaces add up: ingress denied in shop and
			// payments by one, egress denied (with DNS) in payments only by the other. shop's
			// egress stays open; payment's egress to inventory is opened by the policy.
			name:     "7b-two-baselines-add-up",
			policies: []ztv1.ServiceAccessPolicy{paymentReadsInventory()},
			baselines: []ztv1.ZeroTrustBaseline{
				baseline("ingress-floor", metav1.LabelSelector{MatchLabels: map[string]string{"zerotrust.dev/enforce": "true"}}, false, ztv1.DirectionIngress),
				baseline("payments-egress", metav1.LabelSelector{MatchLabels: map[string]string{"team": "payments"}}, true, ztv1.DirectionEgress),
			},
			oracle: oracle{
				grants:      append(paymentReadsInventoryGrants(), dnsGrant(baseWorld().podsIn("payments"))),
				denyIngress: enforcedNS, denyEgress: []string{"payments"},
			},
		},
		{
			// podSelector target and callers, and a CIDR caller: refunds (role=batch in
			// payments), inventory-v1 (same namespace) and the partner host (inside the
			// CIDR) reach checkout on 8080; inventory-v2, the payment pods and the internet
			// host (outside the CIDR) do not.
			name:     "8-podselector-and-cidr-callers",
			policies: []ztv1.ServiceAccessPolicy{callersOfCheckout()},
			oracle:   oracle{grants: callersOfCheckoutGrants()},
		},
		{
			// The same under the default-deny baseline: the pod callers' egress is opened
			// to checkout (in payments and in shop itself).
			name:      "8b-podselector-and-cidr-callers-under-baseline",
			policies:  []ztv1.ServiceAccessPolicy{callersOfCheckout()},
			baselines: []ztv1.ZeroTrustBaseline{enforcedBaseline()},
			oracle: oracle{
				grants:      append(callersOfCheckoutGrants(), dnsGrant(enforcedPods)),
				denyIngress: enforcedNS, denyEgress: enforcedNS,
			},
		},
		{
			// An external target under the default-deny baseline: the payment pods reach
			// 198.51.100.0/24 on 443, nothing else of payments reaches it.
			name:       "9-external-target-under-baseline",
			policies:   []ztv1.ServiceAccessPolicy{paymentCallsInternet()},
			baselines:  []ztv1.ZeroTrustBaseline{enforcedBaseline()},
			extraPorts: []portProto{tcpPort(443)},
			oracle: oracle{
				grants: []grant{
					{why: "payment-calls-internet", from: paymentPods, to: refs(internet), ports: []portProto{tcpPort(443)}},
					dnsGrant(enforcedPods),
				},
				denyIngress: enforcedNS, denyEgress: enforcedNS,
			},
		},
		{
			// Without a baseline egress is open anyway: the external target changes nothing.
			name:       "9b-external-target-without-baseline",
			policies:   []ztv1.ServiceAccessPolicy{paymentCallsInternet()},
			extraPorts: []portProto{tcpPort(443)},
			oracle: oracle{grants: []grant{
				{why: "payment-calls-internet", from: paymentPods, to: refs(internet), ports: []portProto{tcpPort(443)}}}},
		},
		{
			// DryRun creates nothing; Audit blocks nothing (NetworkPolicy has no audit form).
			name: "10-dryrun-and-audit-enforce-nothing",
			policies: func() []ztv1.ServiceAccessPolicy {
				dry := paymentReadsInventory()
				dry.Spec.Mode = ztv1.ModeDryRun
				audit := paymentCallsVault()
				audit.Spec.Mode = ztv1.ModeAudit
				return []ztv1.ServiceAccessPolicy{dry, audit}
			}(),
			oracle: oracle{},
		},
		{
			// Two policies on the same pods add up: payment on http, monitoring on metrics.
			name:     "11-two-policies-one-target",
			policies: []ztv1.ServiceAccessPolicy{paymentReadsInventory(), monitoringScrapesInventory()},
			oracle:   oracle{grants: concat(paymentReadsInventoryGrants(), monitoringScrapesInventoryGrants())},
		},
		{
			// Workload target and workload caller (a StatefulSet in another namespace), a
			// named container port, under the default-deny baseline.
			name: "12-workload-target-and-caller-under-baseline",
			policies: []ztv1.ServiceAccessPolicy{sap("shop", "ledger-admins-vault",
				ztv1.Target{Workload: &ztv1.WorkloadReference{Kind: ztv1.WorkloadDeployment, Name: "vault"}},
				[]ztv1.Caller{{Workload: &ztv1.WorkloadReference{Kind: ztv1.WorkloadStatefulSet, Name: "ledger"}, Namespace: "payments"}},
				portRule(intstr.FromString("admin")))},
			baselines: []ztv1.ZeroTrustBaseline{enforcedBaseline()},
			oracle: oracle{
				grants: []grant{
					{why: "ledger-admins-vault", from: refs(ledgerPod), to: refs(vaultPod), ports: []portProto{tcpPort(8200)}},
					dnsGrant(enforcedPods),
				},
				denyIngress: enforcedNS, denyEgress: enforcedNS,
			},
		},
		{
			// No ports: every port of the target. For a Service, its ports' targetPorts
			// (inventory: http and metrics, so 8080+9090 on v1 and 8081+9090 on v2); for a
			// workload, its declared container ports (vault: 8443 and 8200); for a
			// podSelector, which has no list of ports, every port and protocol.
			name: "13-every-port-of-the-target",
			policies: []ztv1.ServiceAccessPolicy{
				sap("shop", "payment-all-inventory", ztv1.Target{Service: "inventory"},
					[]ztv1.Caller{{Service: "payment", Namespace: "payments"}}),
				sap("shop", "ledger-all-vault", ztv1.Target{Workload: &ztv1.WorkloadReference{Kind: ztv1.WorkloadDeployment, Name: "vault"}},
					[]ztv1.Caller{{Workload: &ztv1.WorkloadReference{Kind: ztv1.WorkloadStatefulSet, Name: "ledger"}, Namespace: "payments"}}),
				sap("shop", "refunds-anything-checkout", ztv1.Target{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "checkout"}}},
					[]ztv1.Caller{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"role": "batch"}}, Namespace: "payments"}}),
			},
			oracle: oracle{grants: []grant{
				{why: "payment-all-inventory (v1)", from: paymentPods, to: refs(inventoryV1), ports: []portProto{tcpPort(8080), tcpPort(9090)}},
				{why: "payment-all-inventory (v2)", from: paymentPods, to: refs(inventoryV2), ports: []portProto{tcpPort(8081), tcpPort(9090)}},
				{why: "ledger-all-vault", from: refs(ledgerPod), to: refs(vaultPod), ports: []portProto{tcpPort(8443), tcpPort(8200)}},
				{why: "refunds-anything-checkout", from: refs(refundsPod), to: refs(checkoutPod)},
			}},
		},
		{
			// A UDP Service port: shop may resolve names over UDP only; kube-dns is then
			// isolated, so 53/TCP and every other caller are refused.
			name: "14-udp-service-port",
			policies: []ztv1.ServiceAccessPolicy{sap("kube-system", "shop-resolves-names", ztv1.Target{Service: "kube-dns"},
				[]ztv1.Caller{{Namespace: "shop"}}, ztv1.PortRule{Port: intstr.FromInt32(53), Protocol: "UDP"})},
			oracle: oracle{grants: []grant{
				{why: "shop-resolves-names", from: baseWorld().podsIn("shop"), to: refs(corednsPod), ports: []portProto{udpPort(53)}}}},
		},
	}
}
