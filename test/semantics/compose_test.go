package semantics_test

import (
	"fmt"
	"strings"
	"testing"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

// TestComposition renders two policies on the same pods and port (Linkerd admits one
// Server per pod and port, so they must share it) and checks that every layer admits the
// union of what they declare: client/web under policy "reads", client/batch under policy
// "writes", nobody else.
func TestComposition(t *testing.T) {
	targets := map[string]string{
		targetService:   "{service: api}",
		targetWorkload:  "{workload: {kind: Deployment, name: api}}",
		targetPodLabels: "{podSelector: {matchLabels: {app: api}}}",
	}
	pairs := []struct {
		name         string
		reads, write string // the ports entries of the two policies
		// allowed is the union's intent for the caller's requests on the http port.
		allowed func(caller string, r httpReq) bool
	}{
		{
			name:  "HTTP rules + open port",
			reads: "[{port: PORT, http: [{methods: [GET], paths: [/items, /items/*]}]}]",
			write: "[{port: PORT}]",
			allowed: func(caller string, r httpReq) bool {
				if caller == "client/batch" {
					return true
				}
				return r.method == "GET" && (r.path == "/items" || strings.HasPrefix(r.path, "/items/"))
			},
		},
		{
			name:  "HTTP rules + HTTP rules",
			reads: "[{port: PORT, http: [{methods: [GET], paths: [/items, /items/*]}]}]",
			write: "[{port: PORT, http: [{methods: [POST], paths: [/orders]}]}]",
			allowed: func(caller string, r httpReq) bool {
				if caller == "client/batch" {
					return r.method == "POST" && r.path == "/orders"
				}
				return r.method == "GET" && (r.path == "/items" || strings.HasPrefix(r.path, "/items/"))
			},
		},
	}
	reqs := []httpReq{{"GET", "/items"}, {"GET", "/items/7"}, {"POST", "/items"}, {"POST", "/orders"}, {"GET", "/orders"}, {"GET", "/admin"}, {"", ""}}
	for _, tk := range []string{targetService, targetWorkload, targetPodLabels} {
		for _, pair := range pairs {
			for _, pk := range portKinds {
				s := scenario{target: tk, caller: callerWorkload, port: pk, sa: saOwn}
				t.Run(fmt.Sprintf("target=%s,port=%s,%s", tk, pk, pair.name), func(t *testing.T) {
					port := "8080"
					switch {
					case tk == targetService && pk == portNamed:
						port = "web"
					case tk == targetService:
						port = "80"
					case pk == portNamed:
						port = "http"
					}
					policy := func(name, caller, ports string) string {
						return fmt.Sprintf("---\napiVersion: zerotrust.dev/v1alpha1\nkind: ServiceAccessPolicy\nmetadata: {name: %s, namespace: app}\nspec:\n  target: %s\n  from: [{workload: {kind: Deployment, name: %s}, namespace: client}]\n  ports: %s\n",
							name, targets[tk], caller, strings.ReplaceAll(ports, "PORT", port))
					}
					world := s.cluster() + policy("reads", "web", pair.reads) + policy("writes", "batch", pair.write)
					r := render(t, world, t.Name())
					for _, p := range r.Policies {
						if !p.Output.Ready.Status {
							t.Errorf("%s: not Ready: %s", p.Name, p.Output.Ready.Message)
						}
						for _, br := range p.Output.Backends {
							if br.Backend != ztv1.BackendRBAC && br.State != ztv1.BackendApplied {
								t.Errorf("%s: %s is %s: %s", p.Name, br.Backend, br.State, br.Message)
							}
						}
					}
					for _, j := range judges(r) {
						var wrong []string
						for _, src := range s.peers() {
							for _, dst := range s.dests() {
								for _, port := range []int32{8080, 9100} {
									for _, req := range reqs {
										if !j.l7 && req != reqs[0] {
											continue
										}
										want := port == 8080 && !src.external && src.ns == callerNS
										if j.l7 {
											want = want && pair.allowed(src.name, req)
										}
										if got, why := j.eval(src, dst, port, req); got != want || unjudged(why) {
											wrong = append(wrong, fmt.Sprintf("%s -> %s:%d %s: allowed=%v, want %v (%s)", src.name, dst.name, port, req, got, want, why))
										}
									}
								}
							}
						}
						if len(wrong) > 0 {
							t.Errorf("%s gives %d wrong verdicts:\n  %s", j, len(wrong), strings.Join(wrong, "\n  "))
						}
					}
				})
			}
		}
	}
}
