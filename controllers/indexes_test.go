package controllers

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

// The reference index holds a value per kind and namespace, and a lookup returns exactly
// the policies that name the object: not every policy with a reference of that kind in its
// namespace.
func TestPolicyIndexFindsThePoliciesThatNameTheObject(t *testing.T) {
	idx := toolscache.NewIndexer(toolscache.MetaNamespaceKeyFunc, toolscache.Indexers{IndexRefs: refsIndexFunc})
	policy := func(name string, spec ztv1.ServiceAccessPolicySpec) *ztv1.ServiceAccessPolicy {
		return &ztv1.ServiceAccessPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: name}, Spec: spec}
	}
	deployment := func(name string) *ztv1.WorkloadReference {
		return &ztv1.WorkloadReference{Kind: ztv1.WorkloadDeployment, Name: name}
	}
	for _, p := range []*ztv1.ServiceAccessPolicy{
		policy("p1", ztv1.ServiceAccessPolicySpec{Target: ztv1.Target{Service: "s1"}, From: []ztv1.Caller{{ServiceAccount: "sa1"}}}),
		policy("p2", ztv1.ServiceAccessPolicySpec{Target: ztv1.Target{Service: "s2"}, From: []ztv1.Caller{{Namespace: "b", Workload: deployment("w1")}}}),
		policy("p3", ztv1.ServiceAccessPolicySpec{Target: ztv1.Target{Workload: deployment("w1")},
			From: []ztv1.Caller{{Namespace: "b", Service: "s1"}, {Namespace: "b", Service: "s2"}}}),
	} {
		if err := idx.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	if values := idx.ListIndexFuncValues(IndexRefs); len(values) != 9 {
		t.Errorf("index values %v: want one per kind and namespace (9)", values)
	}
	pi := &policyIndex{idx: idx}
	for _, c := range []struct {
		kind, key string
		want      []string
	}{
		{IndexService, "a/s1", []string{"p1"}},
		{IndexService, "a/s2", []string{"p2"}},
		{IndexService, "a/s3", nil},
		{IndexService, "b/s1", []string{"p3"}},
		{IndexServiceAccount, "a/sa1", []string{"p1"}},
		{IndexServiceAccount, "a/sa2", nil},
		{IndexWorkload, "Deployment/b/w1", []string{"p2"}},
		{IndexWorkload, "Deployment/a/w1", []string{"p3"}},
		{IndexWorkload, "StatefulSet/a/w1", nil},
		{IndexNamespace, "a", []string{"p1", "p2", "p3"}},
		{IndexNamespace, "b", []string{"p2", "p3"}},
		{IndexWorkloadsIn, "b", []string{"p2", "p3"}},
		{IndexWorkloadsIn, "a", []string{"p1", "p2"}},
	} {
		reqs, err := pi.policies(c.kind, []string{c.key}, map[client.ObjectKey]bool{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range reqs {
			got = append(got, r.Name)
		}
		slices.Sort(got)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s %s: policies %v, want %v", c.kind, c.key, got, c.want)
		}
	}
}
