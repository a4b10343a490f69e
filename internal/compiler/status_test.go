package compiler_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
)

func TestPolicyStatus(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC))
	now := metav1.NewTime(time.Date(2026, 6, 15, 10, 0, 0, 0, time.UTC))
	next := time.Date(2026, 6, 15, 18, 0, 0, 0, time.UTC)

	p := &ztv1.ServiceAccessPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api-access", Generation: 3},
		Spec: ztv1.ServiceAccessPolicySpec{From: []ztv1.Caller{
			{ServiceAccount: "web"}, {ServiceAccount: "batch"},
		}},
	}
	np := &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "zt-in.api-access"},
	}
	role := &rbacv1.Role{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "zt-in.api-access"},
	}
	npRef := ztv1.ObjectReference{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy", Namespace: "shop", Name: "zt-in.api-access"}
	roleRef := ztv1.ObjectReference{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role", Namespace: "shop", Name: "zt-in.api-access"}
	enforced := compiler.Decision{Status: true, Reason: compiler.ReasonEnforced, Message: "enforced"}
	ready := func(status metav1.ConditionStatus, reason, msg string, at metav1.Time) metav1.Condition {
		return metav1.Condition{Type: ztv1.ConditionReady, Status: status, ObservedGeneration: 3, Reason: reason, Message: msg, LastTransitionTime: at}
	}
	other := metav1.Condition{Type: "Audited", Status: metav1.ConditionTrue, Reason: "Clean", LastTransitionTime: t0, ObservedGeneration: 2}

	cases := map[string]struct {
		out       compiler.Output
		applyErrs map[ztv1.Backend]error
		previous  []metav1.Condition
		want      ztv1.ServiceAccessPolicyStatus
	}{
		"Enforced, new policy: Ready True since now, objects listed": {
			out: compiler.Output{Ready: enforced, Target: "Service/api", Active: true, Backends: []compiler.BackendResult{
				{Backend: ztv1.BackendNetworkPolicy, State: ztv1.BackendApplied, Message: "1 object", Objects: []client.Object{np}},
			}},
			want: ztv1.ServiceAccessPolicyStatus{ObservedGeneration: 3, Target: "Service/api", Callers: 2, Active: true,
				Conditions: []metav1.Condition{ready(metav1.ConditionTrue, compiler.ReasonEnforced, "enforced", now)},
				Backends:   []ztv1.BackendStatus{{Name: ztv1.BackendNetworkPolicy, State: ztv1.BackendApplied, Message: "1 object", Objects: []ztv1.ObjectReference{npRef}}},
			},
		},
		"Enforced again: Ready keeps its transition time, other conditions are kept": {
			out: compiler.Output{Ready: enforced, Target: "Service/api", Active: true, NextTransition: &next, Backends: []compiler.BackendResult{
				{Backend: ztv1.BackendNetworkPolicy, State: ztv1.BackendApplied, Objects: []client.Object{np}},
			}},
			previous: []metav1.Condition{other, {Type: ztv1.ConditionReady, Status: metav1.ConditionTrue, ObservedGeneration: 2,
				Reason: compiler.ReasonDryRun, Message: "dry run", LastTransitionTime: t0}},
			want: ztv1.ServiceAccessPolicyStatus{ObservedGeneration: 3, Target: "Service/api", Callers: 2, Active: true,
				NextTransition: &metav1.Time{Time: next},
				Conditions:     []metav1.Condition{other, ready(metav1.ConditionTrue, compiler.ReasonEnforced, "enforced", t0)},
				Backends:       []ztv1.BackendStatus{{Name: ztv1.BackendNetworkPolicy, State: ztv1.BackendApplied, Objects: []ztv1.ObjectReference{npRef}}},
			},
		},
		"a Partial backend: PartiallyEnforced, Ready False since now (it was True)": {
			out: compiler.Output{Ready: compiler.Decision{Reason: compiler.ReasonPartiallyEnforced, Message: "Istio denies from[0]"}, Target: "Service/api", Active: true,
				Backends: []compiler.BackendResult{
					{Backend: ztv1.BackendNetworkPolicy, State: ztv1.BackendApplied, Objects: []client.Object{np}},
					{Backend: ztv1.BackendIstio, State: ztv1.BackendPartial, Message: "Istio does not admit from[0]", Denied: []string{"from[0]"}},
				}},
			previous: []metav1.Condition{ready(metav1.ConditionTrue, compiler.ReasonEnforced, "enforced", t0)},
			want: ztv1.ServiceAccessPolicyStatus{ObservedGeneration: 3, Target: "Service/api", Callers: 2, Active: true,
				Conditions: []metav1.Condition{ready(metav1.ConditionFalse, compiler.ReasonPartiallyEnforced, "Istio denies from[0]", now)},
				Backends: []ztv1.BackendStatus{
					{Name: ztv1.BackendNetworkPolicy, State: ztv1.BackendApplied, Objects: []ztv1.ObjectReference{npRef}},
					{Name: ztv1.BackendIstio, State: ztv1.BackendPartial, Message: "Istio does not admit from[0]"},
				},
			},
		},
		"apply errors: those backends Failed with the server's message, Ready ApplyFailed naming them sorted, inactive: none applied": {
			out: compiler.Output{Ready: enforced, Target: "kubernetesAPI", Active: true, Backends: []compiler.BackendResult{
				{Backend: ztv1.BackendNetworkPolicy, State: ztv1.BackendApplied, Objects: []client.Object{np}},
				{Backend: ztv1.BackendRBAC, State: ztv1.BackendApplied, Objects: []client.Object{role}},
			}},
			applyErrs: map[ztv1.Backend]error{
				ztv1.BackendRBAC:          errors.New("roles.rbac.authorization.k8s.io is forbidden"),
				ztv1.BackendNetworkPolicy: errors.New("admission webhook denied"),
				ztv1.BackendIstio:         nil,
			},
			want: ztv1.ServiceAccessPolicyStatus{ObservedGeneration: 3, Target: "kubernetesAPI", Callers: 2,
				Conditions: []metav1.Condition{ready(metav1.ConditionFalse, compiler.ReasonApplyFailed,
					"the API server refused objects of backend(s) NetworkPolicy, RBAC; see status.backends for its message", now)},
				Backends: []ztv1.BackendStatus{
					{Name: ztv1.BackendNetworkPolicy, State: ztv1.BackendFailed, Message: "admission webhook denied", Objects: []ztv1.ObjectReference{npRef}},
					{Name: ztv1.BackendRBAC, State: ztv1.BackendFailed, Message: "roles.rbac.authorization.k8s.io is forbidden", Objects: []ztv1.ObjectReference{roleRef}},
				},
			},
		},
		"apply error while Ready was False: the transition time stays, inactive": {
			out: compiler.Output{Ready: enforced, Target: "Service/api", Active: true, Backends: []compiler.BackendResult{
				{Backend: ztv1.BackendNetworkPolicy, State: ztv1.BackendApplied, Objects: []client.Object{np}},
			}},
			applyErrs: map[ztv1.Backend]error{ztv1.BackendNetworkPolicy: errors.New("conflict")},
			previous:  []metav1.Condition{ready(metav1.ConditionFalse, compiler.ReasonTargetNotFound, "no Service", t0)},
			want: ztv1.ServiceAccessPolicyStatus{ObservedGeneration: 3, Target: "Service/api", Callers: 2,
				Conditions: []metav1.Condition{ready(metav1.ConditionFalse, compiler.ReasonApplyFailed,
					"the API server refused objects of backend(s) NetworkPolicy; see status.backends for its message", t0)},
				Backends: []ztv1.BackendStatus{{Name: ztv1.BackendNetworkPolicy, State: ztv1.BackendFailed, Message: "conflict", Objects: []ztv1.ObjectReference{npRef}}},
			},
		},
		"an apply error in one backend: still active through the one that applied": {
			out: compiler.Output{Ready: enforced, Target: "kubernetesAPI", Active: true, Backends: []compiler.BackendResult{
				{Backend: ztv1.BackendNetworkPolicy, State: ztv1.BackendApplied, Objects: []client.Object{np}},
				{Backend: ztv1.BackendRBAC, State: ztv1.BackendApplied, Objects: []client.Object{role}},
			}},
			applyErrs: map[ztv1.Backend]error{ztv1.BackendRBAC: errors.New("forbidden")},
			want: ztv1.ServiceAccessPolicyStatus{ObservedGeneration: 3, Target: "kubernetesAPI", Callers: 2, Active: true,
				Conditions: []metav1.Condition{ready(metav1.ConditionFalse, compiler.ReasonApplyFailed,
					"the API server refused objects of backend(s) RBAC; see status.backends for its message", now)},
				Backends: []ztv1.BackendStatus{
					{Name: ztv1.BackendNetworkPolicy, State: ztv1.BackendApplied, Objects: []ztv1.ObjectReference{npRef}},
					{Name: ztv1.BackendRBAC, State: ztv1.BackendFailed, Message: "forbidden", Objects: []ztv1.ObjectReference{roleRef}},
				},
			},
		},
		"outside the schedule: inactive, Ready True, the next transition shown": {
			out: compiler.Output{Ready: compiler.Decision{Status: true, Reason: compiler.ReasonOutsideSchedule, Message: "outside"}, Target: "Service/api",
				NextTransition: &next, Backends: []compiler.BackendResult{{Backend: ztv1.BackendNetworkPolicy, State: ztv1.BackendSkipped, Message: "nothing"}}},
			want: ztv1.ServiceAccessPolicyStatus{ObservedGeneration: 3, Target: "Service/api", Callers: 2, Active: false,
				NextTransition: &metav1.Time{Time: next},
				Conditions:     []metav1.Condition{ready(metav1.ConditionTrue, compiler.ReasonOutsideSchedule, "outside", now)},
				Backends:       []ztv1.BackendStatus{{Name: ztv1.BackendNetworkPolicy, State: ztv1.BackendSkipped, Message: "nothing"}},
			},
		},
		"inactive backends: Disabled and NotInstalled entries after the active ones": {
			out: compiler.Output{Ready: enforced, Target: "Service/api", Active: true, Backends: append([]compiler.BackendResult{
				{Backend: ztv1.BackendNetworkPolicy, State: ztv1.BackendApplied, Objects: []client.Object{np}},
				{Backend: ztv1.BackendRBAC, State: ztv1.BackendSkipped, Message: "RBAC governs kubernetesAPI targets only"},
			}, compiler.InactiveBackends([]ztv1.Backend{ztv1.BackendCilium, ztv1.BackendLinkerd}, []ztv1.Backend{ztv1.BackendIstio})...)},
			want: ztv1.ServiceAccessPolicyStatus{ObservedGeneration: 3, Target: "Service/api", Callers: 2, Active: true,
				Conditions: []metav1.Condition{ready(metav1.ConditionTrue, compiler.ReasonEnforced, "enforced", now)},
				Backends: []ztv1.BackendStatus{
					{Name: ztv1.BackendNetworkPolicy, State: ztv1.BackendApplied, Objects: []ztv1.ObjectReference{npRef}},
					{Name: ztv1.BackendRBAC, State: ztv1.BackendSkipped, Message: "RBAC governs kubernetesAPI targets only"},
					{Name: ztv1.BackendIstio, State: ztv1.BackendNotInstalled,
						Message: "the cluster does not serve AuthorizationPolicy.security.istio.io, PeerAuthentication.security.istio.io; install it and the operator picks it up"},
					{Name: ztv1.BackendLinkerd, State: ztv1.BackendDisabled, Message: compiler.DisabledMessage},
					{Name: ztv1.BackendCilium, State: ztv1.BackendDisabled, Message: compiler.DisabledMessage},
				},
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			previous := append([]metav1.Condition(nil), tc.previous...)
			got := compiler.PolicyStatus(p, &tc.out, tc.applyErrs, tc.previous, now)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("status:\n got  %+v\n want %+v", got, tc.want)
			}
			if !reflect.DeepEqual(previous, tc.previous) {
				t.Errorf("previous conditions modified: %+v", tc.previous)
			}
		})
	}
}

func TestInactiveBackends(t *testing.T) {
	got := compiler.InactiveBackends([]ztv1.Backend{ztv1.BackendRBAC, ztv1.BackendIstio}, []ztv1.Backend{ztv1.BackendIstio, ztv1.BackendCilium})
	var states []string
	for _, r := range got {
		states = append(states, string(r.Backend)+"="+string(r.State))
		if len(r.Objects) > 0 || len(r.Denied) > 0 {
			t.Errorf("%s: objects or denied set: %+v", r.Backend, r)
		}
	}
	// Registry order; a backend both disabled and not installed is Disabled.
	if want := "Istio=Disabled Cilium=NotInstalled RBAC=Disabled"; strings.Join(states, " ") != want {
		t.Errorf("InactiveBackends = %s, want %s", strings.Join(states, " "), want)
	}
	if msg := got[1].Message; !strings.Contains(msg, "CiliumNetworkPolicy.cilium.io") {
		t.Errorf("NotInstalled message %q does not name Cilium's kinds", msg)
	}
	if got := compiler.InactiveBackends(nil, nil); got != nil {
		t.Errorf("InactiveBackends(nil, nil) = %+v", got)
	}
}
