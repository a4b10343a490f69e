package compiler_test

import (
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/linkerd"
	"github.com/zerotrust-dev/zerotrust-operator/internal/inventory/static"
)

func TestRegistryLists(t *testing.T) {
	want := []ztv1.Backend{ztv1.BackendNetworkPolicy, ztv1.BackendIstio, ztv1.BackendLinkerd, ztv1.BackendCilium, ztv1.BackendRBAC}
	if got := compiler.AllBackends(); !reflect.DeepEqual(got, want) {
		t.Errorf("AllBackends() = %v, want %v", got, want)
	}
	seen := map[schema.GroupVersionKind]ztv1.Backend{}
	for _, info := range compiler.Backends() {
		if info.Flag != strings.ToLower(string(info.Name)) {
			t.Errorf("%s: flag %q", info.Name, info.Flag)
		}
		if len(info.Kinds) == 0 {
			t.Errorf("%s lists no kinds: every backend of the registry must implement model.KindsBackend", info.Name)
		}
		for _, k := range info.Kinds {
			if other, dup := seen[k]; dup {
				t.Errorf("%s is listed by %s and %s", k, other, info.Name)
			}
			seen[k] = info.Name
		}
	}
	builtin := map[ztv1.Backend]bool{ztv1.BackendNetworkPolicy: true, ztv1.BackendRBAC: true}
	for _, b := range want {
		if compiler.IsBuiltin(b) != builtin[b] {
			t.Errorf("IsBuiltin(%s) = %v", b, !builtin[b])
		}
	}
	if got := compiler.BackendKinds(ztv1.BackendCilium); !reflect.DeepEqual(got, []schema.GroupVersionKind{{Group: "cilium.io", Version: "v2", Kind: "CiliumNetworkPolicy"}}) {
		t.Errorf("Cilium kinds: %v", got)
	}
	var builtinKinds []string
	for _, k := range compiler.BuiltinKinds() {
		builtinKinds = append(builtinKinds, k.Kind)
	}
	if !reflect.DeepEqual(builtinKinds, []string{"NetworkPolicy", "Role", "RoleBinding"}) {
		t.Errorf("BuiltinKinds: %v", builtinKinds)
	}
}

// TestRegistryKindsAreGenerated: the kinds a backend declares are those it generates, so
// that the operator caches, watches and prunes everything it writes.
func TestRegistryKindsAreGenerated(t *testing.T) {
	byBackend := map[string][]schema.GroupVersionKind{}
	for _, in := range []string{"testdata/mesh/baseline-mesh.yaml", "testdata/mesh/workload-target.yaml", "testdata/kubernetes-api.yaml"} {
		inv, err := static.LoadInventory([]string{in}, nil, "default")
		if err != nil {
			t.Fatal(err)
		}
		r, err := inv.Render(defaultNow, compiler.Options{Backends: compiler.AllBackends(), TrustDomain: "cluster.local"})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range r.Objects {
			b := o.GetLabels()[ztv1.LabelBackend]
			byBackend[b] = append(byBackend[b], o.GetObjectKind().GroupVersionKind())
		}
	}
	for _, info := range compiler.Backends() {
		if len(byBackend[info.Flag]) == 0 {
			t.Errorf("the test cases generate nothing of backend %s", info.Name)
		}
		for _, gvk := range byBackend[info.Flag] {
			if !slices.Contains(info.Kinds, gvk) {
				t.Errorf("backend %s generates %s, which its Kinds() does not list", info.Name, gvk)
			}
		}
	}
}

func TestParseBackendList(t *testing.T) {
	all := compiler.AllBackends()
	tests := map[string][]ztv1.Backend{
		"":                          nil,
		"all":                       all,
		"ALL":                       all,
		"networkpolicy":             {ztv1.BackendNetworkPolicy},
		"rbac, Istio,networkpolicy": {ztv1.BackendNetworkPolicy, ztv1.BackendIstio, ztv1.BackendRBAC},
		"cilium,cilium,,":           {ztv1.BackendCilium},
		"linkerd,all":               all,
	}
	for in, want := range tests {
		got, err := compiler.ParseBackendList(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("ParseBackendList(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	_, err := compiler.ParseBackendList("networkpolicy,calico")
	if err == nil || !strings.Contains(err.Error(), `unknown backend "calico"`) ||
		!strings.Contains(err.Error(), "networkpolicy, istio, linkerd, cilium, rbac, or all") {
		t.Errorf("unknown backend: %v", err)
	}
	if b, err := compiler.ParseBackendName("Linkerd"); err != nil || b != ztv1.BackendLinkerd {
		t.Errorf("ParseBackendName(Linkerd) = %v, %v", b, err)
	}
}

const overlapping = `
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {tier: app, locked: "true"}}
---
apiVersion: v1
kind: Namespace
metadata: {name: web, labels: {tier: app}}
---
apiVersion: zerotrust.dev/v1alpha1
kind: ZeroTrustBaseline
metadata: {name: apps}
spec:
  namespaceSelector: {matchLabels: {tier: app}}
  network: {defaultDeny: [Ingress, Egress], allowDNS: true}
  podSecurity: baseline
---
apiVersion: zerotrust.dev/v1alpha1
kind: ZeroTrustBaseline
metadata: {name: locked}
spec:
  namespaceSelector: {matchLabels: {locked: "true"}}
  network: {defaultDeny: [Egress]}
  podSecurity: restricted
  mesh: {defaultDeny: true}
---
apiVersion: zerotrust.dev/v1alpha1
kind: ZeroTrustBaseline
metadata: {name: going}
spec:
  namespaceSelector: {matchLabels: {tier: app}}
  network: {defaultDeny: [Egress]}
  podSecurity: privileged
  mesh: {mtls: Strict}
`

// operatorBaselineObjects is what the baseline reconciler applies, namespace by namespace,
// for every baseline: the namespaces it selects that are not being deleted, each compiled
// as compiler.EffectiveBaseline decides (controllers.ZeroTrustBaselineReconciler), nothing
// for a baseline being deleted.
func operatorBaselineObjects(t *testing.T, baselines []ztv1.ZeroTrustBaseline, namespaces []corev1.Namespace, opts compiler.Options) map[string]client.Object {
	t.Helper()
	out := map[string]client.Object{}
	for i := range baselines {
		b := &baselines[i]
		if !b.DeletionTimestamp.IsZero() {
			continue
		}
		for j := range namespaces {
			ns := &namespaces[j]
			if ok, err := compiler.BaselineSelects(b, ns, opts); err != nil || !ok || !ns.DeletionTimestamp.IsZero() {
				continue
			}
			eff, _ := compiler.EffectiveBaseline(b, baselines, ns, opts)
			objs, err := compiler.CompileBaseline(eff, ns, opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range objs {
				out[objectID(o)] = o
			}
		}
	}
	return out
}

func objectID(o client.Object) string {
	return o.GetObjectKind().GroupVersionKind().Kind + " " + o.GetNamespace() + "/" + o.GetName()
}

// TestRenderOverlappingBaselines: where two baselines select one namespace, one allowing DNS
// and the other denying egress without it, render drops the DNS policy there as the
// operator does (DNS is allowed only if every baseline that denies egress allows it), keeps
// it where only the first applies, leaves out a baseline being deleted, and reports the
// namespace metadata the namespace reconciler sets.
func TestRenderOverlappingBaselines(t *testing.T) {
	inv, err := static.FromYAML([]byte(overlapping), "-", "default")
	if err != nil {
		t.Fatal(err)
	}
	baselines, err := inv.Baselines()
	if err != nil {
		t.Fatal(err)
	}
	for i := range baselines {
		if baselines[i].Name == "going" {
			baselines[i].DeletionTimestamp = &metav1.Time{Time: defaultNow}
		}
	}
	opts := compiler.Options{Backends: compiler.AllBackends(), TrustDomain: "cluster.local"}
	r, err := compiler.DefaultRegistry().Render(inv, nil, baselines, inv.Namespaces(), defaultNow, opts)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]client.Object{}
	var ids []string
	for _, o := range r.Objects {
		got[objectID(o)] = o
		ids = append(ids, objectID(o))
	}
	sort.Strings(ids)
	wantIDs := []string{
		"AuthorizationPolicy shop/zt-baseline.locked.deny",
		"NetworkPolicy shop/zt-baseline.apps.deny",
		"NetworkPolicy shop/zt-baseline.locked.deny",
		"NetworkPolicy web/zt-baseline.apps.deny",
		"NetworkPolicy web/zt-baseline.apps.dns",
	}
	if !reflect.DeepEqual(ids, wantIDs) {
		t.Errorf("rendered\n  %s\nwant\n  %s", strings.Join(ids, "\n  "), strings.Join(wantIDs, "\n  "))
	}
	if np, ok := got["NetworkPolicy web/zt-baseline.apps.dns"].(*networkingv1.NetworkPolicy); !ok || len(np.Spec.Egress) != 1 {
		t.Errorf("web keeps the DNS egress policy of apps: %v", got["NetworkPolicy web/zt-baseline.apps.dns"])
	}

	// The operator's view of the same input, object for object.
	want := operatorBaselineObjects(t, baselines, inv.Namespaces(), opts)
	for id, w := range want {
		g, ok := got[id]
		if !ok {
			t.Errorf("the operator creates %s; render does not print it", id)
			continue
		}
		gy, _ := compiler.EncodeYAML([]client.Object{g})
		wy, _ := compiler.EncodeYAML([]client.Object{w})
		if string(gy) != string(wy) {
			t.Errorf("%s: render\n%s\noperator\n%s", id, gy, wy)
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("render prints %s; the operator does not create it", id)
		}
	}

	// shop: both apply; the other is named.
	shop, _ := inv.Namespace("shop")
	all := baselines
	eff, others := compiler.EffectiveBaseline(&all[0], all, shop, opts)
	if all[0].Name != "apps" || eff == nil || eff.Spec.Network.AllowDNS || !reflect.DeepEqual(others, []string{"locked"}) {
		t.Errorf("EffectiveBaseline(apps, shop) = %+v, %v", eff, others)
	}
	if !all[0].Spec.Network.AllowDNS {
		t.Errorf("EffectiveBaseline modified its input")
	}
	for i := range all {
		if all[i].Name == "going" {
			if eff, _ := compiler.EffectiveBaseline(&all[i], all, shop, opts); eff != nil {
				t.Errorf("a baseline being deleted applies: %+v", eff)
			}
		}
	}

	// Namespace metadata: the strictest Pod Security level of the baselines that apply (the
	// one being deleted, privileged, does not count), and Linkerd's annotation only while
	// Linkerd runs.
	wantNS := []compiler.NamespaceResult{
		{Name: "shop", Labels: map[string]string{compiler.LabelPodSecurityEnforce: "restricted", compiler.LabelPodSecurityEnforceVersion: "latest"},
			Annotations: map[string]string{linkerd.DefaultInboundPolicyAnnotation: "deny"}},
		{Name: "web", Labels: map[string]string{compiler.LabelPodSecurityEnforce: "baseline", compiler.LabelPodSecurityEnforceVersion: "latest"},
			Annotations: map[string]string{}},
	}
	if !reflect.DeepEqual(r.Namespaces, wantNS) {
		t.Errorf("namespaces: %+v\nwant %+v", r.Namespaces, wantNS)
	}
	labels, annotations := compiler.NamespaceMetadata(baselines, shop, compiler.Options{Backends: []ztv1.Backend{ztv1.BackendNetworkPolicy, ztv1.BackendIstio}})
	if labels[compiler.LabelPodSecurityEnforce] != "restricted" || len(annotations) != 0 {
		t.Errorf("without Linkerd: %v %v", labels, annotations)
	}
	deleting := shop.DeepCopy()
	deleting.DeletionTimestamp = &metav1.Time{Time: defaultNow}
	if eff, _ := compiler.EffectiveBaseline(&all[0], all, deleting, opts); eff != nil {
		t.Errorf("a namespace being deleted gets baseline objects")
	}
}
