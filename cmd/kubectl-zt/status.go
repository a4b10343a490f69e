package main

import (
	"bytes"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
	"github.com/zerotrust-dev/zerotrust-operator/internal/compiler"
)

// policyStatus is the status the operator writes after a reconcile that compiled p into
// out and applied all of it (compiler.PolicyStatus, with no apply errors). Backends not in
// active are listed as Disabled, as an operator run with the same --backends lists them.
// The policy is taken to be new: the Ready condition's lastTransitionTime is now (the
// operator keeps the previous one when Ready does not change).
func policyStatus(p *ztv1.ServiceAccessPolicy, out *compiler.Output, active []ztv1.Backend, now metav1.Time) ztv1.ServiceAccessPolicyStatus {
	var disabled []ztv1.Backend
	for _, b := range compiler.AllBackends() {
		if !slices.Contains(active, b) && !slices.ContainsFunc(out.Backends, func(r compiler.BackendResult) bool { return r.Backend == b }) {
			disabled = append(disabled, b)
		}
	}
	withInactive := *out
	withInactive.Backends = append(slices.Clip(out.Backends), compiler.InactiveBackends(disabled, nil)...)
	return compiler.PolicyStatus(p, &withInactive, nil, nil, now)
}

// encodeStatuses writes, for every policy of the rendering, a ServiceAccessPolicy holding
// only its name and the status the operator would write, as a YAML stream.
func encodeStatuses(l *loaded, r *compiler.Rendering) ([]byte, error) {
	var buf bytes.Buffer
	now := metav1.NewTime(l.now.UTC())
	for i, pr := range r.Policies {
		p := l.inv.Policy(pr.Namespace, pr.Name)
		if p == nil {
			return nil, fmt.Errorf("ServiceAccessPolicy %s/%s: not in the input", pr.Namespace, pr.Name)
		}
		doc := struct {
			APIVersion string                         `json:"apiVersion"`
			Kind       string                         `json:"kind"`
			Metadata   map[string]string              `json:"metadata"`
			Status     ztv1.ServiceAccessPolicyStatus `json:"status"`
		}{
			APIVersion: ztv1.GroupVersion.String(),
			Kind:       "ServiceAccessPolicy",
			Metadata:   map[string]string{"namespace": pr.Namespace, "name": pr.Name},
			Status:     policyStatus(p, pr.Output, l.opts.Backends, now),
		}
		b, err := yaml.Marshal(doc)
		if err != nil {
			return nil, fmt.Errorf("ServiceAccessPolicy %s/%s: %w", pr.Namespace, pr.Name, err)
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(b)
	}
	return buf.Bytes(), nil
}
