package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/webhook"
)

// reviewer answers SubjectAccessReviews from a set of "verb resource/name" the user holds.
type reviewer struct {
	holds map[string]bool
	err   error
	asked []authorizationv1.SubjectAccessReviewSpec
}

func (r *reviewer) Create(_ context.Context, obj client.Object, _ ...client.CreateOption) error {
	sar := obj.(*authorizationv1.SubjectAccessReview)
	r.asked = append(r.asked, sar.Spec)
	if r.err != nil {
		return r.err
	}
	a := sar.Spec.ResourceAttributes
	res := a.Resource
	if a.Subresource != "" {
		res += "/" + a.Subresource
	}
	if a.Group != "" {
		res += "." + a.Group
	}
	if a.Name != "" {
		res += "/" + a.Name
	}
	sar.Status.Allowed = r.holds[a.Verb+" "+res] && a.Namespace == "shop"
	return nil
}

func apiPolicy(rules ...ztv1.APIRule) *ztv1.ServiceAccessPolicy {
	return &ztv1.ServiceAccessPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: ztv1.GroupVersion.String(), Kind: "ServiceAccessPolicy"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "p"},
		Spec: ztv1.ServiceAccessPolicySpec{
			Target: ztv1.Target{KubernetesAPI: &ztv1.KubernetesAPITarget{Rules: rules}},
			From:   []ztv1.Caller{{ServiceAccount: "app"}},
		},
	}
}

func raw(t *testing.T, o runtime.Object) runtime.RawExtension {
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	return runtime.RawExtension{Raw: b}
}

func scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = ztv1.AddToScheme(s)
	return s
}

var alice = authenticationv1.UserInfo{Username: "alice", UID: "u-1", Groups: []string{"shop-devs", "system:authenticated"},
	Extra: map[string]authenticationv1.ExtraValue{"scopes": {"a"}}}

func TestHandle(t *testing.T) {
	configmaps := ztv1.APIRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"app-config"}, Verbs: []string{"get", "watch"}}
	exec := ztv1.APIRule{APIGroups: []string{""}, Resources: []string{"pods/exec"}, Verbs: []string{"create"}}
	service := apiPolicy()
	service.Spec.Target = ztv1.Target{Service: "inventory"}
	relabelled := apiPolicy(configmaps)
	relabelled.Labels = map[string]string{"team": "x"}
	execBaseline := &ztv1.ZeroTrustBaseline{ObjectMeta: metav1.ObjectMeta{Name: "exec"}, Spec: ztv1.ZeroTrustBaselineSpec{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "shop"}},
		RBAC:              &ztv1.BaselineRBAC{Allow: []ztv1.RBACException{{APIGroup: "", Resource: "pods/exec", Verbs: []string{"create"}}}},
	}}
	many := ztv1.APIRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}}
	for i := 0; i < 300; i++ {
		many.ResourceNames = append(many.ResourceNames, "cm-"+strings.Repeat("x", i%5)+string(rune('a'+i%26))+string(rune('a'+i/26)))
	}

	cases := map[string]struct {
		op        admissionv1.Operation
		obj, old  *ztv1.ServiceAccessPolicy
		baselines []client.Object
		holds     []string
		sarErr    error
		allowed   bool
		message   string // substring of the refusal
		asked     int    // SubjectAccessReviews made; -1: any
	}{
		"a Service target is not checked": {op: admissionv1.Create, obj: service, allowed: true},
		"a user who holds the permissions may grant them": {
			op: admissionv1.Create, obj: apiPolicy(configmaps), holds: []string{"get configmaps/app-config", "watch configmaps/app-config"}, allowed: true, asked: 2,
		},
		"a user who lacks one is refused, naming it": {
			op: admissionv1.Create, obj: apiPolicy(configmaps), holds: []string{"get configmaps/app-config"},
			message: `spec.target.kubernetesAPI.rules[0]: user alice lacks "watch configmaps/app-config" in namespace shop`, asked: 2,
		},
		"an update that changes the spec is checked": {
			op: admissionv1.Update, obj: apiPolicy(configmaps), old: apiPolicy(), message: "user alice lacks", asked: 1,
		},
		"an update that leaves the spec alone is not (the operator's finalizer)": {
			op: admissionv1.Update, obj: relabelled, old: apiPolicy(configmaps), allowed: true, asked: 0,
		},
		"a deny-listed rule is refused whatever the user holds": {
			op: admissionv1.Create, obj: apiPolicy(configmaps, exec), holds: []string{"create pods/exec"},
			message: `spec.target.kubernetesAPI.rules[1].resources: "pods/exec" may not be granted`, asked: 0,
		},
		"a deny-listed rule a baseline allows is checked like any other": {
			op: admissionv1.Create, obj: apiPolicy(exec), baselines: []client.Object{execBaseline}, holds: []string{"create pods/exec"}, allowed: true, asked: 1,
		},
		"a failing SubjectAccessReview refuses (fail closed)": {
			op: admissionv1.Create, obj: apiPolicy(configmaps), sarErr: errors.New("connection refused"),
			message: "the policy is refused until it can be checked", asked: 1,
		},
		"too many permissions to check is refused before any check": {
			op: admissionv1.Create, obj: apiPolicy(many), message: "more than 256 distinct permissions", asked: 0,
		},
		"delete is not checked": {op: admissionv1.Delete, obj: apiPolicy(exec), allowed: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			objs := append([]client.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"kubernetes.io/metadata.name": "shop"}}}}, tc.baselines...)
			reader := fake.NewClientBuilder().WithScheme(scheme()).WithObjects(objs...).Build()
			rv := &reviewer{holds: map[string]bool{}, err: tc.sarErr}
			for _, h := range tc.holds {
				rv.holds[h] = true
			}
			v := &webhook.PolicyValidator{Reader: reader, Reviewer: rv, Decoder: admission.NewDecoder(scheme())}
			req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
				Operation: tc.op, Namespace: "shop", Name: "p", UserInfo: alice, Object: raw(t, tc.obj),
			}}
			if tc.old != nil {
				req.OldObject = raw(t, tc.old)
			}
			resp := v.Handle(context.Background(), req)
			if resp.Allowed != tc.allowed {
				t.Fatalf("allowed = %v, want %v (%v)", resp.Allowed, tc.allowed, resp.Result)
			}
			if tc.message != "" && (resp.Result == nil || !strings.Contains(resp.Result.Message, tc.message)) {
				t.Errorf("message = %v, want it to contain %q", resp.Result, tc.message)
			}
			if tc.asked >= 0 && len(rv.asked) != tc.asked {
				t.Errorf("made %d SubjectAccessReviews, want %d", len(rv.asked), tc.asked)
			}
			for _, spec := range rv.asked {
				if spec.User != "alice" || spec.UID != "u-1" || len(spec.Groups) != 2 || spec.Extra["scopes"][0] != "a" {
					t.Errorf("SubjectAccessReview does not carry the user's identity: %+v", spec)
				}
			}
		})
	}
}

func TestAccessChecks(t *testing.T) {
	rules := []ztv1.APIRule{
		{APIGroups: []string{"", "apps"}, Resources: []string{"deployments/scale"}, Verbs: []string{"get", "update"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"a", "b"}, Verbs: []string{"get"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments/scale"}, Verbs: []string{"get"}}, // already checked
	}
	got, complete := webhook.AccessChecks(rules, 100)
	var s []string
	for _, c := range got {
		s = append(s, c.String())
	}
	want := []string{"get deployments/scale", "update deployments/scale", "get deployments/scale.apps", "update deployments/scale.apps", "get configmaps/a", "get configmaps/b"}
	if !complete || strings.Join(s, ",") != strings.Join(want, ",") {
		t.Errorf("AccessChecks() = %q (complete %v), want %q", s, complete, want)
	}
	if got[4].Rule != 1 {
		t.Errorf("configmaps/a comes from rule %d, want 1", got[4].Rule)
	}
	if _, complete := webhook.AccessChecks(rules, 5); complete {
		t.Error("AccessChecks() past its limit says complete")
	}
}
