package audit

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

// listPageSize bounds each page of Gather's lists.
const listPageSize = 500

// Gather reads what the audit needs for in.Namespaces from c, which should read the API
// server directly (no cache): RBAC objects cluster-wide, NetworkPolicies of each namespace,
// and pods where Pod Security is below restricted. Lists are paged; nothing is kept after.
func Gather(ctx context.Context, c client.Reader, in *Input) error {
	var roles rbacv1.RoleList
	var clusterRoles rbacv1.ClusterRoleList
	var roleBindings rbacv1.RoleBindingList
	var clusterRoleBindings rbacv1.ClusterRoleBindingList
	for _, l := range []client.ObjectList{&roles, &clusterRoles, &roleBindings, &clusterRoleBindings} {
		if err := listAll(ctx, c, l); err != nil {
			return err
		}
	}
	in.Roles, in.ClusterRoles = roles.Items, clusterRoles.Items
	in.RoleBindings, in.ClusterRoleBindings = roleBindings.Items, clusterRoleBindings.Items
	for ns, level := range in.Namespaces {
		var nps networkingv1.NetworkPolicyList
		if err := listAll(ctx, c, &nps, client.InNamespace(ns)); err != nil {
			return err
		}
		in.NetworkPolicies = append(in.NetworkPolicies, nps.Items...)
		if level == ztv1.PodSecurityRestricted {
			continue
		}
		var pods corev1.PodList
		if err := listAll(ctx, c, &pods, client.InNamespace(ns)); err != nil {
			return err
		}
		in.Pods = append(in.Pods, pods.Items...)
	}
	return nil
}

// listAll lists every page into list.
func listAll(ctx context.Context, c client.Reader, list client.ObjectList, opts ...client.ListOption) error {
	var items []runtime.Object
	cont := ""
	for {
		page := list.DeepCopyObject().(client.ObjectList)
		if err := c.List(ctx, page, append(opts, client.Limit(listPageSize), client.Continue(cont))...); err != nil {
			return fmt.Errorf("listing %T: %w", list, err)
		}
		pageItems, err := meta.ExtractList(page)
		if err != nil {
			return err
		}
		items = append(items, pageItems...)
		if cont = page.GetContinue(); cont == "" {
			break
		}
	}
	return meta.SetList(list, items)
}
