package controllers_test

import (
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-cmp/cmp"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/inventory/static"
	"github.com/zerotrust-dev/zerotrust-operator/internal/testenv"
)

// comparable is testenv.Comparable, failing the spec on an error.
func comparable(u *unstructured.Unstructured) map[string]any {
	out, err := testenv.Comparable(u)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	return out
}

var _ = Describe("kubectl-zt render", func() {
	It("prints exactly what the operator creates for config/samples", func() {
		objs, err := static.Load([]string{filepath.Join(testenv.RepoRoot(), "config", "samples")}, nil, "default")
		Expect(err).NotTo(HaveOccurred())
		inv, err := static.Build(objs)
		Expect(err).NotTo(HaveOccurred())

		// The cluster gets the same YAML, namespaces first.
		for _, kindFirst := range []bool{true, false} {
			for _, o := range objs {
				if (o.Object.GetObjectKind().GroupVersionKind().Kind == "Namespace") == kindFirst {
					create(o.Object.DeepCopyObject().(client.Object))
				}
			}
		}
		var namespaces []string
		for _, ns := range inv.Namespaces() {
			namespaces = append(namespaces, ns.Name)
		}
		for _, p := range inv.Policies() {
			Eventually(func(g Gomega) {
				g.Expect(ready(g, &p).Reason).To(Equal("Enforced"))
			}).Should(Succeed(), "policy %s/%s", p.Namespace, p.Name)
		}

		rendered, err := inv.Render(time.Now(), compiler.Options{Backends: []ztv1.Backend{ztv1.BackendNetworkPolicy}, TrustDomain: "cluster.local"})
		Expect(err).NotTo(HaveOccurred())
		stream, err := compiler.EncodeYAML(rendered.Objects)
		Expect(err).NotTo(HaveOccurred())
		want := map[string]map[string]any{}
		dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(string(stream)), 4096)
		for {
			u := &unstructured.Unstructured{}
			if dec.Decode(&u.Object) != nil {
				break
			}
			if len(u.Object) > 0 {
				want[u.GetKind()+"/"+u.GetNamespace()+"/"+u.GetName()] = comparable(u)
			}
		}
		Expect(want).NotTo(BeEmpty())

		Eventually(func(g Gomega) {
			got := map[string]map[string]any{}
			for _, ns := range namespaces {
				list := &unstructured.UnstructuredList{}
				list.SetAPIVersion("networking.k8s.io/v1")
				list.SetKind("NetworkPolicyList")
				g.Expect(k8s.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{ztv1.LabelManagedBy: ztv1.ManagedByValue})).To(Succeed())
				for i := range list.Items {
					u := &list.Items[i]
					got[u.GetKind()+"/"+u.GetNamespace()+"/"+u.GetName()] = comparable(u)
				}
			}
			g.Expect(cmp.Diff(want, got)).To(BeEmpty(), "render (-) versus cluster (+)")
		}).Should(Succeed())
	})
})
