package controllers

import (
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	toolscache "k8s.io/client-go/tools/cache"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

// Selected returns exactly the workloads of the namespace whose pod labels the selector
// matches, never one without labels, as the compiler's Inventory asks.
func TestWorkloadCacheSelectedMatchesTheCachedLabels(t *testing.T) {
	wc := &WorkloadCache{indexers: map[ztv1.WorkloadKind]toolscache.Indexer{}}
	for _, k := range workloadKinds {
		wc.indexers[k.kind] = toolscache.NewIndexer(toolscache.MetaNamespaceKeyFunc,
			toolscache.Indexers{toolscache.NamespaceIndex: toolscache.MetaNamespaceIndexFunc})
	}
	add := func(ns, name string, podLabels map[string]string) {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
		d.Spec.Template.Labels = podLabels
		obj, err := CondenseWorkload(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := wc.indexers[ztv1.WorkloadDeployment].Add(obj); err != nil {
			t.Fatal(err)
		}
	}
	add("a", "api", map[string]string{"app": "api", "tier": "web"})
	add("a", "worker", map[string]string{"app": "worker", "tier": "web"})
	add("a", "bare", nil)
	add("b", "api", map[string]string{"app": "api", "tier": "web"})
	for _, c := range []struct {
		ns   string
		sel  labels.Selector
		want []string
	}{
		{"a", labels.SelectorFromSet(labels.Set{"app": "api"}), []string{"api"}},
		{"a", labels.SelectorFromSet(labels.Set{"tier": "web"}), []string{"api", "worker"}},
		{"a", labels.Everything(), []string{"api", "worker"}},
		{"a", labels.SelectorFromSet(labels.Set{"app": "db"}), nil},
		{"b", labels.SelectorFromSet(labels.Set{"app": "api"}), []string{"api"}},
	} {
		ws, err := wc.Selected(c.ns, c.sel)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, w := range ws {
			if w.Namespace != c.ns || w.PodLabels["app"] != w.Name {
				t.Errorf("%s %s: workload %+v", c.ns, c.sel, w)
			}
			got = append(got, w.Name)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s %s: %v, want %v", c.ns, c.sel, got, c.want)
		}
	}
}
