package crd_test

import (
	"context"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/testenv"
)

var (
	env *envtest.Environment
	k8s client.Client
	ctx = context.Background()
)

func TestCRDValidation(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "CRD validation")
}

var _ = BeforeSuite(func() {
	// The mesh CRDs too: the objects generated from the fuzz corpus are dry-run for every
	// backend (dryrun_test.go).
	mesh, err := testenv.MeshCRDs()
	Expect(err).NotTo(HaveOccurred())
	var extra []string
	for _, paths := range mesh {
		extra = append(extra, paths...)
	}
	e, restCfg, err := testenv.Start(testenv.Options{ExtraCRDPaths: extra})
	Expect(err).NotTo(HaveOccurred())
	env = e
	Expect(ztv1.AddToScheme(scheme.Scheme)).To(Succeed())
	k8s, err = client.New(restCfg, client.Options{Scheme: scheme.Scheme})
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})
