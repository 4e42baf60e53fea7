package web

import (
	"crypto/rand"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/twimlbin/twimlbin/internal/ratelimit"
	"github.com/twimlbin/twimlbin/store"
)

// Defaults of Config.
const (
	// DefaultSessionLifetime is how long a session lasts when
	// Config.SessionLifetime is 0.
	DefaultSessionLifetime = 12 * time.Hour
	// DefaultMaxBodyBytes bounds request bodies when Config.MaxBodyBytes is
	// 0: a 64 KiB template, form-encoded, plus the preview parameters.
	DefaultMaxBodyBytes = 512 << 10
	// MinSessionKeyBytes is the shortest Config.SessionKey accepted.
	MinSessionKeyBytes = 32
)

// Config is what the web form needs to know that the request does not say.
type Config struct {
	// PublicURL is the base URL the web form is reached at, such as
	// "https://bins.example.com": an https one makes the session cookie
	// Secure, and unless BinBaseURL is set it makes the bin URLs shown.
	// Empty: bin URLs come from each request's Host.
	PublicURL string
	// BinBaseURL is the base URL of the bin URLs when they are served on
	// another origin than the web form, such as
	// "https://bins.example.com": the bin URLs shown start with it.
	BinBaseURL string
	// OpenSignup lets anyone create an account with the sign-up page.
	OpenSignup bool
	// SessionKey signs the session cookies; at least MinSessionKeyBytes
	// bytes. Empty: the database's own key (store.Store.SessionKey), so that
	// sessions outlast a restart; a read-only database without one gets a
	// random key, and sessions end when the process does.
	SessionKey []byte
	// SessionLifetime is how long a sign-in lasts; 0 means
	// DefaultSessionLifetime.
	SessionLifetime time.Duration
	// MaxBodyBytes bounds every request body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// SignInFailures limits the failed sign-ins of each client address,
	// and SignInFailuresPerAccount those naming each account SID, from any
	// address: once over, a sign-in from that address or to that account
	// answers 429 with Retry-After until the rate allows one more, right
	// or wrong. Zero values: ratelimit.DefaultFailures; a negative Events
	// turns a limit off. Successful sign-ins are not counted.
	SignInFailures, SignInFailuresPerAccount ratelimit.Rate
	// Signups limits the accounts each client address creates with the
	// sign-up page; zero: ratelimit.DefaultSignups.
	Signups ratelimit.Rate
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client, for the limits above; without them the client is the
	// TCP peer.
	TrustedProxies []netip.Prefix
	// Now is the clock of the limits; nil means time.Now. For tests.
	Now func() time.Time
}

// Handler serves the web form. Make one with New.
type Handler struct {
	cfg      Config
	base     string // cfg.PublicURL without its trailing slash
	binBase  string // cfg.BinBaseURL without its trailing slash
	db       store.Store
	logger   *slog.Logger
	sessions sessions
	limits   limits
	pages    map[string]*template.Template
	assets   map[string]asset
	mux      *http.ServeMux
	// getPages are the patterns of the mux's GET pages: where signing in
	// may go on to (nextPage).
	getPages map[string]bool
}

// New makes the web form's handler over db. It returns an error when
// cfg.PublicURL or cfg.BinBaseURL is not an absolute http or https URL or
// cfg.SessionKey is too short.
func New(cfg Config, db store.Store, logger *slog.Logger) (*Handler, error) {
	if cfg.SessionLifetime <= 0 {
		cfg.SessionLifetime = DefaultSessionLifetime
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	base, err := publicBase(cfg.PublicURL)
	if err != nil {
		return nil, err
	}
	binBase, err := publicBase(cfg.BinBaseURL)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	key := cfg.SessionKey
	switch {
	case len(key) == 0:
		key, err = db.SessionKey()
		if errors.Is(err, store.ErrNotFound) {
			key = make([]byte, MinSessionKeyBytes)
			rand.Read(key)
			logger.Warn("the read-only database holds no session key, so web sessions are signed with a random one and end when twimlbin stops; open the database once with write access to make one")
		} else if err != nil {
			return nil, err
		}
	case len(key) < MinSessionKeyBytes:
		return nil, fmt.Errorf("web: the session key is %d bytes; use at least %d", len(key), MinSessionKeyBytes)
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	assets, err := loadAssets()
	if err != nil {
		return nil, err
	}
	h := &Handler{
		cfg:     cfg,
		base:    base,
		binBase: binBase,
		db:      db,
		logger:  logger,
		sessions: sessions{
			key:      key,
			lifetime: cfg.SessionLifetime,
			secure:   strings.HasPrefix(base, "https://"),
		},
		limits: limits{
			failuresByAddr:    ratelimit.New(cfg.SignInFailures, ratelimit.DefaultFailures, 0, cfg.Now),
			failuresByAccount: ratelimit.New(cfg.SignInFailuresPerAccount, ratelimit.DefaultFailures, 0, cfg.Now),
			signupsByAddr:     ratelimit.New(cfg.Signups, ratelimit.DefaultSignups, 0, cfg.Now),
		},
		pages:    pages,
		assets:   assets,
		mux:      http.NewServeMux(),
		getPages: map[string]bool{},
	}
	h.routes()
	return h, nil
}

func publicBase(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("web: public URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("web: public URL %q: want an absolute http or https URL with no query", raw)
	}
	return strings.TrimSuffix(raw, "/"), nil
}

// ServeHTTP serves a request: every response gets the security headers and
// every body is bounded.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	r.Body = http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes)
	h.mux.ServeHTTP(w, r)
}

// baseURL is the public base URL: Config.PublicURL, else the request's
// scheme and host.
func (h *Handler) baseURL(r *http.Request) string {
	if h.base != "" {
		return h.base
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// binURL is the URL Twilio requests for a bin: under Config.BinBaseURL,
// else under baseURL.
func (h *Handler) binURL(r *http.Request, sid string) string {
	if h.binBase != "" {
		return h.binBase + "/twiml/" + sid
	}
	return h.baseURL(r) + "/twiml/" + sid
}
