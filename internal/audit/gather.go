package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

// listPageSize bounds each page of Gather's lists.
const listPageSize = 500

// Gather reads what the audit needs for in.Namespaces from c, which should read the API
// server directly (no cache): RBAC objects and unmanaged NetworkPolicies cluster-wide,
// with istio (Istio's CRDs are served) unmanaged security.istio.io/v1
// AuthorizationPolicies cluster-wide, and pods where Pod Security is below restricted, of
// which only those with a finding are kept (in their security view). Pods are read through
// pods (protobuf, decoded only as far as the security view: see PodSource), the rest through
// c. Lists are paged; of the policies, only those of in.Namespaces are kept. What the
// network comparison declares (Policies, Inventory, Workloads...) is the caller's: the
// operator has it in its caches.
func Gather(ctx context.Context, c client.Reader, pods *PodSource, in *Input, istio bool) error {
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
	if istio {
		aps, err := listAuthorizationPolicies(ctx, c, in.Namespaces, notOurs)
		if err != nil {
			return err
		}
		in.AuthorizationPolicies = append(in.AuthorizationPolicies, aps...)
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

// AuthorizationPolicyGVK is the kind of Istio AuthorizationPolicy the audit reads.
var AuthorizationPolicyGVK = schema.GroupVersionKind{Group: "security.istio.io", Version: "v1", Kind: "AuthorizationPolicy"}

// listAuthorizationPolicies lists, as unstructured objects (the operator's scheme does not
// hold Istio's types, and its caches hold only its own), the AuthorizationPolicies matching
// opts of the namespaces in keep, decoded into the types istio.Evaluate judges.
func listAuthorizationPolicies(ctx context.Context, c client.Reader, keep map[string]ztv1.PodSecurityLevel, opts ...client.ListOption) ([]*securityv1.AuthorizationPolicy, error) {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(AuthorizationPolicyGVK.GroupVersion().WithKind(AuthorizationPolicyGVK.Kind + "List"))
	var out []*securityv1.AuthorizationPolicy
	err := eachPage(ctx, c, list, listPageSize, func(page client.ObjectList) {
		for i := range page.(*unstructured.UnstructuredList).Items {
			u := &page.(*unstructured.UnstructuredList).Items[i]
			if _, ok := keep[u.GetNamespace()]; !ok {
				continue
			}
			// One the API server stored but Istio's types cannot read is not Istio's to
			// enforce either: it is left out rather than failing the whole audit.
			if ap, err := DecodeAuthorizationPolicy(u); err == nil {
				out = append(out, ap)
			}
		}
	}, opts...)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DecodeAuthorizationPolicy decodes an unstructured security.istio.io AuthorizationPolicy
// through its JSON form: the spec is a protobuf message with its own JSON decoding (enum
// names such as DENY), which the unstructured converter does not apply.
func DecodeAuthorizationPolicy(u *unstructured.Unstructured) (*securityv1.AuthorizationPolicy, error) {
	data, err := u.MarshalJSON()
	if err != nil {
		return nil, err
	}
	ap := &securityv1.AuthorizationPolicy{}
	if err := json.Unmarshal(data, ap); err != nil {
		return nil, fmt.Errorf("decoding AuthorizationPolicy %s/%s: %w", u.GetNamespace(), u.GetName(), err)
	}
	return ap, nil
}
