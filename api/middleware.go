package api

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/twimlbin/twimlbin/internal/ratelimit"
	"github.com/twimlbin/twimlbin/store"
)

// middleware returns the chain every request goes through, outermost first:
// request ID, access log and metrics (which also hands errors to the error
// handler, so that it sees the final status), panic recovery, body limit.
func (s *Server) middleware() []echo.MiddlewareFunc {
	return []echo.MiddlewareFunc{
		assignRequestID(newRequestIDs()),
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

// Header values set on every response, made once: a response's header map
// holds these very slices, so setting them costs no allocation on the bin
// URL's path. Nothing may change them; Header.Set and Header.Add replace
// or copy them rather than write into them.
var (
	// inertPolicy runs nothing in an answer a browser opens, whatever it
	// holds: no script, style, frame, form or fetch, and a sandbox that
	// gives the page an origin of its own. A bin's TwiML is written by
	// its account, and a template saved under an older engine may hold
	// markup that a browser would run if it were on the server's origin.
	inertPolicy = []string{"default-src 'none'; sandbox"}
	nosniff     = []string{"nosniff"}
	noStore     = []string{"no-store"}
	// xmlContentTypes is the bin URL's Content-Type, xmlContentType.
	xmlContentTypes = []string{xmlContentType}
)

// setInertHeaders sets the headers that keep a browser from running
// anything in an answer or sniffing it as another type. Every answer of the
// server has them: the bin URL's TwiML and errors, the API's JSON, the
// operational endpoints.
func setInertHeaders(h http.Header) {
	h["Content-Security-Policy"] = inertPolicy
	h["X-Content-Type-Options"] = nosniff
}

// serveHTTP sets the headers of every answer, then routes the request:
// before echo, so that the router's own 404 and 405 have them too. The bin
// URL, the route Twilio waits on, goes straight to serveBinURL.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	setInertHeaders(w.Header())
	if sid, ok := binURLSID(r); ok {
		s.serveBinURL(w, r, sid)
		return
	}
	s.echo.ServeHTTP(w, r)
}

// The bin URL's route, as Server.routes registers it.
const (
	binURLPrefix = "/twiml/"
	binURLPath   = binURLPrefix + ":sid"
)

var binURLParamNames = []string{"sid"}

// binURLSID returns the SID of a request that echo's router would send to
// the bin URL's route: a GET or POST of /twiml/ and one path segment,
// written with nothing to unescape. Any other request, such as one whose
// path has an escaped character, goes through the router.
func binURLSID(r *http.Request) (string, bool) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost || r.URL.RawPath != "" {
		return "", false
	}
	sid, ok := strings.CutPrefix(r.URL.Path, binURLPrefix)
	if !ok || sid == "" || strings.IndexByte(sid, '/') >= 0 {
		return "", false
	}
	return sid, true
}

// serveBinURL answers a bin URL as echo would, through the same
// middleware and error handler, with the chain composed once (Server.binURL):
// echo composes its middleware around the handler anew on every request.
func (s *Server) serveBinURL(w http.ResponseWriter, r *http.Request, sid string) {
	c := s.echo.AcquireContext()
	c.Reset(r, w)
	c.SetPath(binURLPath)
	c.SetParamNames(binURLParamNames...)
	c.SetParamValues(sid)
	if err := s.binURL(c); err != nil {
		s.echo.HTTPErrorHandler(err, c)
	}
	s.echo.ReleaseContext(c)
}

// chain returns h inside every middleware of mw, the first outermost, as
// echo applies them.
func chain(h echo.HandlerFunc, mw []echo.MiddlewareFunc) echo.HandlerFunc {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}

// refuseCrossOrigin refuses a write that a browser sends from another
// site: its Sec-Fetch-Site is cross-site or same-site, or, from a browser
// too old to send that, its Origin is not the server's own (Origin: null
// included). A browser may hold an account's credentials, and any page
// can make it post a form. Clients that send neither header, such as curl,
// Twilio and server-side code, are not browsers and pass; so do GET, HEAD
// and OPTIONS. http.CrossOriginProtection makes the decision.
func (s *Server) refuseCrossOrigin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := s.crossOrigin.Check(c.Request()); err != nil {
			return errCrossOrigin
		}
		return next(c)
	}
}

// newCrossOriginProtection is the check of refuseCrossOrigin. The server's
// own origin is the request's Host and, when set, the public URL's, which
// differs behind a proxy that rewrites Host.
func newCrossOriginProtection(base string) (*http.CrossOriginProtection, error) {
	p := http.NewCrossOriginProtection()
	if base == "" {
		return p, nil
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("api: public URL: %w", err)
	}
	if err := p.AddTrustedOrigin(u.Scheme + "://" + u.Host); err != nil {
		return nil, fmt.Errorf("api: public URL %q: %w", base, err)
	}
	return p, nil
}

// assignRequestID sets the X-Request-Id response header: the request's own
// when it has a reasonable one (a proxy's), else a new one from ids.
func assignRequestID(ids *requestIDs) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			// The header's name is canonical: read without canonicalizing it.
			if id := c.Request().Header[echo.HeaderXRequestID]; len(id) > 0 && validRequestID(id[0]) {
				c.Response().Header()[echo.HeaderXRequestID] = id[:1:1]
			} else {
				c.Response().Header()[echo.HeaderXRequestID] = ids.next()
			}
			return next(c)
		}
	}
}

// requestIDs makes request IDs that are unique across restarts and
// processes without asking the system for randomness on every request: a
// random prefix made once, then a counter, both in the alphabet of
// rand.Text. 13 random base32 characters are 65 bits: two processes pick
// the same prefix once in billions of starts.
type requestIDs struct {
	prefix string
	count  atomic.Uint64
}

func newRequestIDs() *requestIDs {
	return &requestIDs{prefix: rand.Text()[:13]}
}

// requestIDDigits is rand.Text's alphabet, RFC 4648 base32.
const requestIDDigits = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// next returns the next ID as a header's values: the prefix and 13
// base32 digits of the count, 26 characters as rand.Text's.
func (g *requestIDs) next() []string {
	n := g.count.Add(1)
	// The values and the text in one allocation.
	id := new(struct {
		values [1]string
		text   [26]byte
	})
	copy(id.text[:], g.prefix)
	for i := len(id.text) - 1; i >= 13; i-- {
		id.text[i] = requestIDDigits[n&31]
		n >>= 5
	}
	id.values[0] = unsafe.String(&id.text[0], len(id.text))
	return id.values[:]
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
	if id := c.Response().Header()[echo.HeaderXRequestID]; len(id) > 0 {
		return id[0]
	}
	return ""
}

// observe writes the access log line and the HTTP metrics of every request.
// It hands an error to the error handler itself, so that the status it
// records is the one sent. It sets the Date header from the time it reads,
// which saves net/http reading and formatting the time again.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		c.Response().Header()["Date"] = textsOf(start).date
		if err := next(c); err != nil {
			c.Error(err)
		}
		elapsed := time.Since(start)
		req, res := c.Request(), c.Response()
		route := s.metrics.route(c.Path())
		route.observe(req.Method, res.Status, elapsed)
		if s.cfg.AccessLog != nil {
			remoteIP, _ := ratelimit.ClientAddr(req, s.cfg.TrustedProxies)
			line := accessLine{
				at: start, requestID: requestID(c), method: req.Method, path: req.URL.Path,
				route: route.name, status: res.Status, bytes: res.Size, duration: elapsed, remoteIP: remoteIP,
			}
			buf := accessBuffers.Get().(*[]byte)
			*buf = line.appendTo((*buf)[:0])
			_, _ = s.cfg.AccessLog.Write(*buf)
			recycle(&accessBuffers, buf, 4<<10)
		}
		return nil
	}
}

// limitBody refuses bodies over n bytes with 413: at once when the
// Content-Length says so, else when a handler reads past the limit. A body
// of a known length within the limit cannot be read past its length, so
// only one of unknown length (chunked) is wrapped.
func limitBody(n int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if req.ContentLength > n {
				return &http.MaxBytesError{Limit: n}
			}
			if req.ContentLength < 0 && req.Body != nil && req.Body != http.NoBody {
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
