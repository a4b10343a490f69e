package operator

import (
	"context"
	"errors"
	"testing"

	"k8s.io/client-go/rest"
)

// The RBAC backend without the admission webhook would let anyone who may write a policy
// grant permissions they do not hold: the operator refuses to start so, before it contacts
// any API server.
func TestNewRefusesRBACWithoutWebhook(t *testing.T) {
	unreachable := &rest.Config{Host: "https://127.0.0.1:1"}
	for _, flag := range []string{"networkpolicy,rbac", "rbac=on", "networkpolicy,rbac=auto"} {
		modes, err := ParseBackends(flag)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := New(context.Background(), unreachable, Options{Backends: modes}); !errors.Is(err, ErrRBACWithoutWebhook) {
			t.Errorf("--backends=%s without the webhook: got %v, want ErrRBACWithoutWebhook", flag, err)
		}
	}
	// Without rbac, or with the webhook, the check passes and New goes on to the API server
	// (unreachable here).
	off, _ := ParseBackends("networkpolicy,rbac=off")
	on, _ := ParseBackends("networkpolicy,rbac=on")
	for name, o := range map[string]Options{
		"rbac off":          {Backends: off},
		"default backends":  {},
		"rbac with webhook": {Backends: on, Webhook: WebhookOptions{Enabled: true, CertDir: t.TempDir()}},
	} {
		if _, err := New(context.Background(), unreachable, o); err == nil || errors.Is(err, ErrRBACWithoutWebhook) {
			t.Errorf("%s: got %v, want an error reaching the API server", name, err)
		}
	}
}
