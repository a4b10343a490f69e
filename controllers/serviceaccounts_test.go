package controllers

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
)

// A ServiceAccount is cached as its identity, and the cache answers the compiler's and the
// audit's questions from it.
func TestCondenseServiceAccountKeepsItsIdentity(t *testing.T) {
	idx := toolscache.NewIndexer(toolscache.MetaNamespaceKeyFunc, toolscache.Indexers{toolscache.NamespaceIndex: toolscache.MetaNamespaceIndexFunc})
	for _, name := range []string{"a/api", "a/worker", "b/api"} {
		ns, n, _ := toolscache.SplitMetaNamespaceKey(name)
		sa := ServiceAccountMetadata()
		sa.ObjectMeta = metav1.ObjectMeta{Namespace: ns, Name: n, UID: "6f1c2a4e-9b3d-4c5e-8f7a-0123456789ab", ResourceVersion: "7",
			Labels: map[string]string{"team": "x"}, Annotations: map[string]string{"note": "y"}}
		obj, err := CondenseServiceAccount(sa)
		if err != nil {
			t.Fatal(err)
		}
		cached, ok := obj.(*CachedServiceAccount)
		if !ok {
			t.Fatalf("condensed into a %T", obj)
		}
		if again, _ := CondenseServiceAccount(cached); again != obj {
			t.Error("condensing a CachedServiceAccount again changed it")
		}
		if got := cached.ObjectMeta(); got.Namespace != ns || got.Name != n || got.UID != sa.UID || got.ResourceVersion != "7" ||
			cached.GetLabels() != nil || cached.GetAnnotations() != nil {
			t.Errorf("cached as %+v", got)
		}
		if err := idx.Add(obj); err != nil {
			t.Fatal(err)
		}
	}
	sc := &ServiceAccountCache{idx: idx}
	if ok, err := sc.Exists("a", "worker"); !ok || err != nil {
		t.Errorf("a/worker exists: %v %v", ok, err)
	}
	if ok, _ := sc.Exists("b", "worker"); ok {
		t.Error("b/worker exists")
	}
	names, err := sc.Names("a")
	slices.Sort(names)
	if err != nil || !slices.Equal(names, []string{"api", "worker"}) {
		t.Errorf("names in a: %v %v", names, err)
	}
}
