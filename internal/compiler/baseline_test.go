package compiler_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/inventory/static"
)

func baselineWith(name, selector string) *ztv1.ZeroTrustBaseline {
	b := &ztv1.ZeroTrustBaseline{ObjectMeta: metav1.ObjectMeta{Name: name}}
	b.Spec.NamespaceSelector = &metav1.LabelSelector{}
	if err := yaml.Unmarshal([]byte(selector), b.Spec.NamespaceSelector); err != nil {
		panic(err)
	}
	return b
}

// TestBaselineSelectsSystemNamespaces: a baseline selects kube-system, kube-public,
// kube-node-lease and the operator's namespace only when its selector names them.
func TestBaselineSelectsSystemNamespaces(t *testing.T) {
	enforce := map[string]string{"zerotrust.dev/enforce": "true"}
	cases := map[string]struct {
		selector    string
		ns          *corev1.Namespace
		operatorNS  string
		selects     bool
		excludes    bool
		invalidSels bool
	}{
		"{} selects an ordinary namespace":                             {selector: `{}`, ns: namespace("shop", nil), selects: true},
		"{} leaves kube-system out":                                    {selector: `{}`, ns: namespace("kube-system", nil), excludes: true},
		"{} leaves kube-public out":                                    {selector: `{}`, ns: namespace("kube-public", nil), excludes: true},
		"{} leaves kube-node-lease out":                                {selector: `{}`, ns: namespace("kube-node-lease", nil), excludes: true},
		"{} leaves the default operator namespace out":                 {selector: `{}`, ns: namespace("zerotrust-system", nil), excludes: true},
		"{} leaves a configured operator namespace out":                {selector: `{}`, ns: namespace("platform", nil), operatorNS: "platform", excludes: true},
		"{} selects zerotrust-system when the operator runs elsewhere": {selector: `{}`, ns: namespace("zerotrust-system", nil), operatorNS: "platform", selects: true},
		"a label on kube-system does not name it":                      {selector: `{matchLabels: {zerotrust.dev/enforce: "true"}}`, ns: namespace("kube-system", enforce), excludes: true},
		"NotIn does not name kube-system": {selector: `{matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [shop]}]}`,
			ns: namespace("kube-system", nil), excludes: true},
		"Exists does not name kube-system": {selector: `{matchExpressions: [{key: kubernetes.io/metadata.name, operator: Exists}]}`,
			ns: namespace("kube-system", nil), excludes: true},
		"matchLabels on the name names kube-system": {selector: `{matchLabels: {kubernetes.io/metadata.name: kube-system}}`,
			ns: namespace("kube-system", nil), selects: true},
		"an In expression listing it names kube-public": {selector: `{matchExpressions: [{key: kubernetes.io/metadata.name, operator: In, values: [shop, kube-public]}]}`,
			ns: namespace("kube-public", nil), selects: true},
		"an In expression names the operator namespace": {selector: `{matchExpressions: [{key: kubernetes.io/metadata.name, operator: In, values: [zerotrust-system]}]}`,
			ns: namespace("zerotrust-system", nil), selects: true},
		"naming one system namespace is not naming another": {selector: `{matchExpressions: [{key: kubernetes.io/metadata.name, operator: In, values: [kube-system, kube-public]}]}`,
			ns: namespace("kube-node-lease", nil)},
		"naming it does not select it when another requirement fails": {selector: `{matchLabels: {kubernetes.io/metadata.name: kube-system, zerotrust.dev/enforce: "true"}}`,
			ns: namespace("kube-system", nil)},
		"a selector that does not match excludes nothing": {selector: `{matchLabels: {zerotrust.dev/enforce: "true"}}`, ns: namespace("kube-system", nil)},
		"an invalid selector selects and excludes nothing": {selector: `{matchExpressions: [{key: a, operator: Sideways}]}`,
			ns: namespace("kube-system", nil), invalidSels: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			b := baselineWith("b", tc.selector)
			opts := compiler.Options{OperatorNamespace: tc.operatorNS}
			got, err := compiler.BaselineSelects(b, tc.ns, opts)
			if (err != nil) != tc.invalidSels {
				t.Fatalf("BaselineSelects error = %v", err)
			}
			if got != tc.selects {
				t.Errorf("BaselineSelects = %v, want %v", got, tc.selects)
			}
			if got := compiler.BaselineApplies(b, tc.ns, opts); got != tc.selects {
				t.Errorf("BaselineApplies = %v, want %v", got, tc.selects)
			}
			if got := compiler.BaselineExcludes(b, tc.ns, opts); got != tc.excludes {
				t.Errorf("BaselineExcludes = %v, want %v", got, tc.excludes)
			}
			sel, excl, err := compiler.BaselineSelection(b, []corev1.Namespace{*tc.ns}, opts)
			if (err != nil) != tc.invalidSels {
				t.Fatalf("BaselineSelection error = %v", err)
			}
			if (len(sel) == 1) != tc.selects || (len(excl) == 1) != tc.excludes {
				t.Errorf("BaselineSelection = %d selected, excluded %v", len(sel), excl)
			}
		})
	}
}

// systemWorld is every system namespace and two ordinary ones, a baseline over all of them
// ({}) that denies both directions, allows DNS and sets Pod Security and RBAC exceptions,
// and a policy whose callers sit in kube-system and shop.
const systemWorld = `
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Namespace
metadata: {name: web}
---
apiVersion: v1
kind: Namespace
metadata: {name: kube-system}
---
apiVersion: v1
kind: Namespace
metadata: {name: kube-public}
---
apiVersion: v1
kind: Namespace
metadata: {name: kube-node-lease}
---
apiVersion: v1
kind: Namespace
metadata: {name: zerotrust-system}
---
apiVersion: v1
kind: Namespace
metadata: {name: platform}
---
apiVersion: zerotrust.dev/v1alpha1
kind: ZeroTrustBaseline
metadata: {name: all}
spec:
  namespaceSelector: {}
  network: {defaultDeny: [Ingress, Egress], allowDNS: true}
  mesh: {mtls: Strict, defaultDeny: true}
  podSecurity: restricted
  rbac: {allow: [{apiGroup: "", resource: pods/exec, verbs: [create]}]}
---
apiVersion: zerotrust.dev/v1alpha1
kind: ServiceAccessPolicy
metadata: {name: scrape, namespace: web}
spec:
  target: {podSelector: {matchLabels: {app: web}}}
  from: [{namespace: kube-system}, {namespace: shop}]
  ports: [{port: 8080}]
`

// TestRenderLeavesSystemNamespacesAlone: with namespaceSelector {} nothing of any backend
// lands in a system namespace, no label or annotation is put on one, no policy gets an
// egress rule there and no RBAC exception applies there; the rendering reports them. The
// operator's namespace is the one Options names.
func TestRenderLeavesSystemNamespacesAlone(t *testing.T) {
	inv, err := static.FromYAML([]byte(systemWorld), "world.yaml", "default")
	if err != nil {
		t.Fatal(err)
	}
	baselines, _ := inv.Baselines()
	for name, tc := range map[string]struct {
		operatorNS string
		system     []string
	}{
		"default operator namespace": {system: []string{"kube-node-lease", "kube-public", "kube-system", "zerotrust-system"}},
		"operator in platform":       {operatorNS: "platform", system: []string{"kube-node-lease", "kube-public", "kube-system", "platform"}},
	} {
		t.Run(name, func(t *testing.T) {
			opts := compiler.Options{Backends: compiler.AllBackends(), OperatorNamespace: tc.operatorNS}
			r, err := inv.Render(defaultNow, opts)
			if err != nil {
				t.Fatal(err)
			}
			want := []compiler.BaselineExclusion{{Baseline: "all", Namespaces: tc.system}}
			if !reflect.DeepEqual(r.Exclusions, want) {
				t.Errorf("Exclusions = %+v, want %+v", r.Exclusions, want)
			}
			selected := map[string]bool{}
			for _, o := range r.Objects {
				if slices.Contains(tc.system, o.GetNamespace()) {
					t.Errorf("%s %s/%s generated in a system namespace", o.GetObjectKind().GroupVersionKind().Kind, o.GetNamespace(), o.GetName())
				}
				if o.GetLabels()[ztv1.LabelBaseline] == "all" {
					selected[o.GetNamespace()] = true
				}
			}
			// Every other namespace, zerotrust-system included when the operator runs
			// elsewhere, gets the baseline.
			for _, ns := range inv.Namespaces() {
				if !slices.Contains(tc.system, ns.Name) && !selected[ns.Name] {
					t.Errorf("namespace %s has no baseline objects", ns.Name)
				}
			}
			for _, n := range r.Namespaces {
				if slices.Contains(tc.system, n.Name) {
					t.Errorf("namespace %s gets labels %v and annotations %v", n.Name, n.Labels, n.Annotations)
				}
			}
			for _, ns := range tc.system {
				n, _ := inv.Namespace(ns)
				if lvl := compiler.PodSecurityLevel(baselines, n, opts); lvl != "" {
					t.Errorf("Pod Security %q on %s", lvl, ns)
				}
				if a := compiler.RBACAllowances(baselines, n, opts); len(a) != 0 {
					t.Errorf("RBAC exceptions in %s: %v", ns, a)
				}
			}
			for _, p := range r.Policies {
				for _, b := range p.Output.Backends {
					for _, o := range b.Objects {
						if o.GetNamespace() == "kube-system" {
							t.Errorf("policy %s generates %s/%s in kube-system, where no baseline denies egress", p.Name, o.GetNamespace(), o.GetName())
						}
					}
				}
			}
		})
	}
}

// dnsPolicy compiles baseline b (egress denied, DNS allowed) for namespace shop and returns
// its DNS NetworkPolicy.
func dnsPolicy(t *testing.T, b *ztv1.ZeroTrustBaseline) *networkingv1.NetworkPolicy {
	t.Helper()
	objs, err := compiler.CompileBaseline(b, namespace("shop", nil), compiler.Options{Backends: compiler.AllBackends()})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if np, ok := o.(*networkingv1.NetworkPolicy); ok && strings.HasSuffix(np.Name, ".dns") {
			return np
		}
	}
	t.Fatalf("no DNS NetworkPolicy among %d objects", len(objs))
	return nil
}

// TestBaselineDNSTarget: allowDNS opens kube-dns by default, and exactly the cluster DNS of
// spec.network.dns when set, node-local addresses as single-address ipBlocks.
func TestBaselineDNSTarget(t *testing.T) {
	kubeDNS := []networkingv1.NetworkPolicyPeer{{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: "kube-system"}},
		PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}},
	}}
	cases := map[string]struct {
		dns  *ztv1.BaselineDNS
		want []networkingv1.NetworkPolicyPeer
	}{
		"unset: kube-dns": {want: kubeDNS},
		"empty: kube-dns": {dns: &ztv1.BaselineDNS{}, want: kubeDNS},
		"another namespace only": {dns: &ztv1.BaselineDNS{Namespace: "dns"}, want: []networkingv1.NetworkPolicyPeer{{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: "dns"}},
			PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}},
		}}},
		"namespace, pods and node-local addresses": {
			dns: &ztv1.BaselineDNS{Namespace: "dns", PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "coredns"}},
				NodeLocalAddresses: []string{"169.254.20.10", "fd00::10"}},
			want: []networkingv1.NetworkPolicyPeer{
				{
					NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: "dns"}},
					PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": "coredns"}},
				},
				{IPBlock: &networkingv1.IPBlock{CIDR: "169.254.20.10/32"}},
				{IPBlock: &networkingv1.IPBlock{CIDR: "fd00::10/128"}},
			}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			b := baselineWith("b", `{}`)
			b.Spec.Network = &ztv1.BaselineNetwork{DefaultDeny: []ztv1.Direction{ztv1.DirectionEgress}, AllowDNS: true, DNS: tc.dns}
			np := dnsPolicy(t, b)
			if len(np.Spec.Egress) != 1 {
				t.Fatalf("egress rules: %+v", np.Spec.Egress)
			}
			rule := np.Spec.Egress[0]
			if !reflect.DeepEqual(rule.To, tc.want) {
				t.Errorf("to = %s\nwant %s", toYAML(t, rule.To), toYAML(t, tc.want))
			}
			var ports []string
			for _, p := range rule.Ports {
				ports = append(ports, p.Port.String()+"/"+string(*p.Protocol))
			}
			if !reflect.DeepEqual(ports, []string{"53/UDP", "53/TCP"}) {
				t.Errorf("ports = %v", ports)
			}
		})
	}
}

func toYAML(t *testing.T, v any) string {
	t.Helper()
	out, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestValidateBaselineDNS: kubectl-zt refuses what the CRD refuses in spec.network.dns,
// naming the field (test/crd holds the API server to the same).
func TestValidateBaselineDNS(t *testing.T) {
	cases := map[string]struct {
		network ztv1.BaselineNetwork
		field   string // "" when valid
	}{
		"valid": {network: ztv1.BaselineNetwork{AllowDNS: true, DNS: &ztv1.BaselineDNS{Namespace: "dns",
			PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "coredns"}}, NodeLocalAddresses: []string{"169.254.20.10", "fd00::10"}}}},
		"dns without allowDNS": {network: ztv1.BaselineNetwork{DNS: &ztv1.BaselineDNS{Namespace: "dns"}}, field: "spec.network.allowDNS"},
		"a namespace that is no name": {network: ztv1.BaselineNetwork{AllowDNS: true, DNS: &ztv1.BaselineDNS{Namespace: "Kube_System"}},
			field: "spec.network.dns.namespace"},
		"an unknown selector operator": {network: ztv1.BaselineNetwork{AllowDNS: true, DNS: &ztv1.BaselineDNS{PodSelector: &metav1.LabelSelector{
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Sideways"}}}}}, field: "spec.network.dns.podSelector"},
		"a CIDR for an address": {network: ztv1.BaselineNetwork{AllowDNS: true, DNS: &ztv1.BaselineDNS{NodeLocalAddresses: []string{"169.254.20.0/24"}}},
			field: "spec.network.dns.nodeLocalAddresses[0]"},
		"an IPv4-mapped IPv6 address": {network: ztv1.BaselineNetwork{AllowDNS: true, DNS: &ztv1.BaselineDNS{NodeLocalAddresses: []string{"::ffff:169.254.20.10"}}},
			field: "spec.network.dns.nodeLocalAddresses[0]"},
		"too many addresses": {network: ztv1.BaselineNetwork{AllowDNS: true, DNS: &ztv1.BaselineDNS{NodeLocalAddresses: []string{
			"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.0.7", "10.0.0.8", "10.0.0.9"}}},
			field: "spec.network.dns.nodeLocalAddresses"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			b := baselineWith("b", `{}`)
			b.Spec.Network = &tc.network
			errs := compiler.ValidateBaseline(b)
			if tc.field == "" {
				if len(errs) > 0 {
					t.Fatalf("ValidateBaseline = %v", errs)
				}
				return
			}
			if len(errs) == 0 || errs[0].Field != tc.field {
				t.Errorf("ValidateBaseline = %v, want an error on %s", errs, tc.field)
			}
		})
	}
}
