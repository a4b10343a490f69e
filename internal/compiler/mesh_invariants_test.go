package compiler_test

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/istio"
	"github.com/zerotrust-dev/zerotrust-operator/internal/inventory/static"
)

// TestMeshObjectInvariants checks, over every object the Istio, Linkerd and Cilium backends
// generate for every golden case (NetworkPolicy's own cases included), the rules that make
// the operator safe and its applies no-ops:
//   - TypeMeta, a DNS-1123 subdomain name, a namespace, the managed-by and backend labels and
//     exactly one policy or baseline label (none on Linkerd's shared Servers); no owner references, no server fields, and no
//     annotation but Istio's dry-run, on Audit policies only;
//   - the unstructured form survives a JSON round trip (no value the API server would change);
//   - nothing that allows everyone: every Istio rule has a source, every Cilium ingress rule a
//     peer, every Linkerd AuthorizationPolicy an authentication;
//   - every Linkerd reference (route parent, authorization target, authentication) names an
//     object generated with it.
func TestMeshObjectInvariants(t *testing.T) {
	var inputs []string
	for _, g := range []string{"testdata/*.yaml", "testdata/mesh/*.yaml"} {
		m, err := filepath.Glob(g)
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, m...)
	}
	seen := map[string]int{}
	for _, in := range inputs {
		if strings.HasSuffix(in, ".golden.yaml") {
			continue
		}
		inv, err := static.LoadInventory([]string{in}, nil, "default")
		if err != nil {
			t.Fatal(err)
		}
		r, err := inv.Render(defaultNow, compiler.Options{Backends: []ztv1.Backend{ztv1.BackendIstio, ztv1.BackendLinkerd, ztv1.BackendCilium}})
		if err != nil {
			t.Fatal(err)
		}
		audit := map[string]bool{}
		for _, p := range inv.Policies() {
			audit[p.Namespace+"/"+p.Name] = p.Spec.Mode == ztv1.ModeAudit
		}
		// DryRun objects are not rendered but are listed in status: check them too.
		all := append([]client.Object(nil), r.Objects...)
		for _, p := range r.Policies {
			if p.Output.DryRun {
				for _, b := range p.Output.Backends {
					all = append(all, b.Objects...)
				}
			}
		}
		generated := map[string]bool{}
		for _, o := range all {
			generated[o.GetObjectKind().GroupVersionKind().Kind+" "+o.GetNamespace()+"/"+o.GetName()] = true
		}
		for _, o := range all {
			gvk := o.GetObjectKind().GroupVersionKind()
			where := in + ": " + gvk.Kind + " " + o.GetNamespace() + "/" + o.GetName()
			seen[gvk.Kind]++
			if gvk.Version == "" || gvk.Kind == "" {
				t.Errorf("%s: TypeMeta not set", where)
			}
			if errs := validation.IsDNS1123Subdomain(o.GetName()); len(errs) > 0 {
				t.Errorf("%s: name: %v", where, errs)
			}
			if o.GetNamespace() == "" {
				t.Errorf("%s: no namespace", where)
			}
			l := o.GetLabels()
			backend := map[string]string{"security.istio.io": "istio", "policy.linkerd.io": "linkerd", "cilium.io": "cilium"}[gvk.Group]
			if l[ztv1.LabelManagedBy] != ztv1.ManagedByValue || l[ztv1.LabelBackend] != backend || backend == "" {
				t.Errorf("%s: labels %v", where, l)
			}
			isPolicy := l[ztv1.LabelPolicyName] != "" && l[ztv1.LabelPolicyNamespace] != ""
			// Linkerd Servers are shared by every policy that opens the same pods and port:
			// they name no policy (the reconciler makes each policy an owner).
			shared := gvk.Kind == "Server" && len(l) == 2
			if !shared && (isPolicy == (l[ztv1.LabelBaseline] != "") || len(l) != 3+map[bool]int{true: 1}[isPolicy]) {
				t.Errorf("%s: labels must name exactly one policy or baseline: %v", where, l)
			}
			wantAnn := map[string]string(nil)
			if _, ok := o.(*securityv1.AuthorizationPolicy); ok && isPolicy && audit[l[ztv1.LabelPolicyNamespace]+"/"+l[ztv1.LabelPolicyName]] {
				wantAnn = map[string]string{istio.DryRunAnnotation: "true"}
			}
			if !reflect.DeepEqual(o.GetAnnotations(), wantAnn) {
				t.Errorf("%s: annotations %v; want %v", where, o.GetAnnotations(), wantAnn)
			}
			if len(o.GetOwnerReferences()) > 0 || !o.GetCreationTimestamp().Time.IsZero() || o.GetResourceVersion() != "" || o.GetUID() != "" {
				t.Errorf("%s: carries server or owner fields", where)
			}

			u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			unstructured.RemoveNestedField(u, "status")
			b, err := json.Marshal(u)
			if err != nil {
				t.Fatal(err)
			}
			var back map[string]any
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(normalize(u), back) {
				t.Errorf("%s: does not survive a JSON round trip\n%s", where, b)
			}
			spec, _ := back["spec"].(map[string]any)
			checkSpec(t, where, gvk.Kind, gvk.Group, o.GetNamespace(), spec, generated)
		}
	}
	for _, k := range []string{"AuthorizationPolicy", "PeerAuthentication", "Server", "HTTPRoute", "MeshTLSAuthentication", "NetworkAuthentication", "CiliumNetworkPolicy"} {
		if seen[k] == 0 {
			t.Errorf("no %s generated by any golden case", k)
		}
	}
}

// normalize is v as JSON decodes it (numbers as float64).
func normalize(v map[string]any) map[string]any {
	b, _ := json.Marshal(v)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

func checkSpec(t *testing.T, where, kind, group, ns string, spec map[string]any, generated map[string]bool) {
	t.Helper()
	list := func(m map[string]any, k string) []any { l, _ := m[k].([]any); return l }
	mapOf := func(v any) map[string]any { m, _ := v.(map[string]any); return m }
	refExists := func(r map[string]any) {
		if r["group"] != "policy.linkerd.io" || !generated[r["kind"].(string)+" "+ns+"/"+r["name"].(string)] {
			t.Errorf("%s: reference %v names no generated object", where, r)
		}
	}
	switch {
	case group == "security.istio.io" && kind == "AuthorizationPolicy":
		for _, r := range list(spec, "rules") {
			if len(list(mapOf(r), "from")) == 0 {
				t.Errorf("%s: rule without from allows every caller", where)
			}
		}
	case kind == "CiliumNetworkPolicy":
		for _, r := range list(spec, "ingress") {
			if len(list(mapOf(r), "fromEndpoints"))+len(list(mapOf(r), "fromCIDR")) == 0 {
				t.Errorf("%s: ingress rule without peers allows everyone", where)
			}
		}
		for _, r := range list(spec, "egress") {
			if len(list(mapOf(r), "toEndpoints"))+len(list(mapOf(r), "toCIDR")) == 0 {
				t.Errorf("%s: egress rule without peers allows everything", where)
			}
		}
		if spec["enableDefaultDeny"] == nil {
			t.Errorf("%s: enableDefaultDeny not explicit", where)
		}
	case kind == "Server":
		for _, k := range []string{"accessPolicy", "proxyProtocol", "port", "podSelector"} {
			if spec[k] == nil {
				t.Errorf("%s: %s not set", where, k)
			}
		}
	case kind == "HTTPRoute":
		for _, pr := range list(spec, "parentRefs") {
			refExists(mapOf(pr))
		}
		for _, r := range list(spec, "rules") {
			for _, m := range list(mapOf(r), "matches") {
				p := mapOf(mapOf(m)["path"])
				if p["type"] == nil || p["value"] == nil {
					t.Errorf("%s: match path not explicit: %v", where, m)
				}
			}
		}
	case group == "policy.linkerd.io" && kind == "AuthorizationPolicy":
		refExists(mapOf(spec["targetRef"]))
		refs := list(spec, "requiredAuthenticationRefs")
		if len(refs) == 0 {
			t.Errorf("%s: no authentication: allows everyone", where)
		}
		for _, r := range refs {
			refExists(mapOf(r))
		}
	}
}
