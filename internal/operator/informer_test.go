package operator

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	clientfeatures "k8s.io/client-go/features"
	clientfeaturestesting "k8s.io/client-go/features/testing"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/zerotrust-dev/zerotrust-operator/controllers"
	"github.com/zerotrust-dev/zerotrust-operator/internal/testenv"
)

// Where the initial state cannot be streamed (an API server before 1.34, or client-go's
// WatchListClient off, as here), the reflector lists, and keeps every page until the last:
// in pages where the API server reads the list from etcd (no watch cache of the resource,
// as here and in the benchmark's 10000-policy cluster). The workload informer condenses each page as it comes, so what it holds after
// the list are CachedWorkloads, never whole Deployments (no cache transform is set here:
// the pages themselves are condensed).
func TestWorkloadInformerCondensesListedPages(t *testing.T) {
	clientfeaturestesting.SetFeatureDuringTest(t, clientfeatures.WatchListClient, false)
	env, cfg, err := testenv.Start(testenv.Options{APIServerFlags: map[string]string{"watch-cache-sizes": "deployments.apps#0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const n = 5
	for i := range n {
		labels := map[string]string{"app": fmt.Sprintf("app-%d", i)}
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: fmt.Sprintf("app-%d", i), Annotations: map[string]string{"big": "kilobytes of configuration"}},
			Spec: appsv1.DeploymentSpec{
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{ServiceAccountName: "app", Containers: []corev1.Container{{
						Name: "app", Image: "app:1", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
						Env: []corev1.EnvVar{{Name: "CONFIG", Value: "a large value the operator never reads"}},
					}}},
				},
			},
		}
		if _, err := cs.AppsV1().Deployments("shop").Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// Pages of two: the list takes three requests.
	base := toolscache.NewFilteredListWatchFromClient(cs.AppsV1().RESTClient(), "deployments", "", func(o *metav1.ListOptions) {
		if !o.Watch {
			o.Limit = 2
		}
	})
	var lists atomic.Int32
	counting := &toolscache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			lists.Add(1)
			return base.ListWithContext(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return base.WatchWithContext(ctx, o)
		},
	}
	inf := newInformer(counting, &appsv1.Deployment{}, 0, toolscache.Indexers{})
	go inf.RunWithContext(ctx)
	if !toolscache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("the informer did not sync")
	}
	if got := lists.Load(); got < 3 {
		t.Fatalf("the informer listed in %d request(s), want the 3 pages of a list", got)
	}
	items := inf.GetStore().List()
	if len(items) != n {
		t.Fatalf("the informer holds %d objects, want %d", len(items), n)
	}
	for _, o := range items {
		w, ok := o.(*controllers.CachedWorkload)
		if !ok {
			t.Fatalf("the informer holds a %T, want the page condensed to CachedWorkloads", o)
		}
		if v := w.Workload(); v.ServiceAccount != "app" || len(v.Ports) != 1 || v.PodLabels["app"] != w.GetName() || w.GetResourceVersion() == "" {
			t.Errorf("%s condensed to %+v", w.GetName(), v)
		}
	}
}
