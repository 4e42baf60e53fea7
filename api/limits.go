package api

import (
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/twimlbin/twimlbin/internal/ratelimit"
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
	if !validSID(sid, "AC") {
		sid = ""
	}
	return max(s.limits.failuresByAddr.Wait(client), s.limits.failuresByAccount.Wait(sid))
}

// authFailed counts a failed authentication of the client and the SID.
func (s *Server) authFailed(client, sid string) {
	s.limits.failuresByAddr.Add(client)
	if validSID(sid, "AC") {
		s.limits.failuresByAccount.Add(sid)
	}
}

// errRateLimited is the 429 of a limit, saying what and when to retry.
func errRateLimited(what string, wait time.Duration) *Error {
	secs := retryAfterSeconds(wait)
	e := newError(http.StatusTooManyRequests, codeRateLimited,
		fmt.Sprintf("%s Nothing was checked or changed. Try again in %d seconds.", what, secs))
	e.retryAfter = secs
	return e
}

// retryAfterSeconds rounds a wait up to whole seconds, at least 1.
func retryAfterSeconds(wait time.Duration) int {
	return max(int(math.Ceil(wait.Seconds())), 1)
}
