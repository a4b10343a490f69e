package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/networkpolicy"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/rbac"
)

// diff compares what two trees of YAML admit: the tree before a change (--base) and after
// it (--head). Both are rendered as render renders them, and every connection of a finite
// universe of probes, drawn from the union of both trees, is judged in each layer as check
// judges it (networkLayers, rbacLayer): the same compiler and the same evaluators, so that
// diff never disagrees with render or check.
//
// The universe:
//   - callers: every workload and Pod of either tree; every namespace (an unlabelled pod
//     of it running as its default ServiceAccount, NS/*); ServiceAccounts that no workload
//     or Pod runs as (an unlabelled pod running as it); podSelector callers and Services
//     that select no workload or Pod (pods with those labels); cidr callers (the first
//     address of the range);
//   - targets: every workload and Pod; Services and podSelector targets that select no
//     workload or Pod; external targets (the first address of each range). A Service that
//     selects pods is judged at its pods, on its targetPorts: adding or removing a Service
//     opens nothing by itself, and the lines name the pods' owner;
//   - ports: each target's container ports, the targetPorts of the Services that select
//     it, the numeric ports of the policies of its namespace, and one port nobody declares;
//   - requests, in layers that judge HTTP (Istio, Linkerd, Cilium): a plain connection,
//     every method and path a policy mentions (a path prefix with one segment added), and
//     one method and path no policy mentions;
//   - Kubernetes API calls (RBAC): every ServiceAccount of either tree, with the verbs,
//     resources and names the kubernetesAPI targets mention plus a verb, a resource and a
//     name none mentions, in each namespace that has such a target.
//
// A connection exists in a tree when both its ends exist there and the layer admits it. An
// end that only one tree holds (a new workload) has its connections added or removed.

type diffFlags struct {
	common
	base, head []string
	output     string
}

// runDiff prints the connections head admits and base does not (+) and the reverse (-),
// one line each, sorted, then a summary line; with -o json, one JSON object. It returns
// exit 1 (exitWidens) when head admits a connection base does not, in any layer.
func runDiff(args []string, stdin io.Reader, stdout, stderr io.Writer, clock func() time.Time) error {
	var c diffFlags
	fs := flag.NewFlagSet("diff", flag.ContinueOnError)
	c.registerOptions(fs)
	fs.Var((*stringList)(&c.base), "base", "the tree before the change: YAML or JSON file or folder, as render -f reads it; - for stdin. Repeatable")
	fs.Var((*stringList)(&c.head), "head", "the tree after the change, like --base. Repeatable")
	fs.StringVar(&c.output, "o", "text", "output: text (one line per connection, then a summary) or json")
	fs.StringVar(&c.output, "output", "text", "same as -o")
	if help, err := parseFlags(fs, args, stdout); help || err != nil {
		return err
	}
	switch {
	case len(c.base) == 0:
		return usageErr("--base is required: the files or folders of the tree before the change")
	case len(c.head) == 0:
		return usageErr("--head is required: the files or folders of the tree after the change")
	case c.output != "text" && c.output != "json":
		return usageErr("-o: %q is not text or json", c.output)
	case slices.Contains(c.base, "-") && slices.Contains(c.head, "-"):
		return usageErr("--base and --head cannot both read stdin (-)")
	}
	if _, err := parseBackends(c.backends); err != nil {
		return err
	}
	base, err := c.tree("--base", c.base, stdin, clock)
	if err != nil {
		return err
	}
	head, err := c.tree("--head", c.head, stdin, clock)
	if err != nil {
		return err
	}
	u := newUniverse(base.l, head.l)
	before, probedBefore := base.admitted(u)
	after, probedAfter := head.admitted(u)
	probes := len(probedBefore)
	for k := range probedAfter {
		if !probedBefore[k] {
			probes++
		}
	}
	var changes []connection
	for k, conn := range after {
		if _, ok := before[k]; !ok {
			conn.Change = changeAdded
			changes = append(changes, conn)
		}
	}
	for k, conn := range before {
		if _, ok := after[k]; !ok {
			conn.Change = changeRemoved
			changes = append(changes, conn)
		}
	}
	changes = collapse(changes, u)
	sortConnections(changes)
	for _, w := range renderWarnings(head.r) {
		_, _ = fmt.Fprintln(stderr, w)
	}
	s := summarize(changes, probes, head.l.opts.Backends)
	if c.output == "json" {
		if changes == nil {
			changes = []connection{}
		}
		out, err := json.MarshalIndent(struct {
			diffSummary
			Connections []connection `json:"connections"`
		}{s, changes}, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", out)
		if err != nil {
			return err
		}
	} else {
		for _, conn := range changes {
			_, _ = fmt.Fprintln(stdout, conn.line())
		}
		_, _ = fmt.Fprintln(stdout, s.line())
	}
	if s.Widens {
		return &exitError{code: exitWidens}
	}
	return nil
}

// tree is one side of the diff, read and rendered as render reads and renders it.
type tree struct {
	l *loaded
	r *compiler.Rendering
}

func (c *diffFlags) tree(flagName string, files []string, stdin io.Reader, clock func() time.Time) (*tree, error) {
	cc := c.common
	cc.files = files
	l, err := cc.load(stdin, clock)
	if err == nil {
		var r *compiler.Rendering
		if r, err = l.render(); err == nil {
			return &tree{l: l, r: r}, nil
		}
	}
	if ee, ok := err.(*exitError); ok && ee.err != nil {
		return nil, &exitError{code: ee.code, err: fmt.Errorf("%s: %w", flagName, ee.err)}
	}
	return nil, err
}

// end is a caller or a target of the universe, found anew in each tree.
type end struct {
	// desc names it in output: NS/KIND/NAME, NS/* (any pod of NS), NS/pods{LABELS}, an IP.
	desc string
	// ref is what resolveEndpoint resolves (NS/KIND/NAME or an IP); "" for a stand-in.
	ref string
	// standIn is a pod that no object of the trees describes: its namespace, labels and
	// ServiceAccount.
	standIn *endpoint
	// ports a target is probed on.
	ports []probePort
}

type probePort struct {
	number int32
	proto  corev1.Protocol
}

// request is an HTTP request a layer that judges HTTP is probed with.
type request struct{ method, path string }

// universe is the set of probes, the same for both trees.
type universe struct {
	callers, targets []*end
	requests         []request
	// apiCallers are ServiceAccounts as NS/NAME; apiRequests the Kubernetes API calls they
	// are probed with (without the ServiceAccount).
	apiCallers  []string
	apiRequests []rbac.Request
}

// resolve finds e in the tree, or returns nil when the tree does not hold it.
func (t *tree) resolve(e *end, flagName string) *endpoint {
	if e.ref != "" {
		ep, err := resolveEndpoint(t.l.inv, e.ref, "", flagName)
		if err != nil || ep.noPods {
			return nil
		}
		ep.desc = e.desc
		return ep
	}
	ep := *e.standIn
	ep.NamespaceLabels = namespaceLabels(t.l.inv, ep.Namespace)
	return &ep
}

// admitted judges every probe of u in every layer of the tree: it returns the connections
// admitted and the keys of every probe judged, by connection key.
func (t *tree) admitted(u *universe) (map[string]connection, map[string]bool) {
	admitted, probed := map[string]connection{}, map[string]bool{}
	judge := func(lay layer, conn connection) {
		conn.Layer, conn.l7 = strings.ToLower(lay.name), lay.l7
		k := conn.key()
		probed[k] = true
		if lay.allowed {
			admitted[k] = conn
		}
	}
	for _, ce := range u.callers {
		src := t.resolve(ce, "--from")
		if src == nil {
			continue
		}
		for _, te := range u.targets {
			if te.desc == ce.desc {
				continue // a pod's calls to itself never leave it
			}
			dst := t.resolve(te, "--to")
			if dst == nil {
				continue
			}
			for _, pp := range te.ports {
				port := networkpolicy.Port{Number: pp.number, Protocol: pp.proto}
				conn := connection{Caller: ce.desc, Target: te.desc, Port: pp.number, Protocol: string(pp.proto)}
				// A usage error (no layer governs calls between pods) judges nothing.
				layers, err := (&checkFlags{}).networkLayers(t.l, t.r, src, dst, port)
				if err != nil {
					continue
				}
				l7 := false
				for _, lay := range layers {
					plain := conn
					plain.Plain = lay.l7 && pp.proto == corev1.ProtocolTCP && len(u.requests) > 0
					judge(lay, plain)
					l7 = l7 || lay.l7
				}
				if !l7 || pp.proto != corev1.ProtocolTCP {
					continue
				}
				for _, rq := range u.requests {
					layers, err := (&checkFlags{method: rq.method, path: rq.path}).networkLayers(t.l, t.r, src, dst, port)
					if err != nil {
						continue
					}
					withRequest := conn
					withRequest.Method, withRequest.Path = rq.method, rq.path
					for _, lay := range layers {
						if lay.l7 {
							judge(lay, withRequest)
						}
					}
				}
			}
		}
	}
	if t.l.on(ztv1.BackendRBAC) {
		for _, sa := range u.apiCallers {
			ns, name, _ := strings.Cut(sa, "/")
			for _, req := range u.apiRequests {
				req.ServiceAccountNamespace, req.ServiceAccount = ns, name
				judge(rbacLayer(t.r.Objects, req), connection{Caller: ns + "/ServiceAccount/" + name,
					API: &apiCall{Verb: req.Verb, APIGroup: req.APIGroup, Resource: req.Resource,
						Subresource: req.Subresource, Name: req.Name, Namespace: req.Namespace}})
			}
		}
	}
	return admitted, probed
}

// newUniverse draws the probes from the union of the trees.
func newUniverse(trees ...*loaded) *universe {
	b := universeBuilder{ends: map[string]*end{}, ports: map[string]map[probePort]bool{},
		callers: map[string]bool{}, targets: map[string]bool{}, namespaces: map[string]bool{},
		apiCallers: map[string]bool{}, runAs: map[string]bool{}}
	var policies []ztv1.ServiceAccessPolicy
	for _, l := range trees {
		for _, o := range l.objects {
			if ns := o.Object.GetNamespace(); ns != "" {
				b.namespaces[ns] = true
			} else if n, ok := o.Object.(*corev1.Namespace); ok {
				b.namespaces[n.Name] = true
			}
		}
		policies = append(policies, l.inv.Policies()...)
	}
	for _, p := range policies {
		b.namespaces[p.Namespace] = true
		for _, f := range p.Spec.From {
			if f.Namespace != "" {
				b.namespaces[f.Namespace] = true
			}
		}
	}
	for _, l := range trees {
		b.addPods(l)
	}
	for _, l := range trees {
		for _, o := range l.objects {
			if sa, ok := o.Object.(*corev1.ServiceAccount); ok {
				b.addServiceAccount(sa.Namespace, sa.Name)
			}
		}
	}
	for _, l := range trees {
		b.addServices(l)
	}
	for _, p := range policies {
		b.addPolicy(&p)
	}
	for ns := range b.namespaces {
		b.add(&end{desc: ns + "/*", standIn: &endpoint{Endpoint: networkpolicy.Endpoint{Namespace: ns}, serviceAccount: "default"}}, true, false)
	}
	u := &universe{}
	for _, desc := range slices.Sorted(maps.Keys(b.ends)) {
		e := b.ends[desc]
		if b.callers[desc] {
			u.callers = append(u.callers, e)
		}
		if b.targets[desc] {
			undeclared := probePort{number: 65535, proto: corev1.ProtocolTCP}
			for b.declared[undeclared.number] {
				undeclared.number--
			}
			for p := range b.ports[desc] {
				e.ports = append(e.ports, p)
			}
			e.ports = append(e.ports, undeclared)
			sort.Slice(e.ports, func(i, j int) bool {
				if e.ports[i].number != e.ports[j].number {
					return e.ports[i].number < e.ports[j].number
				}
				return e.ports[i].proto < e.ports[j].proto
			})
			e.ports = slices.Compact(e.ports)
			u.targets = append(u.targets, e)
		}
	}
	if trees[0].on(ztv1.BackendIstio) || trees[0].on(ztv1.BackendLinkerd) || trees[0].on(ztv1.BackendCilium) {
		u.requests = httpRequests(policies)
	}
	if trees[0].on(ztv1.BackendRBAC) {
		u.apiCallers = slices.Sorted(maps.Keys(b.apiCallers))
		u.apiRequests = apiRequests(policies)
	}
	return u
}

type universeBuilder struct {
	ends                                map[string]*end
	ports                               map[string]map[probePort]bool
	declared                            map[int32]bool
	callers, targets, namespaces, runAs map[string]bool
	apiCallers                          map[string]bool
	podLabels                           map[string][]map[string]string // by namespace
}

func (b *universeBuilder) add(e *end, caller, target bool) *end {
	if prev, ok := b.ends[e.desc]; ok {
		e = prev
	} else {
		b.ends[e.desc] = e
	}
	b.callers[e.desc] = b.callers[e.desc] || caller
	b.targets[e.desc] = b.targets[e.desc] || target
	return e
}

func (b *universeBuilder) addPort(desc string, number int32, proto corev1.Protocol) {
	if number == 0 {
		return
	}
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	if b.ports[desc] == nil {
		b.ports[desc] = map[probePort]bool{}
	}
	b.ports[desc][probePort{number, proto}] = true
	b.declare(number)
}

func (b *universeBuilder) declare(number int32) {
	if b.declared == nil {
		b.declared = map[int32]bool{}
	}
	b.declared[number] = true
}

// addPods adds the workloads and Pods of a tree, as callers and targets on their
// container ports, and the ServiceAccounts they run as to Kubernetes API callers.
func (b *universeBuilder) addPods(l *loaded) {
	if b.podLabels == nil {
		b.podLabels = map[string][]map[string]string{}
	}
	for _, ns := range slices.Sorted(maps.Keys(b.namespaces)) {
		ws := l.inv.Workloads(ns)
		for _, p := range l.inv.Pods(ns) {
			w := compiler.WorkloadFromTemplate("Pod", ns, p.Name, &corev1.PodTemplateSpec{ObjectMeta: p.ObjectMeta, Spec: p.Spec})
			ws = append(ws, *w)
		}
		for _, w := range ws {
			desc := ns + "/" + string(w.Kind) + "/" + w.Name
			b.add(&end{desc: desc, ref: desc}, true, true)
			for _, cp := range w.Ports {
				b.addPort(desc, cp.ContainerPort, cp.Protocol)
			}
			b.podLabels[ns] = append(b.podLabels[ns], w.PodLabels)
			b.runAs[ns+"/"+w.ServiceAccount] = true
			b.apiCallers[ns+"/"+w.ServiceAccount] = true
		}
	}
}

// addServiceAccount adds a ServiceAccount: to Kubernetes API calls, and, when no workload
// or Pod runs as it, as a caller of its own.
func (b *universeBuilder) addServiceAccount(ns, name string) {
	b.apiCallers[ns+"/"+name] = true
	if !b.runAs[ns+"/"+name] {
		b.add(&end{desc: ns + "/ServiceAccount/" + name, standIn: &endpoint{Endpoint: networkpolicy.Endpoint{Namespace: ns}, serviceAccount: name}}, true, false)
	}
}

// selectsPods reports whether selector selects a workload or Pod of namespace ns in
// either tree.
func (b *universeBuilder) selectsPods(ns string, sel labels.Selector) bool {
	for _, l := range b.podLabels[ns] {
		if sel.Matches(labels.Set(l)) {
			return true
		}
	}
	return false
}

// addServices adds each Service's targetPorts to the workloads and Pods it selects, and
// a Service that selects none as a caller and target of its own.
func (b *universeBuilder) addServices(l *loaded) {
	for _, o := range l.objects {
		svc, ok := o.Object.(*corev1.Service)
		if !ok || len(svc.Spec.Selector) == 0 {
			continue
		}
		sel := labels.SelectorFromSet(svc.Spec.Selector)
		var selected []compiler.Workload
		for _, w := range l.inv.Workloads(svc.Namespace) {
			if sel.Matches(labels.Set(w.PodLabels)) {
				selected = append(selected, w)
			}
		}
		for _, p := range l.inv.Pods(svc.Namespace) {
			if sel.Matches(labels.Set(p.Labels)) {
				selected = append(selected, *compiler.WorkloadFromTemplate("Pod", p.Namespace, p.Name, &corev1.PodTemplateSpec{ObjectMeta: p.ObjectMeta, Spec: p.Spec}))
			}
		}
		for _, sp := range svc.Spec.Ports {
			b.declare(sp.Port)
			for _, w := range selected {
				b.addPort(svc.Namespace+"/"+string(w.Kind)+"/"+w.Name, targetPortNumber(sp, w.Ports), sp.Protocol)
			}
		}
		if b.selectsPods(svc.Namespace, sel) {
			continue
		}
		desc := svc.Namespace + "/Service/" + svc.Name
		b.add(&end{desc: desc, ref: desc}, true, true)
		for _, sp := range svc.Spec.Ports {
			b.addPort(desc, targetPortNumber(sp, nil), sp.Protocol)
		}
	}
}

// targetPortNumber is the pod port a Service port leads to, 0 when a name is not among
// ports.
func targetPortNumber(sp corev1.ServicePort, ports []corev1.ContainerPort) int32 {
	switch tp := sp.TargetPort; {
	case tp.Type == intstr.String && tp.StrVal != "":
		for _, cp := range ports {
			if cp.Name == tp.StrVal {
				return cp.ContainerPort
			}
		}
		return 0
	case tp.Type == intstr.Int && tp.IntVal != 0:
		return tp.IntVal
	}
	return sp.Port
}

// addPolicy adds what a policy names: its callers and targets that no object of the
// trees describes, and its numeric ports to the targets of its namespace.
func (b *universeBuilder) addPolicy(p *ztv1.ServiceAccessPolicy) {
	var numeric []probePort
	for _, pr := range p.Spec.Ports {
		proto := corev1.Protocol(pr.Protocol)
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		if pr.Port.Type == intstr.Int {
			numeric = append(numeric, probePort{pr.Port.IntVal, proto})
			b.declare(pr.Port.IntVal)
		}
	}
	for _, f := range p.Spec.From {
		ns := f.Namespace
		if ns == "" {
			ns = p.Namespace
		}
		switch {
		case f.CIDR != "":
			if pfx, err := netip.ParsePrefix(f.CIDR); err == nil {
				b.add(&end{desc: pfx.Addr().String(), ref: pfx.Addr().String()}, true, false)
			}
		case f.ServiceAccount != "":
			b.addServiceAccount(ns, f.ServiceAccount)
		case f.PodSelector != nil:
			b.addSelected(ns, f.PodSelector, true, nil)
		}
	}
	t := p.Spec.Target
	switch {
	case t.PodSelector != nil:
		b.addSelected(p.Namespace, t.PodSelector, false, numeric)
	case t.External != nil:
		for _, cidr := range t.External.CIDRs {
			if pfx, err := netip.ParsePrefix(cidr); err == nil {
				e := b.add(&end{desc: pfx.Addr().String(), ref: pfx.Addr().String()}, false, true)
				for _, pp := range numeric {
					b.addPort(e.desc, pp.number, pp.proto)
				}
			}
		}
		return
	case t.KubernetesAPI != nil:
		return
	}
	// The policy's numeric ports on every target of its namespace: a port the policy
	// opens on a pod that does not declare it.
	for desc := range b.targets {
		if e := b.ends[desc]; e.standIn == nil && strings.HasPrefix(desc, p.Namespace+"/") {
			for _, pp := range numeric {
				b.addPort(desc, pp.number, pp.proto)
			}
		}
	}
}

// addSelected adds pods with the labels of a podSelector when no workload or Pod of the
// trees carries them (a selector with expressions has no such stand-in).
func (b *universeBuilder) addSelected(ns string, s *metav1.LabelSelector, caller bool, ports []probePort) {
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil || len(s.MatchExpressions) > 0 || b.selectsPods(ns, sel) {
		return
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(s.MatchLabels)) {
		parts = append(parts, k+"="+s.MatchLabels[k])
	}
	e := b.add(&end{desc: ns + "/pods{" + strings.Join(parts, ",") + "}",
		standIn: &endpoint{Endpoint: networkpolicy.Endpoint{Namespace: ns, PodLabels: s.MatchLabels}, serviceAccount: "default"}}, caller, !caller)
	for _, pp := range ports {
		b.addPort(e.desc, pp.number, pp.proto)
	}
}

// httpRequests are the requests of the universe: every method and path the policies
// mention (a prefix stands for a path under it) and one of each that none mentions.
func httpRequests(policies []ztv1.ServiceAccessPolicy) []request {
	seen := map[request]bool{}
	methods, paths := map[string]bool{}, map[string]bool{}
	for _, p := range policies {
		for _, pr := range p.Spec.Ports {
			for _, rule := range pr.HTTP {
				ms := []string{"GET"}
				if len(rule.Methods) > 0 {
					ms = nil
					for _, m := range rule.Methods {
						ms = append(ms, strings.ToUpper(string(m)))
					}
				}
				ps := []string{"/"}
				if len(rule.Paths) > 0 {
					ps = nil
					for _, path := range rule.Paths {
						if prefix, ok := strings.CutSuffix(path, "*"); ok {
							path = strings.TrimSuffix(prefix, "/") + "/x"
						}
						ps = append(ps, path)
					}
				}
				for _, m := range ms {
					methods[m] = true
					for _, path := range ps {
						paths[path] = true
						seen[request{m, path}] = true
					}
				}
			}
		}
	}
	other := request{method: "PATCH", path: "/zt-unlisted"}
	for _, m := range []string{"PATCH", "DELETE", "PUT", "POST", "HEAD", "OPTIONS", "GET"} {
		if !methods[m] {
			other.method = m
			break
		}
	}
	for paths[other.path] {
		other.path += "/x"
	}
	seen[other] = true
	out := make([]request, 0, len(seen))
	for r := range seen {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].method != out[j].method {
			return out[i].method < out[j].method
		}
		return out[i].path < out[j].path
	})
	return out
}

// collectionVerbs name no object.
var collectionVerbs = map[string]bool{"list": true, "watch": true, "create": true, "deletecollection": true}

// unlistedName is the object name no policy mentions.
const unlistedName = "zt-unlisted"

// apiRequests are the Kubernetes API calls of the universe, in each namespace with a
// kubernetesAPI target: the verbs, resources and names the targets mention, and a verb, a
// resource and a name none mentions. A verb that names an object is probed on each name
// mentioned for the resource and on one none mentions; a collection verb names none.
func apiRequests(policies []ztv1.ServiceAccessPolicy) []rbac.Request {
	type resource struct{ group, resource, sub string }
	verbs := map[string]bool{}
	byNS := map[string]map[resource]map[string]bool{}
	for _, p := range policies {
		if p.Spec.Target.KubernetesAPI == nil {
			continue
		}
		if byNS[p.Namespace] == nil {
			byNS[p.Namespace] = map[resource]map[string]bool{}
		}
		for _, rule := range p.Spec.Target.KubernetesAPI.Rules {
			for _, v := range rule.Verbs {
				if v != "*" {
					verbs[strings.ToLower(v)] = true
				}
			}
			for _, g := range rule.APIGroups {
				for _, r := range rule.Resources {
					res, sub, _ := strings.Cut(r, "/")
					if g == "*" || strings.Contains(r, "*") {
						continue
					}
					k := resource{g, res, sub}
					if byNS[p.Namespace][k] == nil {
						byNS[p.Namespace][k] = map[string]bool{}
					}
					for _, n := range rule.ResourceNames {
						byNS[p.Namespace][k][n] = true
					}
				}
			}
		}
	}
	for _, v := range []string{"delete", "update", "patch", "create", "get", "list", "watch", "deletecollection", "escalate"} {
		if !verbs[v] {
			verbs[v] = true
			break
		}
	}
	var out []rbac.Request
	for _, ns := range slices.Sorted(maps.Keys(byNS)) {
		resources := byNS[ns]
		for _, r := range []string{"secrets", "configmaps", "pods", "services"} {
			if _, ok := resources[resource{"", r, ""}]; !ok {
				resources[resource{"", r, ""}] = map[string]bool{}
				break
			}
		}
		keys := make([]resource, 0, len(resources))
		for k := range resources {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			a, b := keys[i], keys[j]
			return a.group+"/"+a.resource+"/"+a.sub < b.group+"/"+b.resource+"/"+b.sub
		})
		for _, v := range slices.Sorted(maps.Keys(verbs)) {
			for _, k := range keys {
				names := []string{""}
				if !collectionVerbs[v] {
					names = append(slices.Sorted(maps.Keys(resources[k])), unlistedName)
				}
				for _, n := range names {
					out = append(out, rbac.Request{Verb: v, APIGroup: k.group, Resource: k.resource, Subresource: k.sub, Name: n, Namespace: ns})
				}
			}
		}
	}
	return out
}

// Changes.
const (
	changeAdded   = "added"
	changeRemoved = "removed"
)

// connection is one connection or Kubernetes API call a layer admits, and with Change set,
// one line of the diff.
type connection struct {
	Change string `json:"change"`
	// Layer is the backend's --backends name (networkpolicy, istio, linkerd, cilium, rbac).
	Layer  string `json:"layer"`
	Caller string `json:"caller"`
	Target string `json:"target,omitempty"`
	// Port is the port on the target's pods (or the external address).
	Port     int32  `json:"port,omitempty"`
	Protocol string `json:"protocol,omitempty"`
	// Method and Path of an HTTP request. A line of a layer that judges HTTP with neither
	// (and not Plain) stands for every request probed: the connection, whatever it carries.
	Method string `json:"method,omitempty"`
	Path   string `json:"path,omitempty"`
	// Plain is a connection that carries no HTTP request, in a layer that judges HTTP.
	Plain bool `json:"plainTCP,omitempty"`
	// API is a Kubernetes API call (layer rbac); Caller is its ServiceAccount.
	API *apiCall `json:"kubernetesAPI,omitempty"`

	l7 bool
}

type apiCall struct {
	Verb        string `json:"verb"`
	APIGroup    string `json:"apiGroup,omitempty"`
	Resource    string `json:"resource"`
	Subresource string `json:"subresource,omitempty"`
	Name        string `json:"name,omitempty"`
	Namespace   string `json:"namespace"`
}

func (a *apiCall) request() rbac.Request {
	return rbac.Request{Verb: a.Verb, APIGroup: a.APIGroup, Resource: a.Resource, Subresource: a.Subresource, Name: a.Name, Namespace: a.Namespace}
}

// what is the connection without the layer and caller, as lines print it.
func (c *connection) what() string {
	if c.API != nil {
		return c.API.request().String()
	}
	s := c.Target + " " + strconv.Itoa(int(c.Port)) + "/" + c.Protocol
	switch {
	case c.Plain:
		s += " (plain TCP)"
	case c.Method != "" || c.Path != "":
		s += " " + c.Method + " " + c.Path
	}
	return s
}

// key identifies a connection in a tree.
func (c *connection) key() string { return c.Layer + " " + c.Caller + " -> " + c.what() }

func (c *connection) line() string {
	sign := "+"
	if c.Change == changeRemoved {
		sign = "-"
	}
	return sign + " " + c.Layer + "  " + c.Caller + " -> " + c.what()
}

// collapse replaces, in a layer that judges HTTP, the lines of every request probed on a
// connection by one line for the connection, when all changed alike.
func collapse(changes []connection, u *universe) []connection {
	type group struct {
		change, layer, caller, target string
		port                          int32
		proto                         string
	}
	count := map[group]int{}
	groupOf := func(c *connection) (group, bool) {
		if !c.l7 || c.API != nil || c.Protocol != string(corev1.ProtocolTCP) || len(u.requests) == 0 {
			return group{}, false
		}
		return group{c.Change, c.Layer, c.Caller, c.Target, c.Port, c.Protocol}, true
	}
	for i := range changes {
		if g, ok := groupOf(&changes[i]); ok {
			count[g]++
		}
	}
	var out []connection
	done := map[group]bool{}
	for _, c := range changes {
		g, ok := groupOf(&c)
		if ok && count[g] == len(u.requests)+1 {
			if done[g] {
				continue
			}
			done[g] = true
			c.Plain, c.Method, c.Path = false, "", ""
		}
		out = append(out, c)
	}
	return out
}

// sortConnections orders the lines: added before removed, then by layer (in registry
// order), caller, target, port, protocol, request.
func sortConnections(cs []connection) {
	layerOrder := map[string]int{}
	for i, info := range compiler.Backends() {
		layerOrder[info.Flag] = i
	}
	sort.Slice(cs, func(i, j int) bool {
		a, b := &cs[i], &cs[j]
		switch {
		case a.Change != b.Change:
			return a.Change == changeAdded
		case a.Layer != b.Layer:
			return layerOrder[a.Layer] < layerOrder[b.Layer]
		case a.Caller != b.Caller:
			return a.Caller < b.Caller
		case a.Target != b.Target:
			return a.Target < b.Target
		case a.Port != b.Port:
			return a.Port < b.Port
		}
		return a.what() < b.what()
	})
}

// diffSummary is the verdict of a diff.
type diffSummary struct {
	Added   int  `json:"added"`
	Removed int  `json:"removed"`
	Widens  bool `json:"widens"`
	// Probes is how many connections were judged, layer by layer, in either tree.
	Probes int `json:"probes"`
	// Backends are those of --backends.
	Backends []string `json:"backends"`
}

func summarize(changes []connection, probes int, backends []ztv1.Backend) diffSummary {
	s := diffSummary{Probes: probes, Backends: []string{}}
	for _, c := range changes {
		if c.Change == changeAdded {
			s.Added++
		} else {
			s.Removed++
		}
	}
	s.Widens = s.Added > 0
	for _, b := range backends {
		s.Backends = append(s.Backends, strings.ToLower(string(b)))
	}
	return s
}

func (s diffSummary) line() string {
	verdict := "access unchanged"
	switch {
	case s.Widens:
		verdict = "access widens"
	case s.Removed > 0:
		verdict = "access narrows"
	}
	return fmt.Sprintf("%d added, %d removed (%d probes, backends %s): %s", s.Added, s.Removed, s.Probes, strings.Join(s.Backends, ","), verdict)
}
