package main

import (
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/cilium"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/istio"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/networkpolicy"
	"github.com/zerotrust-dev/zerotrust-operator/internal/inventory/static"
)

type checkFlags struct {
	common
	from, to, port, protocol, method, path string
	verb, resource, resourceName           string
}

// runCheck renders the input like render and judges one call in every enforcement layer
// that applies to it: NetworkPolicy (the rendered NetworkPolicies and those of the input),
// and, among --backends, Istio, Linkerd and Cilium (the rendered objects, each by an
// evaluator of that layer's documented semantics), or, for a call to the Kubernetes API
// (--verb, --resource), RBAC. KIND is Pod, Deployment, StatefulSet, DaemonSet, Service or
// (for --from) ServiceAccount; NS/ may be left out (see -n); an IP address stands for a
// peer outside the cluster. For a Service destination, --port is a Service port,
// translated to the pods' port. The call is allowed (exit 0) only when every layer allows
// it; otherwise exit 1 names the layers that deny.
func runCheck(args []string, stdin io.Reader, stdout, _ io.Writer, clock func() time.Time) error {
	var c checkFlags
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	c.register(fs)
	fs.StringVar(&c.from, "from", "", "caller: NS/KIND/NAME or an IP address")
	fs.StringVar(&c.to, "to", "", "destination: NS/KIND/NAME or an IP address; for a Kubernetes API call (--verb), the namespace of the request (default: the caller's)")
	fs.StringVar(&c.port, "port", "", "destination port: number or name (a Service port for a Service destination)")
	fs.StringVar(&c.protocol, "protocol", "TCP", "TCP, UDP or SCTP")
	fs.StringVar(&c.method, "method", "", "HTTP method, e.g. GET (default GET when --path is given); without --method and --path, layers judge a plain TCP connection")
	fs.StringVar(&c.path, "path", "", "HTTP path, e.g. /items/42 (default / when --method is given)")
	fs.StringVar(&c.verb, "verb", "", "Kubernetes API call: the verb, e.g. get (with --resource; judged by RBAC)")
	fs.StringVar(&c.resource, "resource", "", "Kubernetes API call: RESOURCE[.GROUP][/SUBRESOURCE], e.g. configmaps, deployments.apps, pods/log")
	fs.StringVar(&c.resourceName, "resource-name", "", "Kubernetes API call: the name of the object, when the request names one")
	if help, err := parseFlags(fs, args, stdout); help || err != nil {
		return err
	}
	if c.verb != "" || c.resource != "" || c.resourceName != "" {
		return c.runAPI(stdin, stdout, clock)
	}
	return c.run(stdin, stdout, clock)
}

// endpoint is a resolved --from or --to.
type endpoint struct {
	networkpolicy.Endpoint
	desc    string
	service *corev1.Service // set for a Service destination
	// serviceAccount the pods run as; "" for an address.
	serviceAccount string
	// noPods is set for a ServiceAccount that no workload or pod of the input runs as.
	noPods bool
}

// layer is one enforcement layer's verdict on the call.
type layer struct {
	name    string
	allowed bool
	// why completes "NAME: allowed" or "NAME: denied".
	why string
	// detail are further lines, printed under the layer's.
	detail []string
	// l7 is set for layers that judge HTTP methods and paths themselves (a mesh, Cilium).
	l7 bool
	// ingressBy and egressBy are the objects that admit the call at the destination and
	// at the source; their labels name the ServiceAccessPolicy that generated them.
	ingressBy, egressBy []metav1.Object
}

func (l layer) verdict() string {
	w := "denied"
	if l.allowed {
		w = "allowed"
	}
	switch {
	case l.why == "":
		return w
	case strings.HasPrefix(l.why, w):
		return l.why
	}
	return w + ": " + l.why
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
	if c.path != "" && !strings.HasPrefix(c.path, "/") {
		return usageErr("--path: %q does not start with /", c.path)
	}
	// An HTTP request has both: the one left out is GET or /, and the call line says so.
	switch {
	case c.method != "" && c.path == "":
		c.path = "/"
	case c.path != "" && c.method == "":
		c.method = "GET"
	}
	c.method = strings.ToUpper(c.method)
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
	for _, e := range []*endpoint{src, dst} {
		if e.noPods {
			return usageErr("%s runs no workload or pod of the input, so the labels of its pods are unknown; name a Pod or a workload", e.desc)
		}
	}
	port, err := destinationPort(dst, c.port, proto)
	if err != nil {
		return err
	}
	r, err := l.render()
	if err != nil {
		return err
	}

	layers, err := c.networkLayers(l, r, src, dst, port)
	if err != nil {
		return err
	}
	call := fmt.Sprintf("%s -> %s port %s", src.desc, dst.desc, describePort(port))
	if c.method != "" || c.path != "" {
		call += " " + strings.TrimSpace(c.method+" "+c.path)
	}
	return report(stdout, call, layers)
}

// report prints the verdict: the call, allowed or the layers that deny it, and one line
// per layer. It returns the exit code as an error when a layer denies.
func report(w io.Writer, call string, layers []layer) error {
	var denying []string
	var first *layer
	for i := range layers {
		if !layers[i].allowed {
			denying = append(denying, layers[i].name)
			if first == nil {
				first = &layers[i]
			}
		}
	}
	if first != nil {
		_, _ = fmt.Fprintf(w, "denied by %s: %s: %s\n", joinAnd(denying), call, first.why)
	} else {
		grants := grantingPolicies(layers)
		switch {
		case len(grants) > 0:
			names := make([]string, 0, len(grants))
			for _, g := range grants {
				names = append(names, "ServiceAccessPolicy "+g.Namespace+"/"+g.Name)
			}
			_, _ = fmt.Fprintf(w, "allowed: %s by %s\n", call, strings.Join(names, ", "))
		default:
			_, _ = fmt.Fprintf(w, "allowed: %s: no ServiceAccessPolicy needed\n", call)
		}
	}
	for _, l := range layers {
		_, _ = fmt.Fprintf(w, "  %s: %s\n", l.name, l.verdict())
		for _, d := range l.detail {
			_, _ = fmt.Fprintf(w, "    %s\n", d)
		}
	}
	if first != nil {
		return &exitError{code: exitDenied}
	}
	return nil
}

func joinAnd(s []string) string {
	if len(s) <= 1 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// networkLayers judges a call between pods (or addresses) in every layer that applies:
// NetworkPolicy when its backend is on or the input holds NetworkPolicies, and each mesh
// and Cilium among --backends. With Cilium, NetworkPolicies are judged in its layer: Cilium
// enforces them with the same engine, so that a NetworkPolicy rule admitting a peer on a
// port admits every HTTP request of it there, whatever a CiliumNetworkPolicy adds.
func (c *checkFlags) networkLayers(l *loaded, r *compiler.Rendering, src, dst *endpoint, port networkpolicy.Port) ([]layer, error) {
	var out []layer
	inputNPs := l.inv.NetworkPolicies()
	// Cilium enforces NetworkPolicies itself, together with its own policies: where it
	// runs, they are judged in its layer.
	cilium := l.on(ztv1.BackendCilium)
	if !cilium && (l.on(ztv1.BackendNetworkPolicy) || len(inputNPs) > 0) {
		out = append(out, networkPolicyLayer(inputNPs, r.Objects, src, dst, port))
	}
	l7 := false // a layer that judges methods and paths
	if l.on(ztv1.BackendIstio) && dst.IsPod() {
		lay, err := c.istioLayer(l, r.Objects, src, dst, port)
		if err != nil {
			return nil, err
		}
		out = append(out, lay)
		l7 = true
	}
	if l.on(ztv1.BackendLinkerd) && dst.IsPod() {
		lay, err := linkerdLayer(l, r, src, dst, port, c.method, c.path)
		if err != nil {
			return nil, err
		}
		out = append(out, lay)
		l7 = true
	}
	if cilium && (src.IsPod() || dst.IsPod()) {
		objs := append([]client.Object(nil), r.Objects...)
		for i := range inputNPs {
			objs = append(objs, &inputNPs[i])
		}
		out = append(out, c.ciliumLayer(objs, src, dst, port))
		l7 = true
	}
	if len(out) == 0 {
		return nil, usageErr("no layer in --backends governs calls between pods: add networkpolicy, istio, linkerd or cilium")
	}
	if !l7 && (c.method != "" || c.path != "") {
		// No layer judges methods and paths: say what the granting policies declare, so
		// that a reviewer is not told a request the policy refuses is fine.
		why := l.checkHTTP(grantingPolicies(out), port, c.method, c.path)
		lay := layer{name: "declared HTTP rules", allowed: why == "", why: why}
		if lay.allowed {
			lay.why = "the HTTP rules of the granting policies admit the request (no layer in --backends enforces them: add istio, linkerd or cilium)"
		}
		out = append(out, lay)
	}
	return out, nil
}

func networkPolicyLayer(inputNPs []networkingv1.NetworkPolicy, rendered []client.Object, src, dst *endpoint, port networkpolicy.Port) layer {
	policies := inputNPs
	for _, o := range rendered {
		if np, ok := o.(*networkingv1.NetworkPolicy); ok {
			policies = append(policies, *np)
		}
	}
	v := networkpolicy.Evaluate(policies, src.Endpoint, dst.Endpoint, port)
	lay := layer{name: "NetworkPolicy", allowed: v.Allowed()}
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
		lay.why = strings.Join(why, "; ")
	}
	for _, d := range []struct {
		dir, who string
		s        networkpolicy.Side
	}{{"egress", src.desc, v.Egress}, {"ingress", dst.desc, v.Ingress}} {
		if line := sideLine(d.dir, d.who, d.s); line != "" {
			lay.detail = append(lay.detail, line)
		}
	}
	for _, np := range v.Ingress.AllowedBy {
		lay.ingressBy = append(lay.ingressBy, np)
	}
	for _, np := range v.Egress.AllowedBy {
		lay.egressBy = append(lay.egressBy, np)
	}
	return lay
}

func sideLine(dir, who string, s networkpolicy.Side) string {
	switch {
	case !s.Applies:
		return ""
	case !s.Isolated:
		return fmt.Sprintf("%s: %s is not isolated for %s (no NetworkPolicy selects it)", dir, who, dir)
	case len(s.AllowedBy) == 0:
		return fmt.Sprintf("%s: isolated by NetworkPolicy %s; none allows this call", dir, strings.Join(s.IsolatedBy, ", "))
	}
	names := make([]string, 0, len(s.AllowedBy))
	for _, np := range s.AllowedBy {
		names = append(names, np.Namespace+"/"+np.Name)
	}
	return fmt.Sprintf("%s: allowed by NetworkPolicy %s", dir, strings.Join(names, ", "))
}

// principal is the mesh identity of a caller: its ServiceAccount's SPIFFE path, or "" for
// an address outside the cluster (plaintext, no identity).
func principal(trustDomain string, e *endpoint) string {
	if !e.IsPod() || e.serviceAccount == "" {
		return ""
	}
	return fmt.Sprintf("%s/ns/%s/sa/%s", trustDomain, e.Namespace, e.serviceAccount)
}

func sourceIP(e *endpoint) string {
	if e.IsPod() {
		return ""
	}
	return e.IP.String()
}

// istioLayer judges the call at the destination's sidecar with the rendered
// AuthorizationPolicies. The caller is taken to be in the mesh (mutual TLS, its
// ServiceAccount's identity); an address is a plaintext peer.
func (c *checkFlags) istioLayer(l *loaded, rendered []client.Object, src, dst *endpoint, port networkpolicy.Port) (layer, error) {
	if port.Number == 0 {
		return layer{}, usageErr("--port: the number of port %q on %s is unknown (no container port of its pods has that name), and Istio matches port numbers", port.Name, dst.desc)
	}
	var aps []client.Object
	for _, o := range rendered {
		if ap, ok := o.(*securityv1.AuthorizationPolicy); ok {
			aps = append(aps, ap)
		}
	}
	ok, why := istio.Evaluate(aps, istio.Destination{Namespace: dst.Namespace, Labels: dst.PodLabels},
		istio.Request{Principal: principal(l.opts.TrustDomain, src), IP: sourceIP(src), Port: port.Number, Method: c.method, Path: c.path})
	lay := layer{name: "Istio", allowed: ok, why: why, l7: true}
	if ok {
		for _, o := range aps {
			if names(why, "AuthorizationPolicy", o) {
				lay.ingressBy = append(lay.ingressBy, o)
			}
		}
	} else if c.method == "" && c.path == "" {
		lay.why += " (judged as a plain TCP connection: give --method and --path to judge an HTTP request)"
	}
	return lay, nil
}

// ciliumLayer judges the call with the CiliumNetworkPolicies and NetworkPolicies among
// objs, which Cilium enforces as one set of rules, at the source's egress and the
// destination's ingress.
func (c *checkFlags) ciliumLayer(objs []client.Object, src, dst *endpoint, port networkpolicy.Port) layer {
	peer := func(e *endpoint) cilium.Peer {
		return cilium.Peer{Namespace: e.Namespace, NamespaceLabels: e.NamespaceLabels, Labels: e.PodLabels,
			ServiceAccount: e.serviceAccount, Ports: e.Ports, IP: e.IP}
	}
	v := cilium.Decide(objs, cilium.Request{Source: peer(src), Destination: peer(dst),
		Port: port.Number, PortName: port.Name, Protocol: string(port.Protocol), Method: c.method, Path: c.path})
	lay := layer{name: "Cilium", allowed: v.Allowed(), why: v.Why(), l7: true}
	if !lay.allowed && v.Err == nil && c.method == "" && c.path == "" && (len(v.Ingress.L7) > 0 || len(v.Egress.L7) > 0) {
		lay.why += " (judged as a plain TCP connection: give --method and --path to judge an HTTP request)"
	}
	for _, u := range v.Ingress.AllowedBy {
		lay.ingressBy = append(lay.ingressBy, u)
	}
	for _, u := range v.Egress.AllowedBy {
		lay.egressBy = append(lay.egressBy, u)
	}
	return lay
}

// grantingPolicies are the ServiceAccessPolicies behind the objects that admit the call,
// found by their labels: those admitting it at the destination first (the target's owner
// grants), else at the source.
func grantingPolicies(layers []layer) []metav1.ObjectMeta {
	seen := map[string]bool{}
	var out []metav1.ObjectMeta
	for _, egress := range []bool{false, true} {
		for _, l := range layers {
			objs := l.ingressBy
			if egress {
				objs = l.egressBy
			}
			for _, o := range objs {
				ns, name := o.GetLabels()[ztv1.LabelPolicyNamespace], o.GetLabels()[ztv1.LabelPolicyName]
				if name == "" || seen[ns+"/"+name] {
					continue
				}
				seen[ns+"/"+name] = true
				out = append(out, metav1.ObjectMeta{Namespace: ns, Name: name})
			}
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
	return strings.Join(why, "; ") + " (as declared: no layer in --backends enforces methods and paths; add istio, linkerd or cilium to judge them as the cluster does)"
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
	// fromWorkload takes the pods' labels, ports and ServiceAccount from a pod template.
	fromWorkload := func(w *compiler.Workload) {
		e.PodLabels, e.Ports, e.serviceAccount = w.PodLabels, w.Ports, w.ServiceAccount
	}
	fromPod := func(p *corev1.Pod) {
		fromWorkload(compiler.WorkloadFromTemplate("", ns, p.Name, &corev1.PodTemplateSpec{ObjectMeta: p.ObjectMeta, Spec: p.Spec}))
	}
	switch kind {
	case "pod", "pods", "po":
		p := inv.Pod(ns, name)
		if p == nil {
			return nil, notFound("Pod")
		}
		fromPod(p)
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
		fromWorkload(w)
		e.desc = ns + "/" + string(k) + "/" + name
	case "serviceaccount", "sa":
		if flag != "--from" {
			return nil, usageErr("%s: a ServiceAccount is a caller, not a destination", flag)
		}
		if ok, _ := inv.ServiceAccountExists(ns, name); !ok {
			return nil, notFound("ServiceAccount")
		}
		e.desc = ns + "/ServiceAccount/" + name
		e.serviceAccount = name
		// The pods that run as it: those of the first workload, else the first pod.
		if ws, _ := inv.WorkloadsByServiceAccount(ns, name); len(ws) > 0 {
			fromWorkload(&ws[0])
			break
		}
		e.noPods = true
		for _, p := range inv.Pods(ns) {
			if w := compiler.WorkloadFromTemplate("", ns, p.Name, &corev1.PodTemplateSpec{Spec: p.Spec}); w.ServiceAccount == name {
				fromPod(&p)
				e.noPods = false
				break
			}
		}
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
				fromWorkload(&w)
				found = true
				break
			}
		}
		if !found {
			for _, p := range inv.Pods(ns) {
				if sel.Matches(labels.Set(p.Labels)) {
					fromPod(&p)
					break
				}
			}
		}
	default:
		return nil, usageErr("%s: unknown kind %q; use Pod, Deployment, StatefulSet, DaemonSet, Service or (for --from) ServiceAccount", flag, parts[0])
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
