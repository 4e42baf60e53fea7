package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twimlbin/twimlbin/api"
	"github.com/twimlbin/twimlbin/internal/heapfloor"
	"github.com/twimlbin/twimlbin/internal/logwriter"
	"github.com/twimlbin/twimlbin/internal/ratelimit"
	"github.com/twimlbin/twimlbin/store"
	"github.com/twimlbin/twimlbin/web"
)

const serveUsage = `usage: twimlbin serve [flags]

Serves the bins at /twiml/{sid}, the JSON API under /api/v1 and the web
form. On first start with an empty database it creates an account and
prints its credentials once.

When the database file or its file system cannot be written, it serves
the file read-only: bins are served and can be viewed, and every write
answers 503 until the file is writable and twimlbin restarts.

On SIGINT or SIGTERM it drains: /readyz answers 503 and every answer
closes its connection, for --shutdown-delay (a second signal cuts it
short); then it stops listening, finishes the requests in flight and
closes the database.

With --web-addr the web form is served on a listener of its own, and
--addr serves only the bins, the API and the operational endpoints: put
the two on different hostnames, so that a bin's content, which its account
writes, is never on the web form's origin.

With --etcd-endpoints the data is kept in an etcd cluster instead of the
file, and any number of equal serve processes over one cluster answer
the same: put them behind a load balancer. Each holds every account and
bin in memory, kept current by a watch; while the cluster cannot be
reached it serves the bins it holds and answers writes 503. Each compacts
etcd's history every --etcd-compact-interval; when etcd is out of space
(--quota-backend-bytes) writes answer 507 until the operator frees it.

At start it refuses a corrupt database file, saying what is wrong, and
exits 3. When the file was not closed cleanly (the server was killed or
the machine stopped), or with --check-db, it first checks every page of
the file.

Every flag can also be set in the environment: TWIMLBIN_ADDR, TWIMLBIN_DB,
TWIMLBIN_PUBLIC_URL, TWIMLBIN_WEB_ADDR, TWIMLBIN_WEB_PUBLIC_URL,
TWIMLBIN_OPEN_SIGNUP, TWIMLBIN_READ_ONLY, TWIMLBIN_SHUTDOWN_DELAY,
TWIMLBIN_LOG_LEVEL, TWIMLBIN_BACKUP_ACCOUNTS, TWIMLBIN_TRUSTED_PROXIES,
TWIMLBIN_REVISIONS_KEPT, TWIMLBIN_MAX_BINS_PER_ACCOUNT,
TWIMLBIN_MAX_BYTES_PER_ACCOUNT, TWIMLBIN_CHECK_DB, TWIMLBIN_ETCD_ENDPOINTS,
TWIMLBIN_ETCD_PREFIX, TWIMLBIN_ETCD_CERT, TWIMLBIN_ETCD_KEY,
TWIMLBIN_ETCD_CA, TWIMLBIN_ETCD_COMPACT_INTERVAL, TWIMLBIN_GC_HEAP_FLOOR. A
flag wins over its variable.
`

// Server timeouts: a slow client cannot hold a connection for longer.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	shutdownTimeout   = 30 * time.Second
	maxHeaderBytes    = 64 << 10
)

// Defaults of the limits `twimlbin serve` sets on each bin and account.
const (
	defaultRevisionsKept      = store.DefaultRevisionsKept
	defaultMaxBinsPerAccount  = 10000
	defaultMaxBytesPerAccount = 256 << 20
)

// defaultGCHeapFloor is --gc-heap-floor's default, in MiB: serve under
// load then collects its garbage a few times a second rather than dozens
// (internal/heapfloor).
const defaultGCHeapFloor = 32

// serveConfig is the configuration of `twimlbin serve`, from flags and the
// environment.
type serveConfig struct {
	Addr           string
	DB             string
	PublicURL      string
	WebAddr        string // "": the web form is served on Addr
	WebPublicURL   string // only with WebAddr
	OpenSignup     bool
	ReadOnly       bool
	ShutdownDelay  time.Duration
	LogLevel       slog.Level
	BackupAccounts []string
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client for the rate limits of sign-in and sign-up.
	TrustedProxies []netip.Prefix
	// RevisionsKept, MaxBinsPerAccount and MaxBytesPerAccount are the
	// store.Options of the same names; 0 for a quota means no bound.
	RevisionsKept      int
	MaxBinsPerAccount  int
	MaxBytesPerAccount int64
	CheckDB            bool
	// GCHeapFloor is the heap, in MiB, the Go runtime lets grow before it
	// collects garbage (internal/heapfloor); 0 leaves the collector at
	// Go's settings, as does GOGC in the environment.
	GCHeapFloor int
	// Etcd, when it has endpoints, keeps the data in an etcd cluster
	// rather than in the file DB.
	Etcd etcdFlags
	// AccessLog is where the access log goes, nil for none: not a flag,
	// runServe sets it when the log level is info or below.
	AccessLog io.Writer
}

// parseServeConfig reads the flags, with the environment as defaults.
func parseServeConfig(args []string, getenv func(string) string, stderr io.Writer) (serveConfig, int, bool) {
	cfg := serveConfig{Addr: "127.0.0.1:8080", DB: "data/twimlbin.db"}
	fs := newFlagSet("serve", serveUsage, stderr)
	envOr := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	envInt := func(name string, def int64) (int64, bool) {
		v, err := strconv.ParseInt(envOr(name, strconv.FormatInt(def, 10)), 10, 64)
		if err != nil || v < 0 {
			fmt.Fprintf(stderr, "twimlbin serve: %s=%q is not a whole number, 0 or more\n", name, getenv(name))
			return 0, false
		}
		return v, true
	}
	fs.StringVar(&cfg.Addr, "addr", envOr("TWIMLBIN_ADDR", cfg.Addr), "address to listen on, host:port")
	fs.StringVar(&cfg.DB, "db", envOr("TWIMLBIN_DB", cfg.DB), "path of the database file (created if missing)")
	fs.StringVar(&cfg.PublicURL, "public-url", getenv("TWIMLBIN_PUBLIC_URL"),
		"base URL Twilio uses to reach the server, such as https://bins.example.com (needed behind a proxy, for bin URLs and signatures)")
	fs.StringVar(&cfg.WebAddr, "web-addr", getenv("TWIMLBIN_WEB_ADDR"),
		"address to serve the web form on, host:port, apart from the bins and the API on --addr (default: the web form is on --addr too)")
	fs.StringVar(&cfg.WebPublicURL, "web-public-url", getenv("TWIMLBIN_WEB_PUBLIC_URL"),
		"base URL browsers use to reach the web form on --web-addr, such as https://twimlbin.example.com (behind a proxy; an https one makes its cookie Secure)")
	envBool := func(name string) (bool, bool) {
		v, err := strconv.ParseBool(envOr(name, "false"))
		if err != nil {
			fmt.Fprintf(stderr, "twimlbin serve: %s=%q is not true or false\n", name, getenv(name))
		}
		return v, err == nil
	}
	signup, ok := envBool("TWIMLBIN_OPEN_SIGNUP")
	if !ok {
		return cfg, exitUsage, false
	}
	fs.BoolVar(&cfg.OpenSignup, "open-signup", signup, "let anyone create an account through the API and the web form")
	readOnly, ok := envBool("TWIMLBIN_READ_ONLY")
	if !ok {
		return cfg, exitUsage, false
	}
	fs.BoolVar(&cfg.ReadOnly, "read-only", readOnly, "open the database read-only: serve its bins, refuse every write (as when its file cannot be written)")
	checkDB, ok := envBool("TWIMLBIN_CHECK_DB")
	if !ok {
		return cfg, exitUsage, false
	}
	fs.BoolVar(&cfg.CheckDB, "check-db", checkDB, "check every page of the database file before serving, as is done anyway after an unclean stop, and refuse a corrupt one")
	delay, err := time.ParseDuration(envOr("TWIMLBIN_SHUTDOWN_DELAY", "0s"))
	if err != nil || delay < 0 {
		fmt.Fprintf(stderr, "twimlbin serve: TWIMLBIN_SHUTDOWN_DELAY=%q is not a duration such as 5s\n", getenv("TWIMLBIN_SHUTDOWN_DELAY"))
		return cfg, exitUsage, false
	}
	fs.DurationVar(&cfg.ShutdownDelay, "shutdown-delay", delay,
		"how long to drain before shutting down: /readyz answers 503 and connections close after each answer, so that a load balancer and keep-alive clients move away first")
	level := envOr("TWIMLBIN_LOG_LEVEL", "info")
	fs.StringVar(&level, "log-level", level, "log level: debug, info, warn or error")
	kept, ok := envInt("TWIMLBIN_REVISIONS_KEPT", defaultRevisionsKept)
	if !ok {
		return cfg, exitUsage, false
	}
	fs.IntVar(&cfg.RevisionsKept, "revisions-kept", int(kept), "how many revisions to keep per bin, the newest; saving one more deletes the oldest")
	maxBins, ok := envInt("TWIMLBIN_MAX_BINS_PER_ACCOUNT", defaultMaxBinsPerAccount)
	if !ok {
		return cfg, exitUsage, false
	}
	fs.IntVar(&cfg.MaxBinsPerAccount, "max-bins-per-account", int(maxBins), "the most bins an account may hold (0: no limit)")
	maxBytes, ok := envInt("TWIMLBIN_MAX_BYTES_PER_ACCOUNT", defaultMaxBytesPerAccount)
	if !ok {
		return cfg, exitUsage, false
	}
	fs.Int64Var(&cfg.MaxBytesPerAccount, "max-bytes-per-account", maxBytes, "the most bytes of templates an account may store, every kept revision of every bin counted (0: no limit)")
	floor, ok := envInt("TWIMLBIN_GC_HEAP_FLOOR", defaultGCHeapFloor)
	if !ok {
		return cfg, exitUsage, false
	}
	fs.IntVar(&cfg.GCHeapFloor, "gc-heap-floor", int(floor), "MiB the Go heap may grow to before its garbage is collected, so that a server with little live data does not collect dozens of times a second under load (0: Go's own settings, as when GOGC is set in the environment)")
	backups := getenv("TWIMLBIN_BACKUP_ACCOUNTS")
	fs.StringVar(&backups, "backup-accounts", backups, "comma-separated account SIDs allowed to download a backup of the whole database")
	proxies := getenv("TWIMLBIN_TRUSTED_PROXIES")
	fs.StringVar(&proxies, "trusted-proxies", proxies,
		"comma-separated addresses or CIDR prefixes of the reverse proxies in front of twimlbin, whose X-Forwarded-For names the client for the limits on failed sign-ins and sign-ups and in the access log (default: none, the client is the TCP peer)")
	cfg.Etcd.define(fs, getenv)
	if err := cfg.Etcd.defineCompaction(fs, getenv); err != nil {
		fmt.Fprintf(stderr, "twimlbin serve: %v\n", err)
		return cfg, exitUsage, false
	}
	if code, ok := parseFlags(fs, args); !ok {
		return cfg, code, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "twimlbin serve: unexpected argument %q\n", fs.Arg(0))
		return cfg, exitUsage, false
	}
	if err := cfg.Etcd.check(); err != nil {
		fmt.Fprintf(stderr, "twimlbin serve: %v\n", err)
		return cfg, exitUsage, false
	}
	if cfg.Etcd.enabled() && (cfg.ReadOnly || cfg.CheckDB) {
		fmt.Fprintf(stderr, "twimlbin serve: --read-only and --check-db are for a database file; with --etcd-endpoints the data is in etcd: leave them out\n")
		return cfg, exitUsage, false
	}
	if cfg.WebPublicURL != "" && cfg.WebAddr == "" {
		fmt.Fprintf(stderr, "twimlbin serve: --web-public-url needs --web-addr: without it the web form is served on --addr, at --public-url\n")
		return cfg, exitUsage, false
	}
	if cfg.WebAddr != "" && cfg.WebAddr == cfg.Addr {
		fmt.Fprintf(stderr, "twimlbin serve: --web-addr %s is --addr too: give the web form another address, or leave --web-addr out to serve everything on --addr\n", cfg.WebAddr)
		return cfg, exitUsage, false
	}
	if cfg.ShutdownDelay < 0 {
		fmt.Fprintf(stderr, "twimlbin serve: --shutdown-delay %s is negative\n", cfg.ShutdownDelay)
		return cfg, exitUsage, false
	}
	if cfg.RevisionsKept < 1 {
		fmt.Fprintf(stderr, "twimlbin serve: --revisions-kept %d: keep at least 1, the current one\n", cfg.RevisionsKept)
		return cfg, exitUsage, false
	}
	if cfg.MaxBinsPerAccount < 0 || cfg.MaxBytesPerAccount < 0 {
		fmt.Fprintf(stderr, "twimlbin serve: --max-bins-per-account and --max-bytes-per-account take 0 (no limit) or more\n")
		return cfg, exitUsage, false
	}
	if cfg.GCHeapFloor < 0 {
		fmt.Fprintf(stderr, "twimlbin serve: --gc-heap-floor %d: give MiB, or 0 for Go's own settings\n", cfg.GCHeapFloor)
		return cfg, exitUsage, false
	}
	if getenv("GOGC") != "" {
		cfg.GCHeapFloor = 0 // whoever set it has taken the collector's settings in hand
	}
	if err := cfg.LogLevel.UnmarshalText([]byte(level)); err != nil {
		fmt.Fprintf(stderr, "twimlbin serve: log level %q: use debug, info, warn or error\n", level)
		return cfg, exitUsage, false
	}
	for _, sid := range strings.Split(backups, ",") {
		if sid = strings.TrimSpace(sid); sid != "" {
			cfg.BackupAccounts = append(cfg.BackupAccounts, sid)
		}
	}
	if cfg.TrustedProxies, err = ratelimit.ParsePrefixes(proxies); err != nil {
		fmt.Fprintf(stderr, "twimlbin serve: trusted proxies %q: %v; give addresses or CIDR prefixes such as 10.0.0.0/8, separated by commas\n", proxies, err)
		return cfg, exitUsage, false
	}
	return cfg, exitOK, true
}

// runServe serves until ctx is done (SIGINT or SIGTERM), then shuts down
// gracefully.
func runServe(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	cfg, code, ok := parseServeConfig(args, os.Getenv, stderr)
	if !ok {
		return code
	}
	// Log lines, the access log's among them, gather in memory and are
	// written by a goroutine of their own: a request never waits for
	// stderr. Closing it writes the rest.
	if cfg.GCHeapFloor > 0 {
		defer heapfloor.Keep(uint64(cfg.GCHeapFloor) << 20)()
	}
	logOut := logwriter.New(stderr)
	logger := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: cfg.LogLevel}))
	if cfg.LogLevel <= slog.LevelInfo {
		cfg.AccessLog = logOut
	}
	srv, err := openServer(cfg, logger, stdout)
	if err == nil {
		err = srv.Run(ctx)
	}
	logOut.Close()
	switch {
	case errors.Is(err, store.ErrCorrupt):
		fmt.Fprintf(stderr, "twimlbin serve: %v\n", err)
		return exitCorrupt
	case err != nil:
		fmt.Fprintf(stderr, "twimlbin serve: %v\n", err)
		return exitInvalid
	}
	return exitOK
}

// server is a running twimlbin: the database, the handlers and the HTTP
// servers, listening already.
type server struct {
	db     store.Store
	api    *api.Server
	http   *http.Server
	ln     net.Listener
	url    string // where the bins and the API are reached
	logger *slog.Logger

	// With --web-addr, the web form's own server; else nil, and the web
	// form is served by http, at url.
	webHTTP *http.Server
	webLn   net.Listener
	webURL  string // where the web form is reached

	shutdownDelay time.Duration
	draining      atomic.Bool // every answer closes its connection
}

// openServer opens the database, creates the first account when there is
// none (printing its credentials to out), and starts listening.
func openServer(cfg serveConfig, logger *slog.Logger, out io.Writer) (*server, error) {
	db, err := openDB(cfg, logger)
	if err != nil {
		return nil, err
	}
	srv, err := newServer(cfg, db, logger, out)
	if err != nil {
		db.Close()
		return nil, err
	}
	return srv, nil
}

// openDB opens the store: the etcd cluster of --etcd-endpoints, or else
// the database file for writing or, with --read-only or when its file or
// file system cannot be written, read-only, so that the bins it holds are
// still served.
func openDB(cfg serveConfig, logger *slog.Logger) (store.Store, error) {
	opts := store.Options{
		Check:              cfg.CheckDB,
		RevisionsKept:      cfg.RevisionsKept,
		MaxBinsPerAccount:  cfg.MaxBinsPerAccount,
		MaxBytesPerAccount: cfg.MaxBytesPerAccount,
	}
	if cfg.Etcd.enabled() {
		return cfg.Etcd.open(opts, logger)
	}
	if cfg.ReadOnly {
		opts.ReadOnly = true
		return store.Open(cfg.DB, opts)
	}
	db, err := store.Open(cfg.DB, opts)
	if err == nil || !(errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS)) {
		return db, err
	}
	opts.ReadOnly = true
	db, roErr := store.Open(cfg.DB, opts)
	if errors.Is(roErr, fs.ErrNotExist) {
		return nil, err // nothing to serve: the first error says why it could not be made
	}
	if roErr != nil {
		return nil, fmt.Errorf("%w; opening it read-only failed too: %w", err, roErr)
	}
	logger.Warn("the database cannot be written, so it is open read-only: bins are served, every write answers 503 until it is writable and twimlbin restarts",
		slog.String("db", cfg.DB), slog.String("error", err.Error()))
	return db, nil
}

func newServer(cfg serveConfig, db store.Store, logger *slog.Logger, out io.Writer) (*server, error) {
	handlers, err := api.New(api.Config{PublicURL: cfg.PublicURL, OpenSignup: cfg.OpenSignup, BackupAccounts: cfg.BackupAccounts,
		TrustedProxies: cfg.TrustedProxies, AccessLog: cfg.AccessLog}, db, logger)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	url := strings.TrimSuffix(cfg.PublicURL, "/")
	if url == "" {
		url = "http://" + ln.Addr().String()
	}
	srv := &server{
		db:            db,
		api:           handlers,
		http:          newHTTPServer(logger),
		ln:            ln,
		url:           url,
		webURL:        url,
		logger:        logger,
		shutdownDelay: cfg.ShutdownDelay,
	}
	if err := srv.mountWeb(cfg); err != nil {
		ln.Close()
		return nil, err
	}
	mode := ""
	if db.ReadOnly() {
		mode = ", read-only: nothing can be saved"
	}
	where := ""
	if srv.webHTTP != nil {
		where = "web form at " + srv.webURL + "; "
	}
	fmt.Fprintf(out, "twimlbin is serving at %s (%sdatabase %s%s)\n", url, where, cfg.storeName(), mode)
	if err := srv.firstAccount(out); err != nil {
		srv.closeListeners()
		return nil, err
	}
	return srv, nil
}

// newHTTPServer is an HTTP server with the timeouts and limits of serve;
// its handler is set by the caller.
func newHTTPServer(logger *slog.Logger) *http.Server {
	return &http.Server{
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// mountWeb sets the servers' handlers. Without --web-addr, one server
// answers everything, as mount routes it. With it, the web form gets a
// listener and a server of its own, and the main one answers only the
// API's paths: a bin's content, which its account writes, is then on
// another origin than the web form, and a script in it can neither read
// the web form's pages nor, on another hostname, be sent its cookie.
func (s *server) mountWeb(cfg serveConfig) error {
	if cfg.WebAddr == "" {
		ui, err := web.New(web.Config{PublicURL: cfg.PublicURL, OpenSignup: cfg.OpenSignup, TrustedProxies: cfg.TrustedProxies}, s.db, s.logger)
		if err != nil {
			return err
		}
		s.http.Handler = s.closeWhileDraining(mount(s.api.Handler(), ui))
		return nil
	}
	ui, err := web.New(web.Config{PublicURL: cfg.WebPublicURL, BinBaseURL: s.url, OpenSignup: cfg.OpenSignup, TrustedProxies: cfg.TrustedProxies}, s.db, s.logger)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.WebAddr)
	if err != nil {
		return fmt.Errorf("listening for the web form on --web-addr %s: %w", cfg.WebAddr, err)
	}
	s.webLn = ln
	s.webURL = strings.TrimSuffix(cfg.WebPublicURL, "/")
	if s.webURL == "" {
		s.webURL = "http://" + ln.Addr().String()
	}
	s.webHTTP = newHTTPServer(s.logger)
	s.webHTTP.Handler = s.closeWhileDraining(ui)
	s.http.Handler = s.closeWhileDraining(s.api.Handler())
	return nil
}

// closeListeners closes the listeners of a server that will not run.
func (s *server) closeListeners() {
	s.ln.Close()
	if s.webLn != nil {
		s.webLn.Close()
	}
}

// mount sends the bin URLs, the JSON API and the operational endpoints to
// the API, and every other path to the web form.
func mount(apiHandler, webHandler http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case strings.HasPrefix(p, "/twiml/"), strings.HasPrefix(p, "/api/"),
			p == "/healthz", p == "/readyz", p == "/metrics":
			apiHandler.ServeHTTP(w, r)
		default:
			webHandler.ServeHTTP(w, r)
		}
	})
}

// firstAccount creates an account in an empty database and prints its
// credentials: the only time the auth token is shown.
func (s *server) firstAccount(out io.Writer) error {
	n, err := s.db.CountAccounts()
	if err != nil || n > 0 {
		return err
	}
	if s.db.ReadOnly() {
		return errors.New("the database has no account, and none can be created while it is read-only: serve it writable once")
	}
	acct, token, created, err := s.db.CreateFirstAccount("Owner")
	if err != nil || !created {
		return err
	}
	fmt.Fprintf(out, "\nCreated the first account. Keep its credentials: the auth token is not shown again.\n"+
		"  Account SID: %s\n  Auth token:  %s\n\nTry it:\n"+
		"  curl -u %s:%s %s/api/v1/bins\n"+
		"or sign in to the web form at %s/\n\n", acct.SID, token, acct.SID, token, s.url, s.webURL)
	return nil
}

// Run serves until ctx is done, then drains for the shutdown delay, stops
// taking requests, lets the ones in flight finish, and closes the
// database.
func (s *server) Run(ctx context.Context) error {
	served := make(chan error, 2)
	go func() { served <- s.http.Serve(s.ln) }()
	if s.webHTTP != nil {
		go func() { served <- s.webHTTP.Serve(s.webLn) }()
	}
	var serveErr error
	select {
	case <-ctx.Done():
		s.drain()
	case serveErr = <-served:
	}
	s.logger.Info("shutting down")
	return errors.Join(serveErr, s.Close())
}

// closeWhileDraining makes every answer close its connection once the
// server drains, so that no client sends another request on a keep-alive
// connection that the shutdown may close before reading it.
func (s *server) closeWhileDraining(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}

// drain keeps serving for the shutdown delay while telling everyone to go
// elsewhere: /readyz answers 503, for load balancers, and every answer
// closes its connection, for keep-alive clients. A second SIGINT or
// SIGTERM cuts the delay short.
func (s *server) drain() {
	if s.shutdownDelay <= 0 {
		s.draining.Store(true)
		s.api.Drain()
		return
	}
	// Listening before /readyz turns 503, so that a signal sent once it has
	// is not missed.
	hurry := make(chan os.Signal, 1)
	signal.Notify(hurry, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(hurry)
	s.draining.Store(true)
	s.api.Drain()
	s.logger.Info("draining before shutting down; signal again to stop at once", slog.Duration("delay", s.shutdownDelay))
	select {
	case <-time.After(s.shutdownDelay):
	case <-hurry:
	}
}

// Close shuts the server down gracefully and closes the database.
func (s *server) Close() error {
	s.draining.Store(true)
	s.api.Drain()
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := s.http.Shutdown(ctx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if s.webHTTP != nil {
		webErr := s.webHTTP.Shutdown(ctx)
		if !errors.Is(webErr, http.ErrServerClosed) {
			err = errors.Join(err, webErr)
		}
	}
	return errors.Join(err, s.db.Close())
}
