package compiler_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/fuzzgen"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/istio"
	"github.com/zerotrust-dev/zerotrust-operator/internal/inventory/static"
)

// The fuzz targets below run their seed corpus (testdata/fuzz/<target>) in every `go test`;
// `make fuzz` runs each for FUZZTIME with the fuzzer. Inputs are bytes that fuzzgen turns
// into a valid policy and a small world, so a corpus entry is a scenario.

// allBackends are the backends every case is compiled with.
var allBackends = compiler.Options{Backends: []ztv1.Backend{
	ztv1.BackendNetworkPolicy, ztv1.BackendIstio, ztv1.BackendLinkerd, ztv1.BackendCilium, ztv1.BackendRBAC,
}}

// FuzzCompile compiles one generated policy against one generated world and checks that
// the compiler is deterministic and never grants more than the policy says.
func FuzzCompile(f *testing.F) {
	for _, seed := range []string{"", "\x00\x01\x02\x03", "policy with a service target", "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := fuzzgen.Generate(data)
		if errs := compiler.Validate(c.Policy); len(errs) > 0 {
			t.Fatalf("fuzzgen made a policy the CRD rejects: %v\n%s", errs, dump(c.Policy))
		}
		out := compileCase(t, c.Policy, c.Objects, c)

		// Deterministic: a second compilation, over an inventory filled in the opposite
		// order, gives the same objects and the same status.
		reversed := make([]client.Object, len(c.Objects))
		for i, o := range c.Objects {
			reversed[len(c.Objects)-1-i] = o
		}
		if again := compileCase(t, c.Policy, reversed, c); summary(t, again) != summary(t, out) {
			t.Fatalf("two compilations differ:\n%s\n----\n%s", summary(t, out), summary(t, again))
		}

		CheckNarrow(t, c, out)
		checkUnresolvedGrantNothing(t, c, out)
	})
}

// FuzzRender renders several generated policies and a baseline together, as kubectl-zt
// render and the operator do: the result does not depend on the order of the input, and
// every object passes the invariants of generated objects.
func FuzzRender(f *testing.F) {
	for _, seed := range []string{"", "\x03\x00\x01\x02\x03\x04\x05\x06\x07", "two policies and a baseline"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		policies, objs, now := fuzzgen.GenerateMany(data)
		render := func(ps []ztv1.ServiceAccessPolicy) string {
			all := append([]client.Object(nil), objs...)
			for i := range ps {
				all = append(all, &ps[i])
			}
			inv, err := static.FromObjects(all...)
			if err != nil {
				t.Fatal(err)
			}
			r, err := inv.Render(now, allBackends)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			for _, o := range r.Objects {
				checkObject(t, o)
			}
			y, err := compiler.EncodeYAML(r.Objects)
			if err != nil {
				t.Fatal(err)
			}
			return string(y)
		}
		first := render(policies)
		reversed := make([]ztv1.ServiceAccessPolicy, len(policies))
		for i := range policies {
			reversed[len(policies)-1-i] = *policies[i].DeepCopy()
		}
		if second := render(reversed); second != first {
			t.Fatalf("the rendering depends on the order of the policies:\n%s\n----\n%s", first, second)
		}
	})
}

// FuzzValidate feeds arbitrary YAML to the offline validation, as kubectl-zt does with
// files no API server has seen: it never panics, every error names a field of the object,
// and a policy it rejects compiles to nothing.
func FuzzValidate(f *testing.F) {
	for _, seed := range []string{
		"metadata: {name: p, namespace: shop}\nspec: {target: {service: inventory}, from: [{service: payment}]}",
		"metadata: {name: p, namespace: shop}\nspec: {target: {service: a, workload: {kind: Pod}}, from: [{}]}",
		"metadata: {name: p, namespace: shop}\nspec: {target: {external: {cidrs: [10.0.0.1/8]}}, from: [{cidr: 0.0.0.0/0, namespace: x}], ports: [{port: 0}]}",
		"metadata: {name: p, namespace: shop}\nspec: {target: {kubernetesAPI: {rules: [{verbs: ['*']}]}}, from: [{namespace: a}], ports: [{port: x, protocol: UDP, http: [{paths: [a]}]}]}",
		"metadata: {name: p}\nspec: {target: {podSelector: {matchExpressions: [{key: a, operator: Bad}]}}, from: [{podSelector: {}}], schedule: {windows: [{start: '9', end: '9'}]}}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := &ztv1.ServiceAccessPolicy{}
		if err := yaml.Unmarshal(data, p); err != nil {
			return
		}
		errs := compiler.Validate(p)
		for _, msg := range compiler.FormatFieldErrors(errs) {
			if !strings.HasPrefix(msg, "spec.") && !strings.HasPrefix(msg, "metadata.") {
				t.Fatalf("an error that names no field of the object: %q", msg)
			}
		}
		if p.Namespace == "" || p.Name == "" {
			return // the static inventory and the operator never see such a policy
		}
		inv, err := static.FromObjects()
		if err != nil {
			t.Fatal(err)
		}
		out, err := compiler.Compile(inv, compiler.Input{Policy: p, Now: fuzzgen.Now, Options: allBackends})
		if err != nil {
			t.Fatalf("Compile: %v", err)
		}
		if len(errs) > 0 {
			if out.Ready.Reason != compiler.ReasonInvalidSpec || len(objectsOf(out)) > 0 {
				t.Fatalf("an invalid policy compiled to %s with %d objects", out.Ready.Reason, len(objectsOf(out)))
			}
		}
	})
}

func compileCase(t *testing.T, p *ztv1.ServiceAccessPolicy, objs []client.Object, c fuzzgen.Case) *compiler.Output {
	t.Helper()
	inv, err := static.FromObjects(objs...)
	if err != nil {
		t.Fatal(err)
	}
	before := inventoryDump(t, inv, objs)
	out, err := compiler.Compile(inv, compiler.Input{Policy: p.DeepCopy(), Now: c.Now, Options: allBackends})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	// The inventory's answers are read-only (the operator's cache shares them): compiling
	// changes none of them.
	if after := inventoryDump(t, inv, objs); after != before {
		t.Fatalf("Compile changed the inventory's workloads:\n%s\n----\n%s", before, after)
	}
	return out
}

// inventoryDump is the workloads inv holds in the namespaces of objs, as JSON.
func inventoryDump(t *testing.T, inv *static.Inventory, objs []client.Object) string {
	t.Helper()
	var b strings.Builder
	seen := map[string]bool{}
	for _, o := range objs {
		if ns := o.GetNamespace(); ns != "" && !seen[ns] {
			seen[ns] = true
			j, err := json.Marshal(inv.Workloads(ns))
			if err != nil {
				t.Fatal(err)
			}
			b.WriteString(ns + ": " + string(j) + "\n")
		}
	}
	return b.String()
}

// objectsOf are the objects every backend generated, DryRun's (listed in status) included.
func objectsOf(out *compiler.Output) []client.Object {
	var objs []client.Object
	for _, b := range out.Backends {
		objs = append(objs, b.Objects...)
	}
	return objs
}

// summary is everything a compilation decides, as text.
func summary(t *testing.T, out *compiler.Output) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "ready %v %s %s\nactive %v dryRun %v next %v\n", out.Ready.Status, out.Ready.Reason, out.Ready.Message, out.Active, out.DryRun, out.NextTransition)
	for _, r := range out.Backends {
		fmt.Fprintf(&b, "backend %s %s %s %q\n", r.Backend, r.State, r.Message, r.Denied)
		y, err := compiler.EncodeYAML(r.Objects)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(y)
	}
	return b.String()
}

func dump(o any) string {
	y, _ := yaml.Marshal(o)
	return string(y)
}

// checkObject holds every generated object to what makes it safe to apply: a DNS-1123 name,
// the managed-by label, no annotations or owners.
func checkObject(t *testing.T, o client.Object) {
	t.Helper()
	where := fmt.Sprintf("%T %s/%s", o, o.GetNamespace(), o.GetName())
	if errs := validation.IsDNS1123Subdomain(o.GetName()); len(errs) > 0 {
		t.Fatalf("%s: name: %v", where, errs)
	}
	if o.GetLabels()[ztv1.LabelManagedBy] != ztv1.ManagedByValue {
		t.Fatalf("%s: no managed-by label: %v", where, o.GetLabels())
	}
	// Istio's dry-run annotation (mode Audit) is the one annotation the operator writes;
	// nothing is copied from the policy (fuzzgen gives it a GitOps tool's label and
	// annotation).
	for k, v := range o.GetAnnotations() {
		if k != istio.DryRunAnnotation || v != "true" {
			t.Fatalf("%s: carries annotation %s=%s", where, k, v)
		}
	}
	for k := range o.GetLabels() {
		if !strings.HasPrefix(k, "zerotrust.dev/") && k != ztv1.LabelManagedBy {
			t.Fatalf("%s: carries label %s", where, k)
		}
	}
	if len(o.GetOwnerReferences()) > 0 {
		t.Fatalf("%s: carries owner references", where)
	}
	if o.GetObjectKind().GroupVersionKind().Kind == "" {
		t.Fatalf("%s: no TypeMeta", where)
	}
}

// CheckNarrow fails t when out grants more than c.Policy says: an object outside the
// namespaces the policy may touch, an empty selector the policy did not write, an address
// block or a port it does not name, RBAC beyond its rules or its ServiceAccounts.
func CheckNarrow(t *testing.T, c fuzzgen.Case, out *compiler.Output) {
	t.Helper()
	p := c.Policy
	sp := &p.Spec
	ns := p.Namespace
	fail := func(o client.Object, format string, args ...any) {
		t.Helper()
		t.Fatalf("%T %s/%s: %s\npolicy:\n%s\nworld:\n%s", o, o.GetNamespace(), o.GetName(), fmt.Sprintf(format, args...), dump(p), dumpWorld(c.Objects))
	}

	callerNamespaces := map[string]bool{ns: true}
	emptyCaller := false // a caller the policy writes as every pod of a namespace
	inputCIDRs := map[string]bool{}
	for _, f := range sp.From {
		if f.Namespace != "" {
			callerNamespaces[f.Namespace] = true
		}
		if f.CIDR != "" {
			inputCIDRs[f.CIDR] = true
		}
		if (f.Namespace != "" && f.Service == "" && f.Workload == nil && f.ServiceAccount == "" && f.PodSelector == nil && f.CIDR == "") ||
			(f.PodSelector != nil && isEmpty(f.PodSelector)) {
			emptyCaller = true
		}
	}
	if sp.Target.External != nil {
		for _, cidr := range sp.Target.External.CIDRs {
			inputCIDRs[cidr] = true
		}
	}
	emptyTarget := sp.Target.PodSelector != nil && isEmpty(sp.Target.PodSelector)
	ports, limited := allowedPorts(c)

	for _, o := range objectsOf(out) {
		checkObject(t, o)
		if !callerNamespaces[o.GetNamespace()] {
			fail(o, "in a namespace that is neither the policy's nor a caller's")
		}
		switch obj := o.(type) {
		case *networkingv1.NetworkPolicy:
			ingress := false
			for _, pt := range obj.Spec.PolicyTypes {
				ingress = ingress || pt == networkingv1.PolicyTypeIngress
			}
			if ingress && obj.Namespace != ns {
				fail(o, "an ingress object outside the policy's namespace")
			}
			// An ingress object selects the target's pods, an egress one the callers'.
			mayBeEmpty := (ingress && emptyTarget) || (!ingress && emptyCaller)
			if isEmpty(&obj.Spec.PodSelector) && !mayBeEmpty {
				fail(o, "selects every pod of its namespace, and the policy writes no empty selector")
			}
			var peers []networkingv1.NetworkPolicyPeer
			var rulePorts [][]networkingv1.NetworkPolicyPort
			for _, r := range obj.Spec.Ingress {
				peers = append(peers, r.From...)
				rulePorts = append(rulePorts, r.Ports)
				for _, peer := range r.From {
					if peer.IPBlock == nil && (peer.PodSelector == nil || isEmpty(peer.PodSelector)) && !emptyCaller {
						fail(o, "admits every pod of a namespace, and no from entry says so: %+v", peer)
					}
				}
			}
			for _, r := range obj.Spec.Egress {
				peers = append(peers, r.To...)
				rulePorts = append(rulePorts, r.Ports)
				for _, peer := range r.To {
					if peer.IPBlock == nil && (peer.PodSelector == nil || isEmpty(peer.PodSelector)) && !emptyTarget {
						fail(o, "opens egress to every pod of a namespace, and the target is not every pod: %+v", peer)
					}
				}
			}
			for _, peer := range peers {
				if peer.NamespaceSelector != nil && isEmpty(peer.NamespaceSelector) {
					fail(o, "a peer in every namespace: %+v", peer)
				}
				if peer.IPBlock != nil && (!inputCIDRs[peer.IPBlock.CIDR] || len(peer.IPBlock.Except) > 0) {
					fail(o, "an ipBlock the policy does not name: %+v", peer.IPBlock)
				}
			}
			if limited {
				for _, rp := range rulePorts {
					if len(rp) == 0 {
						fail(o, "a rule on every port, and the policy's ports are limited")
					}
					for _, port := range rp {
						if port.Port == nil || port.Protocol == nil || port.EndPort != nil || !ports[string(*port.Protocol)+"/"+port.Port.String()] {
							fail(o, "a port the policy does not declare: %+v (declared or translated: %v)", port, ports)
						}
					}
				}
			}
		case *rbacv1.Role:
			checkRole(t, obj, sp, fail)
		case *rbacv1.RoleBinding:
			allowed := allowedAccounts(c)
			for _, s := range obj.Subjects {
				if s.Kind != rbacv1.ServiceAccountKind || !allowed[s.Namespace+"/"+s.Name] {
					fail(o, "binds %s %s/%s, which no from entry names (allowed: %v)", s.Kind, s.Namespace, s.Name, allowed)
				}
			}
			if obj.Namespace != ns || obj.RoleRef.Kind != "Role" {
				fail(o, "a binding outside the policy's namespace or to a ClusterRole")
			}
		}
	}
}

func checkRole(t *testing.T, role *rbacv1.Role, sp *ztv1.ServiceAccessPolicySpec, fail func(client.Object, string, ...any)) {
	t.Helper()
	if sp.Target.KubernetesAPI == nil {
		fail(role, "a Role for a policy without a kubernetesAPI target")
		return
	}
	granted := map[string]bool{}
	for _, r := range sp.Target.KubernetesAPI.Rules {
		for _, tuple := range tuples(r.APIGroups, r.Resources, r.ResourceNames, r.Verbs) {
			granted[tuple] = true
		}
	}
	for _, r := range role.Rules {
		if len(r.NonResourceURLs) > 0 {
			fail(role, "grants non-resource URLs")
		}
		for _, tuple := range tuples(r.APIGroups, r.Resources, r.ResourceNames, r.Verbs) {
			if !granted[tuple] {
				fail(role, "grants %s, which no rule of the policy does", tuple)
			}
		}
	}
}

func tuples(groups, resources, names, verbs []string) []string {
	if len(names) == 0 {
		names = []string{""}
	}
	var out []string
	for _, g := range groups {
		for _, r := range resources {
			for _, n := range names {
				for _, v := range verbs {
					out = append(out, g+" "+r+" "+n+" "+v)
				}
			}
		}
	}
	return out
}

func isEmpty(s *metav1.LabelSelector) bool {
	return len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0
}

// allowedPorts are the ports the policy opens, as protocol/port: the ports it declares,
// or every port of a Service target when it declares none, and what they translate to (a
// Service port's targetPort, the number of a container port of that name). limited is false
// when the policy opens every port of its target.
func allowedPorts(c fuzzgen.Case) (map[string]bool, bool) {
	out := map[string]bool{}
	names := map[string]bool{}
	add := func(proto string, p intstr.IntOrString) {
		if proto == "" {
			proto = "TCP"
		}
		out[proto+"/"+p.String()] = true
		if p.Type == intstr.String {
			names[proto+"/"+p.StrVal] = true
		}
	}
	sp := &c.Policy.Spec
	var svc *corev1.Service
	for _, o := range c.Objects {
		if s, ok := o.(*corev1.Service); ok && sp.Target.Service != "" && s.Namespace == c.Policy.Namespace && s.Name == sp.Target.Service {
			svc = s
		}
	}
	targetPort := func(p corev1.ServicePort) intstr.IntOrString {
		if p.TargetPort.IntVal == 0 && p.TargetPort.StrVal == "" {
			return intstr.FromInt32(p.Port)
		}
		return p.TargetPort
	}
	limited := len(sp.Ports) > 0
	if svc != nil && len(sp.Ports) == 0 {
		limited = len(svc.Spec.Ports) > 0
		for _, port := range svc.Spec.Ports {
			add(string(port.Protocol), targetPort(port))
		}
	}
	for _, pr := range sp.Ports {
		add(string(pr.Protocol), pr.Port)
		if svc == nil {
			continue
		}
		for _, port := range svc.Spec.Ports {
			if (pr.Port.Type == intstr.String && port.Name == pr.Port.StrVal) ||
				(pr.Port.Type == intstr.Int && port.Port == pr.Port.IntVal) {
				add(string(port.Protocol), targetPort(port))
			}
		}
	}
	for _, o := range c.Objects {
		if t := template(o); t != nil {
			for _, ctr := range t.Spec.Containers {
				for _, cp := range ctr.Ports {
					if names[string(cp.Protocol)+"/"+cp.Name] {
						out[string(cp.Protocol)+"/"+strconv.Itoa(int(cp.ContainerPort))] = true
					}
				}
			}
		}
	}
	return out, limited
}

// allowedAccounts are the ServiceAccounts (namespace/name) the policy's callers run as.
func allowedAccounts(c fuzzgen.Case) map[string]bool {
	out := map[string]bool{}
	for _, f := range c.Policy.Spec.From {
		ns := f.Namespace
		if ns == "" {
			ns = c.Policy.Namespace
		}
		if f.ServiceAccount != "" {
			out[ns+"/"+f.ServiceAccount] = true
		}
		if f.Workload != nil {
			for _, o := range c.Objects {
				if t := template(o); t != nil && o.GetNamespace() == ns && o.GetName() == f.Workload.Name &&
					o.GetObjectKind().GroupVersionKind().Kind == string(f.Workload.Kind) {
					sa := t.Spec.ServiceAccountName
					if sa == "" {
						sa = "default"
					}
					out[ns+"/"+sa] = true
				}
			}
		}
	}
	return out
}

func template(o client.Object) *corev1.PodTemplateSpec {
	switch w := o.(type) {
	case *appsv1.Deployment:
		return &w.Spec.Template
	case *appsv1.StatefulSet:
		return &w.Spec.Template
	case *appsv1.DaemonSet:
		return &w.Spec.Template
	}
	return nil
}

func dumpWorld(objs []client.Object) string {
	var b bytes.Buffer
	for _, o := range objs {
		fmt.Fprintf(&b, "--- %T\n%s", o, dump(o))
	}
	return b.String()
}

// checkUnresolvedGrantNothing: a target that does not resolve generates nothing; a from
// entry that does not resolve generates nothing of its own (no egress object carries its
// index) and what the others generate does not depend on what it names.
func checkUnresolvedGrantNothing(t *testing.T, c fuzzgen.Case, out *compiler.Output) {
	t.Helper()
	inv, err := static.FromObjects(c.Objects...)
	if err != nil {
		t.Fatal(err)
	}
	res, err := compiler.Resolve(inv, c.Policy.DeepCopy(), allBackends)
	if err != nil {
		t.Fatal(err)
	}
	objs := objectsOf(out)
	if res.Target != nil || len(res.Model.Callers) == 0 {
		if len(objs) > 0 {
			t.Fatalf("nothing resolves (%s), yet %d objects", out.Ready.Reason, len(objs))
		}
		return
	}
	resolved := map[int]bool{}
	for _, caller := range res.Model.Callers {
		resolved[caller.Index] = true
	}
	other := c.Policy.DeepCopy()
	changed := false
	for i := range c.Policy.Spec.From {
		if resolved[i] {
			continue
		}
		suffix := fmt.Sprintf(".%s.%d", c.Policy.Name, i)
		for _, o := range objs {
			if strings.HasSuffix(o.GetName(), suffix) || strings.Contains(o.GetName(), suffix+"-") {
				t.Fatalf("from[%d] does not resolve, yet %s/%s is generated for it", i, o.GetNamespace(), o.GetName())
			}
		}
		// Another reference that does not resolve either, in the same place.
		replacement := ztv1.Caller{Service: "zz-missing"}
		if c.Policy.Spec.Target.KubernetesAPI != nil {
			replacement = ztv1.Caller{ServiceAccount: "zz-missing"}
		}
		other.Spec.From[i] = replacement
		changed = true
	}
	if !changed {
		return
	}
	a, b := compileCase(t, c.Policy, c.Objects, c), compileCase(t, other, c.Objects, c)
	ya, err := compiler.EncodeYAML(objectsOf(a))
	if err != nil {
		t.Fatal(err)
	}
	yb, err := compiler.EncodeYAML(objectsOf(b))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ya, yb) {
		t.Fatalf("what a from entry that does not resolve names changes the objects:\n%s\n----\n%s", ya, yb)
	}
}
