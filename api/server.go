package api

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/twimlbin/twimlbin/internal/ratelimit"
	"github.com/twimlbin/twimlbin/store"
)

// Defaults of Config.
const (
	// DefaultMaxBodyBytes bounds request bodies when Config.MaxBodyBytes is 0.
	DefaultMaxBodyBytes = 256 << 10
	// DefaultCacheSize bounds the compiled templates kept in memory when
	// Config.CacheSize is 0.
	DefaultCacheSize = 10000
	// DefaultCacheBytes bounds the memory of the compiled templates kept
	// when Config.CacheBytes is 0: 64 MiB by programCost's estimate, which
	// is at or above what templates measure, so that a full cache stays
	// well under 100 MiB of heap; 480 templates of 64 KiB, or thousands
	// of the sizes people write.
	DefaultCacheBytes = 64 << 20
	// DefaultBinCacheSize bounds the bins kept in memory for the bin URL
	// when Config.BinCacheSize is 0: about 100 bytes each, 24 MB when full.
	DefaultBinCacheSize = 1 << 18
	// MaxTemplateBytes is the largest template a bin holds, which the
	// store enforces: store.MaxTemplateBytes, Twilio's limit on a TwiML
	// response.
	MaxTemplateBytes = store.MaxTemplateBytes
)

// Config is what the server needs to know that the request does not say.
type Config struct {
	// PublicURL is the base URL that Twilio and clients use to reach the
	// server, such as "https://bins.example.com" (a path is allowed; no query).
	// It makes the bins' url fields and the URL that request signatures are
	// checked against. Empty: both come from each request's scheme and Host,
	// which is wrong behind a proxy that rewrites them.
	PublicURL string
	// OpenSignup lets anyone create an account with POST /api/v1/accounts.
	OpenSignup bool
	// MaxBodyBytes bounds every request body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// BackupAccounts lists the account SIDs that may download a backup of the
	// whole database. When empty, only the account of a database holding a
	// single account may.
	BackupAccounts []string
	// CacheSize bounds the number of compiled templates kept in memory; 0
	// means DefaultCacheSize. Bins whose templates are the same text share
	// one.
	CacheSize int
	// CacheBytes bounds the memory of the compiled templates kept, as
	// estimated (see programCost); 0 means DefaultCacheBytes.
	CacheBytes int64
	// BinCacheSize bounds the number of bins whose SID, account, Twilio
	// auth token and policy the bin URL keeps in memory; 0 means
	// DefaultBinCacheSize.
	BinCacheSize int
	// AccessLog, when not nil, is given a line per request, in log/slog's
	// text format: its time, request ID, method, path (not the query,
	// which holds callers' numbers), route, status, bytes, duration and
	// client address (as TrustedProxies says). Each line is one Write;
	// give it a writer that does not make the request wait for the disk
	// (internal/logwriter).
	AccessLog io.Writer
	// AuthFailures limits the failed authentications (a wrong account SID
	// or auth token) of each client address, and AuthFailuresPerAccount
	// those naming each account SID, from any address: once over, every
	// authentication of that address or account answers 429 with
	// Retry-After until the rate allows one more, right or wrong. Zero
	// values: ratelimit.DefaultFailures; a negative Events turns a limit
	// off. Successes are never counted.
	AuthFailures, AuthFailuresPerAccount ratelimit.Rate
	// Signups limits the accounts each client address creates with open
	// signup; zero: ratelimit.DefaultSignups.
	Signups ratelimit.Rate
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client, for the limits above and the access log; without them
	// the client is the TCP peer, and every client behind a proxy shares
	// its address.
	TrustedProxies []netip.Prefix
	// Now is the clock of the limits; nil means time.Now. For tests.
	Now func() time.Time
}

// Server is the HTTP API. Make one with New; it is safe for concurrent use.
type Server struct {
	cfg      Config
	base     string // cfg.PublicURL without its trailing slash
	db       store.Store
	logger   *slog.Logger
	echo     *echo.Echo
	handler  http.Handler     // serveHTTP
	binURL   echo.HandlerFunc // serveBin in the middleware, for serveBinURL
	cache    *templateCache
	metrics  *metrics
	limits   limits
	draining atomic.Bool

	crossOrigin *http.CrossOriginProtection
}

// New makes a server over db. It returns an error when cfg.PublicURL is not
// an absolute http or https URL.
func New(cfg Config, db store.Store, logger *slog.Logger) (*Server, error) {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	if cfg.CacheBytes <= 0 {
		cfg.CacheBytes = DefaultCacheBytes
	}
	if cfg.BinCacheSize <= 0 {
		cfg.BinCacheSize = DefaultBinCacheSize
	}
	base, err := publicBase(cfg.PublicURL)
	if err != nil {
		return nil, err
	}
	crossOrigin, err := newCrossOriginProtection(base)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:     cfg,
		base:    base,
		db:      db,
		logger:  logger,
		echo:    echo.New(),
		metrics: newMetrics(db),

		crossOrigin: crossOrigin,
	}
	s.handler = http.HandlerFunc(s.serveHTTP)
	s.limits = limits{
		failuresByAddr:    ratelimit.New(cfg.AuthFailures, ratelimit.DefaultFailures, 0, cfg.Now),
		failuresByAccount: ratelimit.New(cfg.AuthFailuresPerAccount, ratelimit.DefaultFailures, 0, cfg.Now),
		signupsByAddr:     ratelimit.New(cfg.Signups, ratelimit.DefaultSignups, 0, cfg.Now),
	}
	s.cache = newTemplateCache(db, cfg.CacheSize, cfg.CacheBytes, cfg.BinCacheSize, s.metrics)
	s.echo.HideBanner = true
	s.echo.HidePort = true
	s.echo.HTTPErrorHandler = s.handleError
	middleware := s.middleware()
	s.echo.Use(middleware...)
	s.binURL = chain(s.serveBin, middleware)
	s.routes()
	s.metrics.addRoutes(s.echo.Routes())
	return s, nil
}

func publicBase(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("api: public URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("api: public URL %q: want an absolute http or https URL with no query", raw)
	}
	return strings.TrimSuffix(raw, "/"), nil
}

// Handler returns the server's HTTP handler. Every answer it writes has a
// Content-Security-Policy that runs nothing and X-Content-Type-Options:
// nosniff (setInertHeaders).
func (s *Server) Handler() http.Handler { return s.handler }

// Drain makes /readyz answer 503 from now on, so that a load balancer stops
// sending requests before a graceful shutdown. Requests are still served.
func (s *Server) Drain() { s.draining.Store(true) }

// routes lists every route of the server.
func (s *Server) routes() {
	e := s.echo
	auth := s.authenticate
	// Every route under /api/ but a GET changes something, or could be
	// made to: a browser on another site may not send it.
	sameOrigin := s.refuseCrossOrigin

	// The bin URL, which Twilio requests. serveHTTP answers these two
	// routes without the router; they are listed here too, for the route
	// table and the paths it does not answer.
	e.GET(binURLPath, s.serveBin)
	e.POST(binURLPath, s.serveBin)

	// Operations.
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", s.serveMetrics)

	// The management API. Only the document and signup are open.
	e.GET("/api/v1/openapi.json", s.openAPI)
	e.POST("/api/v1/accounts", s.signup, sameOrigin)

	e.GET("/api/v1/account", s.fetchAccount, auth)
	e.POST("/api/v1/account", s.updateAccount, sameOrigin, auth)
	e.POST("/api/v1/account/auth-token", s.rotateAuthToken, sameOrigin, auth)
	e.GET("/api/v1/backup", s.backup, auth)

	e.POST("/api/v1/bins", s.createBin, sameOrigin, auth)
	e.GET("/api/v1/bins", s.listBins, auth)
	e.GET("/api/v1/bins/:sid", s.fetchBin, auth)
	e.POST("/api/v1/bins/:sid", s.updateBin, sameOrigin, auth)
	e.PATCH("/api/v1/bins/:sid", s.updateBin, sameOrigin, auth)
	e.DELETE("/api/v1/bins/:sid", s.deleteBin, sameOrigin, auth)
	e.POST("/api/v1/bins/:sid/preview", s.previewBin, sameOrigin, auth)
	e.GET("/api/v1/bins/:sid/events", s.listEvents, auth)
	e.GET("/api/v1/bins/:sid/usage", s.fetchUsage, auth)

	e.GET("/api/v1/bins/:sid/revisions", s.listRevisions, auth)
	e.GET("/api/v1/bins/:sid/revisions/:rev", s.fetchRevision, auth)
	e.POST("/api/v1/bins/:sid/revisions/:rev/restore", s.restoreRevision, sameOrigin, auth)

	e.POST("/api/v1/preview", s.previewDraft, sameOrigin, auth)
	e.POST("/api/v1/validate", s.validate, sameOrigin, auth)
}
