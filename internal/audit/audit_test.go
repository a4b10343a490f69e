package audit

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

func sa(ns, name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}
}

func TestRun(t *testing.T) {
	selected := map[string]ztv1.PodSecurityLevel{"shop": ztv1.PodSecurityBaseline, "locked": ztv1.PodSecurityRestricted}
	wildcard := rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "anything"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"*"}}}}
	narrow := rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "reader"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}}}}
	openNP := networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "allow-all"},
		Spec: networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{}}}}

	cases := map[string]struct {
		in    Input
		kinds []string // expected finding kinds, in order
	}{
		"a clean namespace has no findings": {in: Input{
			Namespaces: selected,
			Roles:      []rbacv1.Role{narrow},
			RoleBindings: []rbacv1.RoleBinding{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "ok"},
				RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "reader"}, Subjects: []rbacv1.Subject{sa("shop", "app")}}},
			// Admits nothing: it selects no pod but those labelled app=none, and from
			// nothing but those.
			NetworkPolicies: []networkingv1.NetworkPolicy{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "isolate"},
				Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "none"}},
					PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}}},
			Pods: []corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web"}}}}},
		}},
		"a ServiceAccount bound to edit": {in: Input{Namespaces: selected,
			RoleBindings: []rbacv1.RoleBinding{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "editor"},
				RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "edit"}, Subjects: []rbacv1.Subject{sa("", "app")}}}},
			kinds: []string{KindPrivilegedBinding}},
		"a ServiceAccount bound to a wildcard role": {in: Input{Namespaces: selected, Roles: []rbacv1.Role{wildcard},
			RoleBindings: []rbacv1.RoleBinding{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "wild"},
				RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "anything"}, Subjects: []rbacv1.Subject{sa("shop", "app")}}}},
			kinds: []string{KindPrivilegedBinding}},
		"cluster-admin for a ServiceAccount of a selected namespace": {in: Input{Namespaces: selected,
			ClusterRoleBindings: []rbacv1.ClusterRoleBinding{{ObjectMeta: metav1.ObjectMeta{Name: "root"},
				RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "cluster-admin"}, Subjects: []rbacv1.Subject{sa("shop", "app"), sa("elsewhere", "x")}}}},
			kinds: []string{KindPrivilegedBinding}},
		"cluster-admin for a user or another namespace is not this baseline's business": {in: Input{Namespaces: selected,
			ClusterRoleBindings: []rbacv1.ClusterRoleBinding{{ObjectMeta: metav1.ObjectMeta{Name: "root"},
				RoleRef:  rbacv1.RoleRef{Kind: "ClusterRole", Name: "cluster-admin"},
				Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "alice"}, sa("elsewhere", "x")}}}}},
		"an unmanaged NetworkPolicy that allows everything": {in: Input{Namespaces: selected,
			NetworkPolicies: []networkingv1.NetworkPolicy{openNP}}, kinds: []string{KindOpenNetworkPolicy}},
		"the operator's own policies are not findings": {in: Input{Namespaces: selected,
			NetworkPolicies: []networkingv1.NetworkPolicy{func() networkingv1.NetworkPolicy {
				np := *openNP.DeepCopy()
				np.Labels = map[string]string{ztv1.LabelManagedBy: ztv1.ManagedByValue}
				return np
			}()}}},
		"a privileged pod running as root": {in: Input{Namespaces: selected,
			Pods: []corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "agent"},
				Spec: corev1.PodSpec{SecurityContext: &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](0)},
					Containers: []corev1.Container{{Name: "agent", SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}}}}}}},
			kinds: []string{KindPrivilegedPod, KindRootPod}},
		"a container overriding the pod's root user is fine": {in: Input{Namespaces: selected,
			Pods: []corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "app"},
				Spec: corev1.PodSpec{SecurityContext: &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](0)},
					Containers: []corev1.Container{{Name: "app", SecurityContext: &corev1.SecurityContext{RunAsUser: ptr.To[int64](1000)}}}}}}}},
		"restricted namespaces already forbid privileged pods": {in: Input{Namespaces: selected,
			Pods: []corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Namespace: "locked", Name: "agent"},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}}}}}}}},
		"namespaces the baseline does not select are ignored": {in: Input{Namespaces: selected,
			NetworkPolicies: []networkingv1.NetworkPolicy{func() networkingv1.NetworkPolicy {
				np := *openNP.DeepCopy()
				np.Namespace = "elsewhere"
				return np
			}()}}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := Run(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, f := range got {
				kinds = append(kinds, f.Kind)
				if f.Message == "" || f.Object.Name == "" {
					t.Errorf("finding without message or object: %+v", f)
				}
			}
			if len(kinds) != len(tc.kinds) {
				t.Fatalf("findings %v, want kinds %v", got, tc.kinds)
			}
			for i := range kinds {
				if kinds[i] != tc.kinds[i] {
					t.Fatalf("findings %v, want kinds %v", got, tc.kinds)
				}
			}
		})
	}
}
