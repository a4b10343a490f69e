package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// InstallManifests are the kustomize install, config/default: the chart rendered (what
// production runs) and the operator's Namespace.
var InstallManifests = []string{"config/default/namespace.yaml", "config/default/zerotrust-operator.yaml"}

// ManagerCommand is how config/default runs the operator, made runnable as a local process.
type ManagerCommand struct {
	// Args are the manager container's arguments.
	Args []string
	// Env are its environment variables (NAME=value), the downward API's namespace resolved.
	Env []string
	// MetricsAddr is the host:port of the metrics endpoint (plain HTTP).
	MetricsAddr string
	// Namespace is the manifest's Namespace (the operator's own), nil when it has none.
	Namespace *corev1.Namespace
}

// ManagerArgs reads the operator's Deployment in config/default (what production runs) under
// root and returns its manager container's arguments and environment, minus leader election
// (each caller decides), with every listening address and port moved to a free local one,
// every directory to a fresh one under scratch (left as is when scratch is empty), and the
// metrics served over plain HTTP (--metrics-secure=false: tests scrape without a token).
func ManagerArgs(root, scratch string) (ManagerCommand, error) {
	var m ManagerCommand
	var data []byte
	for _, f := range InstallManifests {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f)))
		if err != nil {
			return m, err
		}
		data = append(append(data, b...), "\n---\n"...)
	}
	var dep *appsv1.Deployment
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var u unstructured.Unstructured
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return m, fmt.Errorf("config/default: %w", err)
		}
		switch u.GetKind() {
		case "Namespace":
			m.Namespace = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: u.GetName(), Labels: u.GetLabels()}}
		case "Deployment":
			dep = &appsv1.Deployment{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, dep); err != nil {
				return m, fmt.Errorf("config/default: %w", err)
			}
		}
	}
	if dep == nil {
		return m, errors.New("config/default has no Deployment")
	}
	for _, c := range dep.Spec.Template.Spec.Containers {
		if c.Name != "manager" {
			continue
		}
		for i, a := range c.Args {
			name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
			switch {
			case strings.HasPrefix(name, "leader-elect"), name == "metrics-secure":
				continue
			case strings.HasSuffix(name, "bind-address") && value != "0":
				addr, err := FreeAddr()
				if err != nil {
					return m, err
				}
				if name == "metrics-bind-address" {
					m.MetricsAddr = addr
				}
				a = "--" + name + "=" + addr
			case strings.HasSuffix(name, "-port") && hasValue:
				addr, err := FreeAddr()
				if err != nil {
					return m, err
				}
				_, port, _ := net.SplitHostPort(addr)
				a = "--" + name + "=" + port
			case strings.HasSuffix(name, "-dir") && hasValue && scratch != "":
				dir := filepath.Join(scratch, fmt.Sprint(i))
				if err := os.MkdirAll(dir, 0o700); err != nil {
					return m, err
				}
				a = "--" + name + "=" + dir
			}
			m.Args = append(m.Args, a)
		}
		for _, e := range c.Env {
			switch {
			case e.ValueFrom == nil:
				m.Env = append(m.Env, e.Name+"="+e.Value)
			case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
				m.Env = append(m.Env, e.Name+"="+dep.Namespace)
			}
		}
		if m.MetricsAddr == "" {
			return m, errors.New("config/default: the manager has no --metrics-bind-address")
		}
		m.Args = append(m.Args, "--metrics-secure=false")
		return m, nil
	}
	return m, errors.New("config/default: no container named manager")
}

// FreeAddr is a local address (127.0.0.1:port) nothing listens on at the moment.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}
