package linkerd

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/model"
)

// ServerNamePrefix starts the name of every Server this backend generates. Servers are
// shared: their name is derived from their spec (see ServerName), not from a policy.
const ServerNamePrefix = "zt-srv."

// Access policies of a Server: what Linkerd does with traffic no authorization admits.
const (
	accessDeny  = "deny"
	accessAudit = "audit"
)

// ServerName is the name of a Server with spec spec: "zt-srv." and the first 10 hex digits
// of the SHA-256 of the spec's JSON encoding (object keys sorted, as encoding/json writes
// maps). Every policy that needs a Server for the same pods (the same canonical selector),
// port, proxy protocol and access policy generates the same object under the same name,
// so that Linkerd, which applies one Server per pod and port, sees one.
func ServerName(spec map[string]any) string {
	b, err := json.Marshal(spec)
	if err != nil {
		// A spec built by serverSpec holds strings, int64s, maps and slices only.
		panic("linkerd: unencodable Server spec: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return ServerNamePrefix + hex.EncodeToString(sum[:])[:10]
}

// SharedLabels are the labels of a shared object (a Server): the operator's and the
// backend's, and no policy's, since the object belongs to every policy that generates it.
func SharedLabels() map[string]string {
	return map[string]string{
		ztv1.LabelManagedBy: ztv1.ManagedByValue,
		ztv1.LabelBackend:   model.BackendLabel(ztv1.BackendLinkerd),
	}
}

// serverSpec is the spec of the Server for port (a number, or a container port name) of
// the pods sel selects. It depends on nothing but the pods, the port and the access policy,
// so that every policy on those pods and that port writes the same spec (see ServerName):
// the proxy protocol is opaque for the ports Linkerd treats as opaque by default (number,
// the port's number when known), unknown (protocol detection) otherwise.
func serverSpec(sel *metav1.LabelSelector, port intstr.IntOrString, number int32, access string) map[string]any {
	proto := "unknown"
	if defaultOpaquePorts[number] {
		proto = "opaque"
	}
	var p any = port.StrVal
	if port.Type == intstr.Int {
		p = int64(port.IntVal)
	}
	return map[string]any{
		"podSelector":   selector(sel),
		"port":          p,
		"proxyProtocol": proto,
		"accessPolicy":  access,
	}
}

func newServer(ns string, spec map[string]any) *unstructured.Unstructured {
	return newObject(ServerVersion, "Server", ns, ServerName(spec), SharedLabels(), spec)
}

// serverPort is how a Server names a port of the target, the same whichever way a policy
// names it, so that policies naming one port differently share one Server: a port given
// by name keeps its name (Linkerd resolves it on every pod, and it follows the pods when
// they renumber); a port given by number is written by the name its container port has,
// when every target workload that declares the number declares it with that name and the
// name stands for that number on every workload that declares it; otherwise by number.
func serverPort(ws []model.Workload, port intstr.IntOrString) intstr.IntOrString {
	if port.Type == intstr.String {
		return port
	}
	n := port.IntVal
	name := ""
	for i := range ws {
		for _, cp := range ws[i].Ports {
			if !isTCP(cp) || cp.ContainerPort != n {
				continue
			}
			if cp.Name == "" || (name != "" && cp.Name != name) {
				return port
			}
			name = cp.Name
		}
	}
	if name == "" {
		return port
	}
	for i := range ws {
		if m := ws[i].PortNumber(name, "TCP"); m != 0 && m != n {
			return port
		}
	}
	return intstr.FromString(name)
}

// declaredTCPPorts are the TCP container ports the target's workloads declare, sorted and
// deduplicated.
func declaredTCPPorts(ws []model.Workload) []int32 {
	seen := map[int32]bool{}
	var out []int32
	for i := range ws {
		for _, cp := range ws[i].Ports {
			if isTCP(cp) && !seen[cp.ContainerPort] {
				seen[cp.ContainerPort] = true
				out = append(out, cp.ContainerPort)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func isTCP(cp corev1.ContainerPort) bool {
	return cp.Protocol == "" || cp.Protocol == corev1.ProtocolTCP
}

// selector is a label selector in unstructured form, canonical: match expressions sorted
// by key, operator and values, values sorted and deduplicated, so that one selector
// written in two orders is one Server.
func selector(s *metav1.LabelSelector) map[string]any {
	c := metav1.LabelSelector{MatchLabels: s.MatchLabels}
	for _, e := range s.MatchExpressions {
		vals := append([]string(nil), e.Values...)
		sort.Strings(vals)
		c.MatchExpressions = append(c.MatchExpressions, metav1.LabelSelectorRequirement{Key: e.Key, Operator: e.Operator, Values: uniqueStrings(vals)})
	}
	sort.Slice(c.MatchExpressions, func(i, j int) bool {
		a, b := c.MatchExpressions[i], c.MatchExpressions[j]
		if a.Key != b.Key {
			return a.Key < b.Key
		}
		if a.Operator != b.Operator {
			return a.Operator < b.Operator
		}
		return slices.Compare(a.Values, b.Values) < 0
	})
	c.MatchExpressions = slices.CompactFunc(c.MatchExpressions, func(a, b metav1.LabelSelectorRequirement) bool {
		return a.Key == b.Key && a.Operator == b.Operator && slices.Equal(a.Values, b.Values)
	})
	return model.UnstructuredSelector(&c)
}
