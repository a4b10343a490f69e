package compiler_test

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/inventory/static"
)

// TestGeneratedObjectInvariants checks, over every object of every golden case, the rules
// that make the operator safe and its applies no-ops:
//   - TypeMeta, a DNS-1123 subdomain name, the managed-by and backend labels and a policy or
//     baseline label; no annotations, no owner references (the reconciler sets those);
//   - policyTypes explicit, a protocol on every port, every pod peer with a namespaceSelector;
//   - no rule with an empty from/to (that would allow everything);
//   - a JSON round trip gives the same object: nothing the API server would drop or default.
func TestGeneratedObjectInvariants(t *testing.T) {
	inputs, _ := filepath.Glob("testdata/*.yaml")
	seen := 0
	for _, in := range inputs {
		if strings.HasSuffix(in, ".golden.yaml") {
			continue
		}
		inv, err := static.LoadInventory([]string{in}, nil, "default")
		if err != nil {
			t.Fatal(err)
		}
		r, err := inv.Render(defaultNow, compiler.Options{Backends: []ztv1.Backend{ztv1.BackendNetworkPolicy}})
		if err != nil {
			t.Fatal(err)
		}
		// DryRun objects are not rendered but are listed in status: check them too.
		all := r.Objects
		for _, p := range r.Policies {
			if p.Output.DryRun {
				for _, b := range p.Output.Backends {
					all = append(all, b.Objects...)
				}
			}
		}
		for _, o := range all {
			seen++
			np, ok := o.(*networkingv1.NetworkPolicy)
			if !ok {
				t.Errorf("%s: unexpected type %T", in, o)
				continue
			}
			where := in + ": " + np.Namespace + "/" + np.Name
			if np.APIVersion != "networking.k8s.io/v1" || np.Kind != "NetworkPolicy" {
				t.Errorf("%s: TypeMeta %q %q", where, np.APIVersion, np.Kind)
			}
			if errs := validation.IsDNS1123Subdomain(np.Name); len(errs) > 0 {
				t.Errorf("%s: name: %v", where, errs)
			}
			if np.Namespace == "" {
				t.Errorf("%s: no namespace", where)
			}
			l := np.Labels
			if l[ztv1.LabelManagedBy] != ztv1.ManagedByValue || l[ztv1.LabelBackend] != "networkpolicy" {
				t.Errorf("%s: labels %v", where, l)
			}
			isPolicy := l[ztv1.LabelPolicyName] != "" && l[ztv1.LabelPolicyNamespace] != ""
			if isPolicy == (l[ztv1.LabelBaseline] != "") || len(l) != 3+map[bool]int{true: 1}[isPolicy] {
				t.Errorf("%s: labels must name exactly one policy or baseline: %v", where, l)
			}
			if len(np.Annotations) > 0 || len(np.OwnerReferences) > 0 || !np.CreationTimestamp.IsZero() || np.ResourceVersion != "" {
				t.Errorf("%s: carries server or owner fields", where)
			}
			if len(np.Spec.PolicyTypes) == 0 {
				t.Errorf("%s: policyTypes not set", where)
			}
			var peers []networkingv1.NetworkPolicyPeer
			var ports []networkingv1.NetworkPolicyPort
			for _, r := range np.Spec.Ingress {
				if len(r.From) == 0 {
					t.Errorf("%s: ingress rule without from allows everyone", where)
				}
				peers, ports = append(peers, r.From...), append(ports, r.Ports...)
			}
			for _, r := range np.Spec.Egress {
				if len(r.To) == 0 {
					t.Errorf("%s: egress rule without to allows everything", where)
				}
				peers, ports = append(peers, r.To...), append(ports, r.Ports...)
			}
			for _, p := range ports {
				if p.Protocol == nil || p.Port == nil {
					t.Errorf("%s: port without protocol or number: %+v", where, p)
				}
			}
			for _, p := range peers {
				if p.PodSelector != nil && p.NamespaceSelector == nil {
					t.Errorf("%s: pod peer without namespaceSelector", where)
				}
			}
			b, err := json.Marshal(np)
			if err != nil {
				t.Fatal(err)
			}
			var back networkingv1.NetworkPolicy
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(&back, np) {
				t.Errorf("%s: does not survive a JSON round trip (an empty list or default the server would change?)\n%s", where, b)
			}
		}
	}
	if seen < 20 {
		t.Fatalf("checked only %d objects", seen)
	}
}
