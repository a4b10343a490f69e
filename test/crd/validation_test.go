package crd_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/testenv"
)

const testNamespace = "validation"

// sap builds a ServiceAccessPolicy from a spec written in YAML.
func sap(name, spec string) *unstructured.Unstructured {
	return object(fmt.Sprintf(`
apiVersion: zerotrust.dev/v1alpha1
kind: ServiceAccessPolicy
metadata: {name: %q, namespace: %s}
spec:
%s`, name, testNamespace, indent(spec)))
}

// ztb builds a ZeroTrustBaseline from a spec written in YAML.
func ztb(name, spec string) *unstructured.Unstructured {
	return object(fmt.Sprintf(`
apiVersion: zerotrust.dev/v1alpha1
kind: ZeroTrustBaseline
metadata: {name: %q}
spec:
%s`, name, indent(spec)))
}

func indent(s string) string {
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n")
}

func object(doc string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	ExpectWithOffset(2, yaml.Unmarshal([]byte(doc), &u.Object)).To(Succeed(), doc)
	return u
}

// offlineErrors runs kubectl-zt's validation (compiler.Validate) on u.
func offlineErrors(u *unstructured.Unstructured) []string {
	var errs field.ErrorList
	switch u.GetKind() {
	case "ServiceAccessPolicy":
		p := &ztv1.ServiceAccessPolicy{}
		ExpectWithOffset(1, runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, p)).To(Succeed())
		errs = compiler.Validate(p)
	case "ZeroTrustBaseline":
		b := &ztv1.ZeroTrustBaseline{}
		ExpectWithOffset(1, runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, b)).To(Succeed())
		errs = compiler.ValidateBaseline(b)
	}
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

// A valid spec that each invalid case below breaks in one place.
const validSpec = `
target: {service: inventory}
from: [{service: payment, namespace: payments}]
ports: [{port: http}]
`

var _ = Describe("ServiceAccessPolicy and ZeroTrustBaseline validation", Ordered, func() {
	BeforeAll(func() {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNamespace}}
		Expect(k8s.Create(ctx, ns)).To(Succeed())
	})

	It("accepts a valid policy and applies defaults", func() {
		u := sap("valid", validSpec)
		Expect(k8s.Create(ctx, u)).To(Succeed())
		mode, _, _ := unstructured.NestedString(u.Object, "spec", "mode")
		Expect(mode).To(Equal("Enforce"))
		ports, _, _ := unstructured.NestedSlice(u.Object, "spec", "ports")
		Expect(ports[0].(map[string]any)["protocol"]).To(Equal("TCP"))
	})

	It("accepts a kubernetesAPI target reached by a workload (the ServiceAccount it runs as)", func() {
		u := sap("api-workload", `
target: {kubernetesAPI: {rules: [{apiGroups: [""], resources: [configmaps], verbs: [get]}]}}
from: [{workload: {kind: Deployment, name: batch}}, {serviceAccount: reporting}]`)
		Expect(k8s.Create(ctx, u)).To(Succeed())
		Expect(offlineErrors(u)).To(BeEmpty())
	})

	DescribeTable("rejects invalid objects with a message naming the field",
		func(u *unstructured.Unstructured, field, message string) {
			err := k8s.Create(ctx, u)
			Expect(err).To(HaveOccurred(), "the API server accepted an invalid object")
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
			Expect(err.Error()).To(ContainSubstring(field))
			Expect(err.Error()).To(ContainSubstring(message))

			// kubectl-zt validates offline what no API server has seen: it must reject the
			// same objects, naming the same field.
			Expect(offlineErrors(u)).To(ContainElement(ContainSubstring(field)),
				"kubectl-zt accepts what the API server rejects")
		},
		Entry("two target kinds", sap("two-targets", `
target: {service: inventory, workload: {kind: Deployment, name: inventory}}
from: [{service: payment}]`), "spec.target", "target must set exactly one of service, workload, podSelector, kubernetesAPI or external"),
		Entry("no target kind", sap("no-target", `
target: {}
from: [{service: payment}]`), "spec.target", "target must set exactly one of"),
		Entry("two selectors in one from entry", sap("two-selectors", `
target: {service: inventory}
from: [{service: payment, serviceAccount: payment}]`), "spec.from[0]", "each from entry must set exactly one of service, workload, serviceAccount, podSelector or cidr, or namespace alone"),
		Entry("an empty from entry", sap("empty-from-entry", `
target: {service: inventory}
from: [{service: payment}, {}]`), "spec.from[1]", "each from entry must set exactly one of"),
		Entry("no callers", sap("no-callers", `
target: {service: inventory}
from: []`), "spec.from", "should have at least 1 items"),
		Entry("too many callers", sap("many-callers", "target: {service: inventory}\nfrom: ["+strings.Repeat("{namespace: a},", 32)+"{namespace: b}]"),
			"spec.from", "must have at most 32 items"),
		Entry("cidr caller with a namespace", sap("cidr-namespace", `
target: {service: inventory}
from: [{cidr: 10.20.0.0/16, namespace: payments}]`), "spec.from[0]", "cidr is a caller outside the cluster and takes no namespace"),
		Entry("a malformed cidr", sap("bad-cidr", `
target: {service: inventory}
from: [{cidr: 10.20.0.0/33}]`), "spec.from[0].cidr", "must be a CIDR with no host bits set"),
		Entry("a cidr with host bits", sap("host-bits", `
target: {external: {cidrs: [203.0.113.7/24]}}
from: [{service: payment}]`), "spec.target.external.cidrs[0]", "must be a CIDR with no host bits set"),
		Entry("an external target with callers elsewhere", sap("external-elsewhere", `
target: {external: {cidrs: [203.0.113.0/24]}}
from: [{service: payment, namespace: payments}]`), "spec", "an external target opens egress of callers in this namespace only"),
		Entry("port 0", sap("port-zero", `
target: {service: inventory}
from: [{service: payment}]
ports: [{port: 0}]`), "spec.ports[0].port", "port must be a number from 1 to 65535 or a port name"),
		Entry("port above 65535", sap("port-high", `
target: {service: inventory}
from: [{service: payment}]
ports: [{port: 70000}]`), "spec.ports[0].port", "port must be a number from 1 to 65535"),
		Entry("a malformed port name", sap("port-name", `
target: {service: inventory}
from: [{service: payment}]
ports: [{port: Not_A_Name}]`), "spec.ports[0].port", "or a port name"),
		Entry("an unknown protocol", sap("icmp", `
target: {service: inventory}
from: [{service: payment}]
ports: [{port: 80, protocol: ICMP}]`), "spec.ports[0].protocol", `Unsupported value: "ICMP"`),
		Entry("an unknown HTTP method", sap("fetch", `
target: {service: inventory}
from: [{service: payment}]
ports: [{port: 80, http: [{methods: [FETCH]}]}]`), "spec.ports[0].http[0].methods[0]", `Unsupported value: "FETCH"`),
		Entry("HTTP rules on UDP", sap("http-udp", `
target: {service: inventory}
from: [{service: payment}]
ports: [{port: 53, protocol: UDP, http: [{methods: [GET]}]}]`), "spec.ports[0]", "http rules apply to TCP ports only"),
		Entry("a relative HTTP path", sap("relative-path", `
target: {service: inventory}
from: [{service: payment}]
ports: [{port: 80, http: [{paths: [items]}]}]`), "spec.ports[0].http[0].paths[0]", "should match"),
		Entry("an unknown mode", sap("mode", validSpec+"mode: Block"), "spec.mode", `Unsupported value: "Block"`),
		Entry("a window start that is no time", sap("window-start", validSpec+`
schedule: {windows: [{start: "25:00", end: "17:00"}]}`), "spec.schedule.windows[0].start", "should match"),
		Entry("a window that starts where it ends", sap("window-empty", validSpec+`
schedule: {windows: [{start: "09:00", end: "09:00"}]}`), "spec.schedule.windows[0]", "start and end must differ"),
		Entry("an unknown day", sap("window-day", validSpec+`
schedule: {windows: [{days: [Funday], start: "09:00", end: "17:00"}]}`), "spec.schedule.windows[0].days[0]", `Unsupported value: "Funday"`),
		Entry("an unknown workload kind", sap("workload-kind", `
target: {workload: {kind: Pod, name: inventory}}
from: [{service: payment}]`), "spec.target.workload.kind", `Unsupported value: "Pod"`),
		Entry("a kubernetesAPI target reached by a Service", sap("api-service", `
target: {kubernetesAPI: {rules: [{apiGroups: [""], resources: [configmaps], verbs: [get]}]}}
from: [{service: payment}]`), "spec", "a kubernetesAPI target is reached by ServiceAccounts: every from entry must set serviceAccount, or workload"),
		Entry("a kubernetesAPI target with ports", sap("api-ports", `
target: {kubernetesAPI: {rules: [{apiGroups: [""], resources: [configmaps], verbs: [get]}]}}
from: [{serviceAccount: batch}]
ports: [{port: 443}]`), "spec", "a kubernetesAPI target takes no ports"),
		Entry("a name too long to be a label value", sap(strings.Repeat("n", 64), validSpec), "metadata.name", "must be at most 63 characters"),
		Entry("a baseline with an unknown direction", ztb("direction", `
namespaceSelector: {}
network: {defaultDeny: [Sideways]}`), "spec.network.defaultDeny[0]", `Unsupported value: "Sideways"`),
		Entry("a baseline with an unknown pod security level", ztb("psa", `
namespaceSelector: {}
podSecurity: strict`), "spec.podSecurity", `Unsupported value: "strict"`),
		Entry("a baseline without a namespace selector", ztb("no-selector", `
podSecurity: restricted`), "spec.namespaceSelector", "Required value"),
		Entry("an RBAC exception without verbs", ztb("rbac-no-verbs", `
namespaceSelector: {}
rbac: {allow: [{apiGroup: "", resource: pods/exec}]}`), "spec.rbac.allow[0].verbs", "Required value"),
		Entry("an RBAC exception with an empty verb list", ztb("rbac-empty-verbs", `
namespaceSelector: {}
rbac: {allow: [{apiGroup: "", resource: pods/exec, verbs: []}]}`), "spec.rbac.allow[0].verbs", ""),
		Entry("an RBAC exception without a resource", ztb("rbac-no-resource", `
namespaceSelector: {}
rbac: {allow: [{apiGroup: "", verbs: [create]}]}`), "spec.rbac.allow[0].resource", "Required value"),
		Entry("a DNS target without allowDNS", ztb("dns-without-allow", `
namespaceSelector: {}
network: {defaultDeny: [Egress], dns: {namespace: dns}}`), "spec.network", "dns sets where allowDNS lets pods send name lookups: set allowDNS: true as well"),
		Entry("a DNS namespace that is no namespace name", ztb("dns-namespace", `
namespaceSelector: {}
network: {defaultDeny: [Egress], allowDNS: true, dns: {namespace: Kube_System}}`), "spec.network.dns.namespace", "should match"),
		Entry("a DNS pod selector with an unknown operator", ztb("dns-selector", `
namespaceSelector: {}
network: {defaultDeny: [Egress], allowDNS: true, dns: {podSelector: {matchExpressions: [{key: app, operator: Sideways}]}}}`),
			"spec.network.dns.podSelector", "operator must be In, NotIn, Exists or DoesNotExist"),
		Entry("a node-local DNS address that is a CIDR", ztb("dns-cidr", `
namespaceSelector: {}
network: {defaultDeny: [Egress], allowDNS: true, dns: {nodeLocalAddresses: [169.254.20.0/24]}}`), "spec.network.dns.nodeLocalAddresses[0]", "must be an IP address"),
		Entry("two RBAC exceptions for one resource", ztb("rbac-duplicate", `
namespaceSelector: {}
rbac: {allow: [{apiGroup: "", resource: pods/exec, verbs: [create]}, {apiGroup: "", resource: pods/exec, verbs: [get]}]}`), "spec.rbac.allow[1]", "Duplicate value"),
	)

	It("accepts a baseline with a DNS target", func() {
		u := ztb("dns-target", `
namespaceSelector: {}
network:
  defaultDeny: [Egress]
  allowDNS: true
  dns: {namespace: dns, podSelector: {matchLabels: {app: coredns}}, nodeLocalAddresses: [169.254.20.10, "fd00::10"]}`)
		Expect(k8s.Create(ctx, u)).To(Succeed())
		Expect(offlineErrors(u)).To(BeEmpty())
	})

	It("accepts every sample in config/samples", func() {
		dir := filepath.Join(testenv.RepoRoot(), "config", "samples")
		files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		Expect(err).NotTo(HaveOccurred())
		created := 0
		for _, f := range files {
			if filepath.Base(f) == "kustomization.yaml" {
				continue
			}
			data, err := os.ReadFile(f)
			Expect(err).NotTo(HaveOccurred())
			dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(string(data)), 4096)
			for {
				u := &unstructured.Unstructured{}
				if err := dec.Decode(&u.Object); err != nil {
					break
				}
				if len(u.Object) == 0 {
					continue
				}
				Expect(k8s.Create(ctx, u)).To(Succeed(), "%s: %s %s", f, u.GetKind(), u.GetName())
				created++
			}
		}
		Expect(created).To(BeNumerically(">=", 3))
	})
})
