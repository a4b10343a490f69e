package audit

import (
	"strings"
	"testing"
	"time"

	securityapi "istio.io/api/security/v1beta1"
	typeapi "istio.io/api/type/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/inventory/static"
)

// cluster is what every case of TestOpenPolicies starts from: namespace shop (selected by a
// baseline) with a web server (app=web, port 8080 named http, behind Service web port 80)
// and a client, and namespace monitoring (not selected) with a scraper.
const cluster = `
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Namespace
metadata: {name: monitoring, labels: {team: obs}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: web, namespace: shop}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: client, namespace: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      serviceAccountName: web
      containers: [{name: web, image: web, ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: client, namespace: shop}
spec:
  selector: {matchLabels: {app: client}}
  template:
    metadata: {labels: {app: client}}
    spec: {serviceAccountName: client, containers: [{name: c, image: c}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: scraper, namespace: monitoring}
spec:
  selector: {matchLabels: {app: scraper}}
  template:
    metadata: {labels: {app: scraper}}
    spec: {containers: [{name: c, image: c}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
`

// Policies the cases add.
const (
	monitoringReadsWeb = `
apiVersion: zerotrust.dev/v1alpha1
kind: ServiceAccessPolicy
metadata: {name: monitoring-reads-web, namespace: shop}
spec:
  target: {service: web}
  from: [{namespace: monitoring}]
  ports: [{port: http}]
`
	clientReadsWeb = `
apiVersion: zerotrust.dev/v1alpha1
kind: ServiceAccessPolicy
metadata: {name: client-reads-web, namespace: shop}
spec:
  target: {service: web}
  from: [{workload: {kind: Deployment, name: client}}]
  ports: [{port: http}]
`
)

func ap(name string, action securityapi.AuthorizationPolicy_Action, rules ...*securityapi.Rule) *securityv1.AuthorizationPolicy {
	return &securityv1.AuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name},
		Spec: securityapi.AuthorizationPolicy{Selector: &typeapi.WorkloadSelector{MatchLabels: map[string]string{"app": "web"}},
			Action: action, Rules: rules}}
}

func from(principals ...string) *securityapi.Rule {
	return &securityapi.Rule{From: []*securityapi.Rule_From{{Source: &securityapi.Source{Principals: principals}}}}
}

// TestOpenPolicies: an unmanaged NetworkPolicy or AuthorizationPolicy is a finding exactly
// when it admits a connection no ServiceAccessPolicy declares, and the finding names one.
func TestOpenPolicies(t *testing.T) {
	cases := map[string]struct {
		yaml string // NetworkPolicies and ServiceAccessPolicies added to cluster
		aps  []*securityv1.AuthorizationPolicy
		// want is the message fragment of each finding, in order (kind, object name, connection).
		want []string
	}{
		"namespaceSelector {} admits a pod of another namespace that no policy declares": {yaml: `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-everywhere, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{namespaceSelector: {}}], ports: [{port: 8080}]}]
`, want: []string{"OpenNetworkPolicy from-everywhere: NetworkPolicy shop/from-everywhere admits a pod in another namespace -> shop/Deployment/web port 8080 (http)/TCP"}},
		"a policy declaring the callers it admits leaves no finding": {yaml: monitoringReadsWeb + `
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-monitoring, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{namespaceSelector: {matchLabels: {team: obs}}}], ports: [{port: 8080}]}]
`},
		"namespaceSelector {} with one namespace declared: a finding for the rest": {yaml: monitoringReadsWeb + `
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-everywhere, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{namespaceSelector: {}}], ports: [{port: 8080}]}]
`, want: []string{"OpenNetworkPolicy from-everywhere: NetworkPolicy shop/from-everywhere admits a pod in another namespace -> shop/Deployment/web port 8080 (http)/TCP"}},
		"a policy declaring a narrower port still leaves the others": {yaml: clientReadsWeb + `
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-any-port, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {matchLabels: {app: client}}}]}]
`, want: []string{"OpenNetworkPolicy client-any-port: NetworkPolicy shop/client-any-port admits shop/Deployment/client -> shop/Deployment/web port 65000/TCP, which no ServiceAccessPolicy declares;"}},
		"ipBlock 0.0.0.0/0 admits an address outside the cluster": {yaml: `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: internet, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{ipBlock: {cidr: 0.0.0.0/0}}], ports: [{port: 8080}]}]
`, want: []string{"OpenNetworkPolicy internet: NetworkPolicy shop/internet admits 203.0.113.10 (outside the cluster) -> shop/Deployment/web port 8080 (http)/TCP"}},
		"an ipBlock of a private range is probed at its first address": {yaml: `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: office, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{ipBlock: {cidr: 10.20.0.0/16}}], ports: [{port: 8080}]}]
`, want: []string{"OpenNetworkPolicy office: NetworkPolicy shop/office admits 10.20.0.0 (outside the cluster) -> shop/Deployment/web port 8080 (http)/TCP"}},
		"an empty from admits everyone on every port": {yaml: `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-all, namespace: shop}
spec:
  podSelector: {}
  ingress: [{}]
`, want: []string{"OpenNetworkPolicy allow-all: NetworkPolicy shop/allow-all admits a pod in another namespace -> shop/Deployment/client port 65000/TCP"}},
		"an egress rule to everywhere": {yaml: `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: egress-anywhere, namespace: shop}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress: [{ports: [{port: 443}]}]
`, want: []string{"OpenNetworkPolicy egress-anywhere: NetworkPolicy shop/egress-anywhere admits shop/Deployment/client -> a pod in another namespace port 443/TCP"}},
		"an egress rule to what a policy declares": {yaml: clientReadsWeb + `
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-to-web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress: [{to: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: http}]}]
`},
		"a policy in DryRun or Audit mode still declares": {yaml: strings.Replace(clientReadsWeb, "ports: [{port: http}]", "ports: [{port: http}]\n  mode: DryRun", 1) + `
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-to-web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {matchLabels: {app: client}}}], ports: [{port: 8080}]}]
`},
		"an expired policy declares nothing": {yaml: strings.Replace(clientReadsWeb, "ports: [{port: http}]", "ports: [{port: http}]\n  expiresAt: \"2020-01-01T00:00:00Z\"", 1) + `
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-to-web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {matchLabels: {app: client}}}], ports: [{port: 8080}]}]
`, want: []string{"OpenNetworkPolicy client-to-web: NetworkPolicy shop/client-to-web admits shop/Deployment/client -> shop/Deployment/web port 8080 (http)/TCP"}},
		"the operator's own NetworkPolicies are not compared": {yaml: `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-all, namespace: shop, labels: {app.kubernetes.io/managed-by: zerotrust-operator}}
spec:
  podSelector: {}
  ingress: [{}]
`},
		"namespaces no baseline selects are not audited": {yaml: `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-all, namespace: monitoring}
spec:
  podSelector: {}
  ingress: [{}]
`},
		"an AuthorizationPolicy with principals *": {aps: []*securityv1.AuthorizationPolicy{ap("any-principal", securityapi.AuthorizationPolicy_ALLOW, from("*"))},
			want: []string{"OpenAuthorizationPolicy any-principal: AuthorizationPolicy shop/any-principal admits a pod in another namespace -> shop/Deployment/web port 8080 (http)/TCP"}},
		"an AuthorizationPolicy without from admits plaintext too": {aps: []*securityv1.AuthorizationPolicy{ap("no-from", securityapi.AuthorizationPolicy_ALLOW,
			&securityapi.Rule{To: []*securityapi.Rule_To{{Operation: &securityapi.Operation{Ports: []string{"8080"}}}}})},
			want: []string{"OpenAuthorizationPolicy no-from: AuthorizationPolicy shop/no-from admits a pod in another namespace -> shop/Deployment/web port 8080 (http)/TCP"}},
		"an AuthorizationPolicy admitting only declared principals": {yaml: clientReadsWeb,
			aps: []*securityv1.AuthorizationPolicy{ap("client-only", securityapi.AuthorizationPolicy_ALLOW, &securityapi.Rule{
				From: []*securityapi.Rule_From{{Source: &securityapi.Source{Principals: []string{"cluster.local/ns/shop/sa/client"}}}},
				To:   []*securityapi.Rule_To{{Operation: &securityapi.Operation{Ports: []string{"8080"}}}}})}},
		"an AuthorizationPolicy admitting a declared principal on every port": {yaml: clientReadsWeb,
			aps:  []*securityv1.AuthorizationPolicy{ap("client-any-port", securityapi.AuthorizationPolicy_ALLOW, from("cluster.local/ns/shop/sa/client"))},
			want: []string{"OpenAuthorizationPolicy client-any-port: AuthorizationPolicy shop/client-any-port admits shop/Deployment/client -> shop/Deployment/web port 65000/TCP"}},
		"a DENY AuthorizationPolicy admits nothing":           {aps: []*securityv1.AuthorizationPolicy{ap("deny", securityapi.AuthorizationPolicy_DENY, from("*"))}},
		"an allow-nothing AuthorizationPolicy admits nothing": {aps: []*securityv1.AuthorizationPolicy{ap("allow-nothing", securityapi.AuthorizationPolicy_ALLOW)}},
		"a dry-run AuthorizationPolicy is not enforced": {aps: []*securityv1.AuthorizationPolicy{func() *securityv1.AuthorizationPolicy {
			p := ap("dry", securityapi.AuthorizationPolicy_ALLOW, from("*"))
			p.Annotations = map[string]string{"istio.io/dry-run": "true"}
			return p
		}()}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			in := comparisonInput(t, cluster+"\n---\n"+tc.yaml)
			in.AuthorizationPolicies = tc.aps
			got, err := Run(in)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("findings:\n%v\nwant %d: %q", got, len(tc.want), tc.want)
			}
			for i, f := range got {
				line := f.Kind + " " + f.Object.Name + ": " + f.Message
				if !strings.HasPrefix(line, tc.want[i]) {
					t.Errorf("finding %d:\n%s\nwant a line starting\n%s", i, line, tc.want[i])
				}
			}
		})
	}
}

// comparisonInput is the audit's Input for a cluster holding the objects of data, with a
// baseline selecting shop: what the operator's gather supplies.
func comparisonInput(t *testing.T, data string) Input {
	t.Helper()
	inv, err := static.FromYAML([]byte(data), "-", "default")
	if err != nil {
		t.Fatal(err)
	}
	in := Input{
		Namespaces:      map[string]ztv1.PodSecurityLevel{"shop": ""},
		NetworkPolicies: inv.NetworkPolicies(),
		Policies:        inv.Policies(),
		Inventory:       inv,
		Workloads:       inv.Workloads("shop"),
		AllNamespaces:   inv.Namespaces(),
		ServiceAccounts: []types.NamespacedName{{Namespace: "shop", Name: "web"}, {Namespace: "shop", Name: "client"}},
		Options:         compiler.Options{TrustDomain: compiler.DefaultTrustDomain},
		Now:             time.Date(2026, 6, 15, 10, 0, 0, 0, time.UTC),
	}
	return in
}

// TestDecodeAuthorizationPolicy: what the gather reads as unstructured keeps its action and
// rules (the spec's protobuf JSON form, enum names included).
func TestDecodeAuthorizationPolicy(t *testing.T) {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
		"metadata": map[string]any{"namespace": "shop", "name": "deny"},
		"spec": map[string]any{"action": "DENY", "rules": []any{map[string]any{
			"from": []any{map[string]any{"source": map[string]any{"principals": []any{"*"}}}}}}},
	}}
	p, err := DecodeAuthorizationPolicy(u)
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec.Action != securityapi.AuthorizationPolicy_DENY || len(p.Spec.Rules) != 1 || p.Spec.Rules[0].From[0].Source.Principals[0] != "*" || p.Namespace != "shop" {
		t.Errorf("decoded %+v", p)
	}
}
