package rbac_test

import (
	"net"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/controllers"
)

// freePort is a local port nothing listens on.
func freePort() int {
	GinkgoHelper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

var _ = Describe("the operator's own restart", func() {
	It("refuses only kubernetesAPI policies while the webhook is down, finishes its own deletions before the webhook serves again, and admits them once it does", func() {
		ns := newNamespace("restart", nil)
		readConfig := []rbacv1.PolicyRule{rule(s(""), s("configmaps"), s("get"), "app-config")}
		// A kubernetesAPI policy holding the operator's finalizer (as one generating objects
		// in other namespaces holds it): deleting it takes an update by the operator, of a
		// policy the webhook checks.
		held := apiPolicy(ns, "held", readConfig, "app")
		held.Finalizers = []string{controllers.Finalizer}
		Expect(k8s.Create(ctx, held)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(ready(g, held).Reason).To(Equal("Enforced"))
			role, _ := generated(g, held)
			g.Expect(role).NotTo(BeNil())
		}).Should(Succeed())
		webhookPort := env.WebhookInstallOptions.LocalServingPort
		restarted := false
		DeferCleanup(func() {
			if !restarted { // the spec failed while the webhook was not served
				stopOperator()
				stopOperator = startOperator(opCfg, webhookPort, true)
			}
		})

		By("stopping the operator: the webhook is down")
		stopOperator()
		stopOperator = func() {}
		Eventually(func() error {
			return k8s.Create(ctx, apiPolicy(ns, "while-down", readConfig, "app"))
		}).Should(MatchError(ContainSubstring("failed calling webhook")), "a kubernetesAPI policy is admitted without the webhook")
		Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "while-down"}, &ztv1.ServiceAccessPolicy{}))).To(BeTrue())
		// Everything else never needs the webhook.
		other := &ztv1.ServiceAccessPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "reporting-calls-app"},
			Spec: ztv1.ServiceAccessPolicySpec{
				Target: ztv1.Target{Service: "app"},
				From:   []ztv1.Caller{{ServiceAccount: "app"}},
				Ports:  []ztv1.PortRule{{Port: intstr.FromInt32(8080)}},
			},
		}
		Expect(k8s.Create(ctx, other)).To(Succeed(), "a policy without a kubernetesAPI target was refused with the webhook down")
		Expect(k8s.Delete(ctx, held)).To(Succeed())

		By("starting the operator while its webhook is still unreachable (a new pod not ready yet)")
		stopOperator = startOperator(opCfg, freePort(), true)
		Eventually(func(g Gomega) {
			err := k8s.Get(ctx, client.ObjectKeyFromObject(held), &ztv1.ServiceAccessPolicy{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the operator could not remove its finalizer: %v", err)
			role, rb := generated(g, held)
			g.Expect(role).To(BeNil())
			g.Expect(rb).To(BeNil())
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(ready(g, other)).NotTo(BeNil())
		}).Should(Succeed(), "the policy created while the operator was down is not reconciled")
		Expect(k8s.Create(ctx, apiPolicy(ns, "while-down", readConfig, "app"))).To(MatchError(ContainSubstring("failed calling webhook")),
			"fail closed until the webhook is served")

		By("restarting the operator with its webhook served")
		stopOperator()
		stopOperator = startOperator(opCfg, webhookPort, true)
		restarted = true
		Eventually(func() error {
			return k8s.Create(ctx, apiPolicy(ns, "after", []rbacv1.PolicyRule{rule(s(""), s("*"), s("get"))}, "app"))
		}).Should(MatchError(ContainSubstring("may not be granted")), "the webhook does not answer again")
		after := apiPolicy(ns, "after", readConfig, "app")
		Expect(k8s.Create(ctx, after)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(ready(g, after).Reason).To(Equal("Enforced"))
			role, rb := generated(g, after)
			g.Expect(role).NotTo(BeNil())
			g.Expect(rb).NotTo(BeNil())
		}).Should(Succeed())
	})
})
