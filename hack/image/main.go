// Command image writes the operator's container image as a tarball, with no container engine
// and no registry: an empty base, the static manager binary at /manager, entrypoint /manager,
// numeric non-root user 65532, no shell. `make image` runs it; `docker load -i` and
// `crane push` accept the result.
package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// User is the numeric user and group the operator runs as (distroless' nonroot); the image
// needs no /etc/passwd for a numeric user.
const User = "65532:65532"

// Options say what to build.
type Options struct {
	Binary  string // the static linux manager binary
	Out     string // the image tarball to write
	Repo    string // image repository, e.g. zerotrust-operator
	Version string // the tag, from git; never "latest"
	Source  string // org.opencontainers.image.source
	// Created is the image's creation time and every file's mtime; zero means the Unix epoch,
	// so that the same binary gives the same image.
	Created time.Time
}

func main() {
	var o Options
	var epoch int64
	flag.StringVar(&o.Binary, "binary", "", "The static linux manager binary (CGO_ENABLED=0).")
	flag.StringVar(&o.Out, "out", "bin/zerotrust-operator.tar", "The image tarball to write.")
	flag.StringVar(&o.Repo, "repo", "zerotrust-operator", "The image repository.")
	flag.StringVar(&o.Version, "version", "", "The image tag, from git describe; \"latest\" is refused.")
	flag.StringVar(&o.Source, "source", "https://github.com/zerotrust-dev/zerotrust-operator", "The image's org.opencontainers.image.source label.")
	flag.Int64Var(&epoch, "created", 0, "Creation time in Unix seconds (default $SOURCE_DATE_EPOCH, else 0).")
	flag.Parse()
	if epoch == 0 {
		if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
			if _, err := fmt.Sscan(s, &epoch); err != nil {
				fmt.Fprintf(os.Stderr, "image: SOURCE_DATE_EPOCH %q: %v\n", s, err)
				os.Exit(2)
			}
		}
	}
	o.Created = time.Unix(epoch, 0).UTC()
	ref, err := Build(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %s (%s)\n", o.Out, ref)
}

// Build writes the image tarball and returns its reference.
func Build(o Options) (name.Tag, error) {
	if o.Version == "" || strings.EqualFold(o.Version, "latest") {
		return name.Tag{}, fmt.Errorf("version %q: set a version from git, never latest", o.Version)
	}
	tag, err := name.NewTag(o.Repo + ":" + o.Version)
	if err != nil {
		return name.Tag{}, err
	}
	arch, err := staticArch(o.Binary)
	if err != nil {
		return name.Tag{}, err
	}
	bin, err := os.ReadFile(o.Binary)
	if err != nil {
		return name.Tag{}, err
	}
	created := o.Created
	if created.IsZero() {
		created = time.Unix(0, 0).UTC()
	}
	layerTar, err := tarOf("manager", bin, created)
	if err != nil {
		return name.Tag{}, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return name.Tag{}, err
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "hack/image: COPY manager /manager", Comment: "static manager binary"},
	})
	if err != nil {
		return name.Tag{}, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return name.Tag{}, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Created = v1.Time{Time: created}
	cf.Config.Entrypoint = []string{"/manager"}
	cf.Config.Cmd = nil
	cf.Config.User = User
	cf.Config.WorkingDir = "/"
	cf.Config.Labels = map[string]string{
		"org.opencontainers.image.title":   o.Repo,
		"org.opencontainers.image.version": o.Version,
		"org.opencontainers.image.source":  o.Source,
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return name.Tag{}, err
	}
	if err := tarball.WriteToFile(o.Out, tag, img); err != nil {
		return name.Tag{}, err
	}
	return tag, nil
}

// tarOf is a layer holding one executable, root-owned and world-executable, at /file.
func tarOf(file string, content []byte, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeReg,
		Name:     file,
		Mode:     0o755,
		Size:     int64(len(content)),
		ModTime:  mtime,
		Format:   tar.FormatPAX,
	}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(content); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// staticArch returns the GOARCH of a linux ELF binary, and refuses one that needs a dynamic
// loader: the image has no libc.
func staticArch(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", fmt.Errorf("%s: not a linux binary: %w", path, err)
	}
	defer func() { _ = f.Close() }()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "", errors.New(path + " is dynamically linked; build it with CGO_ENABLED=0")
		}
	}
	switch f.Machine {
	case elf.EM_X86_64:
		return "amd64", nil
	case elf.EM_AARCH64:
		return "arm64", nil
	case elf.EM_PPC64:
		if f.ByteOrder == binary.LittleEndian {
			return "ppc64le", nil
		}
	case elf.EM_S390:
		return "s390x", nil
	case elf.EM_RISCV:
		return "riscv64", nil
	}
	return "", fmt.Errorf("%s: unsupported machine %v", path, f.Machine)
}
