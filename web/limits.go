package web

import (
	"fmt"
	"net/http"
	"time"

	"github.com/twimlbin/twimlbin/internal/ratelimit"
	"github.com/twimlbin/twimlbin/store"
)

// limits are the form's rate limits; see Config.SignInFailures.
type limits struct {
	failuresByAddr, failuresByAccount, signupsByAddr *ratelimit.Limiter
}

// clientKey is the limits' key of the request's client.
func (h *Handler) clientKey(r *http.Request) string {
	return ratelimit.ClientKey(r, h.cfg.TrustedProxies)
}

// limitKey is the per-account key of a SID typed in the sign-in form:
// "" for one that cannot be an account's, which cannot sign in to one.
func limitKey(sid string) string {
	if !store.IsAccountSID(sid) {
		return ""
	}
	return sid
}

// errRateLimited is the 429 page of a limit, saying when to try again.
func errRateLimited(what string, wait time.Duration) *pageError {
	secs := ratelimit.Seconds(wait)
	return &pageError{status: http.StatusTooManyRequests, title: "Too many attempts", retryAfter: secs,
		message: fmt.Sprintf("%s Nothing was checked or changed. Try again in %d seconds.", what, secs)}
}
