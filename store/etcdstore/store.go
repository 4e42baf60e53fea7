package etcdstore

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/twimlbin/twimlbin/store"
)

// Defaults for the zero fields of Config.
const (
	DefaultPrefix         = "/twimlbin/"
	DefaultDialTimeout    = 5 * time.Second
	DefaultRequestTimeout = 5 * time.Second
	// DefaultCompactInterval is how often a node compacts etcd's history.
	DefaultCompactInterval = 5 * time.Minute
)

// Config says which etcd cluster to use, where in it, and how.
type Config struct {
	// Endpoints are the client URLs of the cluster's members, such as
	// http://10.0.0.1:2379; at least one.
	Endpoints []string
	// Prefix begins every key the store reads or writes, so that several
	// twimlbin deployments can share a cluster; it ends with "/".
	// Default DefaultPrefix.
	Prefix string
	// TLS, when set, is used to reach the members (https:// endpoints).
	TLS *tls.Config
	// DialTimeout bounds the connection to a member; default 5s.
	DialTimeout time.Duration
	// RequestTimeout bounds every call into etcd, and every method of the
	// Store that makes any, retries included; default 5s.
	RequestTimeout time.Duration
	// CompactInterval is how often the node compacts etcd's history, to
	// the revision it had seen one interval earlier, so that etcd keeps
	// the last interval of history and no more (see doc.go). Default
	// DefaultCompactInterval; negative for never, when etcd compacts by
	// itself (--auto-compaction-retention) or another program does.
	CompactInterval time.Duration
	// Options are the store's: flush interval, event and revision limits
	// and quotas. NoSync and Check are bbolt's and mean nothing here;
	// ReadOnly is refused.
	Options store.Options
	// Logger gets what the store has to say while it runs: the watch
	// lost and back, reloads, failed flushes. Default slog.Default().
	Logger *slog.Logger
}

// Store is a twimlbin store over an etcd cluster, one of several equal
// nodes. It is safe for concurrent use by multiple goroutines.
type Store struct {
	cli  *clientv3.Client
	keys keys
	cfg  Config
	opts store.Options
	log  *slog.Logger
	// node names this Store in event keys and flush tokens: random, new
	// at every Open.
	node       string
	sessionKey atomic.Pointer[[]byte] // replaced by ImportSessionKey
	gens       *store.Generations

	mu       sync.RWMutex
	mem      *memory       // under mu
	counters *counterTable // slots handed out and taken back under mu

	events eventBuffer

	flushMu     sync.Mutex // one flush at a time
	flushSeq    uint64     // under flushMu
	flushErrors atomic.Uint64
	untrimmed   map[string]struct{} // bins whose event logs a failed flush left to trim; under flushMu

	health  health
	reloads atomic.Uint64 // loads after a compaction, since Open
	// compactedTo is the revision up to which this node last compacted
	// etcd's history, or found it compacted by another.
	compactedTo atomic.Int64

	ctx     context.Context // ends at Close
	cancel  context.CancelFunc
	watcher watcher
	done    sync.WaitGroup // the flusher, the prober and the compactor

	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// reconnectMaxDelay is the longest a node waits between attempts to reach
// an etcd member that does not answer.
const reconnectMaxDelay = time.Second

// Open connects to the etcd cluster of cfg, writes the schema version
// under the prefix when there is none (refusing data of a newer twimlbin,
// migrating an older one), makes or reads the session key, loads every
// account and bin into memory and starts watching the prefix for the
// writes of other nodes, flushing usage every Options.FlushInterval and
// checking that etcd answers and compacting etcd's history every
// CompactInterval. Close stops all that.
//
// ctx bounds Open; each call into etcd is bounded by RequestTimeout too.
// An etcd that cannot be reached, or has no quorum, is an error wrapping
// store.ErrUnavailable; when the members refuse the TLS connection, it
// says why (the certificate authority or the client certificate).
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   cfg.Endpoints,
		TLS:         cfg.TLS,
		DialTimeout: cfg.DialTimeout,
		Context:     context.WithoutCancel(ctx),
		Logger:      zap.NewNop(), // the store logs what matters through cfg.Logger
		// gRPC waits ever longer between attempts to reach a member that
		// is down, up to two minutes by default: after a long outage,
		// writes would stay refused that long after etcd is back.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: reconnectMaxDelay},
			MinConnectTimeout: cfg.DialTimeout,
		})},
	})
	if err != nil {
		return nil, fmt.Errorf("etcdstore: open: connect to etcd at %s: %w", strings.Join(cfg.Endpoints, ", "), err)
	}
	s := &Store{
		cli:       cli,
		keys:      keys{cfg.Prefix},
		cfg:       cfg,
		opts:      cfg.Options,
		log:       cfg.Logger,
		node:      randomHex(4),
		gens:      store.NewGenerations(),
		mem:       newMemory(),
		counters:  newCounterTable(),
		untrimmed: map[string]struct{}{},
	}
	s.events.init(s.opts.EventLimit)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	rev, err := s.start(ctx)
	if err != nil {
		s.cancel()
		_ = cli.Close()
		if isUnavailable(err) {
			if problem := checkTLS(ctx, cfg); problem != nil {
				return nil, fmt.Errorf("etcdstore: open: %w: %w", problem, store.ErrUnavailable)
			}
		}
		return nil, s.failure("open", err)
	}
	s.health.init(time.Now())
	s.watcher.start(s, rev+1)
	s.done.Add(2)
	go s.flusher()
	go s.prober()
	if cfg.CompactInterval > 0 {
		s.done.Add(1)
		go s.compactor(rev)
	}
	return s, nil
}

// fill checks cfg and puts the defaults in its zero fields.
func (cfg *Config) fill() error {
	if len(cfg.Endpoints) == 0 {
		return errors.New("etcdstore: no etcd endpoints: give the client URL of at least one member, such as http://127.0.0.1:2379")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if !strings.HasSuffix(cfg.Prefix, "/") {
		return fmt.Errorf("etcdstore: key prefix %q does not end with \"/\": end it with one (%q), so that it cannot also cover the keys of another prefix that begins the same", cfg.Prefix, cfg.Prefix+"/")
	}
	if cfg.Options.ReadOnly {
		return fmt.Errorf("etcdstore: Options.ReadOnly is bbolt's: the etcd backend has no read-only mode: %w", errors.ErrUnsupported)
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.CompactInterval == 0 {
		cfg.CompactInterval = DefaultCompactInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	o := &cfg.Options
	if o.FlushInterval <= 0 {
		o.FlushInterval = store.DefaultFlushInterval
	}
	if o.EventLimit <= 0 {
		o.EventLimit = store.DefaultEventLimit
	}
	if o.RevisionsKept <= 0 {
		o.RevisionsKept = store.DefaultRevisionsKept
	}
	return nil
}

// start brings the schema up to date, reads the session key and loads
// memory, and returns the revision it loaded at.
func (s *Store) start(ctx context.Context) (int64, error) {
	step := func(fn func(context.Context) error) error {
		ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
		defer cancel()
		return fn(ctx)
	}
	if err := step(func(ctx context.Context) error { return setup(ctx, s.cli, s.keys, migrations) }); err != nil {
		return 0, err
	}
	err := step(func(ctx context.Context) error {
		key, err := loadSessionKey(ctx, s.cli, s.keys)
		s.sessionKey.Store(&key)
		return err
	})
	if err != nil {
		return 0, err
	}
	return s.reload(ctx)
}

// request returns the context of one method's calls into etcd: it ends
// after RequestTimeout, or at Close.
func (s *Store) request() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.ctx, s.cfg.RequestTimeout)
}

// failure is the error of a method whose call into etcd failed with err:
// wrapping store.ErrUnavailable when etcd could not be reached or had no
// quorum, store.ErrNoSpace when it is full, each saying what to do. The
// store's own errors pass unchanged. It also tells the health of etcd.
func (s *Store) failure(op string, err error) error {
	for _, known := range []error{store.ErrNotFound, store.ErrConflict, store.ErrUnauthorized, store.ErrBadPageToken,
		store.ErrBadFriendlyName, store.ErrBadRenderPolicy, store.ErrTemplateTooLarge, store.ErrBadTwilioAuthToken,
		store.ErrQuota, store.ErrUnavailable, store.ErrNoSpace, errors.ErrUnsupported} {
		if errors.Is(err, known) {
			return err
		}
	}
	switch {
	case isNoSpace(err):
		return fmt.Errorf("etcdstore: %s: etcd's database is at its space quota (%v), and etcd refuses every write until space is freed: nothing was saved; "+
			"compact etcd's history and defragment every member (etcdctl compact REVISION, then etcdctl defrag --cluster), or raise --quota-backend-bytes, then clear the alarm (etcdctl alarm disarm): %w",
			op, err, store.ErrNoSpace)
	case isUnavailable(err):
		s.health.failed(time.Now(), err)
		return fmt.Errorf("etcdstore: %s: etcd at %s did not answer within %s (%v): check that most of its members are up and reachable (a write cut short so may or may not have been saved): %w",
			op, strings.Join(s.cfg.Endpoints, ", "), s.cfg.RequestTimeout, err, store.ErrUnavailable)
	}
	return fmt.Errorf("etcdstore: %s: %w", op, err)
}

// isUnavailable reports whether err says that etcd could not be reached
// in time or could not answer for want of a quorum.
func isUnavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, clientv3.ErrNoAvailableEndpoints) {
		return true
	}
	var coded interface{ Code() codes.Code }
	if errors.As(err, &coded) {
		switch coded.Code() {
		case codes.Unavailable, codes.DeadlineExceeded:
			return true
		}
	}
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.Unavailable, codes.DeadlineExceeded:
			return true
		}
	}
	return false
}

// isNoSpace reports whether err is etcd's refusal of a write past its
// space quota.
func isNoSpace(err error) bool {
	return errors.Is(err, rpctypes.ErrNoSpace) || rpctypes.ErrorDesc(err) == rpctypes.ErrorDesc(rpctypes.ErrGRPCNoSpace)
}

// commit commits txn, a write, and returns etcd's answer, but for one:
// etcd checks its space quota as it takes a write and again as it applies
// it, and a write that passes the first check but not the second is saved
// all the same while the answer is NOSPACE. On that answer commit asks
// saved, which reads etcd with ranges (which the quota never refuses),
// whether the write landed; if it did, commit returns the success etcd
// would have answered, at the revision saved found it written.
func (s *Store) commit(ctx context.Context, txn clientv3.Txn, saved func(context.Context) (rev int64, ok bool)) (*clientv3.TxnResponse, error) {
	resp, err := txn.Commit()
	if err == nil || !isNoSpace(err) {
		return resp, err
	}
	rev, ok := saved(ctx)
	if !ok {
		return nil, err
	}
	return &clientv3.TxnResponse{Header: &etcdserverpb.ResponseHeader{Revision: rev}, Succeeded: true}, nil
}

// holds is the test of commit for a write that puts value at key, a value
// no other write puts (each holds a new SID or a new timestamp): whether
// key holds it, and since which revision.
func (s *Store) holds(key, value string) func(context.Context) (int64, bool) {
	return func(ctx context.Context) (int64, bool) {
		resp, err := s.cli.Get(ctx, key)
		if err != nil || len(resp.Kvs) == 0 || string(resp.Kvs[0].Value) != value {
			return 0, false
		}
		return resp.Kvs[0].ModRevision, true
	}
}

// Reachable returns nil while the node's watch of etcd is connected and
// etcd has answered within the last moments, else an error wrapping
// store.ErrUnavailable that says since when it has not. Bins the node
// knows are served all the same; writes fail.
func (s *Store) Reachable() error {
	return s.health.reachable(time.Now(), s.staleAfter())
}

// staleAfter is how long the store goes without news from etcd before
// Reachable reports it: a probe is late by then.
func (s *Store) staleAfter() time.Duration {
	return 2*s.heartbeat() + s.cfg.RequestTimeout
}

// heartbeat is how often the prober asks etcd for news.
func (s *Store) heartbeat() time.Duration {
	return min(time.Second, s.cfg.RequestTimeout/2)
}

// prober asks etcd every heartbeat for a linearizable read, which only a
// quorum can give, and the watch for its progress, so that Reachable
// knows both are alive even when nothing is written.
func (s *Store) prober() {
	defer s.done.Done()
	t := time.NewTicker(s.heartbeat())
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := s.request()
		_, err := s.cli.Get(ctx, s.keys.version())
		cancel()
		switch {
		case err == nil:
			s.answered()
		case s.ctx.Err() == nil:
			_ = s.failure("probe", err)
		}
		s.watcher.requestProgress(s)
	}
}

// answered records that etcd answered a call, logging its return.
func (s *Store) answered() {
	if since, back := s.health.answered(time.Now()); back {
		s.log.Info("etcd answers again", "endpoints", s.cfg.Endpoints, "unreachable_since", since)
	}
}

// SessionKey returns the key that signs the web form's session cookies:
// 32 random bytes made by the first node that opened the prefix and read
// by every other, so a session works on every node and across restarts.
func (s *Store) SessionKey() ([]byte, error) {
	return append([]byte(nil), *s.sessionKey.Load()...), nil
}

// ReadOnly is false: the etcd backend has no read-only mode.
func (s *Store) ReadOnly() bool { return false }

// Stats returns the node's figures, from memory: the accounts and bins it
// holds, the blocks of counters (of up to 128 bins) and the bins with
// events waiting for the next flush, and the background flushes that
// failed since Open. FileSize is 0: etcd's database size is etcd's to
// report (etcdctl endpoint status).
func (s *Store) Stats() store.Stats {
	s.mu.RLock()
	accounts, bins := len(s.mem.accounts), len(s.mem.bins)
	s.mu.RUnlock()
	return store.Stats{
		Accounts:           accounts,
		Bins:               bins,
		PendingUsageBlocks: s.counters.dirtyBlocks(),
		PendingEventBins:   s.events.pendingBins(),
		FlushErrors:        s.flushErrors.Load(),
	}
}

// Close writes the counts and events waiting for the next flush, stops
// the watch, the flusher and the prober, and closes the connection to
// etcd. It returns the flush's error, if any, with the close's. Calling
// it again does nothing and returns the same. No other method may be
// called after Close.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		flushErr := s.Flush()
		s.cancel()
		s.watcher.stop()
		s.done.Wait()
		s.closeErr = errors.Join(flushErr, s.cli.Close())
	})
	return s.closeErr
}

// now is the time records are stamped with: UTC, without the monotonic
// reading, so a record read back compares equal to the one returned.
func now() time.Time {
	return time.Now().UTC().Round(0)
}

// randomHex returns n random bytes as 2n lowercase hex digits.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand since Go 1.24)
	return hex.EncodeToString(b)
}

// health is what the node knows of etcd's: when it last answered, when
// it stopped, and the watch's news.
type health struct {
	mu           sync.Mutex
	lastAnswer   time.Time
	failingSince time.Time // zero while calls succeed
	lastErr      error
	watchNews    time.Time // the latest response of the watch, events or progress
	watchDown    time.Time // zero while a watch runs
}

func (h *health) init(t time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastAnswer, h.watchNews = t, t
}

// answered records a successful call at t; back reports whether calls
// were failing until then, and since when.
func (h *health) answered(t time.Time) (since time.Time, back bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	since, back = h.failingSince, !h.failingSince.IsZero()
	h.lastAnswer, h.failingSince, h.lastErr = t, time.Time{}, nil
	return since, back
}

// failed records a call that found etcd unreachable at t.
func (h *health) failed(t time.Time, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failingSince.IsZero() {
		h.failingSince = t
	}
	h.lastErr = err
}

// watching records news from the watch at t.
func (h *health) watching(t time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.watchNews, h.watchDown = t, time.Time{}
}

// watchLost records that the watch ended at t, to be started again.
func (h *health) watchLost(t time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.watchDown.IsZero() {
		h.watchDown = t
	}
}

func (h *health) reachable(t time.Time, staleAfter time.Duration) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	stamp := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	switch {
	case !h.failingSince.IsZero():
		return fmt.Errorf("etcdstore: etcd has not answered since %s (last answer %s: %v); bins this node knows are still served, writes fail: %w",
			stamp(h.failingSince), stamp(h.lastAnswer), h.lastErr, store.ErrUnavailable)
	case t.Sub(h.lastAnswer) > staleAfter:
		return fmt.Errorf("etcdstore: etcd has not answered since %s; bins this node knows are still served: %w", stamp(h.lastAnswer), store.ErrUnavailable)
	case !h.watchDown.IsZero():
		return fmt.Errorf("etcdstore: the watch of etcd has been down since %s, so this node may miss other nodes' writes: %w", stamp(h.watchDown), store.ErrUnavailable)
	case t.Sub(h.watchNews) > staleAfter:
		return fmt.Errorf("etcdstore: no news from the watch of etcd since %s, so this node may miss other nodes' writes: %w", stamp(h.watchNews), store.ErrUnavailable)
	}
	return nil
}

// Generation returns the write generation of the bin or account sid: it
// grows after every write of the record that the node knows of, its own
// (before the method that wrote returns) and every other node's (once the
// watch has brought it to memory). Usage and events are not writes of the
// record. See store.DB.Generation for the contract.
func (s *Store) Generation(sid string) uint64 {
	return s.gens.Load(sid)
}
