package static

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
)

// Object is a decoded object and where it was read.
type Object struct {
	Object client.Object
	// Source is "file:line" of the start of the object's YAML document ("-" is stdin).
	Source string
}

// kinds are the objects the compiler asks about. Our own kinds are decoded strictly (an
// unknown field is a typo that would silently change what a policy grants); Kubernetes kinds
// are decoded leniently, because manifests written for a newer Kubernetes than the one this
// binary was built with must still render.
var kinds = map[schema.GroupVersionKind]struct {
	new        func() client.Object
	strict     bool
	namespaced bool
}{
	corev1.SchemeGroupVersion.WithKind("Namespace"):           {func() client.Object { return &corev1.Namespace{} }, false, false},
	corev1.SchemeGroupVersion.WithKind("Service"):             {func() client.Object { return &corev1.Service{} }, false, true},
	corev1.SchemeGroupVersion.WithKind("ServiceAccount"):      {func() client.Object { return &corev1.ServiceAccount{} }, false, true},
	corev1.SchemeGroupVersion.WithKind("Pod"):                 {func() client.Object { return &corev1.Pod{} }, false, true},
	appsv1.SchemeGroupVersion.WithKind("Deployment"):          {func() client.Object { return &appsv1.Deployment{} }, false, true},
	appsv1.SchemeGroupVersion.WithKind("StatefulSet"):         {func() client.Object { return &appsv1.StatefulSet{} }, false, true},
	appsv1.SchemeGroupVersion.WithKind("DaemonSet"):           {func() client.Object { return &appsv1.DaemonSet{} }, false, true},
	networkingv1.SchemeGroupVersion.WithKind("NetworkPolicy"): {func() client.Object { return &networkingv1.NetworkPolicy{} }, false, true},
	ztv1.GroupVersion.WithKind("ServiceAccessPolicy"):         {func() client.Object { return &ztv1.ServiceAccessPolicy{} }, true, true},
	ztv1.GroupVersion.WithKind("ZeroTrustBaseline"):           {func() client.Object { return &ztv1.ZeroTrustBaseline{} }, true, false},
	corev1.SchemeGroupVersion.WithKind("List"):                {nil, false, false},
}

// Load reads YAML and JSON from paths: files, folders (recursively, *.yaml, *.yml and
// *.json, skipping hidden folders), and "-" for stdin. Namespaced objects without a
// namespace get defaultNamespace, as with kubectl apply. Objects of kinds the compiler never
// asks about are skipped; errors name the file, the line of the document and the field.
func Load(paths []string, stdin io.Reader, defaultNamespace string) ([]Object, error) {
	var out []Object
	for _, p := range paths {
		if p == "-" {
			data, err := io.ReadAll(stdin)
			if err != nil {
				return nil, fmt.Errorf("-: read stdin: %w", err)
			}
			objs, err := Decode(data, "-", defaultNamespace)
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
			continue
		}
		files, err := expand(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			objs, err := Decode(data, f, defaultNamespace)
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
		}
	}
	return out, nil
}

func expand(p string) ([]string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	var files []string
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != p && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
			files = append(files, path)
		}
		return nil
	})
	return files, err
}

// Decode reads a stream of YAML documents (or one JSON document) from source.
func Decode(data []byte, source, defaultNamespace string) ([]Object, error) {
	var out []Object
	for _, doc := range splitDocuments(data) {
		where := fmt.Sprintf("%s:%d", source, doc.line)
		js, err := yaml.YAMLToJSONStrict(doc.data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		objs, err := decodeJSON(js, where, defaultNamespace)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}

func decodeJSON(js []byte, where, defaultNamespace string) ([]Object, error) {
	js = bytes.TrimSpace(js)
	if len(js) == 0 || js[0] != '{' {
		// Not an object (empty document, a list of values): not a Kubernetes manifest.
		return nil, nil
	}
	var tm struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Items      []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(js, &tm); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	gv, err := schema.ParseGroupVersion(tm.APIVersion)
	if err != nil {
		return nil, fmt.Errorf("%s: apiVersion: %w", where, err)
	}
	gvk := gv.WithKind(tm.Kind)
	k, known := kinds[gvk]
	if !known {
		if gv.Group == ztv1.GroupVersion.Group && tm.Kind != "" {
			return nil, fmt.Errorf("%s: %s %s is not a kind this kubectl-zt understands (it reads %s ServiceAccessPolicy and ZeroTrustBaseline)",
				where, tm.APIVersion, tm.Kind, ztv1.GroupVersion)
		}
		return nil, nil // kustomization.yaml, ConfigMaps, Helm values...
	}
	if k.new == nil { // v1 List, as `kubectl get -o yaml` writes
		var out []Object
		for i, item := range tm.Items {
			objs, err := decodeJSON(item, fmt.Sprintf("%s items[%d]", where, i), defaultNamespace)
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
		}
		return out, nil
	}

	obj := k.new()
	var strictErrs []error
	if k.strict {
		strictErrs, err = sigsjson.UnmarshalStrict(js, obj)
	} else {
		err = sigsjson.UnmarshalCaseSensitivePreserveInts(js, obj)
	}
	what := tm.Kind
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", where, what, err)
	}
	if len(strictErrs) > 0 {
		msgs := make([]string, 0, len(strictErrs))
		for _, e := range strictErrs {
			msgs = append(msgs, e.Error())
		}
		return nil, fmt.Errorf("%s: %s %s: %s", where, what, nameOf(obj), strings.Join(msgs, "; "))
	}
	if obj.GetName() == "" {
		return nil, fmt.Errorf("%s: %s: metadata.name: Required value", where, what)
	}
	if k.namespaced {
		if obj.GetNamespace() == "" {
			obj.SetNamespace(defaultNamespace)
		}
	} else {
		obj.SetNamespace("")
	}
	return []Object{{Object: obj, Source: where}}, nil
}

func nameOf(obj client.Object) string {
	if obj.GetNamespace() != "" {
		return obj.GetNamespace() + "/" + obj.GetName()
	}
	return obj.GetName()
}

type document struct {
	data []byte
	line int // 1-based line of the document's first line
}

// splitDocuments splits a YAML stream at "---" lines, remembering where each document
// starts so errors can point at it.
func splitDocuments(data []byte) []document {
	var docs []document
	var cur bytes.Buffer
	start, line := 1, 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 64*1024*1024)
	flush := func(next int) {
		if len(bytes.TrimSpace(cur.Bytes())) > 0 {
			docs = append(docs, document{data: append([]byte(nil), cur.Bytes()...), line: start})
		}
		cur.Reset()
		start = next
	}
	for sc.Scan() {
		line++
		l := sc.Text()
		if l == "---" || strings.HasPrefix(l, "--- ") || strings.HasPrefix(l, "---\t") {
			flush(line + 1)
			continue
		}
		// Leading blank and comment lines are not part of the object: the document starts
		// where its first field does, which is where errors should point.
		if t := strings.TrimSpace(l); cur.Len() == 0 && (t == "" || strings.HasPrefix(t, "#")) {
			start = line + 1
			continue
		}
		cur.WriteString(l)
		cur.WriteByte('\n')
	}
	flush(line + 1)
	return docs
}

// LoadInventory is Load and Build: the Inventory of the objects read from paths.
func LoadInventory(paths []string, stdin io.Reader, defaultNamespace string) (*Inventory, error) {
	objs, err := Load(paths, stdin, defaultNamespace)
	if err != nil {
		return nil, err
	}
	return Build(objs)
}

// FromYAML is Decode and Build: the Inventory of the objects of one YAML stream.
func FromYAML(data []byte, source, defaultNamespace string) (*Inventory, error) {
	objs, err := Decode(data, source, defaultNamespace)
	if err != nil {
		return nil, err
	}
	return Build(objs)
}

// Build returns an Inventory of objs and checks every ServiceAccessPolicy and
// ZeroTrustBaseline against the rules of its CRD, which no API server has checked: a
// pipeline must not approve what the cluster would reject. Errors name the file and field.
func Build(objs []Object) (*Inventory, error) {
	inv := New()
	seen := map[string]string{}
	for _, o := range objs {
		id := fmt.Sprintf("%s %s", o.Object.GetObjectKind().GroupVersionKind().Kind, nameOf(o.Object))
		if prev, ok := seen[id]; ok {
			return nil, fmt.Errorf("%s: %s is defined twice (first at %s)", o.Source, id, prev)
		}
		seen[id] = o.Source
		var errs field.ErrorList
		switch t := o.Object.(type) {
		case *ztv1.ServiceAccessPolicy:
			errs = compiler.Validate(t)
		case *ztv1.ZeroTrustBaseline:
			errs = compiler.ValidateBaseline(t)
		}
		if len(errs) > 0 {
			return nil, fmt.Errorf("%s: %s is invalid:\n  %s", o.Source, id, strings.Join(compiler.FormatFieldErrors(errs), "\n  "))
		}
		if err := inv.Add(o.Object); err != nil {
			return nil, fmt.Errorf("%s: %w", o.Source, err)
		}
	}
	return inv, nil
}
