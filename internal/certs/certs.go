// Package certs gives the admission webhook a serving certificate without cert-manager: a
// self-managed CA and serving certificate, kept in one Secret in the operator's namespace so
// that every replica serves the same one, written to the webhook server's certificate
// directory, and trusted by the API server through the caBundle of the operator's
// ValidatingWebhookConfiguration.
//
// Ensure runs before the manager starts (the webhook server reads its certificate at start)
// and then periodically (Rotator): it creates what is missing, renews what expires within
// RenewBefore, and rewrites files and caBundle only when they differ, so the webhook
// server's certificate watcher picks up a renewal without a restart. A replaced CA stays in
// caBundle next to the new one until it expires, so replicas that still serve a certificate
// of the old CA keep being trusted until they reload.
//
// Replicas race through optimistic concurrency: the Secret is created once (AlreadyExists
// means another replica won, and its content is used) and updated with its resourceVersion.
package certs

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// Keys of the Secret.
const (
	KeyCACert    = "ca.crt"
	KeyCAKey     = "ca.key"
	KeyOldCACert = "ca-previous.crt"
	KeyCert      = corev1.TLSCertKey       // tls.crt
	KeyKey       = corev1.TLSPrivateKeyKey // tls.key
)

// Defaults of Options.
const (
	DefaultSecretName   = "zerotrust-operator-webhook-cert"
	DefaultCAValidity   = 10 * 365 * 24 * time.Hour
	DefaultCertValidity = 365 * 24 * time.Hour
	DefaultRenewBefore  = 30 * 24 * time.Hour
)

// Options say where the certificates live and what they are for.
type Options struct {
	// Namespace of the Secret: the operator's own.
	Namespace string
	// SecretName defaults to DefaultSecretName (the name the operator's Role allows).
	SecretName string
	// ServiceName is the webhook's Service in Namespace; the serving certificate is for
	// <svc>, <svc>.<ns>, <svc>.<ns>.svc and <svc>.<ns>.svc.cluster.local.
	ServiceName string
	// DNSNames and IPs are further names of the serving certificate (e.g. localhost in
	// tests).
	DNSNames []string
	IPs      []net.IP
	// WebhookConfiguration is the ValidatingWebhookConfiguration whose caBundle is kept;
	// empty leaves caBundle alone.
	WebhookConfiguration string
	// CertDir receives tls.crt and tls.key for the webhook server.
	CertDir string
	// CAValidity, CertValidity and RenewBefore default to the Default* constants.
	CAValidity   time.Duration
	CertValidity time.Duration
	RenewBefore  time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.SecretName == "" {
		o.SecretName = DefaultSecretName
	}
	if o.CAValidity == 0 {
		o.CAValidity = DefaultCAValidity
	}
	if o.CertValidity == 0 {
		o.CertValidity = DefaultCertValidity
	}
	if o.RenewBefore == 0 {
		o.RenewBefore = DefaultRenewBefore
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// dnsNames are the names the serving certificate must hold.
func (o *Options) dnsNames() []string {
	var names []string
	if o.ServiceName != "" {
		s, ns := o.ServiceName, o.Namespace
		names = append(names, s, s+"."+ns, s+"."+ns+".svc", s+"."+ns+".svc.cluster.local")
	}
	return append(names, o.DNSNames...)
}

// ErrNoWebhookConfiguration: the ValidatingWebhookConfiguration does not exist (yet). The
// certificates are in place; the caBundle is set on a later Ensure.
var ErrNoWebhookConfiguration = errors.New("ValidatingWebhookConfiguration not found")

// Ensure brings the Secret, the files in CertDir and the caBundle up to date (see the
// package documentation). An ErrNoWebhookConfiguration (wrapped) leaves the first two done.
func Ensure(ctx context.Context, c client.Client, o Options) error {
	o.defaults()
	sec, err := ensureSecret(ctx, c, &o)
	if err != nil {
		return err
	}
	if o.CertDir != "" {
		if err := writeFiles(o.CertDir, sec.Data[KeyCert], sec.Data[KeyKey]); err != nil {
			return err
		}
	}
	if o.WebhookConfiguration == "" {
		return nil
	}
	return patchCABundle(ctx, c, o.WebhookConfiguration, caBundle(sec.Data, o.Now()))
}

// ensureSecret returns the Secret with a CA and serving certificate valid for at least
// RenewBefore, creating or renewing them as needed.
func ensureSecret(ctx context.Context, c client.Client, o *Options) (*corev1.Secret, error) {
	key := client.ObjectKey{Namespace: o.Namespace, Name: o.SecretName}
	for attempt := 0; attempt < 5; attempt++ {
		sec := &corev1.Secret{}
		err := c.Get(ctx, key, sec)
		switch {
		case apierrors.IsNotFound(err):
			sec = &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: o.Namespace, Name: o.SecretName,
					Labels: map[string]string{"app.kubernetes.io/managed-by": "zerotrust-operator"}},
				Type: corev1.SecretTypeTLS,
			}
			if sec.Data, err = issue(nil, o); err != nil {
				return nil, err
			}
			err = c.Create(ctx, sec)
			if apierrors.IsAlreadyExists(err) {
				continue // another replica created it: use theirs
			}
			if err != nil {
				return nil, fmt.Errorf("creating Secret %s: %w", key, err)
			}
			log.FromContext(ctx).Info("created the webhook CA and serving certificate", "secret", key)
			return sec, nil
		case err != nil:
			return nil, fmt.Errorf("reading Secret %s: %w", key, err)
		}
		if valid(sec.Data, o) {
			return sec, nil
		}
		data, err := issue(sec.Data, o)
		if err != nil {
			return nil, err
		}
		sec.Data = data
		err = c.Update(ctx, sec)
		if apierrors.IsConflict(err) {
			continue // another replica renewed it first: read again
		}
		if err != nil {
			return nil, fmt.Errorf("updating Secret %s: %w", key, err)
		}
		log.FromContext(ctx).Info("renewed the webhook serving certificate", "secret", key)
		return sec, nil
	}
	return nil, fmt.Errorf("the Secret %s keeps changing under concurrent updates", key)
}

// valid reports whether data holds a CA good for at least CertValidity more (so a serving
// certificate issued now never outlives it) and a serving certificate of that CA, for every
// name, good for at least RenewBefore more.
func valid(data map[string][]byte, o *Options) bool {
	now := o.Now()
	ca, _, err := parsePair(data[KeyCACert], data[KeyCAKey])
	if err != nil || !ca.IsCA || now.Add(min(o.CertValidity, o.CAValidity/2)).After(ca.NotAfter) {
		return false
	}
	cert, _, err := parsePair(data[KeyCert], data[KeyKey])
	if err != nil || now.Add(o.RenewBefore).After(cert.NotAfter) {
		return false
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return false
	}
	for _, n := range o.dnsNames() {
		if cert.VerifyHostname(n) != nil {
			return false
		}
	}
	for _, ip := range o.IPs {
		if cert.VerifyHostname(ip.String()) != nil {
			return false
		}
	}
	return true
}

// issue returns Secret data with a serving certificate issued now, by the CA of old when
// that CA is still good enough, else by a new CA (old's CA then stays in caBundle as the
// previous one until it expires).
func issue(old map[string][]byte, o *Options) (map[string][]byte, error) {
	now := o.Now()
	data := map[string][]byte{}
	ca, caKey, err := parsePair(old[KeyCACert], old[KeyCAKey])
	if err != nil || !ca.IsCA || now.Add(min(o.CertValidity, o.CAValidity/2)).After(ca.NotAfter) {
		if err == nil && ca.IsCA && now.Before(ca.NotAfter) {
			data[KeyOldCACert] = old[KeyCACert]
		}
		if ca, caKey, err = newCA(now, o.CAValidity); err != nil {
			return nil, err
		}
		data[KeyCACert] = encodeCert(ca)
		if data[KeyCAKey], err = encodeKey(caKey); err != nil {
			return nil, err
		}
	} else {
		data[KeyCACert], data[KeyCAKey] = old[KeyCACert], old[KeyCAKey]
		if prev := old[KeyOldCACert]; len(prev) > 0 {
			data[KeyOldCACert] = prev
		}
	}
	cert, key, err := newServingCert(ca, caKey, now, min(o.CertValidity, ca.NotAfter.Sub(now)), o.dnsNames(), o.IPs)
	if err != nil {
		return nil, err
	}
	data[KeyCert] = encodeCert(cert)
	if data[KeyKey], err = encodeKey(key); err != nil {
		return nil, err
	}
	return data, nil
}

// caBundle is the current CA, followed by the previous one while it has not expired.
func caBundle(data map[string][]byte, now time.Time) []byte {
	bundle := append([]byte(nil), data[KeyCACert]...)
	if prev := data[KeyOldCACert]; len(prev) > 0 {
		if c, err := parseCert(prev); err == nil && now.Before(c.NotAfter) {
			bundle = append(bundle, prev...)
		}
	}
	return bundle
}

func newCA(now time.Time, validity time.Duration) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "zerotrust-operator-webhook-ca"},
		NotBefore:             now.Add(-time.Hour), // tolerate clock skew between nodes
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func newServingCert(ca *x509.Certificate, caKey crypto.Signer, now time.Time, validity time.Duration, names []string, ips []net.IP) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, nil, err
	}
	cn := "zerotrust-operator-webhook"
	if len(names) > 0 {
		cn = names[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     names,
		IPAddresses:  ips,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func serialNumber() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func encodeCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func encodeKey(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func parseCert(data []byte) (*x509.Certificate, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(b.Bytes)
}

// parsePair parses a certificate and its private key and checks that they belong together.
func parsePair(certPEM, keyPEM []byte) (*x509.Certificate, crypto.Signer, error) {
	cert, err := parseCert(certPEM)
	if err != nil {
		return nil, nil, err
	}
	b, _ := pem.Decode(keyPEM)
	if b == nil {
		return nil, nil, errors.New("no PEM private key")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, nil, err
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, nil, errors.New("private key cannot sign")
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, nil, errors.New("private key does not match the certificate")
	}
	return cert, signer, nil
}

// writeFiles writes tls.crt and tls.key into dir when they differ, each through a rename so
// that the webhook server's certificate watcher never reads half a file.
func writeFiles(dir string, cert, key []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for name, data := range map[string][]byte{KeyKey: key, KeyCert: cert} {
		path := filepath.Join(dir, name)
		if cur, err := os.ReadFile(path); err == nil && bytes.Equal(cur, data) {
			continue
		}
		tmp, err := os.CreateTemp(dir, "."+name+"-*")
		if err != nil {
			return err
		}
		_, werr := tmp.Write(data)
		cerr := tmp.Close()
		if err := errors.Join(werr, cerr); err != nil {
			_ = os.Remove(tmp.Name())
			return err
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			_ = os.Remove(tmp.Name())
			return err
		}
	}
	return nil
}

// patchCABundle sets caBundle on every webhook of the configuration that does not already
// carry it.
func patchCABundle(ctx context.Context, c client.Client, name string, bundle []byte) error {
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := c.Get(ctx, client.ObjectKey{Name: name}, vwc); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("%w: %s", ErrNoWebhookConfiguration, name)
		}
		return fmt.Errorf("reading ValidatingWebhookConfiguration %s: %w", name, err)
	}
	base := vwc.DeepCopy()
	changed := false
	for i := range vwc.Webhooks {
		if !bytes.Equal(vwc.Webhooks[i].ClientConfig.CABundle, bundle) {
			vwc.Webhooks[i].ClientConfig.CABundle = bundle
			changed = true
		}
	}
	if !changed {
		return nil
	}
	if err := c.Patch(ctx, vwc, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("setting caBundle of ValidatingWebhookConfiguration %s: %w", name, err)
	}
	log.FromContext(ctx).Info("set the webhook caBundle", "validatingWebhookConfiguration", name)
	return nil
}

// Rotator runs Ensure every Interval (default one hour), and every RetryInterval (default
// 30 seconds) after a failure, e.g. while the ValidatingWebhookConfiguration is not yet
// installed. It runs on every replica, not only the leader: each serves the webhook from its
// own files.
type Rotator struct {
	Client        client.Client
	Options       Options
	Interval      time.Duration
	RetryInterval time.Duration
	// Failed makes the first run come after RetryInterval: the Ensure before start failed.
	Failed bool
}

// Start implements manager.Runnable.
func (r *Rotator) Start(ctx context.Context) error {
	interval, retry := r.Interval, r.RetryInterval
	if interval <= 0 {
		interval = time.Hour
	}
	if retry <= 0 {
		retry = 30 * time.Second
	}
	next := interval
	if r.Failed {
		next = min(retry, interval)
	}
	for {
		t := time.NewTimer(next)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		next = interval
		if err := Ensure(ctx, r.Client, r.Options); err != nil {
			log.FromContext(ctx).Error(err, "keeping the webhook certificate current")
			next = min(retry, interval)
		}
	}
}

// NeedLeaderElection is false: every replica keeps its own files current.
func (r *Rotator) NeedLeaderElection() bool { return false }
