package crd_test

import (
	"errors"
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
	"sigs.k8s.io/controller-runtime/pkg/client"
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
func offlineErrors(u *unstructured.Unstructured) field.ErrorList {
	switch u.GetKind() {
	case "ServiceAccessPolicy":
		p := &ztv1.ServiceAccessPolicy{}
		ExpectWithOffset(1, runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, p)).To(Succeed())
		return compiler.Validate(p)
	case "ZeroTrustBaseline":
		b := &ztv1.ZeroTrustBaseline{}
		ExpectWithOffset(1, runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, b)).To(Succeed())
		return compiler.ValidateBaseline(b)
	}
	return nil
}

// rootField is the field the API server names in a cause about the object as a whole.
const rootField = "<nil>"

// causeAt returns the cause of an API server error about the field at path, or nil.
func causeAt(err error, path string) *metav1.StatusCause {
	var status apierrors.APIStatus
	ExpectWithOffset(1, errors.As(err, &status)).To(BeTrue(), "%v", err)
	details := status.Status().Details
	ExpectWithOffset(1, details).NotTo(BeNil(), "%v", err)
	for i := range details.Causes {
		if details.Causes[i].Field == path {
			return &details.Causes[i]
		}
	}
	return nil
}

// A valid spec that each invalid case below breaks in one place.
const validSpec = `
target: {service: inventory}
from: [{service: payment, namespace: payments}]
ports: [{port: http}]
`

var _ = Describe("ServiceAccessPolicy and ZeroTrustBaseline validation", Ordered, ContinueOnFailure, func() {
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

	// Each entry is one malformed object and the one cause the API server must give for it:
	// the exact field path and the exact message (reason prefix included). A CEL rule
	// written on a parent names the field it is about (fieldPath), never just "spec".
	DescribeTable("rejects invalid objects with the exact field and message",
		func(u *unstructured.Unstructured, path, message string) {
			err := k8s.Create(ctx, u)
			Expect(err).To(HaveOccurred(), "the API server accepted an invalid object")
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
			cause := causeAt(err, path)
			Expect(cause).NotTo(BeNil(), "no cause at %s in %v", path, err)
			Expect(cause.Message).To(Equal(message))

			// kubectl-zt validates offline what no API server has seen: it must reject the
			// same objects, naming the same field with the same kind of error.
			offline := path
			if path == rootField {
				offline = "metadata.name"
			}
			Expect(offlineErrors(u)).To(ContainElement(And(HaveField("Field", offline), HaveField("Type", field.ErrorType(cause.Type)))),
				"kubectl-zt does not report %s %s", cause.Type, offline)
		},
		// Schema (OpenAPI): required fields, enums, patterns, sizes, formats.
		Entry("no callers", sap("no-callers", `
target: {service: inventory}
from: []`), "spec.from", "Invalid value: 0: spec.from in body should have at least 1 items"),
		Entry("too many callers", sap("many-callers", "target: {service: inventory}\nfrom: ["+strings.Repeat("{namespace: a},", 32)+"{namespace: b}]"),
			"spec.from", "Too many: 33: must have at most 32 items"),
		Entry("too many ports", sap("many-ports", "target: {service: inventory}\nfrom: [{service: payment}]\nports: ["+strings.Repeat("{port: 80},", 32)+"{port: 81}]"),
			"spec.ports", "Too many: 33: must have at most 32 items"),
		Entry("a target Service name that is no Service name", sap("target-name", `
target: {service: Inventory}
from: [{service: payment}]`), "spec.target.service", `Invalid value: "Inventory": spec.target.service in body should match '^[a-z]([-a-z0-9]*[a-z0-9])?$'`),
		Entry("a caller namespace that is no namespace name", sap("caller-namespace", `
target: {service: inventory}
from: [{namespace: Payments}]`), "spec.from[0].namespace", `Invalid value: "Payments": spec.from[0].namespace in body should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'`),
		Entry("a caller ServiceAccount name too long", sap("sa-long", "target: {service: inventory}\nfrom: [{serviceAccount: "+strings.Repeat("s", 254)+"}]"),
			"spec.from[0].serviceAccount", "Too long: may not be more than 253 bytes"),
		Entry("a workload reference without a name", sap("workload-no-name", `
target: {workload: {kind: Deployment}}
from: [{service: payment}]`), "spec.target.workload.name", "Required value"),
		Entry("an unknown workload kind", sap("workload-kind", `
target: {workload: {kind: Pod, name: inventory}}
from: [{service: payment}]`), "spec.target.workload.kind", `Unsupported value: "Pod": supported values: "Deployment", "StatefulSet", "DaemonSet"`),
		Entry("an external target without CIDRs", sap("external-empty", `
target: {external: {cidrs: []}}
from: [{service: payment}]`), "spec.target.external.cidrs", "Invalid value: 0: spec.target.external.cidrs in body should have at least 1 items"),
		Entry("a kubernetesAPI target without rules", sap("api-no-rules", `
target: {kubernetesAPI: {rules: []}}
from: [{serviceAccount: batch}]`), "spec.target.kubernetesAPI.rules", "Invalid value: 0: spec.target.kubernetesAPI.rules in body should have at least 1 items"),
		Entry("a kubernetesAPI rule without verbs", sap("api-no-verbs", `
target: {kubernetesAPI: {rules: [{apiGroups: [""], resources: [configmaps]}]}}
from: [{serviceAccount: batch}]`), "spec.target.kubernetesAPI.rules[0].verbs", "Required value"),
		Entry("an unknown protocol", sap("icmp", `
target: {service: inventory}
from: [{service: payment}]
ports: [{port: 80, protocol: ICMP}]`), "spec.ports[0].protocol", `Unsupported value: "ICMP": supported values: "TCP", "UDP", "SCTP"`),
		Entry("an unknown HTTP method", sap("fetch", `
target: {service: inventory}
from: [{service: payment}]
ports: [{port: 80, http: [{methods: [FETCH]}]}]`), "spec.ports[0].http[0].methods[0]", `Unsupported value: "FETCH": supported values: "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"`),
		Entry("a relative HTTP path", sap("relative-path", `
target: {service: inventory}
from: [{service: payment}]
ports: [{port: 80, http: [{paths: [items]}]}]`), "spec.ports[0].http[0].paths[0]", `Invalid value: "items": spec.ports[0].http[0].paths[0] in body should match '^/[^*?#\s]*\*?$'`),
		Entry("an HTTP path with a query", sap("query-path", `
target: {service: inventory}
from: [{service: payment}]
ports: [{port: 80, http: [{paths: ["/items?id=1"]}]}]`), "spec.ports[0].http[0].paths[0]", `Invalid value: "/items?id=1": spec.ports[0].http[0].paths[0] in body should match '^/[^*?#\s]*\*?$'`),
		Entry("an unknown mode", sap("mode", validSpec+"mode: Block"), "spec.mode", `Unsupported value: "Block": supported values: "Enforce", "Audit", "DryRun"`),
		Entry("a window start that is no time", sap("window-start", validSpec+`
schedule: {windows: [{start: "25:00", end: "17:00"}]}`), "spec.schedule.windows[0].start", `Invalid value: "25:00": spec.schedule.windows[0].start in body should match '^([01][0-9]|2[0-3]):[0-5][0-9]$'`),
		Entry("a window end past 24:00", sap("window-end", validSpec+`
schedule: {windows: [{start: "09:00", end: "24:30"}]}`), "spec.schedule.windows[0].end", `Invalid value: "24:30": spec.schedule.windows[0].end in body should match '^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$'`),
		Entry("an unknown day", sap("window-day", validSpec+`
schedule: {windows: [{days: [Funday], start: "09:00", end: "17:00"}]}`), "spec.schedule.windows[0].days[0]", `Unsupported value: "Funday": supported values: "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"`),
		Entry("a schedule without windows", sap("no-windows", validSpec+`
schedule: {timeZone: UTC}`), "spec.schedule.windows", "Required value"),
		Entry("a time zone that is no zone name", sap("time-zone", validSpec+`
schedule: {timeZone: "UTC+1 hour", windows: [{start: "09:00", end: "17:00"}]}`), "spec.schedule.timeZone", `Invalid value: "UTC+1 hour": spec.schedule.timeZone in body should match '^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$'`),
		Entry("a baseline with an unknown direction", ztb("direction", `
namespaceSelector: {}
network: {defaultDeny: [Sideways]}`), "spec.network.defaultDeny[0]", `Unsupported value: "Sideways": supported values: "Ingress", "Egress"`),
		Entry("a baseline with an unknown pod security level", ztb("psa", `
namespaceSelector: {}
podSecurity: strict`), "spec.podSecurity", `Unsupported value: "strict": supported values: "privileged", "baseline", "restricted"`),
		Entry("a baseline with an unknown mTLS mode", ztb("mtls", `
namespaceSelector: {}
mesh: {mtls: Optional}`), "spec.mesh.mtls", `Unsupported value: "Optional": supported values: "Strict", "Permissive"`),
		Entry("a baseline without a namespace selector", ztb("no-selector", `
podSecurity: restricted`), "spec.namespaceSelector", "Required value"),
		Entry("an RBAC exception without verbs", ztb("rbac-no-verbs", `
namespaceSelector: {}
rbac: {allow: [{apiGroup: "", resource: pods/exec}]}`), "spec.rbac.allow[0].verbs", "Required value"),
		Entry("an RBAC exception with an empty verb list", ztb("rbac-empty-verbs", `
namespaceSelector: {}
rbac: {allow: [{apiGroup: "", resource: pods/exec, verbs: []}]}`), "spec.rbac.allow[0].verbs", "Invalid value: 0: spec.rbac.allow[0].verbs in body should have at least 1 items"),
		Entry("an RBAC exception without a resource", ztb("rbac-no-resource", `
namespaceSelector: {}
rbac: {allow: [{apiGroup: "", verbs: [create]}]}`), "spec.rbac.allow[0].resource", "Required value"),
		Entry("two RBAC exceptions for one resource", ztb("rbac-duplicate", `
namespaceSelector: {}
rbac: {allow: [{apiGroup: "", resource: pods/exec, verbs: [create]}, {apiGroup: "", resource: pods/exec, verbs: [get]}]}`), "spec.rbac.allow[1]", `Duplicate value: {"apiGroup":"","resource":"pods/exec"}`),
		Entry("a DNS namespace that is no namespace name", ztb("dns-namespace", `
namespaceSelector: {}
network: {defaultDeny: [Egress], allowDNS: true, dns: {namespace: Kube_System}}`), "spec.network.dns.namespace", `Invalid value: "Kube_System": spec.network.dns.namespace in body should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'`),

		// CEL (x-kubernetes-validations), each naming the field it is about.
		Entry("two target kinds", sap("two-targets", `
target: {service: inventory, workload: {kind: Deployment, name: inventory}}
from: [{service: payment}]`), "spec.target", `Invalid value: target must set exactly one of service, workload, podSelector, kubernetesAPI or external`),
		Entry("no target kind", sap("no-target", `
target: {}
from: [{service: payment}]`), "spec.target", `Invalid value: target must set exactly one of service, workload, podSelector, kubernetesAPI or external`),
		Entry("two selectors in one from entry", sap("two-selectors", `
target: {service: inventory}
from: [{service: payment, serviceAccount: payment}]`), "spec.from[0]", `Invalid value: each from entry must set exactly one of service, workload, serviceAccount, podSelector or cidr, or namespace alone`),
		Entry("an empty from entry", sap("empty-from-entry", `
target: {service: inventory}
from: [{service: payment}, {}]`), "spec.from[1]", `Invalid value: each from entry must set exactly one of service, workload, serviceAccount, podSelector or cidr, or namespace alone`),
		Entry("cidr caller with a namespace", sap("cidr-namespace", `
target: {service: inventory}
from: [{cidr: 10.20.0.0/16, namespace: payments}]`), "spec.from[0].namespace", "Forbidden: cidr is a caller outside the cluster and takes no namespace"),
		Entry("a malformed cidr", sap("bad-cidr", `
target: {service: inventory}
from: [{cidr: 10.20.0.0/33}]`), "spec.from[0].cidr", `Invalid value: "10.20.0.0/33": must be a CIDR with no host bits set, e.g. 10.20.0.0/16`),
		Entry("a cidr with host bits", sap("host-bits", `
target: {external: {cidrs: [203.0.113.7/24]}}
from: [{service: payment}]`), "spec.target.external.cidrs[0]", `Invalid value: "203.0.113.7/24": must be a CIDR with no host bits set, e.g. 203.0.113.0/24`),
		Entry("an external target with callers elsewhere", sap("external-elsewhere", `
target: {external: {cidrs: [203.0.113.0/24]}}
from: [{service: payment, namespace: payments}]`), "spec.from", "Forbidden: an external target opens egress of callers in this namespace only: remove namespace and cidr from every from entry"),
		Entry("an external target with a cidr caller", sap("external-cidr", `
target: {external: {cidrs: [203.0.113.0/24]}}
from: [{service: payment}, {cidr: 10.0.0.0/8}]`), "spec.from", "Forbidden: an external target opens egress of callers in this namespace only: remove namespace and cidr from every from entry"),
		Entry("port 0", sap("port-zero", `
target: {service: inventory}
from: [{service: payment}]
ports: [{port: 0}]`), "spec.ports[0].port", `Invalid value: 0: port must be a number from 1 to 65535 or a port name (at most 15 lowercase letters, digits and '-')`),
		Entry("port above 65535", sap("port-high", `
target: {service: inventory}
from: [{service: payment}]
ports: [{port: 70000}]`), "spec.ports[0].port", `Invalid value: 70000: port must be a number from 1 to 65535 or a port name (at most 15 lowercase letters, digits and '-')`),
		Entry("a malformed port name", sap("port-name", `
target: {service: inventory}
from: [{service: payment}]
ports: [{port: Not_A_Name}]`), "spec.ports[0].port", `Invalid value: "Not_A_Name": port must be a number from 1 to 65535 or a port name (at most 15 lowercase letters, digits and '-')`),
		Entry("a port name of digits only", sap("port-digits", `
target: {service: inventory}
from: [{service: payment}]
ports: [{port: "8080"}]`), "spec.ports[0].port", `Invalid value: "8080": port must be a number from 1 to 65535 or a port name (at most 15 lowercase letters, digits and '-')`),
		Entry("HTTP rules on UDP", sap("http-udp", `
target: {service: inventory}
from: [{service: payment}]
ports: [{port: 53, protocol: UDP, http: [{methods: [GET]}]}]`), "spec.ports[0].http", "Forbidden: http rules apply to TCP ports only"),
		Entry("a window that starts where it ends", sap("window-empty", validSpec+`
schedule: {windows: [{start: "09:00", end: "09:00"}]}`), "spec.schedule.windows[0].end", `Invalid value: start and end must differ`),
		Entry("a kubernetesAPI target reached by a Service", sap("api-service", `
target: {kubernetesAPI: {rules: [{apiGroups: [""], resources: [configmaps], verbs: [get]}]}}
from: [{service: payment}]`), "spec.from", `Invalid value: a kubernetesAPI target is reached by ServiceAccounts: every from entry must set serviceAccount, or workload (the ServiceAccount it runs as)`),
		Entry("a kubernetesAPI target reached by a namespace", sap("api-namespace", `
target: {kubernetesAPI: {rules: [{apiGroups: [""], resources: [configmaps], verbs: [get]}]}}
from: [{serviceAccount: batch}, {namespace: monitoring}]`), "spec.from", `Invalid value: a kubernetesAPI target is reached by ServiceAccounts: every from entry must set serviceAccount, or workload (the ServiceAccount it runs as)`),
		Entry("a kubernetesAPI target with ports", sap("api-ports", `
target: {kubernetesAPI: {rules: [{apiGroups: [""], resources: [configmaps], verbs: [get]}]}}
from: [{serviceAccount: batch}]
ports: [{port: 443}]`), "spec.ports", "Forbidden: a kubernetesAPI target takes no ports; list the API rules in spec.target.kubernetesAPI.rules"),
		// A rule on the object's root cannot point into metadata (fieldPath must be a path of
		// the CRD's schema, which does not describe metadata): the API server reports no
		// field, and the message names it.
		Entry("a policy name too long to be a label value", sap(strings.Repeat("n", 64), validSpec), rootField,
			"Invalid value: metadata.name must be at most 63 characters: it is a label value on every generated object"),
		Entry("a baseline name too long to be a label value", ztb(strings.Repeat("b", 64), "namespaceSelector: {}"), rootField,
			"Invalid value: metadata.name must be at most 63 characters: it is a label value on every generated object"),
		Entry("a DNS target without allowDNS", ztb("dns-without-allow", `
namespaceSelector: {}
network: {defaultDeny: [Egress], dns: {namespace: dns}}`), "spec.network.allowDNS", "Required value: dns sets where allowDNS lets pods send name lookups: set allowDNS: true as well"),
		Entry("a DNS pod selector with an unknown operator", ztb("dns-selector", `
namespaceSelector: {}
network: {defaultDeny: [Egress], allowDNS: true, dns: {podSelector: {matchExpressions: [{key: app, operator: Sideways}]}}}`),
			"spec.network.dns.podSelector", `Invalid value: matchExpressions: operator must be In, NotIn, Exists or DoesNotExist`),
		Entry("a node-local DNS address that is a CIDR", ztb("dns-cidr", `
namespaceSelector: {}
network: {defaultDeny: [Egress], allowDNS: true, dns: {nodeLocalAddresses: [169.254.20.0/24]}}`), "spec.network.dns.nodeLocalAddresses[0]", `Invalid value: "169.254.20.0/24": must be an IP address, e.g. 169.254.20.10`),
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
				err := k8s.Create(ctx, u)
				if u.GetKind() == "Namespace" {
					// Other specs of this suite may have made the samples' namespace already.
					err = client.IgnoreAlreadyExists(err)
				}
				Expect(err).To(Succeed(), "%s: %s %s", f, u.GetKind(), u.GetName())
				created++
			}
		}
		Expect(created).To(BeNumerically(">=", 3))
	})
})
