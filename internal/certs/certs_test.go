package certs_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/zerotrust-dev/zerotrust-operator/internal/certs"
)

func certsOf(pemData []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, pemData = pem.Decode(pemData)
		if b == nil {
			return out
		}
		c, err := x509.ParseCertificate(b.Bytes)
		ExpectWithOffset(1, err).NotTo(HaveOccurred())
		out = append(out, c)
	}
}

// verify checks that the files in dir are a key pair whose certificate the bundle trusts
// for name.
func verify(dir string, bundle []byte, name string, at time.Time) *x509.Certificate {
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	pool := x509.NewCertPool()
	ExpectWithOffset(1, pool.AppendCertsFromPEM(bundle)).To(BeTrue())
	_, err = leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: pool, CurrentTime: at})
	ExpectWithOffset(1, err).NotTo(HaveOccurred(), "the caBundle does not trust the served certificate for %s", name)
	return leaf
}

var _ = Describe("the self-managed webhook CA", Ordered, func() {
	const ns, vwcName = "zerotrust-system", "zerotrust-operator"
	var (
		dir  string
		now  time.Time
		opts certs.Options
	)
	caBundle := func() []byte {
		vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		ExpectWithOffset(1, k8s.Get(ctx, client.ObjectKey{Name: vwcName}, vwc)).To(Succeed())
		return vwc.Webhooks[0].ClientConfig.CABundle
	}
	secret := func() *corev1.Secret {
		s := &corev1.Secret{}
		ExpectWithOffset(1, k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: certs.DefaultSecretName}, s)).To(Succeed())
		return s
	}

	BeforeAll(func() {
		dir = GinkgoT().TempDir()
		now = time.Now()
		opts = certs.Options{
			Namespace: ns, ServiceName: "zerotrust-operator-webhook", WebhookConfiguration: vwcName,
			CertDir: dir, IPs: []net.IP{net.ParseIP("127.0.0.1")}, Now: func() time.Time { return now },
		}
		Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	})

	It("writes the certificate even before the webhook configuration exists, and says so", func() {
		err := certs.Ensure(ctx, k8s, opts)
		Expect(err).To(MatchError(certs.ErrNoWebhookConfiguration))
		Expect(filepath.Join(dir, "tls.crt")).To(BeARegularFile())
		Expect(secret().Data).To(HaveKey(certs.KeyCAKey))
	})

	It("creates the CA and serving certificate and sets caBundle", func() {
		path := "/validate"
		Expect(k8s.Create(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: vwcName},
			Webhooks: []admissionregistrationv1.ValidatingWebhook{{
				Name:                    "serviceaccesspolicies.zerotrust.dev",
				ClientConfig:            admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: ns, Name: "zerotrust-operator-webhook", Path: &path}},
				SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
				AdmissionReviewVersions: []string{"v1"},
				// No rules: the API server never calls it.
			}},
		})).To(Succeed())
		Expect(certs.Ensure(ctx, k8s, opts)).To(Succeed())
		bundle := caBundle()
		Expect(bundle).To(Equal(secret().Data[certs.KeyCACert]))
		for _, name := range []string{"zerotrust-operator-webhook.zerotrust-system.svc", "zerotrust-operator-webhook.zerotrust-system.svc.cluster.local", "127.0.0.1"} {
			verify(dir, bundle, name, now)
		}
		info, err := os.Stat(filepath.Join(dir, "tls.key"))
		Expect(err).NotTo(HaveOccurred())
		Expect(info.Mode().Perm()&^0o600).To(BeZero(), "the private key is readable by others")
	})

	It("changes nothing when everything is current", func() {
		before := secret().ResourceVersion
		vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		Expect(k8s.Get(ctx, client.ObjectKey{Name: vwcName}, vwc)).To(Succeed())
		crt, _ := os.ReadFile(filepath.Join(dir, "tls.crt"))
		Expect(certs.Ensure(ctx, k8s, opts)).To(Succeed())
		Expect(secret().ResourceVersion).To(Equal(before))
		after := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		Expect(k8s.Get(ctx, client.ObjectKey{Name: vwcName}, after)).To(Succeed())
		Expect(after.ResourceVersion).To(Equal(vwc.ResourceVersion))
		Expect(os.ReadFile(filepath.Join(dir, "tls.crt"))).To(Equal(crt))
	})

	It("renews the serving certificate before it expires, with the same CA", func() {
		old := verify(dir, caBundle(), "127.0.0.1", now)
		ca := secret().Data[certs.KeyCACert]
		now = old.NotAfter.Add(-10 * 24 * time.Hour) // inside RenewBefore
		Expect(certs.Ensure(ctx, k8s, opts)).To(Succeed())
		renewed := verify(dir, caBundle(), "127.0.0.1", now)
		Expect(renewed.SerialNumber).NotTo(Equal(old.SerialNumber))
		Expect(renewed.NotAfter).To(BeTemporally(">", old.NotAfter))
		Expect(secret().Data[certs.KeyCACert]).To(Equal(ca))
		Expect(caBundle()).To(Equal(ca))
	})

	It("replaces an expiring CA and trusts both until the old one expires", func() {
		oldCA := certsOf(secret().Data[certs.KeyCACert])[0]
		now = oldCA.NotAfter.Add(-30 * 24 * time.Hour)
		Expect(certs.Ensure(ctx, k8s, opts)).To(Succeed())
		bundle := certsOf(caBundle())
		Expect(bundle).To(HaveLen(2))
		Expect(bundle[0].NotAfter).To(BeTemporally(">", oldCA.NotAfter))
		Expect(bundle[1].Equal(oldCA)).To(BeTrue())
		verify(dir, caBundle(), "127.0.0.1", now)

		now = oldCA.NotAfter.Add(time.Hour) // the old CA has expired: it leaves the bundle
		Expect(certs.Ensure(ctx, k8s, opts)).To(Succeed())
		Expect(certsOf(caBundle())).To(HaveLen(1))
	})

	It("reissues a Secret whose key does not match its certificate", func() {
		s := secret()
		s.Data[certs.KeyKey] = s.Data[certs.KeyCAKey]
		Expect(k8s.Update(ctx, s)).To(Succeed())
		Expect(certs.Ensure(ctx, k8s, opts)).To(Succeed())
		verify(dir, caBundle(), "127.0.0.1", now)
	})
})
