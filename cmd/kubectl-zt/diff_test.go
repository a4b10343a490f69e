package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var diffData = filepath.Join("testdata", "diff")

// diffArgs compares common+base with common+heads/head.
func diffArgs(head string, extra ...string) []string {
	return append([]string{"diff",
		"--base", filepath.Join(diffData, "common"), "--base", filepath.Join(diffData, "base"),
		"--head", filepath.Join(diffData, "common"), "--head", filepath.Join(diffData, "heads", head)}, extra...)
}

// diffLines are the +/- lines of a diff's output, without the summary.
func diffLines(stdout string) (lines []string, summary string) {
	all := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	return all[:len(all)-1], all[len(all)-1]
}

// TestDiff: the connections each sample change adds and removes, judged with a mesh
// (Istio, which judges methods and paths), NetworkPolicy and RBAC, and the exit code a CI
// gate reads: 1 exactly when access widens.
func TestDiff(t *testing.T) {
	const backends = "networkpolicy,istio,rbac"
	tests := map[string]struct {
		head    string
		want    []string
		code    int
		verdict string
	}{
		"a new caller widens": {
			head: "new-caller",
			want: []string{
				"+ networkpolicy  payments/Deployment/batch -> shop/Deployment/inventory 8080/TCP",
				"+ istio  payments/Deployment/batch -> shop/Deployment/inventory 8080/TCP GET /items",
				"+ istio  payments/Deployment/batch -> shop/Deployment/inventory 8080/TCP GET /items/x",
			},
			code: 1, verdict: "3 added, 0 removed",
		},
		"a new port widens, every request on it in the mesh": {
			head: "new-port",
			want: []string{
				"+ networkpolicy  payments/Deployment/payment -> shop/Deployment/inventory 9090/TCP",
				"+ istio  payments/Deployment/payment -> shop/Deployment/inventory 9090/TCP",
			},
			code: 1, verdict: "2 added, 0 removed",
		},
		"a wider HTTP rule widens in the mesh only": {
			head: "wider-http",
			want: []string{
				"+ istio  payments/Deployment/payment -> shop/Deployment/inventory 8080/TCP POST /items",
				"+ istio  payments/Deployment/payment -> shop/Deployment/inventory 8080/TCP POST /items/x",
			},
			code: 1, verdict: "2 added, 0 removed",
		},
		"a wider Kubernetes API rule widens": {
			head: "wider-rbac",
			want: []string{
				"+ rbac  shop/ServiceAccount/inventory -> get configmaps zt-unlisted in namespace shop",
				"+ rbac  shop/ServiceAccount/inventory -> list configmaps in namespace shop",
			},
			code: 1, verdict: "2 added, 0 removed",
		},
		"a removed policy narrows where a baseline denies": {
			head: "removed",
			want: []string{
				"- networkpolicy  payments/Deployment/payment -> shop/Deployment/inventory 8080/TCP",
				"- istio  payments/Deployment/payment -> shop/Deployment/inventory 8080/TCP GET /items",
				"- istio  payments/Deployment/payment -> shop/Deployment/inventory 8080/TCP GET /items/x",
			},
			code: 0, verdict: "0 added, 3 removed",
		},
		"Enforce to Audit grants nothing and narrows": {
			head: "audit",
			want: []string{
				"- networkpolicy  payments/Deployment/payment -> shop/Deployment/inventory 8080/TCP",
				"- istio  payments/Deployment/payment -> shop/Deployment/inventory 8080/TCP GET /items",
				"- istio  payments/Deployment/payment -> shop/Deployment/inventory 8080/TCP GET /items/x",
			},
			code: 0, verdict: "0 added, 3 removed",
		},
		"the same policies written otherwise": {
			head: "unchanged",
			code: 0, verdict: "0 added, 0 removed",
		},
		"isolating a pod of an unenforced namespace narrows": {
			head: "isolate-batch",
			want: []string{
				"- networkpolicy  payments/* -> payments/Deployment/batch 7000/TCP",
				"- networkpolicy  payments/* -> payments/Deployment/batch 65535/TCP",
				"- networkpolicy  payments/Deployment/payment -> payments/Deployment/batch 65535/TCP",
				"- networkpolicy  shop/* -> payments/Deployment/batch 7000/TCP",
				"- networkpolicy  shop/* -> payments/Deployment/batch 65535/TCP",
				"- networkpolicy  shop/Deployment/inventory -> payments/Deployment/batch 7000/TCP",
				"- networkpolicy  shop/Deployment/inventory -> payments/Deployment/batch 65535/TCP",
				"- istio  payments/* -> payments/Deployment/batch 7000/TCP",
				"- istio  payments/* -> payments/Deployment/batch 65535/TCP",
				"- istio  payments/Deployment/payment -> payments/Deployment/batch 65535/TCP",
				"- istio  shop/* -> payments/Deployment/batch 7000/TCP",
				"- istio  shop/* -> payments/Deployment/batch 65535/TCP",
				"- istio  shop/Deployment/inventory -> payments/Deployment/batch 7000/TCP",
				"- istio  shop/Deployment/inventory -> payments/Deployment/batch 65535/TCP",
			},
			code: 0, verdict: "0 added, 14 removed",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := runCLI(t, "", diffArgs(tc.head, "--backends", backends)...)
			if r.code != tc.code || r.stderr != "" {
				t.Fatalf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", r.code, tc.code, r.stdout, r.stderr)
			}
			lines, summary := diffLines(r.stdout)
			if strings.Join(lines, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(tc.want, "\n"))
			}
			if !strings.HasPrefix(summary, tc.verdict+" (") || !strings.Contains(summary, "backends networkpolicy,istio,rbac") {
				t.Errorf("summary %q, want %q", summary, tc.verdict)
			}
			if want := map[int]string{0: "access narrows", 1: "access widens"}[tc.code]; len(tc.want) > 0 && !strings.HasSuffix(summary, want) {
				t.Errorf("summary %q does not end in %q", summary, want)
			}
		})
	}
}

// TestDiffRemovingPolicyWidens: without a baseline, a policy is what isolates its target;
// taking it away opens the target to everyone, and the gate says so.
func TestDiffRemovingPolicyWidens(t *testing.T) {
	common, base := filepath.Join(diffData, "common"), filepath.Join(diffData, "base")
	r := runCLI(t, "", "diff", "--base", common, "--base", filepath.Join(diffData, "heads", "isolate-batch"),
		"--head", common, "--head", base)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	lines, summary := diffLines(r.stdout)
	want := []string{
		"+ networkpolicy  payments/* -> payments/Deployment/batch 7000/TCP",
		"+ networkpolicy  payments/* -> payments/Deployment/batch 65535/TCP",
		"+ networkpolicy  payments/Deployment/payment -> payments/Deployment/batch 65535/TCP",
		"+ networkpolicy  shop/* -> payments/Deployment/batch 7000/TCP",
		"+ networkpolicy  shop/* -> payments/Deployment/batch 65535/TCP",
		"+ networkpolicy  shop/Deployment/inventory -> payments/Deployment/batch 7000/TCP",
		"+ networkpolicy  shop/Deployment/inventory -> payments/Deployment/batch 65535/TCP",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") || !strings.HasSuffix(summary, "access widens") {
		t.Errorf("got:\n%s", r.stdout)
	}
}

// TestDiffEveryLayer: with every backend, a new caller is added in each layer that judges
// it; Cilium judges the NetworkPolicy too, which admits every request on the port.
func TestDiffEveryLayer(t *testing.T) {
	r := runCLI(t, "", diffArgs("new-caller", "--backends", "all")...)
	lines, _ := diffLines(r.stdout)
	want := []string{
		"+ istio  payments/Deployment/batch -> shop/Deployment/inventory 8080/TCP GET /items",
		"+ istio  payments/Deployment/batch -> shop/Deployment/inventory 8080/TCP GET /items/x",
		"+ linkerd  payments/Deployment/batch -> shop/Deployment/inventory 8080/TCP GET /items",
		"+ linkerd  payments/Deployment/batch -> shop/Deployment/inventory 8080/TCP GET /items/x",
		"+ cilium  payments/Deployment/batch -> shop/Deployment/inventory 8080/TCP",
	}
	if r.code != 1 || strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestDiffWarnsHead: what head cannot enforce is on stderr, as render prints it.
func TestDiffWarnsHead(t *testing.T) {
	r := runCLI(t, "", diffArgs("target-typo", "--backends", "networkpolicy,rbac")...)
	if r.code != 0 || !strings.Contains(r.stdout, "- networkpolicy  payments/Deployment/payment -> shop/Deployment/inventory 8080/TCP\n") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	want := "warning: ServiceAccessPolicy shop/payment-reads-inventory is not Ready (TargetNotFound): spec.target.service: Service shop/inventroy not found"
	if !strings.HasPrefix(r.stderr, want) || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("stderr:\n%s\nwant one line starting %q", r.stderr, want)
	}
}

// TestDiffJSON: -o json is the same diff for machines, and stdin may be one side.
func TestDiffJSON(t *testing.T) {
	head, err := os.ReadFile(filepath.Join(diffData, "heads", "wider-rbac", "policies.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, string(head), "diff", "-o", "json",
		"--base", filepath.Join(diffData, "common"), "--base", filepath.Join(diffData, "base"),
		"--head", filepath.Join(diffData, "common"), "--head", "-")
	if r.code != 1 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var got struct {
		Added, Removed int
		Widens         bool
		Backends       []string
		Connections    []struct {
			Change, Layer, Caller string
			KubernetesAPI         *struct{ Verb, Resource, Name, Namespace string }
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v:\n%s", err, r.stdout)
	}
	if got.Added != 2 || got.Removed != 0 || !got.Widens || strings.Join(got.Backends, ",") != "networkpolicy,rbac" || len(got.Connections) != 2 {
		t.Fatalf("%+v", got)
	}
	c := got.Connections[1]
	if c.Change != "added" || c.Layer != "rbac" || c.Caller != "shop/ServiceAccount/inventory" || c.KubernetesAPI == nil ||
		*c.KubernetesAPI != (struct{ Verb, Resource, Name, Namespace string }{"list", "configmaps", "", "shop"}) {
		t.Errorf("%+v", c)
	}
	// Nothing changed: an empty list, not null.
	r = runCLI(t, "", diffArgs("unchanged", "-o", "json")...)
	if r.code != 0 || !strings.Contains(r.stdout, `"connections": []`) {
		t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestDiffBadInput: exit 2 with the file and field, or the flag, named.
func TestDiffBadInput(t *testing.T) {
	common := filepath.Join(diffData, "common")
	tests := map[string]struct {
		args []string
		want string
	}{
		"a typo in head": {diffArgs("bad"), "error: --head: " + filepath.Join(diffData, "heads", "bad", "policies.yaml") +
			`:2: ServiceAccessPolicy shop/payment-reads-inventory: unknown field "spec.ports[0].htttp"`},
		"no head":         {[]string{"diff", "--base", common}, "--head is required"},
		"no base":         {[]string{"diff", "--head", common}, "--base is required"},
		"stdin twice":     {[]string{"diff", "--base", "-", "--head", "-"}, "cannot both read stdin"},
		"missing folder":  {[]string{"diff", "--base", filepath.Join(diffData, "nope"), "--head", common}, "error: --base: "},
		"unknown output":  {[]string{"diff", "--base", common, "--head", common, "-o", "yaml"}, `-o: "yaml" is not text or json`},
		"unknown backend": {[]string{"diff", "--base", common, "--head", common, "--backends", "calico"}, `--backends: unknown backend "calico"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := runCLI(t, "", tc.args...)
			if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant %q", r.code, r.stdout, r.stderr, tc.want)
			}
		})
	}
}
