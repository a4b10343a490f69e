package main

import (
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/linkerd"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/networkpolicy"
)

// linkerdLayer judges the call at the destination's Linkerd proxy with the rendered
// policy.linkerd.io objects. The caller is taken to be meshed (its ServiceAccount's
// identity); an address is a client without the mesh. Ports no Server selects follow the
// destination namespace's default inbound policy: what the baselines selecting it put
// there, else the namespace's own annotation, else Linkerd's default.
func linkerdLayer(l *loaded, r *compiler.Rendering, src, dst *endpoint, port networkpolicy.Port, method, path string) (layer, error) {
	if port.Number == 0 {
		return layer{}, usageErr("--port: the number of port %q on %s is unknown (no container port of its pods has that name), and Linkerd matches port numbers", port.Name, dst.desc)
	}
	var objs []client.Object
	for _, o := range r.Objects {
		if gvk := o.GetObjectKind().GroupVersionKind(); gvk.Group == linkerd.Group || gvk.Group == "gateway.networking.k8s.io" && gvk.Kind == "HTTPRoute" {
			objs = append(objs, o)
		}
	}
	req := linkerd.Request{Port: port.Number, Method: method, Path: path, SourceIP: sourceIP(src)}
	if src.IsPod() && src.serviceAccount != "" {
		req.Identity = linkerd.Identity(src.Namespace, src.serviceAccount, l.opts.TrustDomain)
	}
	ok, why := linkerd.Evaluate(objs, linkerd.Destination{Namespace: dst.Namespace, Labels: dst.PodLabels, Ports: dst.Ports,
		DefaultPolicy: defaultInboundPolicy(l, r, dst.Namespace), TrustDomain: l.opts.TrustDomain}, req)
	lay := layer{name: "Linkerd", allowed: ok, why: why, l7: true}
	if ok {
		for _, o := range objs {
			if o.GetObjectKind().GroupVersionKind().Kind == "AuthorizationPolicy" && names(why, "AuthorizationPolicy", o) {
				lay.ingressBy = append(lay.ingressBy, o)
			}
		}
	} else if method == "" && path == "" {
		lay.why += " (judged as a plain TCP connection: give --method and --path to judge an HTTP request)"
	}
	return lay, nil
}

// defaultInboundPolicy is Linkerd's default inbound policy for pods of namespace ns: what
// the baselines put on the namespace (as rendered), else its own annotation.
func defaultInboundPolicy(l *loaded, r *compiler.Rendering, ns string) string {
	for _, n := range r.Namespaces {
		if v := n.Annotations[linkerd.DefaultInboundPolicyAnnotation]; n.Name == ns && v != "" {
			return v
		}
	}
	if n, _ := l.inv.Namespace(ns); n != nil {
		return n.Annotations[linkerd.DefaultInboundPolicyAnnotation]
	}
	return ""
}

// on is the set of backends of --backends.
func (l *loaded) on(b ztv1.Backend) bool {
	for _, x := range l.opts.Backends {
		if x == b {
			return true
		}
	}
	return false
}

// names reports whether reason names object o as "KIND NAMESPACE/NAME" (and not merely an
// object whose name starts with o's).
func names(reason, kind string, o client.Object) bool {
	ref := kind + " " + o.GetNamespace() + "/" + o.GetName()
	for rest := reason; ; {
		i := strings.Index(rest, ref)
		if i < 0 {
			return false
		}
		rest = rest[i+len(ref):]
		if rest == "" || !strings.ContainsAny(rest[:1], "abcdefghijklmnopqrstuvwxyz0123456789.-") {
			return true
		}
	}
}
