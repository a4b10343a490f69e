package static

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

func dep(ns, name, sa string) *appsv1.Deployment {
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: appsv1.DeploymentSpec{
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}}, Spec: corev1.PodSpec{ServiceAccountName: sa}}}}
}

func TestInventory(t *testing.T) {
	inv, err := FromObjects(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}},
		dep("shop", "zeta", "runner"), dep("shop", "alpha", "runner"), dep("shop", "other", ""), dep("payments", "x", "runner"),
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "beta"}, Spec: appsv1.StatefulSetSpec{
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{ServiceAccountName: "runner"}}}},
		&ztv1.ZeroTrustBaseline{ObjectMeta: metav1.ObjectMeta{Name: "z"}}, &ztv1.ZeroTrustBaseline{ObjectMeta: metav1.ObjectMeta{Name: "a"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "ignored"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	ws, _ := inv.WorkloadsByServiceAccount("shop", "runner")
	var got []string
	for _, w := range ws {
		got = append(got, string(w.Kind)+"/"+w.Name)
	}
	if strings.Join(got, " ") != "Deployment/alpha Deployment/zeta StatefulSet/beta" {
		t.Errorf("workloads of runner = %v", got)
	}
	if ws, _ := inv.WorkloadsByServiceAccount("shop", "default"); len(ws) != 1 || ws[0].Name != "other" {
		t.Errorf("a template without serviceAccountName runs as default: %v", ws)
	}
	if ok, _ := inv.ServiceAccountExists("shop", "default"); !ok {
		t.Error("default ServiceAccount of a known namespace must exist")
	}
	if ok, _ := inv.ServiceAccountExists("payments", "default"); ok {
		t.Error("default ServiceAccount of an unknown namespace must not exist")
	}
	if bs, _ := inv.Baselines(); len(bs) != 2 || bs[0].Name != "a" {
		t.Errorf("baselines not sorted: %v", bs)
	}
	// A returned workload is a copy of the struct; its labels, ports and probes are the
	// inventory's, read-only (compiler.Inventory; FuzzCompile checks the compiler keeps to it).
	w, _ := inv.Workload("shop", ztv1.WorkloadDeployment, "alpha")
	w.ServiceAccount = "changed"
	if w2, _ := inv.Workload("shop", ztv1.WorkloadDeployment, "alpha"); w2.ServiceAccount == "changed" {
		t.Error("Workload returned the inventory's own struct")
	}
	if err := inv.Add(dep("shop", "alpha", "")); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate not refused: %v", err)
	}
}

func TestDecode(t *testing.T) {
	in := "# leading comment\n\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: s}\n  spec: {selector: {a: b}}\n---\n\n# c\napiVersion: v1\nkind: Namespace\nmetadata: {name: ns1, namespace: ignored}\n"
	objs, err := Decode([]byte(in), "in.yaml", "dflt")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 {
		t.Fatalf("got %d objects", len(objs))
	}
	if objs[0].Object.GetNamespace() != "dflt" || objs[0].Source != "in.yaml:4 items[0]" {
		t.Errorf("service: ns %q source %q", objs[0].Object.GetNamespace(), objs[0].Source)
	}
	if objs[1].Object.GetNamespace() != "" || objs[1].Source != "in.yaml:14" {
		t.Errorf("namespace: ns %q source %q", objs[1].Object.GetNamespace(), objs[1].Source)
	}
}
