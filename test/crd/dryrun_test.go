package crd_test

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler/fuzzgen"
	"github.com/zerotrust-dev/zerotrust-operator/internal/inventory/static"
	"github.com/zerotrust-dev/zerotrust-operator/internal/testenv"
)

// sampleSize is the number of generated inputs replayed besides the seed corpus.
const sampleSize = 200

var everyBackend = compiler.Options{Backends: []ztv1.Backend{
	ztv1.BackendNetworkPolicy, ztv1.BackendIstio, ztv1.BackendLinkerd, ztv1.BackendCilium, ztv1.BackendRBAC,
}}

// The compiler's fuzz targets (internal/compiler/fuzz_test.go) cannot start an API server
// per input. This replays their seed corpus, and a fixed sample of generated inputs, through
// the API server's server-side dry-run: every object the compiler generates, for every
// backend (the mesh CRDs are installed in this suite), must be accepted as it is.
var _ = Describe("objects generated from the fuzz corpus", Ordered, func() {
	BeforeAll(func() {
		for _, ns := range fuzzgen.Namespaces {
			err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
			Expect(client.IgnoreAlreadyExists(err)).To(Succeed())
		}
	})

	It("are accepted by the API server's dry-run", func() {
		root := filepath.Join(testenv.RepoRoot(), "internal", "compiler", "testdata", "fuzz")
		single := corpus(filepath.Join(root, "FuzzCompile"))
		many := corpus(filepath.Join(root, "FuzzRender"))
		Expect(single).NotTo(BeEmpty(), "no seed corpus in %s", root)
		r := rand.New(rand.NewPCG(17, 17))
		for i := 0; i < sampleSize; i++ {
			data := make([]byte, r.IntN(96))
			for j := range data {
				data[j] = byte(r.Uint32())
			}
			if i%2 == 0 {
				single = append(single, data)
			} else {
				many = append(many, data)
			}
		}

		seen := map[string]bool{}
		checked := 0
		dryRun := func(input []byte, objs []client.Object) {
			for _, o := range objs {
				u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
				Expect(err).NotTo(HaveOccurred())
				obj := &unstructured.Unstructured{Object: u}
				y, err := compiler.EncodeYAML([]client.Object{o})
				Expect(err).NotTo(HaveOccurred())
				if seen[string(y)] {
					continue
				}
				seen[string(y)] = true
				checked++
				err = k8s.Create(ctx, obj, client.DryRunAll)
				Expect(err).NotTo(HaveOccurred(), "input %q generated an object the API server refuses:\n%s", input, y)
			}
		}
		for _, data := range single {
			c := fuzzgen.Generate(data)
			inv, err := static.FromObjects(c.Objects...)
			Expect(err).NotTo(HaveOccurred())
			out, err := compiler.Compile(inv, compiler.Input{Policy: c.Policy, Now: c.Now, Options: everyBackend})
			Expect(err).NotTo(HaveOccurred())
			for _, b := range out.Backends {
				dryRun(data, b.Objects)
			}
		}
		for _, data := range many {
			policies, objs, now := fuzzgen.GenerateMany(data)
			for i := range policies {
				objs = append(objs, &policies[i])
			}
			inv, err := static.FromObjects(objs...)
			Expect(err).NotTo(HaveOccurred())
			rendering, err := inv.Render(now, everyBackend)
			Expect(err).NotTo(HaveOccurred())
			dryRun(data, rendering.Objects)
		}
		GinkgoWriter.Printf("dry-run accepted %d distinct generated objects\n", checked)
		Expect(checked).To(BeNumerically(">=", 100))
	})

	It("refuses an object the compiler must never generate (the check can fail)", func() {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("networking.k8s.io/v1")
		u.SetKind("NetworkPolicy")
		u.SetNamespace(fuzzgen.PolicyNamespace)
		u.SetName("zt-in.bad")
		Expect(unstructured.SetNestedSlice(u.Object, []any{map[string]any{"ports": []any{map[string]any{"port": int64(70000)}}}}, "spec", "ingress")).To(Succeed())
		err := k8s.Create(ctx, u, client.DryRunAll)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
	})
})

// corpus reads the inputs of a Go fuzz corpus folder (files of "go test fuzz v1" and one
// []byte("...") line each).
func corpus(dir string) [][]byte {
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	var out [][]byte
	for _, f := range files {
		data, err := os.ReadFile(f)
		ExpectWithOffset(1, err).NotTo(HaveOccurred())
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if !strings.HasPrefix(line, "[]byte(") {
				continue
			}
			s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(line, "[]byte("), ")"))
			ExpectWithOffset(1, err).NotTo(HaveOccurred(), fmt.Sprintf("%s: %s", f, line))
			out = append(out, []byte(s))
		}
	}
	return out
}
