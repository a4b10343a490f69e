// Package rbac_test checks kubernetesAPI policies end to end against a real API server: the
// operator runs with the RBAC backend, as its ServiceAccount (the user the chart runs it as)
// bound to nothing but the RBAC generated from its markers (config/rbac/role.yaml), serves
// the admission webhook of config/webhook/manifests.yaml with the certificate it manages
// itself (internal/certs), and is stopped and started again (restart_test.go). Users with
// limited permissions (envtest.AddUser) create policies through it.
package rbac_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	"github.com/zerotrust-dev/zerotrust-operator/internal/certs"
	"github.com/zerotrust-dev/zerotrust-operator/internal/operator"
	"github.com/zerotrust-dev/zerotrust-operator/internal/testenv"
	ztwebhook "github.com/zerotrust-dev/zerotrust-operator/internal/webhook"
)

// operatorNamespace is the operator's own namespace: the one the generated Role for the
// certificate Secret is in, and the one config/webhook excludes from the webhook.
const operatorNamespace = "zerotrust-system"

// operatorUser is who the operator runs as: the ServiceAccount the chart runs it as, whose
// own writes (the finalizer) the webhook configuration's matchConditions exclude.
const operatorUser = "system:serviceaccount:" + operatorNamespace + ":zerotrust-operator"

var (
	env    *envtest.Environment
	cfg    *rest.Config
	k8s    client.Client // system:masters
	ctx    context.Context
	cancel context.CancelFunc
	// opCfg is the operator's identity; stopOperator stops the operator running.
	opCfg        *rest.Config
	stopOperator func()
)

func TestRBAC(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	RunSpecs(t, "kubernetesAPI policies: RBAC backend and admission webhook")
}

var _ = BeforeSuite(func() {
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())
	root := testenv.RepoRoot()

	var err error
	env, cfg, err = testenv.Start(testenv.Options{Webhooks: &envtest.WebhookInstallOptions{
		ValidatingWebhooks: []*admissionregistrationv1.ValidatingWebhookConfiguration{webhookConfiguration(root)},
		LocalServingHost:   "127.0.0.1",
	}})
	Expect(err).NotTo(HaveOccurred())
	k8s, err = client.New(cfg, client.Options{Scheme: operator.Scheme()})
	Expect(err).NotTo(HaveOccurred())

	// The operator runs as a user holding exactly the generated RBAC.
	Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}})).To(Succeed())
	for _, obj := range generatedRBAC(root) {
		Expect(k8s.Create(ctx, obj)).To(Succeed(), "creating %T %s", obj, obj.GetName())
	}
	opUser, err := env.AddUser(envtest.User{Name: operatorUser, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + operatorNamespace}}, cfg)
	Expect(err).NotTo(HaveOccurred())
	opCfg = opUser.Config()
	opCfg.QPS, opCfg.Burst = -1, -1
	stopOperator = startOperator(opCfg, env.WebhookInstallOptions.LocalServingPort, false)

	// The operator replaced envtest's CA with its own, and the API server reaches the
	// webhook through it.
	sec := &corev1.Secret{}
	Expect(k8s.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: certs.DefaultSecretName}, sec)).To(Succeed())
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	Expect(k8s.Get(ctx, client.ObjectKey{Name: ztwebhook.ConfigurationName}, vwc)).To(Succeed())
	Expect(vwc.Webhooks[0].ClientConfig.CABundle).To(Equal(sec.Data[certs.KeyCACert]))
	probe := newNamespace("webhook-probe", nil)
	Eventually(func() string {
		err := k8s.Create(ctx, apiPolicy(probe, "probe", []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"*"}, Verbs: []string{"get"}}}, "app"))
		return fmt.Sprint(err)
	}).Should(ContainSubstring(`may not be granted`), "the webhook does not answer")
})

// startOperator runs the operator as the user of config c, serving the webhook on port,
// and returns what stops it and waits until it has. again: another instance has run in
// this process before (controller names are taken).
func startOperator(c *rest.Config, port int, again bool) (stop func()) {
	GinkgoHelper()
	backends, err := operator.ParseBackends("networkpolicy=on,rbac=on")
	Expect(err).NotTo(HaveOccurred())
	opCtx, cancelOp := context.WithCancel(ctx)
	mgr, err := operator.New(opCtx, c, operator.Options{
		MetricsAddr: "0", ProbeAddr: "0", Backends: backends, SkipNameValidation: again,
		Webhook: operator.WebhookOptions{
			Enabled: true, Host: env.WebhookInstallOptions.LocalServingHost, Port: port, CertDir: GinkgoT().TempDir(),
			ManageCerts: true, Namespace: operatorNamespace, ServiceName: "zerotrust-operator-webhook",
			CertHosts: []string{"127.0.0.1", "localhost"},
		},
	})
	Expect(err).NotTo(HaveOccurred())
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		Expect(operator.Run(opCtx, mgr)).To(Succeed())
	}()
	return func() {
		cancelOp()
		Eventually(done).Should(BeClosed())
	}
}

var _ = AfterSuite(func() {
	if stopOperator != nil {
		stopOperator()
	}
	if cancel != nil {
		cancel()
	}
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})

// webhookConfiguration is the ValidatingWebhookConfiguration of the kustomize install,
// config/default/zerotrust-operator.yaml: the chart rendered, holding the configuration
// generated from the markers (config/webhook/manifests.yaml) with the chart's
// namespaceSelector and matchConditions.
func webhookConfiguration(root string) *admissionregistrationv1.ValidatingWebhookConfiguration {
	data, err := os.ReadFile(filepath.Join(root, "config", "default", "zerotrust-operator.yaml"))
	Expect(err).NotTo(HaveOccurred())
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(string(data)), 4096)
	for {
		raw := map[string]any{}
		if err := dec.Decode(&raw); err != nil {
			break
		}
		if raw["kind"] != "ValidatingWebhookConfiguration" {
			continue
		}
		b, err := yaml.Marshal(raw)
		Expect(err).NotTo(HaveOccurred())
		vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		Expect(yaml.Unmarshal(b, vwc)).To(Succeed())
		Expect(vwc.Webhooks).To(HaveLen(1))
		Expect(vwc.Webhooks[0].NamespaceSelector.MatchExpressions[0].Values).To(ConsistOf(operatorNamespace))
		Expect(vwc.Webhooks[0].MatchConditions).To(ContainElement(HaveField("Expression", ContainSubstring("'"+operatorUser+"'"))),
			"the configuration does not exclude the operator's own writes as the user this suite runs it as")
		return vwc
	}
	Fail("config/default/zerotrust-operator.yaml holds no ValidatingWebhookConfiguration")
	return nil
}

// generatedRBAC is config/rbac/role.yaml (the ClusterRole and the Role of the operator's
// namespace), bound to the operator's ServiceAccount (operatorUser).
func generatedRBAC(root string) []client.Object {
	data, err := os.ReadFile(filepath.Join(root, "config", "rbac", "role.yaml"))
	Expect(err).NotTo(HaveOccurred())
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(string(data)), 4096)
	subject := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: operatorNamespace, Name: "zerotrust-operator"}}
	var out []client.Object
	for {
		var meta metav1.TypeMeta
		raw := map[string]any{}
		if err := dec.Decode(&raw); err != nil {
			break
		}
		b, _ := yaml.Marshal(raw)
		Expect(yaml.Unmarshal(b, &meta)).To(Succeed())
		switch meta.Kind {
		case "ClusterRole":
			cr := &rbacv1.ClusterRole{}
			Expect(yaml.Unmarshal(b, cr)).To(Succeed())
			for _, r := range cr.Rules {
				for _, field := range [][]string{r.APIGroups, r.Resources, r.Verbs} {
					Expect(field).NotTo(ContainElement(ContainSubstring("*")), "the operator's ClusterRole has a wildcard")
				}
			}
			out = append(out, cr, &rbacv1.ClusterRoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: cr.Name},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: cr.Name},
				Subjects:   subject,
			})
		case "Role":
			r := &rbacv1.Role{}
			Expect(yaml.Unmarshal(b, r)).To(Succeed())
			Expect(r.Namespace).To(Equal(operatorNamespace))
			out = append(out, r, &rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Namespace: r.Namespace, Name: r.Name},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: r.Name},
				Subjects:   subject,
			})
		}
	}
	Expect(out).To(HaveLen(4), "config/rbac/role.yaml: want a ClusterRole and a Role")
	return out
}

var counter atomic.Int64

// uniqueName returns a name not used by any other test in this run.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, counter.Add(1))
}
