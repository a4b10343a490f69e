package controllers_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/testenv"
)

// TestRoleCoversRegistry: the operator's ClusterRole (generated from the +kubebuilder:rbac
// markers, a list the compiler's registry cannot generate) lets it read, write and delete
// every kind each backend of the registry generates.
func TestRoleCoversRegistry(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	granted := map[string]bool{} // "group/resource verb"
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(string(data)), 4096)
	for {
		var cr rbacv1.ClusterRole
		if err := dec.Decode(&cr); err != nil {
			break
		}
		if cr.Kind != "ClusterRole" {
			continue
		}
		for _, r := range cr.Rules {
			if len(r.ResourceNames) > 0 {
				continue
			}
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					for _, v := range r.Verbs {
						granted[g+"/"+res+" "+v] = true
					}
				}
			}
		}
	}
	if len(granted) == 0 {
		t.Fatal("config/rbac/role.yaml holds no ClusterRole rules")
	}
	for _, info := range compiler.Backends() {
		for _, gvk := range info.Kinds {
			resource := strings.ToLower(gvk.Kind) + "s"
			if strings.HasSuffix(strings.ToLower(gvk.Kind), "y") {
				resource = strings.TrimSuffix(strings.ToLower(gvk.Kind), "y") + "ies"
			}
			for _, verb := range []string{"get", "list", "watch", "create", "patch", "delete"} {
				if !granted[gvk.Group+"/"+resource+" "+verb] {
					t.Errorf("backend %s generates %s, but the operator's ClusterRole does not grant %s on %s.%s: add it to the +kubebuilder:rbac markers",
						info.Name, gvk.Kind, verb, resource, gvk.Group)
				}
			}
		}
	}
}
