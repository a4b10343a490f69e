package main

import (
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/networkpolicy"
	"github.com/zerotrust-dev/zerotrust-operator/internal/inventory/static"
)

type checkFlags struct {
	common
	from, to, port, protocol, method, path string
}

// runCheck renders the input like render and evaluates the resulting NetworkPolicies (and
// any NetworkPolicies in the input) for one call. KIND is Pod, Deployment, StatefulSet,
// DaemonSet or Service; NS/ may be left out (see -n); an IP address stands for a peer
// outside the cluster. For a Service destination, --port is a Service port, translated to
// the pods' port. With --method/--path, the HTTP rules of the granting
// ServiceAccessPolicies apply too: that is what a mesh or Cilium enforces, while a
// NetworkPolicy only sees the port.
func runCheck(args []string, stdin io.Reader, stdout, _ io.Writer, clock func() time.Time) error {
	var c checkFlags
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	c.register(fs)
	fs.StringVar(&c.from, "from", "", "caller: NS/KIND/NAME or an IP address")
	fs.StringVar(&c.to, "to", "", "destination: NS/KIND/NAME or an IP address")
	fs.StringVar(&c.port, "port", "", "destination port: number or name (a Service port for a Service destination)")
	fs.StringVar(&c.protocol, "protocol", "TCP", "TCP, UDP or SCTP")
	fs.StringVar(&c.method, "method", "", "HTTP method, e.g. GET")
	fs.StringVar(&c.path, "path", "", "HTTP path, e.g. /items/42")
	if help, err := parseFlags(fs, args, stdout); help || err != nil {
		return err
	}
	return c.run(stdin, stdout, clock)
}

// endpoint is a resolved --from or --to.
type endpoint struct {
	networkpolicy.Endpoint
	desc    string
	service *corev1.Service // set for a Service destination
}

func (c *checkFlags) run(stdin io.Reader, stdout io.Writer, clock func() time.Time) error {
	switch {
	case c.from == "":
		return usageErr("--from is required")
	case c.to == "":
		return usageErr("--to is required")
	case c.port == "":
		return usageErr("--port is required")
	}
	proto := corev1.Protocol(strings.ToUpper(c.protocol))
	if proto != corev1.ProtocolTCP && proto != corev1.ProtocolUDP && proto != corev1.ProtocolSCTP {
		return usageErr("--protocol: %q is not TCP, UDP or SCTP", c.protocol)
	}
	if (c.method != "" || c.path != "") && proto != corev1.ProtocolTCP {
		return usageErr("--method and --path apply to TCP only")
	}
	l, err := c.load(stdin, clock)
	if err != nil {
		return err
	}
	src, err := resolveEndpoint(l.inv, c.from, c.namespace, "--from")
	if err != nil {
		return err
	}
	dst, err := resolveEndpoint(l.inv, c.to, c.namespace, "--to")
	if err != nil {
		return err
	}
	port, err := destinationPort(dst, c.port, proto)
	if err != nil {
		return err
	}

	r, err := l.render()
	if err != nil {
		return err
	}
	policies := l.inv.NetworkPolicies()
	for _, o := range r.Objects {
		if np, ok := o.(*networkingv1.NetworkPolicy); ok {
			policies = append(policies, *np)
		}
	}
	v := networkpolicy.Evaluate(policies, src.Endpoint, dst.Endpoint, port)
	call := fmt.Sprintf("%s -> %s port %s", src.desc, dst.desc, describePort(port))

	if !v.Allowed() {
		var why []string
		if !v.Egress.Allowed() {
			why = append(why, fmt.Sprintf("egress of %s is isolated by NetworkPolicy %s and no NetworkPolicy allows this call",
				src.desc, strings.Join(v.Egress.IsolatedBy, ", ")))
		}
		if !v.Ingress.Allowed() {
			why = append(why, fmt.Sprintf("ingress of %s is isolated by NetworkPolicy %s and no NetworkPolicy allows this call",
				dst.desc, strings.Join(v.Ingress.IsolatedBy, ", ")))
		}
		_, _ = fmt.Fprintf(stdout, "denied: %s: %s\n", call, strings.Join(why, "; "))
		return &exitError{code: exitDenied}
	}

	grants := grantingPolicies(v)
	if c.method != "" || c.path != "" {
		if denied := l.checkHTTP(grants, port, c.method, c.path); denied != "" {
			_, _ = fmt.Fprintf(stdout, "denied: %s %s %s: %s\n", call, c.method, c.path, denied)
			return &exitError{code: exitDenied}
		}
	}
	switch {
	case len(grants) > 0:
		names := make([]string, 0, len(grants))
		for _, g := range grants {
			names = append(names, "ServiceAccessPolicy "+g.Namespace+"/"+g.Name)
		}
		_, _ = fmt.Fprintf(stdout, "allowed: %s by %s\n", call, strings.Join(names, ", "))
	default:
		_, _ = fmt.Fprintf(stdout, "allowed: %s: no ServiceAccessPolicy needed\n", call)
	}
	printSide(stdout, "egress", src.desc, v.Egress)
	printSide(stdout, "ingress", dst.desc, v.Ingress)
	return nil
}

func printSide(w io.Writer, dir, who string, s networkpolicy.Side) {
	switch {
	case !s.Applies:
	case !s.Isolated:
		_, _ = fmt.Fprintf(w, "  %s: %s is not isolated for %s (no NetworkPolicy selects it)\n", dir, who, dir)
	default:
		names := make([]string, 0, len(s.AllowedBy))
		for _, np := range s.AllowedBy {
			names = append(names, np.Namespace+"/"+np.Name)
		}
		_, _ = fmt.Fprintf(w, "  %s: allowed by NetworkPolicy %s\n", dir, strings.Join(names, ", "))
	}
}

// grantingPolicies are the ServiceAccessPolicies behind the NetworkPolicies that admit the
// call, found by their labels: ingress first (the target's owner grants), else egress.
func grantingPolicies(v networkpolicy.Verdict) []metav1.ObjectMeta {
	seen := map[string]bool{}
	var out []metav1.ObjectMeta
	for _, side := range []networkpolicy.Side{v.Ingress, v.Egress} {
		for _, np := range side.AllowedBy {
			ns, name := np.Labels[ztv1.LabelPolicyNamespace], np.Labels[ztv1.LabelPolicyName]
			if name == "" || seen[ns+"/"+name] {
				continue
			}
			seen[ns+"/"+name] = true
			out = append(out, metav1.ObjectMeta{Namespace: ns, Name: name})
		}
		if len(out) > 0 {
			break
		}
	}
	return out
}

// checkHTTP applies the HTTP rules of the granting policies on this port: the call passes
// if one of them allows it. It returns why not, or "".
func (l *loaded) checkHTTP(grants []metav1.ObjectMeta, port networkpolicy.Port, method, path string) string {
	if len(grants) == 0 {
		return "" // allowed without any policy: nothing restricts methods or paths
	}
	var why []string
	for _, g := range grants {
		p := l.inv.Policy(g.Namespace, g.Name)
		if p == nil {
			return ""
		}
		res, err := compiler.Resolve(l.inv, p, l.opts)
		if err != nil || res.Model.AllPorts {
			return ""
		}
		for _, mp := range res.Model.Ports {
			if string(mp.Protocol) != string(port.Protocol) || !portIs(mp.Port, port) {
				continue
			}
			if compiler.HTTPAllows(mp.HTTP, method, path) {
				return ""
			}
			why = append(why, fmt.Sprintf("ServiceAccessPolicy %s/%s allows only %s on port %s", g.Namespace, g.Name, describeHTTP(mp.HTTP), mp.Port.String()))
		}
	}
	if len(why) == 0 {
		return ""
	}
	return strings.Join(why, "; ") + " (enforced by a mesh or Cilium; a NetworkPolicy alone enforces the port)"
}

func portIs(p intstr.IntOrString, port networkpolicy.Port) bool {
	if p.Type == intstr.String {
		return p.StrVal != "" && p.StrVal == port.Name
	}
	return port.Number != 0 && p.IntVal == port.Number
}

func describeHTTP(rules []ztv1.HTTPRule) string {
	var parts []string
	for _, r := range rules {
		methods := "any method"
		if len(r.Methods) > 0 {
			ms := make([]string, 0, len(r.Methods))
			for _, m := range r.Methods {
				ms = append(ms, string(m))
			}
			methods = strings.Join(ms, ",")
		}
		paths := "any path"
		if len(r.Paths) > 0 {
			paths = strings.Join(r.Paths, ", ")
		}
		parts = append(parts, methods+" "+paths)
	}
	return strings.Join(parts, "; ")
}

func describePort(p networkpolicy.Port) string {
	switch {
	case p.Number != 0 && p.Name != "":
		return fmt.Sprintf("%d (%s)/%s", p.Number, p.Name, p.Protocol)
	case p.Number != 0:
		return fmt.Sprintf("%d/%s", p.Number, p.Protocol)
	}
	return fmt.Sprintf("%s/%s", p.Name, p.Protocol)
}

// resolveEndpoint turns NS/KIND/NAME, KIND/NAME or an IP into an endpoint.
func resolveEndpoint(inv *static.Inventory, s, defaultNS, flag string) (*endpoint, error) {
	if ip, err := netip.ParseAddr(s); err == nil {
		return &endpoint{Endpoint: networkpolicy.Endpoint{IP: ip}, desc: ip.String()}, nil
	}
	parts := strings.Split(s, "/")
	ns := defaultNS
	switch len(parts) {
	case 2:
	case 3:
		ns, parts = parts[0], parts[1:]
	default:
		return nil, usageErr("%s: %q is not NS/KIND/NAME, KIND/NAME or an IP address", flag, s)
	}
	kind, name := strings.ToLower(parts[0]), parts[1]
	e := &endpoint{Endpoint: networkpolicy.Endpoint{Namespace: ns, NamespaceLabels: namespaceLabels(inv, ns)}}
	notFound := func(k string) error {
		return usageErr("%s: %s %s/%s is not in the input", flag, k, ns, name)
	}
	switch kind {
	case "pod", "pods", "po":
		p := inv.Pod(ns, name)
		if p == nil {
			return nil, notFound("Pod")
		}
		e.PodLabels = p.Labels
		for _, c := range p.Spec.Containers {
			e.Ports = append(e.Ports, c.Ports...)
		}
		e.desc = ns + "/Pod/" + name
	case "deployment", "deploy", "statefulset", "sts", "daemonset", "ds":
		k := map[string]ztv1.WorkloadKind{
			"deployment": ztv1.WorkloadDeployment, "deploy": ztv1.WorkloadDeployment,
			"statefulset": ztv1.WorkloadStatefulSet, "sts": ztv1.WorkloadStatefulSet,
			"daemonset": ztv1.WorkloadDaemonSet, "ds": ztv1.WorkloadDaemonSet,
		}[kind]
		w, _ := inv.Workload(ns, k, name)
		if w == nil {
			return nil, notFound(string(k))
		}
		e.PodLabels, e.Ports = w.PodLabels, w.Ports
		e.desc = ns + "/" + string(k) + "/" + name
	case "service", "svc":
		svc, _ := inv.Service(ns, name)
		if svc == nil {
			return nil, notFound("Service")
		}
		if len(svc.Spec.Selector) == 0 {
			return nil, usageErr("%s: Service %s/%s has no selector, so it has no pods to check", flag, ns, name)
		}
		e.service = svc
		e.desc = ns + "/Service/" + name
		// The pods behind the Service: the first workload or pod it selects, or, if the
		// input has none, pods carrying exactly the selector's labels.
		sel := labels.SelectorFromSet(svc.Spec.Selector)
		e.PodLabels = svc.Spec.Selector
		found := false
		for _, w := range inv.Workloads(ns) {
			if sel.Matches(labels.Set(w.PodLabels)) {
				e.PodLabels, e.Ports, found = w.PodLabels, w.Ports, true
				break
			}
		}
		if !found {
			for _, p := range inv.Pods(ns) {
				if sel.Matches(labels.Set(p.Labels)) {
					e.PodLabels = p.Labels
					for _, c := range p.Spec.Containers {
						e.Ports = append(e.Ports, c.Ports...)
					}
					break
				}
			}
		}
	default:
		return nil, usageErr("%s: unknown kind %q; use Pod, Deployment, StatefulSet, DaemonSet or Service", flag, parts[0])
	}
	return e, nil
}

// namespaceLabels are the labels of namespace ns, with the name label the API server adds.
func namespaceLabels(inv *static.Inventory, ns string) map[string]string {
	out := map[string]string{}
	if n, _ := inv.Namespace(ns); n != nil {
		for k, v := range n.Labels {
			out[k] = v
		}
	}
	out[corev1.LabelMetadataName] = ns
	return out
}

// destinationPort is the port on the destination pod: a Service port is translated to its
// targetPort, and names are resolved against the pod's container ports where known.
func destinationPort(dst *endpoint, s string, proto corev1.Protocol) (networkpolicy.Port, error) {
	p := networkpolicy.Port{Protocol: proto}
	v := intstr.Parse(s)
	if v.Type == intstr.Int && (v.IntVal < 1 || v.IntVal > 65535) {
		return p, usageErr("--port: %d is not a port number", v.IntVal)
	}
	if dst.service != nil {
		var found *corev1.ServicePort
		for i := range dst.service.Spec.Ports {
			sp := &dst.service.Spec.Ports[i]
			spProto := sp.Protocol
			if spProto == "" {
				spProto = corev1.ProtocolTCP
			}
			if spProto == proto && ((v.Type == intstr.String && sp.Name == v.StrVal) || (v.Type == intstr.Int && sp.Port == v.IntVal)) {
				found = sp
				break
			}
		}
		if found == nil {
			return p, usageErr("--port: Service %s/%s has no %s port %s", dst.service.Namespace, dst.service.Name, proto, s)
		}
		v = found.TargetPort
		if (v.Type == intstr.Int && v.IntVal == 0) || (v.Type == intstr.String && v.StrVal == "") {
			v = intstr.FromInt32(found.Port)
		}
	}
	if v.Type == intstr.Int {
		p.Number = v.IntVal
		return p, nil
	}
	p.Name = v.StrVal
	for _, cp := range dst.Ports {
		cpProto := cp.Protocol
		if cpProto == "" {
			cpProto = corev1.ProtocolTCP
		}
		if cp.Name == v.StrVal && cpProto == proto {
			p.Number = cp.ContainerPort
		}
	}
	if p.Number == 0 && dst.IsPod() && dst.service == nil && len(dst.Ports) > 0 {
		return p, usageErr("--port: %s declares no port named %q", dst.desc, v.StrVal)
	}
	return p, nil
}
