package api

import (
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/twimlbin/twimlbin/store"
)

// middleware returns the chain every request goes through, outermost first:
// request ID, access log and metrics (which also hands errors to the error
// handler, so that it sees the final status), panic recovery, body limit.
func (s *Server) middleware() []echo.MiddlewareFunc {
	return []echo.MiddlewareFunc{
		assignRequestID,
		s.observe,
		middleware.RecoverWithConfig(middleware.RecoverConfig{
			DisableErrorHandler: true, // observe hands the error on
			LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
				s.logger.LogAttrs(c.Request().Context(), slog.LevelError, "panic",
					slog.String("request_id", requestID(c)),
					slog.String("error", err.Error()),
					slog.String("stack", string(stack)))
				return err
			},
		}),
		limitBody(s.cfg.MaxBodyBytes),
	}
}

// assignRequestID sets the X-Request-Id response header: the request's own
// when it has a reasonable one (a proxy's), else a new random one.
func assignRequestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(echo.HeaderXRequestID)
		if !validRequestID(id) {
			id = rand.Text()
		}
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		return next(c)
	}
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if b := id[i]; b <= ' ' || b >= 0x7f {
			return false
		}
	}
	return true
}

// requestID returns the ID assignRequestID gave the request.
func requestID(c echo.Context) string {
	return c.Response().Header().Get(echo.HeaderXRequestID)
}

// observe writes the access log line and the HTTP metrics of every request.
// It hands an error to the error handler itself, so that the status it
// records is the one sent.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		elapsed := time.Since(start)
		req, res := c.Request(), c.Response()
		route := c.Path()
		if !s.metrics.knownRoute(route) {
			route = "unmatched"
		}
		s.metrics.observeHTTP(route, req.Method, res.Status, elapsed)
		ctx := req.Context()
		if s.logger.Enabled(ctx, slog.LevelInfo) {
			s.logger.LogAttrs(ctx, slog.LevelInfo, "request",
				slog.String("request_id", requestID(c)),
				slog.String("method", req.Method),
				slog.String("path", req.URL.Path), // not the query: it holds callers' numbers
				slog.String("route", route),
				slog.Int("status", res.Status),
				slog.Int64("bytes", res.Size),
				slog.Duration("duration", elapsed),
				slog.String("remote_ip", c.RealIP()))
		}
		return nil
	}
}

// limitBody refuses bodies over n bytes with 413: at once when the
// Content-Length says so, else when a handler reads past the limit.
func limitBody(n int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if req.ContentLength > n {
				return &http.MaxBytesError{Limit: n}
			}
			if req.Body != nil && req.Body != http.NoBody {
				req.Body = http.MaxBytesReader(c.Response(), req.Body, n)
			}
			return next(c)
		}
	}
}

// accountKey is the echo context key of the authenticated account.
const accountKey = "twimlbin.account"

// authenticate checks HTTP Basic credentials, AccountSid:AuthToken, and
// puts the account in the context for accountOf. A client address or an
// account SID with too many failures gets 429 before its credentials are
// checked, so that the answer tells nothing about them.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		sid, token, ok := c.Request().BasicAuth()
		if !ok {
			return errUnauthorized
		}
		client := s.clientKey(c)
		if wait := s.authWait(client, sid); wait > 0 {
			return errRateLimited("Too many failed authentications from your address or for this account.", wait)
		}
		start := time.Now()
		acct, err := s.db.Authenticate(sid, token)
		s.metrics.observeStore(opAuthenticate, start)
		if errors.Is(err, store.ErrUnauthorized) || errors.Is(err, store.ErrNotFound) {
			s.authFailed(client, sid)
			return errUnauthorized
		}
		if err != nil {
			return err
		}
		c.Set(accountKey, acct)
		return next(c)
	}
}

// accountOf returns the account authenticate found.
func accountOf(c echo.Context) store.Account {
	acct, _ := c.Get(accountKey).(store.Account)
	return acct
}
