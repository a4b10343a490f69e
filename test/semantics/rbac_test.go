package semantics_test

import (
	"fmt"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/rbac"
)

// apiScenario is one world of the kubernetesAPI matrix: the world of the other scenarios
// (Deployments client/web and client/batch with their own ServiceAccounts, or both running
// as client/shared) and one policy granting apiRules to a serviceAccount or workload
// caller of namespace client.
type apiScenario struct {
	caller string // callerServiceAccount or callerWorkload
	sa     string // saOwn or saShared
	// policyNS is where the policy lives, the namespace its Role grants in: targetNS
	// (callers of another namespace) or callerNS (the callers' own).
	policyNS string
	// plusAPI: from[1] is {serviceAccount: api, namespace: app}, a caller RBAC always binds,
	// so that a left-out caller makes the backend Partial rather than Skipped.
	plusAPI bool
}

func (s apiScenario) String() string {
	n := fmt.Sprintf("caller=%s,sa=%s,policy-in=%s", s.caller, s.sa, s.policyNS)
	if s.plusAPI {
		n += ",plus=app/api"
	}
	return n
}

// world is the shared scenario world's namespaces, ServiceAccounts and workloads.
func (s apiScenario) world() scenario {
	return scenario{target: targetService, caller: s.caller, port: portNamed, sa: s.sa}
}

// apiRules are the policy's rules: a named ConfigMap read, a subresource write in apps,
// and a collection read.
const apiRules = `
        - {apiGroups: [""], resources: [configmaps], resourceNames: [app-config], verbs: [get, watch]}
        - {apiGroups: [apps], resources: [deployments/scale], verbs: [update]}
        - {apiGroups: [""], resources: [pods], verbs: [list]}`

func (s apiScenario) policyYAML() string {
	nsField := ""
	if s.policyNS != callerNS {
		nsField = ", namespace: " + callerNS
	}
	var from string
	switch s.caller {
	case callerServiceAccount:
		from = fmt.Sprintf("{serviceAccount: %s%s}", s.world().callerSA(), nsField)
	case callerWorkload:
		from = fmt.Sprintf("{workload: {kind: Deployment, name: web}%s}", nsField)
	}
	if s.plusAPI {
		from += ", {serviceAccount: api, namespace: " + targetNS + "}"
	}
	return fmt.Sprintf(`apiVersion: zerotrust.dev/v1alpha1
kind: ServiceAccessPolicy
metadata: {name: api-access, namespace: %s}
spec:
  target:
    kubernetesAPI:
      rules:%s
  from: [%s]
`, s.policyNS, apiRules, from)
}

// declaredAllows is the policy's intent on calls, from its rules as written (no wildcards):
// the verbs listed, on the resource (and subresource) listed, in the group listed, on the
// names listed when it lists some.
func declaredAllows(r rbac.Request) bool {
	switch {
	case r.APIGroup == "" && r.Resource == "configmaps" && r.Subresource == "":
		return (r.Verb == "get" || r.Verb == "watch") && r.Name == "app-config"
	case r.APIGroup == "apps" && r.Resource == "deployments" && r.Subresource == "scale":
		return r.Verb == "update"
	case r.APIGroup == "" && r.Resource == "pods" && r.Subresource == "":
		return r.Verb == "list"
	}
	return false
}

// boundAccounts are the ServiceAccounts the policy means to grant to: the one a
// serviceAccount entry names (every workload running as it: that is what naming it means),
// the one Deployment web runs as when nothing else runs as it, and app/api with plusAPI.
func (s apiScenario) boundAccounts() map[string]bool {
	out := map[string]bool{}
	switch {
	case s.caller == callerServiceAccount:
		out[callerNS+"/"+s.world().callerSA()] = true
	case s.sa == saOwn:
		out[callerNS+"/web"] = true
	}
	if s.plusAPI {
		out[targetNS+"/api"] = true
	}
	return out
}

// leftOut: a workload caller whose ServiceAccount another workload of its namespace runs
// as cannot be bound without granting that workload too.
func (s apiScenario) leftOut() bool { return s.caller == callerWorkload && s.sa == saShared }

// Every ServiceAccount of the world, every namespace, and calls around the declared ones.
var (
	apiAccounts   = []string{"client/web", "client/batch", "client/shared", "other/web", "other/shared", "app/api"}
	apiNamespaces = []string{targetNS, callerNS, otherNS}
	apiVerbs      = []string{"get", "watch", "list", "update", "patch", "create", "delete"}
	apiResources  = []struct{ group, resource, sub string }{
		{"", "configmaps", ""}, {"apps", "configmaps", ""}, {"", "secrets", ""}, {"apps", "deployments", "scale"},
		{"apps", "deployments", ""}, {"apps", "statefulsets", "scale"}, {"", "pods", ""}, {"", "pods", "log"},
	}
	apiNames = []string{"app-config", "other", ""}
)

func apiScenarios() []apiScenario {
	var out []apiScenario
	for _, c := range []string{callerServiceAccount, callerWorkload} {
		for _, sa := range saKinds {
			for _, ns := range []string{targetNS, callerNS} {
				for _, plus := range []bool{false, true} {
					if plus && ns == callerNS {
						continue // app/api is another namespace's: covered with policy-in=app
					}
					out = append(out, apiScenario{caller: c, sa: sa, policyNS: ns, plusAPI: plus})
				}
			}
		}
	}
	return out
}

// TestKubernetesAPI renders kubernetesAPI policies with serviceAccount and workload
// callers, own and shared ServiceAccounts, and judges the RBAC objects with the API
// server's authorizer semantics (rbac.Evaluate): the declared calls are allowed to exactly
// the ServiceAccounts the policy means, in the policy's namespace only, and nothing else is.
func TestKubernetesAPI(t *testing.T) {
	verdicts, allowed := 0, 0
	all := apiScenarios()
	t.Cleanup(func() {
		t.Logf("%d kubernetesAPI scenarios, %d RBAC verdicts judged, %d of them allowed", len(all), verdicts, allowed)
	})
	for _, s := range all {
		t.Run(s.String(), func(t *testing.T) {
			r := render(t, s.world().cluster()+"---\n"+s.policyYAML(), s.String())
			if len(r.Policies) != 1 {
				t.Fatalf("got %d policy results, want 1", len(r.Policies))
			}
			out := r.Policies[0].Output
			res := backendResult(t, out, ztv1.BackendRBAC)
			checkAPIState(t, s, out, res)

			var objs []client.Object
			for _, o := range r.Objects {
				switch o.(type) {
				case *rbacv1.Role, *rbacv1.RoleBinding, *rbacv1.ClusterRole, *rbacv1.ClusterRoleBinding:
					objs = append(objs, o)
					if o.GetNamespace() != s.policyNS {
						t.Errorf("%T %s/%s is outside the policy's namespace %s", o, o.GetNamespace(), o.GetName(), s.policyNS)
					}
				}
			}
			bound := s.boundAccounts()
			for _, acct := range apiAccounts {
				saNS, saName, _ := strings.Cut(acct, "/")
				for _, ns := range apiNamespaces {
					for _, v := range apiVerbs {
						for _, res := range apiResources {
							for _, name := range apiNames {
								req := rbac.Request{ServiceAccountNamespace: saNS, ServiceAccount: saName, Verb: v,
									APIGroup: res.group, Resource: res.resource, Subresource: res.sub, Name: name, Namespace: ns}
								want := bound[acct] && ns == s.policyNS && declaredAllows(req)
								got, why := rbac.Evaluate(objs, req)
								verdicts++
								if got {
									allowed++
								}
								if got != want {
									t.Errorf("ServiceAccount %s: %s: allowed=%v, want %v (%s)", acct, req, got, want, why)
								}
							}
						}
					}
				}
			}
		})
	}
}

// checkAPIState: RBAC is Applied when it binds every caller; a workload caller whose
// ServiceAccount is shared is left out and named, with the workloads sharing it: Skipped
// when nothing is left to bind, Partial otherwise. Ready is then not True.
func checkAPIState(t *testing.T, s apiScenario, out *compiler.Output, res compiler.BackendResult) {
	t.Helper()
	if !s.leftOut() {
		if res.State != ztv1.BackendApplied {
			t.Errorf("RBAC state %s (%s), want Applied", res.State, res.Message)
		}
		if !out.Ready.Status {
			t.Errorf("Ready False (%s: %s), want True", out.Ready.Reason, out.Ready.Message)
		}
		return
	}
	want := ztv1.BackendSkipped
	if s.plusAPI {
		want = ztv1.BackendPartial
	}
	if res.State != want {
		t.Errorf("RBAC state %s (%s), want %s", res.State, res.Message, want)
	}
	for _, part := range []string{"Deployment client/web", "Deployment/web", "Deployment/batch", "ServiceAccount client/shared"} {
		if !strings.Contains(res.Message, part) {
			t.Errorf("RBAC message %q does not name %q", res.Message, part)
		}
	}
	if out.Ready.Status {
		t.Errorf("Ready True (%s), want False: from[0] is granted nothing", out.Ready.Reason)
	}
}

func backendResult(t *testing.T, out *compiler.Output, b ztv1.Backend) compiler.BackendResult {
	t.Helper()
	for _, r := range out.Backends {
		if r.Backend == b {
			return r
		}
	}
	t.Fatalf("no result of backend %s", b)
	return compiler.BackendResult{}
}
