// Command krew cross-builds kubectl-zt into release archives and writes the krew plugin
// manifest for them (`make krew`): one tar.gz (zip on Windows) per platform holding the
// binary, and zt.yaml from the template zt.yaml.tmpl with each archive's URL and real
// sha256. It needs the Go toolchain and nothing else: no download, no krew.
//
// The archives are reproducible: the binary is built with -trimpath and without build IDs,
// and every archive entry has a fixed time and mode, so the same source gives the same
// sha256.
package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
	"time"
)

// DefaultPlatforms are the platforms krew users install kubectl-zt on.
const DefaultPlatforms = "linux/amd64,linux/arm64,darwin/amd64,darwin/arm64,windows/amd64"

// DefaultURLBase is where a release's archives are published; %s is the version.
const DefaultURLBase = "https://github.com/zerotrust-dev/zerotrust-operator/releases/download/%s/"

// Options say what to build.
type Options struct {
	Version   string   // the release version, e.g. v0.3.0
	URLBase   string   // URL of the folder holding the archives, ending in /
	Out       string   // folder receiving the archives and zt.yaml
	Template  string   // the manifest template
	Package   string   // the Go package of the binary, ./cmd/kubectl-zt
	Platforms []string // GOOS/GOARCH pairs
}

// Platform is one entry of the manifest.
type Platform struct {
	OS, Arch string
	URI      string
	SHA256   string
	Bin      string
	// Archive is the archive's path on disk (not in the manifest).
	Archive string
}

// semver is the version form krew requires: v, then semantic versioning.
var semver = regexp.MustCompile(`^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

// binName is the plugin's binary: kubectl finds kubectl-zt as `kubectl zt`.
const binName = "kubectl-zt"

// epoch is the time of every archive entry.
var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func main() {
	var o Options
	var platforms string
	flag.StringVar(&o.Version, "version", "", "release version, e.g. v0.3.0 (required)")
	flag.StringVar(&o.URLBase, "url-base", "", "URL of the folder of the release's archives (default "+fmt.Sprintf(DefaultURLBase, "VERSION")+")")
	flag.StringVar(&o.Out, "out", "bin/krew", "folder for the archives and zt.yaml")
	flag.StringVar(&o.Template, "template", "hack/krew/zt.yaml.tmpl", "manifest template")
	flag.StringVar(&o.Package, "package", "./cmd/kubectl-zt", "Go package of the binary")
	flag.StringVar(&platforms, "platforms", DefaultPlatforms, "comma-separated GOOS/GOARCH list")
	flag.Parse()
	o.Platforms = strings.Split(platforms, ",")
	manifest, err := Run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "krew:", err)
		os.Exit(1)
	}
	fmt.Println(manifest)
}

// Run builds one archive per platform into o.Out and writes o.Out/zt.yaml; it returns the
// manifest's path.
func Run(o Options) (string, error) {
	if !semver.MatchString(o.Version) {
		return "", fmt.Errorf("-version: %q is not a release version such as v0.3.0 (krew requires v and semantic versioning)", o.Version)
	}
	if o.URLBase == "" {
		o.URLBase = fmt.Sprintf(DefaultURLBase, o.Version)
	}
	if !strings.HasSuffix(o.URLBase, "/") {
		o.URLBase += "/"
	}
	tmpl, err := template.ParseFiles(o.Template)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return "", err
	}
	var ps []Platform
	for _, pl := range o.Platforms {
		goos, goarch, ok := strings.Cut(strings.TrimSpace(pl), "/")
		if !ok || goos == "" || goarch == "" {
			return "", fmt.Errorf("-platforms: %q is not GOOS/GOARCH", pl)
		}
		p, err := build(o, goos, goarch)
		if err != nil {
			return "", fmt.Errorf("%s/%s: %w", goos, goarch, err)
		}
		ps = append(ps, p)
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, struct {
		Version   string
		Platforms []Platform
	}{o.Version, ps}); err != nil {
		return "", err
	}
	out := filepath.Join(o.Out, "zt.yaml")
	return out, os.WriteFile(out, buf.Bytes(), 0o644)
}

// build cross-compiles the binary for goos/goarch and archives it.
func build(o Options, goos, goarch string) (Platform, error) {
	bin := binName
	if goos == "windows" {
		bin += ".exe"
	}
	dir, err := os.MkdirTemp("", "krew-build-")
	if err != nil {
		return Platform{}, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	exe := filepath.Join(dir, bin)
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w -buildid=", "-o", exe, o.Package)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return Platform{}, fmt.Errorf("go build: %w", err)
	}
	data, err := os.ReadFile(exe)
	if err != nil {
		return Platform{}, err
	}
	name := fmt.Sprintf("kubectl-zt_%s_%s_%s", o.Version, goos, goarch)
	var archive []byte
	if goos == "windows" {
		name += ".zip"
		archive, err = zipOf(bin, data)
	} else {
		name += ".tar.gz"
		archive, err = tarGzOf(bin, data)
	}
	if err != nil {
		return Platform{}, err
	}
	path := filepath.Join(o.Out, name)
	if err := os.WriteFile(path, archive, 0o644); err != nil {
		return Platform{}, err
	}
	sum := sha256.Sum256(archive)
	return Platform{OS: goos, Arch: goarch, URI: o.URLBase + name, SHA256: hex.EncodeToString(sum[:]), Bin: bin, Archive: path}, nil
}

func tarGzOf(name string, data []byte) ([]byte, error) {
	var buf bytes.Buffer
	gz, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(data)), ModTime: epoch, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func zipOf(name string, data []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: epoch}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(w, bytes.NewReader(data)); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
