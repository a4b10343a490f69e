package faults_test

import (
	"encoding/json"
	"sort"
	"strings"
	"time"

	"github.com/google/go-cmp/cmp"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/controllers"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/inventory/static"
	"github.com/zerotrust-dev/zerotrust-operator/internal/testenv"
)

// scenario is one run's input: two namespaces under a baseline of their own (default deny
// both ways, DNS, Pod Security labels on the namespaces) and three policies, two of them
// with callers in the other namespace (egress objects there, and so a finalizer). RUN is
// replaced by the run's name: every run has namespaces and a baseline of its own, in the
// same API server.
const scenario = `
apiVersion: v1
kind: Namespace
metadata: {name: RUN-shop, labels: {faults.zerotrust.dev/run: RUN}}
---
apiVersion: v1
kind: Namespace
metadata: {name: RUN-pay, labels: {faults.zerotrust.dev/run: RUN}}
---
apiVersion: zerotrust.dev/v1alpha1
kind: ZeroTrustBaseline
metadata: {name: faults-RUN}
spec:
  namespaceSelector: {matchLabels: {faults.zerotrust.dev/run: RUN}}
  network: {defaultDeny: [Ingress, Egress], allowDNS: true}
  podSecurity: baseline
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: inventory, namespace: RUN-shop}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: checkout, namespace: RUN-shop}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: payment, namespace: RUN-pay}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: inventory, namespace: RUN-shop}
spec:
  selector: {matchLabels: {app: inventory}}
  template:
    metadata: {labels: {app: inventory}}
    spec:
      serviceAccountName: inventory
      containers:
        - name: inventory
          image: registry.example/inventory
          ports: [{name: http, containerPort: 8080}, {name: metrics, containerPort: 9090}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: checkout, namespace: RUN-shop}
spec:
  selector: {matchLabels: {app: checkout}}
  template:
    metadata: {labels: {app: checkout}}
    spec:
      serviceAccountName: checkout
      containers:
        - name: checkout
          image: registry.example/checkout
          ports: [{name: http, containerPort: 8081}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: payment, namespace: RUN-pay}
spec:
  selector: {matchLabels: {app: payment}}
  template:
    metadata: {labels: {app: payment}}
    spec:
      serviceAccountName: payment
      containers:
        - name: payment
          image: registry.example/payment
          ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: inventory, namespace: RUN-shop}
spec:
  selector: {app: inventory}
  ports:
    - {name: http, port: 80, targetPort: http}
    - {name: metrics, port: 9090, targetPort: 9090}
---
apiVersion: v1
kind: Service
metadata: {name: payment, namespace: RUN-pay}
spec:
  selector: {app: payment}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: zerotrust.dev/v1alpha1
kind: ServiceAccessPolicy
metadata: {name: inventory-api, namespace: RUN-shop}
spec:
  target: {service: inventory}
  from: [{service: payment, namespace: RUN-pay}]
  ports: [{port: http}]
---
apiVersion: zerotrust.dev/v1alpha1
kind: ServiceAccessPolicy
metadata: {name: inventory-metrics, namespace: RUN-shop}
spec:
  target: {workload: {kind: Deployment, name: inventory}}
  from: [{workload: {kind: Deployment, name: checkout}}]
  ports: [{port: metrics}]
---
apiVersion: zerotrust.dev/v1alpha1
kind: ServiceAccessPolicy
metadata: {name: payment-api, namespace: RUN-pay}
spec:
  target: {service: payment}
  from: [{serviceAccount: checkout, namespace: RUN-shop}]
  ports: [{port: http}]
`

// run is one copy of the scenario in the shared API server.
type run struct {
	name string
	objs []static.Object
}

func (r *run) namespaces() []string { return []string{r.name + "-pay", r.name + "-shop"} }
func (r *run) baseline() string     { return "faults-" + r.name }

// newRun decodes the scenario for name. changed: the change made while the operator is
// down, already applied (see change).
func newRun(name string, changed bool) *run {
	GinkgoHelper()
	objs, err := static.Decode([]byte(strings.ReplaceAll(scenario, "RUN", name)), name, "default")
	Expect(err).NotTo(HaveOccurred())
	r := &run{name: name, objs: objs}
	if changed {
		r.objs = r.changed()
	}
	return r
}

// changed is the input after the change: inventory-api deleted, payment-api also open to
// inventory's ServiceAccount, on every port.
func (r *run) changed() []static.Object {
	var out []static.Object
	for _, o := range r.objs {
		p, ok := o.Object.(*ztv1.ServiceAccessPolicy)
		switch {
		case ok && p.Name == "inventory-api":
			continue
		case ok && p.Name == "payment-api":
			p = p.DeepCopy()
			editPayment(p, r.name)
			o.Object = p
		}
		out = append(out, o)
	}
	return out
}

func editPayment(p *ztv1.ServiceAccessPolicy, run string) {
	p.Spec.From = append(p.Spec.From, ztv1.Caller{ServiceAccount: "inventory", Namespace: run + "-shop"})
	p.Spec.Ports = nil
}

// create creates the run's input, namespaces first.
func (r *run) create() {
	GinkgoHelper()
	for _, nsFirst := range []bool{true, false} {
		for _, o := range r.objs {
			if _, isNS := o.Object.(*corev1.Namespace); isNS == nsFirst {
				Expect(k8s.Create(ctx, o.Object.DeepCopyObject().(client.Object))).To(Succeed(), o.Source)
			}
		}
	}
}

// change makes the change to the cluster: deletes inventory-api, edits payment-api, and
// updates the run's input to match.
func (r *run) change() {
	GinkgoHelper()
	p := &ztv1.ServiceAccessPolicy{}
	p.Namespace, p.Name = r.name+"-shop", "inventory-api"
	Expect(k8s.Delete(ctx, p)).To(Succeed())
	Eventually(func(g Gomega) {
		p := &ztv1.ServiceAccessPolicy{}
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: r.name + "-pay", Name: "payment-api"}, p)).To(Succeed())
		editPayment(p, r.name)
		g.Expect(k8s.Update(ctx, p)).To(Succeed())
	}).Should(Succeed())
	r.objs = r.changed()
}

// inScope matches the writes that belong to the run: to objects in its namespaces, its
// namespaces themselves and its baseline; not Events, which are reports, not state.
func (r *run) inScope(e auditEvent) bool {
	if !e.isWrite() || e.ObjectRef.Resource == "events" {
		return false
	}
	ref := e.ObjectRef
	for _, ns := range r.namespaces() {
		if ref.Namespace == ns || (ref.Resource == "namespaces" && ref.Name == ns) {
			return true
		}
	}
	return ref.Resource == "zerotrustbaselines" && ref.Name == r.baseline()
}

// writesBy is inScope, for the writes of one operator user.
func (r *run) writesBy(user string) func(auditEvent) bool {
	return func(e auditEvent) bool { return e.User.Username == user && r.inScope(e) }
}

// state is what the operator made of a run: every generated object of the run (anything
// labelled managed-by in its namespaces or naming its policies or baseline, so an orphan
// shows), the metadata it set on the namespaces, and every status of the run's policies and
// baseline, with the run's name replaced by RUN.
type state struct {
	Objects    map[string]map[string]any
	Namespaces map[string]map[string]string
	Statuses   map[string]any
}

func comparable(u *unstructured.Unstructured) map[string]any {
	out, err := testenv.Comparable(u)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	return out
}

// want is the state a clean start on the run's current input gives: the objects and
// namespace metadata kubectl-zt render computes, and the statuses of statuses (the
// reference run's, see BeforeSuite), or none when statuses is nil.
func (r *run) want(statuses map[string]any) state {
	GinkgoHelper()
	inv, err := static.Build(r.objs)
	Expect(err).NotTo(HaveOccurred())
	rendering, err := inv.Render(time.Now(), renderOptions)
	Expect(err).NotTo(HaveOccurred())
	stream, err := compiler.EncodeYAML(rendering.Objects)
	Expect(err).NotTo(HaveOccurred())
	s := state{Objects: map[string]map[string]any{}, Namespaces: map[string]map[string]string{}, Statuses: statuses}
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(string(stream)), 4096)
	for {
		u := &unstructured.Unstructured{}
		if dec.Decode(&u.Object) != nil {
			break
		}
		if len(u.Object) > 0 {
			s.Objects[testenv.ComparableKey(u)] = comparable(u)
		}
	}
	for _, ns := range r.namespaces() {
		s.Namespaces[ns] = map[string]string{}
	}
	for _, n := range rendering.Namespaces {
		for k, v := range n.Labels {
			s.Namespaces[n.Name]["label "+k] = v
		}
		for k, v := range n.Annotations {
			s.Namespaces[n.Name]["annotation "+k] = v
		}
	}
	return s
}

// observe reads the run's state from the API server.
func (r *run) observe(g Gomega) state {
	s := state{Objects: map[string]map[string]any{}, Namespaces: map[string]map[string]string{}, Statuses: map[string]any{}}
	mine := map[string]bool{r.baseline(): true}
	for _, ns := range r.namespaces() {
		mine[ns] = true
	}
	for _, gvk := range compiler.BuiltinKinds() {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		g.Expect(k8s.List(ctx, list, client.MatchingLabels{ztv1.LabelManagedBy: ztv1.ManagedByValue})).To(Succeed())
		for i := range list.Items {
			u := &list.Items[i]
			l := u.GetLabels()
			if mine[u.GetNamespace()] || mine[l[ztv1.LabelPolicyNamespace]] || mine[l[ztv1.LabelBaseline]] {
				s.Objects[testenv.ComparableKey(u)] = comparable(u)
			}
		}
	}
	for _, name := range r.namespaces() {
		ns := &corev1.Namespace{}
		g.Expect(k8s.Get(ctx, client.ObjectKey{Name: name}, ns)).To(Succeed())
		kv := map[string]string{}
		for _, k := range strings.Split(ns.Annotations[controllers.AnnotationManaged], ",") {
			if k == "" {
				continue
			}
			if v, ok := ns.Labels[k]; ok {
				kv["label "+k] = v
			} else {
				kv["annotation "+k] = ns.Annotations[k]
			}
		}
		s.Namespaces[name] = kv
	}
	for _, ns := range r.namespaces() {
		list := &ztv1.ServiceAccessPolicyList{}
		g.Expect(k8s.List(ctx, list, client.InNamespace(ns))).To(Succeed())
		for _, p := range list.Items {
			s.Statuses["ServiceAccessPolicy RUN-"+strings.TrimPrefix(ns, r.name+"-")+"/"+p.Name] = r.normalize(g, p.Generation, p.Status)
		}
	}
	b := &ztv1.ZeroTrustBaseline{}
	err := k8s.Get(ctx, client.ObjectKey{Name: r.baseline()}, b)
	if !apierrors.IsNotFound(err) {
		g.Expect(err).NotTo(HaveOccurred())
		s.Statuses["ZeroTrustBaseline faults-RUN"] = r.normalize(g, b.Generation, b.Status)
	}
	return s
}

// normalize is status as JSON with the run's name replaced by RUN, transition times left
// out, and every observedGeneration checked against generation and left out (a policy
// edited while the operator was down is at generation 2, the reference's at 1).
func (r *run) normalize(g Gomega, generation int64, status any) any {
	data, err := json.Marshal(status)
	g.Expect(err).NotTo(HaveOccurred())
	text := string(data)
	for _, ns := range r.namespaces() {
		text = strings.ReplaceAll(text, ns, "RUN-"+strings.TrimPrefix(ns, r.name+"-"))
	}
	text = strings.ReplaceAll(text, r.baseline(), "faults-RUN")
	var m map[string]any
	g.Expect(json.Unmarshal([]byte(text), &m)).To(Succeed())
	g.Expect(m["observedGeneration"]).To(BeNumerically("==", generation), "status.observedGeneration")
	delete(m, "observedGeneration")
	conds, _ := m["conditions"].([]any)
	for _, c := range conds {
		c := c.(map[string]any)
		g.Expect(c["observedGeneration"]).To(BeNumerically("==", generation), "observedGeneration of condition %v", c["type"])
		delete(c, "observedGeneration")
		delete(c, "lastTransitionTime")
	}
	return m
}

// expectConverged waits until the run's state is want.
func (r *run) expectConverged(want state, timeout time.Duration) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		got := r.observe(g)
		g.Expect(cmp.Diff(want.Objects, got.Objects)).To(BeEmpty(), "generated objects: want (-) versus cluster (+)")
		g.Expect(cmp.Diff(want.Namespaces, got.Namespaces)).To(BeEmpty(), "namespace metadata: want (-) versus cluster (+)")
		if want.Statuses != nil {
			g.Expect(cmp.Diff(want.Statuses, got.Statuses)).To(BeEmpty(), "statuses: want (-) versus cluster (+)")
		}
	}).WithTimeout(timeout).Should(Succeed())
}

// readyStatuses checks that every status of the run says Ready, and returns them.
func (r *run) readyStatuses(g Gomega) map[string]any {
	s := r.observe(g).Statuses
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		conds, _ := s[k].(map[string]any)["conditions"].([]any)
		ready := ""
		for _, c := range conds {
			if c := c.(map[string]any); c["type"] == ztv1.ConditionReady {
				ready, _ = c["status"].(string)
			}
		}
		g.Expect(ready).To(Equal("True"), "%s is not Ready: %v", k, s[k])
	}
	return s
}
