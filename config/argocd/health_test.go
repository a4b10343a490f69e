// Package argocd_test runs the Argo CD health checks under config/argocd the way Argo CD
// runs its own resource_customizations tests: every <group>/<Kind>/health_test.yaml lists
// testdata objects and the health Argo CD must show for each.
package argocd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite argocd-cm.yaml from the health.lua files")

// group is the API group whose kinds have health checks here; each kind is a directory
// under it, as in Argo CD's resource_customizations.
const group = "zerotrust.dev"

// kinds are the kinds that must have a health check. A kind added to the API without one
// is not caught here; one removed from here is.
var kinds = []string{"ServiceAccessPolicy", "ZeroTrustBaseline"}

// configMapFile is the argocd-cm patch that carries the same scripts.
const configMapFile = "argocd-cm.yaml"

// healthStatus is Argo CD's HealthStatus (gitops-engine pkg/health).
type healthStatus struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
}

// healthTests is the format of health_test.yaml in Argo CD's resource_customizations.
type healthTests struct {
	Tests []struct {
		HealthStatus healthStatus `json:"healthStatus"`
		InputPath    string       `json:"inputPath"`
	} `json:"tests"`
}

// validStatuses are the health codes Argo CD accepts from a script; any other becomes
// Unknown.
var validStatuses = []string{"Unknown", "Progressing", "Suspended", "Healthy", "Degraded", "Missing"}

// libs says which Lua libraries a script gets.
type libs int

const (
	// argocdCM is an argocd-cm customization without useOpenLibs (the default): package,
	// base and table only (Argo CD adds a "safe" os library, which these scripts do not use).
	argocdCM libs = iota
	// builtIn is a script compiled into Argo CD's resource_customizations, or an argocd-cm
	// one with useOpenLibs: every standard library.
	builtIn
)

func (l libs) String() string {
	if l == builtIn {
		return "open-libs"
	}
	return "argocd-cm"
}

// toLua converts an object decoded from JSON or YAML to a Lua value as Argo CD does
// (util/lua decodeValue): objects become tables with string keys, arrays tables indexed
// from 1, numbers Lua numbers, json.Number a string; null is absent, in an array too (the
// elements after it move up).
func toLua(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case json.Number:
		return lua.LString(v)
	case float64:
		return lua.LNumber(v)
	case int:
		return lua.LNumber(v)
	case int32:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case []any:
		t := L.CreateTable(len(v), 0)
		for _, item := range v {
			t.Append(toLua(L, item)) // Append drops nil, as in Argo CD
		}
		return t
	case map[string]any:
		t := L.CreateTable(0, len(v))
		for key, item := range v {
			t.RawSetString(key, toLua(L, item)) // a nil value leaves the key out
		}
		return t
	}
	return lua.LNil
}

// fromLua converts the script's result to JSON values as Argo CD does (layeh.com/gopher-json
// Encode): a table with keys 1..n only (or no keys) is an array, any other an object.
func fromLua(v lua.LValue) (any, error) {
	switch v := v.(type) {
	case lua.LBool:
		return bool(v), nil
	case lua.LNumber:
		return float64(v), nil
	case lua.LString:
		return string(v), nil
	case *lua.LTable:
		if n := v.MaxN(); n > 0 || isEmpty(v) {
			arr := make([]any, 0, n)
			for i := 1; i <= n; i++ {
				item, err := fromLua(v.RawGetInt(i))
				if err != nil {
					return nil, err
				}
				arr = append(arr, item)
			}
			if countKeys(v) == n {
				return arr, nil
			}
		}
		obj := map[string]any{}
		var err error
		v.ForEach(func(key, value lua.LValue) {
			if err != nil {
				return
			}
			obj[key.String()], err = fromLua(value)
		})
		return obj, err
	}
	if v == lua.LNil {
		return nil, nil
	}
	return nil, fmt.Errorf("cannot encode a Lua %s", v.Type())
}

func isEmpty(t *lua.LTable) bool { return countKeys(t) == 0 }

func countKeys(t *lua.LTable) int {
	n := 0
	t.ForEach(func(lua.LValue, lua.LValue) { n++ })
	return n
}

// runHealth runs script on obj as Argo CD's ExecuteHealthLua does: obj is the global obj,
// the chunk's last return value must be a table, read as a HealthStatus, and a status that
// is not a health code becomes Unknown. Argo CD gives a script one second; the scripts take
// milliseconds, but this runs with -race beside API servers on CI's few cores, so it allows
// ten.
func runHealth(script string, obj map[string]any, l libs) (healthStatus, error) {
	L := lua.NewState(lua.Options{SkipOpenLibs: l == argocdCM})
	defer L.Close()
	if l == argocdCM {
		for _, lib := range []struct {
			name string
			open lua.LGFunction
		}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}} {
			if err := L.CallByParam(lua.P{Fn: L.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
				return healthStatus{}, err
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	L.SetContext(ctx)
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(script); err != nil {
		return healthStatus{}, err
	}
	ret := L.Get(-1)
	if ret.Type() != lua.LTTable {
		return healthStatus{}, fmt.Errorf("expect table output from Lua script, not %s", ret.Type())
	}
	v, err := fromLua(ret)
	if err != nil {
		return healthStatus{}, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return healthStatus{}, err
	}
	var hs healthStatus
	if err := json.Unmarshal(b, &hs); err != nil {
		return healthStatus{}, fmt.Errorf("script returned %s: %w", b, err)
	}
	if !slices.Contains(validStatuses, hs.Status) {
		return healthStatus{Status: "Unknown", Message: "Lua returned an invalid health status"}, nil
	}
	return hs, nil
}

// apiServerForm is obj as Argo CD's controller holds it, decoded from the API server's JSON
// into unstructured: whole numbers are int64, not float64.
func apiServerForm(v any) any {
	switch v := v.(type) {
	case float64:
		if v == float64(int64(v)) {
			return int64(v)
		}
		return v
	case []any:
		out := make([]any, len(v))
		for i := range v {
			out[i] = apiServerForm(v[i])
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, item := range v {
			out[k] = apiServerForm(item)
		}
		return out
	}
	return v
}

// script reads the health check of kind.
func script(t *testing.T, kind string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(group, kind, "health.lua"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestEveryKindHasAHealthCheck(t *testing.T) {
	entries, err := os.ReadDir(group)
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, e := range entries {
		if e.IsDir() {
			found = append(found, e.Name())
		}
	}
	if !slices.Equal(found, kinds) {
		t.Fatalf("directories under %s/: %v, want %v", group, found, kinds)
	}
	for _, kind := range kinds {
		for _, f := range []string{"health.lua", "health_test.yaml"} {
			if _, err := os.Stat(filepath.Join(group, kind, f)); err != nil {
				t.Errorf("%s: %v", kind, err)
			}
		}
	}
}

// TestHealthChecks is Argo CD's TestLuaHealthScript for these kinds: every case of every
// health_test.yaml, with the libraries of an argocd-cm customization and of a built-in
// script, and with the object as Argo CD's tests decode it (YAML: float64 numbers) and as
// its controller holds it (int64).
func TestHealthChecks(t *testing.T) {
	for _, kind := range kinds {
		dir := filepath.Join(group, kind)
		src := script(t, kind)
		data, err := os.ReadFile(filepath.Join(dir, "health_test.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var tests healthTests
		if err := yaml.UnmarshalStrict(data, &tests); err != nil {
			t.Fatalf("%s/health_test.yaml: %v", dir, err)
		}
		if len(tests.Tests) == 0 {
			t.Fatalf("%s/health_test.yaml has no tests", dir)
		}

		// Every testdata file is a case, and every case's file exists.
		files, err := filepath.Glob(filepath.Join(dir, "testdata", "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var inputs []string
		for _, tc := range tests.Tests {
			inputs = append(inputs, filepath.Join(dir, filepath.FromSlash(tc.InputPath)))
		}
		for _, f := range files {
			if !slices.Contains(inputs, f) {
				t.Errorf("%s is in no test of %s/health_test.yaml", f, dir)
			}
		}

		seen := map[string]bool{}
		for _, tc := range tests.Tests {
			path := filepath.Join(dir, filepath.FromSlash(tc.InputPath))
			name := kind + "/" + strings.TrimSuffix(filepath.Base(path), ".yaml")
			if seen[path] {
				t.Errorf("%s: %s is tested twice", dir, tc.InputPath)
			}
			seen[path] = true
			want := tc.HealthStatus
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				if !slices.Contains(validStatuses, want.Status) {
					t.Fatalf("expected status %q is not an Argo CD health status", want.Status)
				}
				if want.Message == "" {
					t.Errorf("expected message is empty: every case should say why")
				}
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				checkAPIObject(t, kind, data)
				var obj map[string]any
				if err := yaml.Unmarshal(data, &obj); err != nil {
					t.Fatal(err)
				}
				forms := map[string]map[string]any{"yaml": obj, "apiserver": apiServerForm(obj).(map[string]any)}
				for _, form := range []string{"yaml", "apiserver"} {
					for _, l := range []libs{argocdCM, builtIn} {
						got, err := runHealth(src, forms[form], l)
						if err != nil {
							t.Fatalf("%s, %s: %v", form, l, err)
						}
						if got != want {
							t.Errorf("%s, %s:\n got %s: %q\nwant %s: %q", form, l, got.Status, got.Message, want.Status, want.Message)
						}
					}
				}
			})
		}
	}
}

// checkAPIObject fails when data is not an object of kind as the API defines it: a typo in
// testdata, or a status field renamed in the API, must not go unnoticed.
func checkAPIObject(t *testing.T, kind string, data []byte) {
	t.Helper()
	var into any
	switch kind {
	case "ServiceAccessPolicy":
		into = &ztv1.ServiceAccessPolicy{}
	case "ZeroTrustBaseline":
		into = &ztv1.ZeroTrustBaseline{}
	default:
		t.Fatalf("no API type for %s", kind)
	}
	if err := yaml.UnmarshalStrict(data, into); err != nil {
		t.Fatalf("not a valid %s: %v", kind, err)
	}
	var tm struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(data, &tm); err != nil {
		t.Fatal(err)
	}
	if want := ztv1.GroupVersion.String(); tm.APIVersion != want || tm.Kind != kind {
		t.Fatalf("apiVersion %q, kind %q: want %q, %q", tm.APIVersion, tm.Kind, want, kind)
	}
}

// TestHealthChecksOnSparseObjects: whatever a status holds, a check answers with a health
// status and never fails (a failing script shows as Unknown, with a Lua error, in Argo CD).
func TestHealthChecksOnSparseObjects(t *testing.T) {
	objects := map[string]string{
		"empty":                  `{}`,
		"no metadata":            `{"status": {"conditions": [{"type": "Ready", "status": "True"}]}}`,
		"no generation":          `{"metadata": {"name": "x"}, "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Enforced"}]}}`,
		"empty status":           `{"metadata": {"generation": 1}, "status": {}}`,
		"null conditions":        `{"metadata": {"generation": 1}, "status": {"observedGeneration": 1, "conditions": null}}`,
		"bare Ready False":       `{"metadata": {"generation": 1}, "status": {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "False"}]}}`,
		"Ready without status":   `{"metadata": {"generation": 1}, "status": {"observedGeneration": 1, "conditions": [{"type": "Ready"}]}}`,
		"failed backend bare":    `{"metadata": {"generation": 1}, "status": {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "False", "reason": "ApplyFailed"}], "backends": [{"name": "Istio", "state": "Failed"}, null, {}]}}`,
		"outside schedule bare":  `{"metadata": {"generation": 1}, "status": {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True", "reason": "OutsideSchedule"}]}}`,
		"null items in lists":    `{"metadata": {"generation": 1}, "status": {"observedGeneration": 1, "conditions": [null, {"type": "Ready", "status": "True", "reason": "Enforced", "message": "m"}]}}`,
		"observed newer":         `{"metadata": {"generation": 1}, "status": {"observedGeneration": 2, "conditions": [{"type": "Ready", "status": "True", "reason": "Enforced"}]}}`,
		"deleting without state": `{"metadata": {"deletionTimestamp": "2026-06-15T10:00:00Z"}}`,
	}
	for _, kind := range kinds {
		src := script(t, kind)
		for name, doc := range objects {
			var obj map[string]any
			if err := json.Unmarshal([]byte(doc), &obj); err != nil {
				t.Fatal(err)
			}
			for _, l := range []libs{argocdCM, builtIn} {
				got, err := runHealth(src, obj, l)
				if err != nil {
					t.Errorf("%s, %s, %s: %v", kind, name, l, err)
					continue
				}
				if got.Status == "Unknown" || got.Message == "" {
					t.Errorf("%s, %s, %s: %s %q, want a health status with a message", kind, name, l, got.Status, got.Message)
				}
			}
		}
	}
}

// TestObjectConversion pins the conversion of obj to what Argo CD gives a script.
func TestObjectConversion(t *testing.T) {
	var obj map[string]any
	doc := `{"a": [1, "two", {"three": 3}], "gaps": ["x", null, "y"], "n": null, "t": true, "f": 1.5, "nested": {"list": [], "o": {}}}`
	if err := json.Unmarshal([]byte(doc), &obj); err != nil {
		t.Fatal(err)
	}
	const check = `
assert(#obj.a == 3, "array length")
assert(obj.a[1] == 1 and obj.a[2] == "two" and obj.a[3].three == 3, "array items from index 1")
assert(obj.a[0] == nil, "no index 0")
assert(#obj.gaps == 2 and obj.gaps[1] == "x" and obj.gaps[2] == "y", "null dropped from arrays")
assert(obj.n == nil, "null is absent")
local keys = 0
for k, _ in pairs(obj) do keys = keys + 1 end
assert(keys == 5, "null key absent: " .. tostring(keys))
assert(obj.t == true and obj.f == 1.5, "scalars")
assert(type(obj.nested.list) == "table" and #obj.nested.list == 0, "empty array")
assert(type(obj.nested.o) == "table", "empty object")
assert(tostring(obj.a[3].three) == "3", "whole numbers print without a fraction")
return {status = "Healthy", message = "ok"}
`
	for _, form := range []any{obj, apiServerForm(obj)} {
		got, err := runHealth(check, form.(map[string]any), argocdCM)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != "Healthy" {
			t.Fatalf("got %+v", got)
		}
	}

	// What Argo CD makes of a script's result.
	for src, want := range map[string]healthStatus{
		`return {status = "Healthy"}`:                      {Status: "Healthy"},
		`return {status = "Fine", message = "x"}`:          {Status: "Unknown", Message: "Lua returned an invalid health status"},
		`local hs = {}; hs.status = "Degraded"; return hs`: {Status: "Degraded"},
	} {
		got, err := runHealth(src, obj, argocdCM)
		if err != nil || got != want {
			t.Errorf("%s: got %+v, %v; want %+v", src, got, err, want)
		}
	}
	// Argo CD shows these as Unknown, with the error when there is one.
	for _, src := range []string{`return "Healthy"`, `return {}`, `return {status = 1}`, `local s = string.format("%d", 1) return {status = "Healthy"}`} {
		if got, err := runHealth(src, obj, argocdCM); err == nil && got.Status != "Unknown" {
			t.Errorf("%s: got %+v, want an error or Unknown", src, got)
		}
	}
}

// configMap is argocd-cm.yaml as it must be: every health.lua under its argocd-cm key.
func configMap(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteString(`# The Argo CD health checks of config/argocd/zerotrust.dev/*/health.lua as argocd-cm keys, for
#   kubectl -n argocd patch configmap argocd-cm --type merge --patch-file config/argocd/argocd-cm.yaml
# or as a patch of argocd-cm in a kustomization. See docs/gitops.md.
# Generated; do not edit: change health.lua and run go test ./config/argocd -update.
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
data:
`)
	for _, kind := range kinds {
		fmt.Fprintf(&b, "  %s: |\n", configMapKey(kind))
		for line := range strings.SplitSeq(strings.TrimRight(script(t, kind), "\n"), "\n") {
			if line == "" {
				b.WriteString("\n")
				continue
			}
			b.WriteString("    " + line + "\n")
		}
	}
	return b.Bytes()
}

// configMapKey is the argocd-cm key of kind's health check.
func configMapKey(kind string) string {
	return "resource.customizations.health." + group + "_" + kind
}

func TestConfigMapPatch(t *testing.T) {
	want := configMap(t)
	if *update {
		if err := os.WriteFile(configMapFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(configMapFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run go test ./config/argocd -update", configMapFile)
	}
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict(got, &cm); err != nil {
		t.Fatal(err)
	}
	if cm.Name != "argocd-cm" || len(cm.Data) != len(kinds) {
		t.Fatalf("%s: name %q, %d keys", configMapFile, cm.Name, len(cm.Data))
	}
	for _, kind := range kinds {
		if cm.Data[configMapKey(kind)] != script(t, kind) {
			t.Errorf("%s: %s is not health.lua of %s as it is", configMapFile, configMapKey(kind), kind)
		}
	}
}
