package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestImage builds the image as `make image` does, from a freshly built static manager, and
// checks what a cluster would run: entrypoint, non-root user, nothing but /manager in it (no
// shell), a version tag, and a binary that starts.
func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the manager")
	}
	dir := t.TempDir()
	version := gitVersion(t)
	bin := filepath.Join(dir, "manager")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+version, "-o", bin,
		"github.com/zerotrust-dev/zerotrust-operator")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	start := time.Now()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	// This program as `make image` runs it, built without -race: compressing the layer under
	// the race detector takes ten times as long.
	tool := filepath.Join(dir, "image")
	if out, err := exec.Command("go", "build", "-o", tool, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "zerotrust-operator.tar")
	if msg, err := exec.Command(tool, "-binary", bin, "-version", version, "-out", out).CombinedOutput(); err != nil {
		t.Fatalf("image: %v\n%s", err, msg)
	}
	t.Logf("manager and image built in %v", time.Since(start).Round(time.Millisecond))
	if version == "latest" {
		t.Fatal("tagged latest")
	}
	tag, err := name.NewTag("zerotrust-operator:" + version)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(out, &tag) // fails unless the tarball's manifest names the tag
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tarball.ImageFromPath(out, ptr(name.MustParseReference("zerotrust-operator:latest").(name.Tag))); err == nil {
		t.Error("the tarball is tagged latest")
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cf.Config.Entrypoint; !slices.Equal(got, []string{"/manager"}) {
		t.Errorf("entrypoint %q, want [/manager]", got)
	}
	if cf.Config.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532", cf.Config.User)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("platform %s/%s, want linux/%s", cf.OS, cf.Architecture, runtime.GOARCH)
	}
	if v := cf.Config.Labels["org.opencontainers.image.version"]; v != version {
		t.Errorf("version label %q, want %q", v, version)
	}

	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	var manager []byte
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			p := "/" + strings.TrimPrefix(filepath.Clean("/"+h.Name), "/")
			files = append(files, p)
			if p == "/manager" {
				if h.Mode&0o111 != 0o111 || h.Uid != 0 {
					t.Errorf("/manager mode %o uid %d, want executable by all, owned by root", h.Mode, h.Uid)
				}
				if manager, err = io.ReadAll(tr); err != nil {
					t.Fatal(err)
				}
			}
		}
		_ = rc.Close()
	}
	if !slices.Equal(files, []string{"/manager"}) { // in particular no /bin/sh
		t.Fatalf("image files %q, want only /manager", files)
	}
	if size, _ := os.Stat(out); size != nil {
		t.Logf("%s: %d layer(s), %d bytes", tag, len(layers), size.Size())
	}

	if runtime.GOOS != "linux" {
		t.Skip("the image's binary runs on linux only")
	}
	extracted := filepath.Join(dir, "extracted-manager")
	if err := os.WriteFile(extracted, manager, 0o755); err != nil {
		t.Fatal(err)
	}
	var usage bytes.Buffer
	help := exec.Command(extracted, "--help")
	help.Stdout, help.Stderr = &usage, &usage
	help.Env = []string{} // as in the image: no KUBECONFIG, no HOME
	if err := help.Run(); err != nil {
		t.Fatalf("/manager --help: %v\n%s", err, &usage)
	}
	for _, f := range []string{"-backends", "-enable-webhook", "-leader-elect"} {
		if !strings.Contains(usage.String(), f) {
			t.Errorf("--help does not mention %s:\n%s", f, &usage)
		}
	}
}

func TestBuildRefusesLatest(t *testing.T) {
	for _, v := range []string{"", "latest", "LATEST"} {
		if _, err := Build(Options{Binary: "unused", Out: filepath.Join(t.TempDir(), "x.tar"), Repo: "zerotrust-operator", Version: v}); err == nil {
			t.Errorf("version %q accepted", v)
		}
	}
}

// gitVersion is what the Makefile's IMG_VERSION is, or a fixed version outside a git checkout.
func gitVersion(t *testing.T) string {
	out, err := exec.Command("git", "describe", "--tags", "--always", "--dirty").Output()
	if v := strings.TrimSpace(string(out)); err == nil && v != "" {
		return v
	}
	t.Log("no git version; using v0.0.0-test")
	return "v0.0.0-test"
}

func ptr[T any](v T) *T { return &v }
