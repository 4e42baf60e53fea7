package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/twimlbin/twimlbin/internal/ratelimit"
	"github.com/twimlbin/twimlbin/store"
)

// limits are the server's rate limits; see Config.AuthFailures.
type limits struct {
	failuresByAddr, failuresByAccount, signupsByAddr *ratelimit.Limiter
}

// clientKey is the limits' key of the request's client.
func (s *Server) clientKey(c echo.Context) string {
	return ratelimit.ClientKey(c.Request(), s.cfg.TrustedProxies)
}

// authWait is how long the client and the account SID it names must wait
// before their next authentication, 0 for none. A SID that cannot be an
// account's is not counted per account: it cannot sign in to one.
func (s *Server) authWait(client, sid string) time.Duration {
	if !store.IsAccountSID(sid) {
		sid = ""
	}
	return max(s.limits.failuresByAddr.Wait(client), s.limits.failuresByAccount.Wait(sid))
}

// authFailed counts a failed authentication of the client and the SID.
func (s *Server) authFailed(client, sid string) {
	s.limits.failuresByAddr.Add(client)
	if store.IsAccountSID(sid) {
		s.limits.failuresByAccount.Add(sid)
	}
}

// errRateLimited is the 429 of a limit, saying what and when to retry.
func errRateLimited(what string, wait time.Duration) *Error {
	secs := ratelimit.Seconds(wait)
	e := newError(http.StatusTooManyRequests, codeRateLimited,
		fmt.Sprintf("%s Nothing was checked or changed. Try again in %d seconds.", what, secs))
	e.retryAfter = secs
	return e
}
