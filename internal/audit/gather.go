package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

// listPageSize bounds each page of Gather's lists.
const listPageSize = 500

// Gather reads what the audit needs for in.Namespaces from c, which should read the API
// server directly (no cache): RBAC objects and unmanaged NetworkPolicies cluster-wide,
// and pods where Pod Security is below restricted, of which only those with a finding are
// kept (in their security view). Pods are read through pods (protobuf, decoded only as far
// as the security view: see PodSource), the rest through c. Lists are paged; nothing else is
// kept after.
func Gather(ctx context.Context, c client.Reader, pods *PodSource, in *Input) error {
	if pods == nil {
		return errors.New("audit: no PodSource to read pods with")
	}
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
	// The operator's own NetworkPolicies are not audited (see networkPolicies): leave them
	// on the server.
	unmanaged, err := labels.NewRequirement(ztv1.LabelManagedBy, selection.NotEquals, []string{ztv1.ManagedByValue})
	if err != nil {
		return err
	}
	notOurs := client.MatchingLabelsSelector{Selector: labels.NewSelector().Add(*unmanaged)}
	// One list for every namespace (unmanaged NetworkPolicies are few), rather than one
	// request per selected namespace: a baseline over 1000 namespaces audited them with
	// 1000 lists.
	err = eachPage(ctx, c, &networkingv1.NetworkPolicyList{}, listPageSize, func(page client.ObjectList) {
		for _, np := range page.(*networkingv1.NetworkPolicyList).Items {
			if _, ok := in.Namespaces[np.Namespace]; ok {
				in.NetworkPolicies = append(in.NetworkPolicies, np)
			}
		}
	}, notOurs)
	if err != nil {
		return err
	}
	var buf bytes.Buffer // the pages of PodSource
	for ns, level := range in.Namespaces {
		if level == ztv1.PodSecurityRestricted {
			continue
		}
		// Page by page, keeping only the pods that make a finding: a namespace's pods are
		// the largest thing the audit reads, and most of them are fine.
		only := Input{Namespaces: map[string]ztv1.PodSecurityLevel{ns: level}, Pods: make([]corev1.Pod, 1)}
		for cont, first := "", true; first || cont != ""; first = false {
			views, next, err := pods.page(ctx, &buf, ns, cont, podViewPageSize)
			if err != nil {
				return err
			}
			for _, v := range views {
				only.Pods[0] = v
				if len(podFindings(only)) > 0 {
					in.Pods = append(in.Pods, v)
				}
			}
			cont = next
		}
	}
	return nil
}

// podViewPageSize bounds each page of pods read by PodSource: the response (5-10 KB a pod)
// is held until its security views are taken.
const podViewPageSize = 250

// eachPage lists list's kind page by page, handing each page to fn.
func eachPage(ctx context.Context, c client.Reader, list client.ObjectList, limit int64, fn func(client.ObjectList), opts ...client.ListOption) error {
	cont := ""
	for {
		page := list.DeepCopyObject().(client.ObjectList)
		if err := c.List(ctx, page, append(opts, client.Limit(limit), client.Continue(cont))...); err != nil {
			return fmt.Errorf("listing %T: %w", list, err)
		}
		fn(page)
		if cont = page.GetContinue(); cont == "" {
			return nil
		}
	}
}

// listAll lists every page into list.
func listAll(ctx context.Context, c client.Reader, list client.ObjectList, opts ...client.ListOption) error {
	var items []runtime.Object
	var extractErr error
	err := eachPage(ctx, c, list, listPageSize, func(page client.ObjectList) {
		pageItems, err := meta.ExtractList(page)
		if err != nil && extractErr == nil {
			extractErr = err
		}
		items = append(items, pageItems...)
	}, opts...)
	if err != nil {
		return err
	}
	if extractErr != nil {
		return extractErr
	}
	return meta.SetList(list, items)
}
