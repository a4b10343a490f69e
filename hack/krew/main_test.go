package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// manifest is a krew Plugin (index.krew.googlecontainertools.github.com/v1alpha2) with the
// fields the template writes; parsed strictly, so that a misspelt key fails.
type manifest struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string `json:"version"`
		Homepage         string `json:"homepage"`
		ShortDescription string `json:"shortDescription"`
		Description      string `json:"description"`
		Platforms        []struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			URI    string `json:"uri"`
			SHA256 string `json:"sha256"`
			Bin    string `json:"bin"`
		} `json:"platforms"`
	} `json:"spec"`
}

// TestGenerate runs the generator for every default platform, with a small stand-in for
// kubectl-zt (the real binary takes minutes to cross-build five times), and checks the
// manifest: it parses as a krew Plugin, every platform's sha256 is its archive's, and every
// archive holds the executable the manifest names.
func TestGenerate(t *testing.T) {
	out := t.TempDir()
	got, err := Run(Options{Version: "v1.2.3", URLBase: "https://example.com/dl", Out: out, Template: "zt.yaml.tmpl",
		Package: "./testdata/hello", Platforms: strings.Split(DefaultPlatforms, ",")})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := yaml.UnmarshalStrict(data, &m); err != nil {
		t.Fatalf("manifest does not parse as a krew Plugin: %v\n%s", err, data)
	}
	if m.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || m.Kind != "Plugin" || m.Metadata.Name != "zt" ||
		m.Spec.Version != "v1.2.3" || m.Spec.ShortDescription == "" {
		t.Fatalf("manifest header: %+v", m)
	}
	if len(m.Spec.Platforms) != 5 {
		t.Fatalf("%d platforms, want 5", len(m.Spec.Platforms))
	}
	for _, p := range m.Spec.Platforms {
		goos, goarch := p.Selector.MatchLabels["os"], p.Selector.MatchLabels["arch"]
		t.Run(goos+"/"+goarch, func(t *testing.T) {
			if !strings.HasPrefix(p.URI, "https://example.com/dl/kubectl-zt_v1.2.3_"+goos+"_"+goarch+".") {
				t.Errorf("uri %s", p.URI)
			}
			archive, err := os.ReadFile(filepath.Join(out, path.Base(p.URI)))
			if err != nil {
				t.Fatal(err)
			}
			if sum := sha256.Sum256(archive); hex.EncodeToString(sum[:]) != p.SHA256 {
				t.Errorf("sha256 %s is not the archive's %x", p.SHA256, sum)
			}
			wantBin := "kubectl-zt"
			if goos == "windows" {
				wantBin += ".exe"
			}
			if p.Bin != wantBin {
				t.Errorf("bin %q, want %q", p.Bin, wantBin)
			}
			name, mode, size := onlyEntry(t, archive, goos == "windows")
			if name != p.Bin || mode&0o111 == 0 || size == 0 {
				t.Errorf("archive holds %s (mode %o, %d bytes), want executable %s", name, mode, size, p.Bin)
			}
		})
	}
}

// onlyEntry returns the name, mode and size of the archive's single file.
func onlyEntry(t *testing.T, archive []byte, isZip bool) (string, os.FileMode, int64) {
	t.Helper()
	if isZip {
		zr, err := zip.NewReader(bytes.NewReader(archive), int64(len(archive)))
		if err != nil || len(zr.File) != 1 {
			t.Fatalf("zip: %v, %d files", err, len(zr.File))
		}
		f := zr.File[0]
		return f.Name, f.Mode(), int64(f.UncompressedSize64)
	}
	gz, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	h, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, tr)
	if err != nil || n != h.Size {
		t.Fatalf("read %d of %d bytes: %v", n, h.Size, err)
	}
	if _, err := tr.Next(); err != io.EOF {
		t.Fatalf("more than one file in the archive: %v", err)
	}
	return h.Name, os.FileMode(h.Mode), h.Size
}

func TestVersionRequired(t *testing.T) {
	for _, v := range []string{"", "latest", "1.2.3", "a10e6b9-dirty"} {
		if _, err := Run(Options{Version: v, Out: t.TempDir(), Template: "zt.yaml.tmpl"}); err == nil || !strings.Contains(err.Error(), "-version") {
			t.Errorf("version %q: %v", v, err)
		}
	}
}
