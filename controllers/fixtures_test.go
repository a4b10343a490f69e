package controllers_test

import (
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

func create(objs ...client.Object) {
	for _, o := range objs {
		ExpectWithOffset(1, k8s.Create(ctx, o)).To(Succeed(), "creating %T %s", o, o.GetName())
	}
}

func newNamespace(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

// newDeployment runs pods labelled app=name as serviceAccount, with named container ports.
func newDeployment(ns, name, serviceAccount string, ports map[string]int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	c := corev1.Container{Name: "main", Image: "registry.example/" + name}
	for n, p := range ports {
		c.Ports = append(c.Ports, corev1.ContainerPort{Name: n, ContainerPort: p, Protocol: corev1.ProtocolTCP})
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{ServiceAccountName: serviceAccount, Containers: []corev1.Container{c}},
			},
		},
	}
}

// newService selects app=name and maps port -> targetPort.
func newService(ns, name string, port int32, targetPort intstr.IntOrString) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: port, TargetPort: targetPort, Protocol: corev1.ProtocolTCP}},
		},
	}
}

func newPolicy(ns, name string, target ztv1.Target, from []ztv1.Caller, ports ...ztv1.PortRule) *ztv1.ServiceAccessPolicy {
	return &ztv1.ServiceAccessPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       ztv1.ServiceAccessPolicySpec{Target: target, From: from, Ports: ports},
	}
}

// generated lists the NetworkPolicies generated for a policy, in every namespace.
func generated(p *ztv1.ServiceAccessPolicy) []networkingv1.NetworkPolicy {
	var list networkingv1.NetworkPolicyList
	ExpectWithOffset(1, k8s.List(ctx, &list, client.MatchingLabels{
		ztv1.LabelPolicyName: p.Name, ztv1.LabelPolicyNamespace: p.Namespace,
	})).To(Succeed())
	return list.Items
}

// generatedIn returns the one NetworkPolicy generated for p in namespace ns.
func generatedIn(g Gomega, p *ztv1.ServiceAccessPolicy, ns string) *networkingv1.NetworkPolicy {
	var found []networkingv1.NetworkPolicy
	for _, np := range generated(p) {
		if np.Namespace == ns {
			found = append(found, np)
		}
	}
	g.Expect(found).To(HaveLen(1), "NetworkPolicies of %s in %s", p.Name, ns)
	return &found[0]
}

func ready(g Gomega, p *ztv1.ServiceAccessPolicy) *metav1.Condition {
	cur := &ztv1.ServiceAccessPolicy{}
	g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p), cur)).To(Succeed())
	g.Expect(cur.Status.ObservedGeneration).To(Equal(cur.Generation))
	for i := range cur.Status.Conditions {
		if cur.Status.Conditions[i].Type == ztv1.ConditionReady {
			return &cur.Status.Conditions[i]
		}
	}
	g.Expect(cur.Status.Conditions).NotTo(BeEmpty(), "no Ready condition")
	return nil
}

func peer(ns string, labels map[string]string) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{
		PodSelector:       &metav1.LabelSelector{MatchLabels: labels},
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}},
	}
}

func tcp(port intstr.IntOrString) networkingv1.NetworkPolicyPort {
	proto := corev1.ProtocolTCP
	return networkingv1.NetworkPolicyPort{Protocol: &proto, Port: &port}
}
