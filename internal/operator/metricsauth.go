package operator

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// The metrics endpoint's authentication and authorization, the kubebuilder way: the caller's
// bearer token is checked by the API server (TokenReview), and its user must be allowed
// get on the nonResourceURL of the request (SubjectAccessReview), e.g. /metrics. It does what
// controller-runtime's filters.WithAuthenticationAndAuthorization does with client-go
// alone: that one brings k8s.io/apiserver, which would grow the binary by 30 MB.

// metricsAuthTTL is how long a decision is reused: Prometheus scrapes every 30 s or so with
// the same token, and each decision costs the API server two requests.
const metricsAuthTTL = time.Minute

// metricsAuthMaxEntries bounds the cache of decisions (distinct tokens and paths).
const metricsAuthMaxEntries = 256

type metricsDecision struct {
	allowed bool
	status  int
	reason  string
	at      time.Time
}

// metricsAuth is a metricsserver.Filter provider (Options.FilterProvider).
func metricsAuth(cfg *rest.Config, httpClient *http.Client) (metricsserver.Filter, error) {
	cs, err := kubernetes.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("metrics authentication: %w", err)
	}
	var (
		mu    sync.Mutex
		cache = map[[32]byte]metricsDecision{}
	)
	decide := func(r *http.Request, token string) metricsDecision {
		ctx := r.Context()
		tr, err := cs.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
			Spec: authenticationv1.TokenReviewSpec{Token: token},
		}, metav1.CreateOptions{})
		if err != nil {
			return metricsDecision{status: http.StatusInternalServerError, reason: "authentication failed: " + err.Error()}
		}
		if !tr.Status.Authenticated {
			return metricsDecision{status: http.StatusUnauthorized, reason: "Unauthorized"}
		}
		u := tr.Status.User
		extra := map[string]authorizationv1.ExtraValue{}
		for k, v := range u.Extra {
			extra[k] = authorizationv1.ExtraValue(v)
		}
		sar, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{
				User: u.Username, UID: u.UID, Groups: u.Groups, Extra: extra,
				NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: r.URL.Path, Verb: strings.ToLower(r.Method)},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			return metricsDecision{status: http.StatusInternalServerError, reason: "authorization failed: " + err.Error()}
		}
		if !sar.Status.Allowed {
			return metricsDecision{status: http.StatusForbidden, reason: fmt.Sprintf("Forbidden (user=%s, verb=%s, path=%s)", u.Username, strings.ToLower(r.Method), r.URL.Path)}
		}
		return metricsDecision{allowed: true}
	}
	return func(log logr.Logger, next http.Handler) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || token == "" {
				http.Error(w, "Unauthorized", http.StatusUnauthorized)
				return
			}
			key := sha256.Sum256([]byte(token + "\x00" + r.Method + "\x00" + r.URL.Path))
			now := time.Now()
			mu.Lock()
			d, hit := cache[key]
			mu.Unlock()
			if !hit || now.Sub(d.at) > metricsAuthTTL {
				d = decide(r, token)
				d.at = now
				if d.status != http.StatusInternalServerError {
					mu.Lock()
					if len(cache) >= metricsAuthMaxEntries {
						clear(cache)
					}
					cache[key] = d
					mu.Unlock()
				}
			}
			if !d.allowed {
				if d.status == http.StatusInternalServerError {
					log.Error(nil, "metrics request refused", "reason", d.reason)
				}
				http.Error(w, d.reason, d.status)
				return
			}
			next.ServeHTTP(w, r)
		}), nil
	}, nil
}
