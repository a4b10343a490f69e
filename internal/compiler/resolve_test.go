package compiler_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/model"
	"github.com/zerotrust-dev/zerotrust-operator/internal/inventory/static"
)

func namespace(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

func service(ns, name string, selector map[string]string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.ServiceSpec{Selector: selector, Ports: ports}}
}

func deployment(ns, name, sa string, labels map[string]string, ports ...corev1.ContainerPort) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec:       corev1.PodSpec{ServiceAccountName: sa, Containers: []corev1.Container{{Name: "c", Ports: ports}}},
		}},
	}
}

func statefulSet(ns, name, sa string, labels map[string]string) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.StatefulSetSpec{Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec:       corev1.PodSpec{ServiceAccountName: sa},
		}},
	}
}

func serviceAccount(ns, name string) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

func svcPort(name string, port int32, target intstr.IntOrString, proto corev1.Protocol) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Port: port, TargetPort: target, Protocol: proto}
}

func labels(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// testInventory is a small cluster: shop (no baseline), payments (egress denied by a
// baseline), monitoring.
func testInventory(t *testing.T) *static.Inventory {
	t.Helper()
	inv, err := static.FromObjects(
		namespace("shop", nil),
		namespace("payments", labels("zerotrust.dev/enforce", "true")),
		namespace("monitoring", nil),
		&ztv1.ZeroTrustBaseline{ObjectMeta: metav1.ObjectMeta{Name: "default"}, Spec: ztv1.ZeroTrustBaselineSpec{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: labels("zerotrust.dev/enforce", "true")},
			Network:           &ztv1.BaselineNetwork{DefaultDeny: []ztv1.Direction{ztv1.DirectionEgress}},
		}},
		service("shop", "inventory", labels("app", "inventory"),
			svcPort("http", 80, intstr.FromString("http"), ""),
			svcPort("metrics", 9090, intstr.FromInt32(9090), corev1.ProtocolTCP),
			svcPort("grpc", 9000, intstr.IntOrString{}, ""),
			svcPort("dns", 53, intstr.FromInt32(5353), corev1.ProtocolUDP)),
		service("shop", "no-selector", nil, svcPort("http", 80, intstr.IntOrString{}, "")),
		deployment("shop", "inventory", "", labels("app", "inventory"),
			corev1.ContainerPort{Name: "http", ContainerPort: 8080},
			corev1.ContainerPort{Name: "metrics", ContainerPort: 9090},
			corev1.ContainerPort{Name: "dns", ContainerPort: 5353, Protocol: corev1.ProtocolUDP}),
		deployment("shop", "unlabelled", "", nil),
		deployment("shop", "bare", "", labels("app", "bare")),
		serviceAccount("payments", "payment"),
		serviceAccount("payments", "idle"),
		deployment("payments", "payment", "payment", labels("app", "payment", "tier", "pay")),
		statefulSet("payments", "ledger", "payment", labels("app", "ledger", "tier", "pay")),
		service("payments", "payment", labels("app", "payment")),
		service("payments", "payments-all", labels("tier", "pay")),
	)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func policy(target ztv1.Target, from []ztv1.Caller, ports ...ztv1.PortRule) *ztv1.ServiceAccessPolicy {
	return &ztv1.ServiceAccessPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "p"},
		Spec:       ztv1.ServiceAccessPolicySpec{Target: target, From: from, Ports: ports},
	}
}

func port(p intstr.IntOrString, proto ztv1.Protocol) ztv1.PortRule {
	return ztv1.PortRule{Port: p, Protocol: proto}
}

var (
	name = intstr.FromString
	num  = intstr.FromInt32
	// anyCaller is a caller that always resolves.
	anyCaller = []ztv1.Caller{{PodSelector: &metav1.LabelSelector{MatchLabels: labels("app", "x")}}}
)

// portsOf renders the model's ports as PROTOCOL/port, or "*" for every port.
func portsOf(m *compiler.Model) []string {
	if m.AllPorts {
		return []string{"*"}
	}
	var out []string
	for _, p := range m.Ports {
		out = append(out, fmt.Sprintf("%s/%s", p.Protocol, p.Port.String()))
	}
	return out
}

// TestResolveTarget specifies how targets and ports resolve.
func TestResolveTarget(t *testing.T) {
	svc := ztv1.Target{Service: "inventory"}
	wl := ztv1.Target{Workload: &ztv1.WorkloadReference{Kind: ztv1.WorkloadDeployment, Name: "inventory"}}
	tests := map[string]struct {
		target    ztv1.Target
		ports     []ztv1.PortRule
		reason    string // problem reason, "" when the target resolves
		inMessage string
		ports2    []string
		selector  map[string]string
	}{
		"service port name -> named targetPort": {
			target: svc, ports: []ztv1.PortRule{port(name("http"), "")}, ports2: []string{"TCP/http"}, selector: labels("app", "inventory"),
		},
		"service port number -> named targetPort": {
			target: svc, ports: []ztv1.PortRule{port(num(80), "")}, ports2: []string{"TCP/http"},
		},
		"numeric targetPort": {
			target: svc, ports: []ztv1.PortRule{port(name("metrics"), "TCP")}, ports2: []string{"TCP/9090"},
		},
		"unset targetPort is the port": {
			target: svc, ports: []ztv1.PortRule{port(name("grpc"), "")}, ports2: []string{"TCP/9000"},
		},
		"UDP port by number and protocol": {
			target: svc, ports: []ztv1.PortRule{port(num(53), "UDP")}, ports2: []string{"UDP/5353"},
		},
		"no ports: every Service port's targetPort with its protocol": {
			target: svc, ports2: []string{"TCP/http", "TCP/9090", "TCP/9000", "UDP/5353"},
		},
		"port number with the wrong protocol": {
			target: svc, ports: []ztv1.PortRule{port(num(53), "")}, reason: compiler.ReasonPortNotFound, inMessage: "spec.ports[0]: Service shop/inventory has no port 53/TCP",
		},
		"port name with the wrong protocol": {
			target: svc, ports: []ztv1.PortRule{port(name("dns"), "TCP")}, reason: compiler.ReasonPortNotFound, inMessage: "set protocol: UDP",
		},
		"one missing port fails the whole target": {
			target: svc, ports: []ztv1.PortRule{port(name("http"), ""), port(name("admin"), "")}, reason: compiler.ReasonPortNotFound, inMessage: `spec.ports[1]: Service shop/inventory has no port "admin"`,
		},
		"missing Service": {
			target: ztv1.Target{Service: "nope"}, reason: compiler.ReasonTargetNotFound, inMessage: "spec.target.service: Service shop/nope not found",
		},
		"Service without selector": {
			target: ztv1.Target{Service: "no-selector"}, reason: compiler.ReasonTargetNotFound, inMessage: "has no selector",
		},
		"workload: container port name kept as a name": {
			target: wl, ports: []ztv1.PortRule{port(name("http"), "")}, ports2: []string{"TCP/http"}, selector: labels("app", "inventory"),
		},
		"workload: any number": {
			target: wl, ports: []ztv1.PortRule{port(num(1234), "")}, ports2: []string{"TCP/1234"},
		},
		"workload: undeclared name": {
			target: wl, ports: []ztv1.PortRule{port(name("admin"), "")}, reason: compiler.ReasonPortNotFound, inMessage: `no container of Deployment shop/inventory declares a port named "admin"`,
		},
		"workload: no ports means the declared container ports": {
			target: wl, ports2: []string{"TCP/8080", "TCP/9090", "UDP/5353"},
		},
		"workload: none declared means every port": {
			target: ztv1.Target{Workload: &ztv1.WorkloadReference{Kind: ztv1.WorkloadDeployment, Name: "bare"}}, ports2: []string{"*"}, selector: labels("app", "bare"),
		},
		"missing workload (the kind is part of the name)": {
			target: ztv1.Target{Workload: &ztv1.WorkloadReference{Kind: ztv1.WorkloadStatefulSet, Name: "inventory"}}, reason: compiler.ReasonTargetNotFound, inMessage: "spec.target.workload: StatefulSet shop/inventory not found",
		},
		"workload without pod labels": {
			target: ztv1.Target{Workload: &ztv1.WorkloadReference{Kind: ztv1.WorkloadDeployment, Name: "unlabelled"}}, reason: compiler.ReasonTargetNotFound, inMessage: "has no labels",
		},
		"podSelector: every port": {
			target: ztv1.Target{PodSelector: &metav1.LabelSelector{MatchLabels: labels("role", "db")}}, ports2: []string{"*"}, selector: labels("role", "db"),
		},
		"podSelector: names as written": {
			target: ztv1.Target{PodSelector: &metav1.LabelSelector{MatchLabels: labels("role", "db")}}, ports: []ztv1.PortRule{port(name("pg"), "")}, ports2: []string{"TCP/pg"},
		},
		"external: numbers": {
			target: ztv1.Target{External: &ztv1.ExternalTarget{CIDRs: []string{"192.0.2.0/24"}}}, ports: []ztv1.PortRule{port(num(443), "")}, ports2: []string{"TCP/443"},
		},
		"external: no names": {
			target: ztv1.Target{External: &ztv1.ExternalTarget{CIDRs: []string{"192.0.2.0/24"}}}, ports: []ztv1.PortRule{port(name("https"), "")}, reason: compiler.ReasonPortNotFound, inMessage: "external target has no named ports",
		},
	}
	inv := testInventory(t)
	for n, tc := range tests {
		t.Run(n, func(t *testing.T) {
			r, err := compiler.Resolve(inv, policy(tc.target, anyCaller, tc.ports...), compiler.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if tc.reason != "" {
				if r.Target == nil || r.Target.Reason != tc.reason || !strings.Contains(r.Target.Message, tc.inMessage) {
					t.Fatalf("target problem = %+v; want %s containing %q", r.Target, tc.reason, tc.inMessage)
				}
				return
			}
			if r.Target != nil {
				t.Fatalf("unexpected problem: %+v", r.Target)
			}
			if got := portsOf(r.Model); !reflect.DeepEqual(got, tc.ports2) {
				t.Errorf("ports = %v; want %v", got, tc.ports2)
			}
			if tc.selector != nil && !reflect.DeepEqual(r.Model.Target.PodSelector.MatchLabels, tc.selector) {
				t.Errorf("selector = %v; want %v", r.Model.Target.PodSelector.MatchLabels, tc.selector)
			}
		})
	}
}

// callerSummary is KIND ns [selectors] or the problem.
func callerSummary(c model.Caller) string {
	var sels []string
	for _, s := range c.PodSelectors {
		sels = append(sels, metav1.FormatLabelSelector(&s))
	}
	s := fmt.Sprintf("%s %s %v", c.Kind, c.Namespace, sels)
	if c.AllPods {
		s += " all"
	}
	if c.CIDR != "" {
		s += " " + c.CIDR
	}
	if len(c.ServiceAccounts) > 0 {
		s += fmt.Sprintf(" sa=%v", c.ServiceAccounts)
	}
	for _, g := range c.MeshGaps {
		s += " gap: " + g
	}
	return s
}

// TestResolveCallers specifies how from entries resolve.
func TestResolveCallers(t *testing.T) {
	tests := map[string]struct {
		caller  ztv1.Caller
		want    string // callerSummary, "" when it does not resolve
		problem string // in the CallerNotFound message
		note    string // in the note
	}{
		"service in the policy's namespace: its workload's ServiceAccount is shared": {
			caller: ztv1.Caller{Service: "inventory"},
			want:   "Service shop [app=inventory] gap: Deployment/inventory runs as ServiceAccount shop/default, which Deployment/bare, Deployment/unlabelled also run as: authorizing it would admit them too; give the caller a ServiceAccount of its own, or name the ServiceAccount in from if all of them may call",
		},
		"service in another namespace: ServiceAccount shared with a workload it does not select": {
			caller: ztv1.Caller{Service: "payment", Namespace: "payments"},
			want:   "Service payments [app=payment] gap: Deployment/payment runs as ServiceAccount payments/payment, which StatefulSet/ledger also runs as: authorizing it would admit them too; give the caller a ServiceAccount of its own, or name the ServiceAccount in from if all of them may call",
		},
		"service selecting every workload of its ServiceAccount: authorized": {
			caller: ztv1.Caller{Service: "payments-all", Namespace: "payments"}, want: "Service payments [tier=pay] sa=[payment]",
		},
		"podSelector selecting no workload: no identity": {
			caller: ztv1.Caller{PodSelector: &metav1.LabelSelector{MatchLabels: labels("app", "ghost")}},
			want:   "PodSelector shop [app=ghost] gap: it selects the pods of no Deployment, StatefulSet or DaemonSet, so the ServiceAccounts its pods run as are unknown",
		},
		"podSelector with matchExpressions resolved through workloads": {
			caller: ztv1.Caller{PodSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"payment", "ledger"}}}}, Namespace: "payments"},
			want:   "PodSelector payments [app in (ledger,payment)] sa=[payment]",
		},
		"missing service": {
			caller: ztv1.Caller{Service: "payment"}, problem: "from[0]: Service shop/payment not found",
		},
		"service without selector": {
			caller: ztv1.Caller{Service: "no-selector"}, problem: "from[0]: Service shop/no-selector has no selector",
		},
		"workload": {
			caller: ztv1.Caller{Workload: &ztv1.WorkloadReference{Kind: ztv1.WorkloadStatefulSet, Name: "ledger"}, Namespace: "payments"},
			want:   "Workload payments [app=ledger,tier=pay] gap: StatefulSet/ledger runs as ServiceAccount payments/payment, which Deployment/payment also runs as: authorizing it would admit them too; give the caller a ServiceAccount of its own, or name the ServiceAccount in from if all of them may call",
		},
		"workload without serviceAccountName runs as default": {
			caller: ztv1.Caller{Workload: &ztv1.WorkloadReference{Kind: ztv1.WorkloadDeployment, Name: "inventory"}},
			want:   "Workload shop [app=inventory] gap: Deployment/inventory runs as ServiceAccount shop/default, which Deployment/bare, Deployment/unlabelled also run as: authorizing it would admit them too; give the caller a ServiceAccount of its own, or name the ServiceAccount in from if all of them may call",
		},
		"missing workload": {
			caller: ztv1.Caller{Workload: &ztv1.WorkloadReference{Kind: ztv1.WorkloadDaemonSet, Name: "inventory"}}, problem: "from[0]: DaemonSet shop/inventory not found",
		},
		"serviceAccount with two workloads: one selector each, sorted by kind and name": {
			caller: ztv1.Caller{ServiceAccount: "payment", Namespace: "payments"},
			want:   "ServiceAccount payments [app=payment,tier=pay app=ledger,tier=pay] sa=[payment]",
		},
		"serviceAccount with no workload: resolves, grants nothing at the pod level": {
			caller: ztv1.Caller{ServiceAccount: "idle", Namespace: "payments"},
			want:   "ServiceAccount payments [] sa=[idle]", note: "from[0]: ServiceAccount payments/idle runs no labelled Deployment",
		},
		"default serviceAccount exists in every namespace": {
			caller: ztv1.Caller{ServiceAccount: "default"},
			want:   "ServiceAccount shop [app=bare app=inventory] sa=[default]",
		},
		"missing serviceAccount": {
			caller: ztv1.Caller{ServiceAccount: "ghost", Namespace: "payments"}, problem: "from[0]: ServiceAccount payments/ghost not found",
		},
		"namespace alone: every pod": {
			caller: ztv1.Caller{Namespace: "monitoring"}, want: "Namespace monitoring [] all",
		},
		"missing namespace": {
			caller: ztv1.Caller{Namespace: "logging"}, problem: "from[0]: Namespace logging not found",
		},
		"podSelector as written": {
			caller: ztv1.Caller{PodSelector: &metav1.LabelSelector{MatchLabels: labels("role", "batch")}, Namespace: "payments"},
			want:   "PodSelector payments [role=batch] gap: it selects the pods of no Deployment, StatefulSet or DaemonSet, so the ServiceAccounts its pods run as are unknown",
		},
		"cidr": {
			caller: ztv1.Caller{CIDR: "10.0.0.0/8"}, want: "CIDR  [] 10.0.0.0/8",
		},
	}
	inv := testInventory(t)
	for n, tc := range tests {
		t.Run(n, func(t *testing.T) {
			r, err := compiler.Resolve(inv, policy(ztv1.Target{Service: "inventory"}, []ztv1.Caller{tc.caller}), compiler.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if tc.problem != "" {
				if len(r.Model.Callers) != 0 || len(r.Callers) != 1 || r.Callers[0].Reason != compiler.ReasonCallerNotFound || !strings.Contains(r.Callers[0].Message, tc.problem) {
					t.Fatalf("callers %v, problems %+v; want one CallerNotFound containing %q", r.Model.Callers, r.Callers, tc.problem)
				}
				return
			}
			if len(r.Callers) != 0 || len(r.Model.Callers) != 1 {
				t.Fatalf("callers %v, problems %+v; want one caller", r.Model.Callers, r.Callers)
			}
			if got := callerSummary(r.Model.Callers[0]); got != tc.want {
				t.Errorf("caller = %q; want %q", got, tc.want)
			}
			if tc.note != "" && (len(r.Notes) != 1 || !strings.Contains(r.Notes[0], tc.note)) {
				t.Errorf("notes = %q; want one containing %q", r.Notes, tc.note)
			}
		})
	}
}

func TestResolveEgressDenied(t *testing.T) {
	inv := testInventory(t)
	from := []ztv1.Caller{
		{Service: "payment", Namespace: "payments"},
		{Namespace: "monitoring"},
		{PodSelector: &metav1.LabelSelector{}, Namespace: "nowhere"}, // no Namespace object: no baseline can select it
		{CIDR: "10.0.0.0/8"},
	}
	r, err := compiler.Resolve(inv, policy(ztv1.Target{Service: "inventory"}, from), compiler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"payments"}; !reflect.DeepEqual(r.Model.EgressDenied, want) {
		t.Errorf("EgressDenied = %v; want %v", r.Model.EgressDenied, want)
	}
	if ids := r.Model.Callers[0].Identities(r.Model.TrustDomain); len(ids) != 0 {
		t.Errorf("a Service caller has no known identity, got %v", ids)
	}
}

func TestIdentities(t *testing.T) {
	r, err := compiler.Resolve(testInventory(t), policy(ztv1.Target{Service: "inventory"},
		[]ztv1.Caller{{ServiceAccount: "idle", Namespace: "payments"}}), compiler.Options{TrustDomain: "prod.example"})
	if err != nil {
		t.Fatal(err)
	}
	got := r.Model.Callers[0].Identities(r.Model.TrustDomain)
	if want := []string{"prod.example/ns/payments/sa/idle"}; !reflect.DeepEqual(got, want) {
		t.Errorf("identities = %v; want %v", got, want)
	}
}

// failingInventory fails every call: the compiler must hand the error back for a retry,
// never turn it into a decision (a transient error must not revoke access).
type failingInventory struct{ compiler.Inventory }

var errUnavailable = errors.New("cache not synced")

func (failingInventory) Service(string, string) (*corev1.Service, error) { return nil, errUnavailable }

func TestInventoryErrorsAreReturned(t *testing.T) {
	inv := failingInventory{testInventory(t)}
	_, err := compiler.Compile(inv, compiler.Input{Policy: policy(ztv1.Target{Service: "inventory"}, anyCaller), Now: time.Now(),
		Options: compiler.Options{Backends: []ztv1.Backend{ztv1.BackendNetworkPolicy}}})
	if !errors.Is(err, errUnavailable) {
		t.Fatalf("err = %v; want %v", err, errUnavailable)
	}
}

// TestCompileDecisions checks the Ready condition for the cases golden files do not show
// well: a CallerNotFound that coexists with enforced callers, unregistered backends, and
// backend order.
func TestCompileDecisions(t *testing.T) {
	inv := testInventory(t)
	np := ztv1.BackendNetworkPolicy
	tests := map[string]struct {
		policy   *ztv1.ServiceAccessPolicy
		backends []ztv1.Backend
		status   bool
		reason   string
		states   []ztv1.BackendState
		objects  int
	}{
		"enforced": {
			policy: policy(ztv1.Target{Service: "inventory"}, anyCaller), backends: []ztv1.Backend{np},
			status: true, reason: compiler.ReasonEnforced, states: []ztv1.BackendState{ztv1.BackendApplied}, objects: 1,
		},
		"unregistered backends are skipped, in order": {
			policy: policy(ztv1.Target{Service: "inventory"}, anyCaller), backends: []ztv1.Backend{ztv1.BackendRBAC, np},
			status: true, reason: compiler.ReasonEnforced, states: []ztv1.BackendState{ztv1.BackendSkipped, ztv1.BackendApplied}, objects: 1,
		},
		"no backend at all": {
			policy: policy(ztv1.Target{Service: "inventory"}, anyCaller), backends: nil,
			status: false, reason: compiler.ReasonNoBackend,
		},
		"some callers missing: the others are enforced": {
			policy: policy(ztv1.Target{Service: "inventory"}, append([]ztv1.Caller{{Service: "ghost"}}, anyCaller...)), backends: []ztv1.Backend{np},
			status: false, reason: compiler.ReasonCallerNotFound, states: []ztv1.BackendState{ztv1.BackendApplied}, objects: 1,
		},
		"invalid spec": {
			policy: policy(ztv1.Target{Service: "inventory", PodSelector: &metav1.LabelSelector{}}, anyCaller), backends: []ztv1.Backend{np},
			status: false, reason: compiler.ReasonInvalidSpec, states: []ztv1.BackendState{ztv1.BackendSkipped},
		},
	}
	for n, tc := range tests {
		t.Run(n, func(t *testing.T) {
			out, err := compiler.Compile(inv, compiler.Input{Policy: tc.policy, Now: time.Now(), Options: compiler.Options{Backends: tc.backends}})
			if err != nil {
				t.Fatal(err)
			}
			if out.Ready.Status != tc.status || out.Ready.Reason != tc.reason {
				t.Fatalf("Ready = %v %s (%s); want %v %s", out.Ready.Status, out.Ready.Reason, out.Ready.Message, tc.status, tc.reason)
			}
			var states []ztv1.BackendState
			objects := 0
			for i, b := range out.Backends {
				if b.Backend != tc.backends[i] {
					t.Errorf("backend %d = %s; want %s", i, b.Backend, tc.backends[i])
				}
				states = append(states, b.State)
				objects += len(b.Objects)
			}
			if !reflect.DeepEqual(states, tc.states) || objects != tc.objects {
				t.Errorf("states %v, %d objects; want %v, %d", states, objects, tc.states, tc.objects)
			}
		})
	}
}

// TestCompileIsDeterministic compiles a policy and the same policy with its from entries
// reversed: the objects must be identical (peers are sorted), and compiling twice must
// give the same output.
func TestCompileIsDeterministic(t *testing.T) {
	inv := testInventory(t)
	from := []ztv1.Caller{
		{Service: "payment", Namespace: "payments"},
		{Namespace: "monitoring"},
		{CIDR: "10.0.0.0/8"},
		{ServiceAccount: "payment", Namespace: "payments"},
		{PodSelector: &metav1.LabelSelector{MatchLabels: labels("b", "1", "a", "2")}},
	}
	reversed := make([]ztv1.Caller, len(from))
	for i := range from {
		reversed[len(from)-1-i] = from[i]
	}
	opts := compiler.Options{Backends: []ztv1.Backend{ztv1.BackendNetworkPolicy}}
	ingress := func(from []ztv1.Caller) string {
		out, err := compiler.Compile(inv, compiler.Input{Policy: policy(ztv1.Target{Service: "inventory"}, from), Now: time.Now(), Options: opts})
		if err != nil {
			t.Fatal(err)
		}
		var in []client.Object
		for _, o := range out.Backends[0].Objects {
			if strings.HasPrefix(o.GetName(), "zt-in.") {
				in = append(in, o)
			}
		}
		y, err := compiler.EncodeYAML(in)
		if err != nil {
			t.Fatal(err)
		}
		return string(y) + out.Ready.Message
	}
	a, b, c := ingress(from), ingress(from), ingress(reversed)
	if a != b {
		t.Errorf("two compilations differ:\n%s\n---\n%s", a, b)
	}
	if a != c {
		t.Errorf("reordering from changes the ingress policy:\n%s\n---\n%s", a, c)
	}
}
