package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twimlbin/twimlbin/store"
)

var (
	crashCycles = flag.Int("crash.cycles", 0, "kill cycles of TestCrashKeepsAcknowledgedWrites (default $CRASH_CYCLES, else 3)")
	crashSeed   = flag.Uint64("crash.seed", 0, "seed of the kill times and template sizes of TestCrashKeepsAcknowledgedWrites (default random; the test logs it)")
)

// Shape of the crash test's load: crashWriters goroutines, each creating
// crashBinsPerWriter bins of its own and then updating them, with one write
// in crashCreateOneIn a create, killed after a random crashMinRun to
// crashMaxRun.
const (
	crashWriters       = 8
	crashBinsPerWriter = 4
	crashCreateOneIn   = 16
	crashMinRun        = 50 * time.Millisecond
	crashMaxRun        = 500 * time.Millisecond
	crashMaxTemplate   = 6 << 10
)

// crashCycleCount returns the number of kill cycles: -crash.cycles, else
// $CRASH_CYCLES, else 3.
func crashCycleCount(t *testing.T) int {
	if *crashCycles > 0 {
		return *crashCycles
	}
	if v := os.Getenv("CRASH_CYCLES"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "CRASH_CYCLES")
		require.Positive(t, n, "CRASH_CYCLES")
		return n
	}
	return 3
}

// crashBin is what the test knows of one bin: the revisions it wrote and
// which of them the server acknowledged.
type crashBin struct {
	sid   string
	acked int            // the highest revision answered with a 2xx
	wrote map[int]string // the template sent for each revision not older than acked
	// unknown: a write to revision acked+1 got no answer, or one saying
	// the store was unreachable, so it may or may not have been committed.
	unknown bool
}

// crashWriter creates and updates its bins as fast as the server answers.
// Only its goroutine touches it while it runs; the test reads it once run
// has returned.
type crashWriter struct {
	id      int
	bins    []*crashBin
	orphans map[string]bool // templates of creates whose outcome is unknown
	seq     int
	acked   []time.Time // when each write answered with a 2xx was answered, over every cycle
	// lastAck is the latest of acked in Unix nanoseconds, which others
	// may read while the writer runs.
	lastAck atomic.Int64
	// refused are when writes were answered 503 with code 10509: the
	// store (an etcd cluster) was unreachable. Their outcome is unknown,
	// but the server answers, so the writer goes on: its next write to the
	// bin sends the same template again, with the same If-Match.
	refused []time.Time
	slowest time.Duration // the longest wait for an answer
	// unanswered counts writes cut off by a kill, and committed those of
	// them, and of the refused, found stored later.
	unanswered, committed int
	rnd                   *rand.Rand
	// sent, when set, is told every template before it is sent to a bin
	// (a create's once its SID is known), for readers of the bins.
	sent     func(sid, tmpl string)
	failures []string // answers that should never happen
}

// newCrashWriters returns n writers, their random choices made from seed.
func newCrashWriters(n int, seed uint64) []*crashWriter {
	writers := make([]*crashWriter, n)
	for i := range writers {
		writers[i] = &crashWriter{id: i, orphans: map[string]bool{}, rnd: rand.New(rand.NewPCG(seed, uint64(i+1)))}
	}
	return writers
}

// ack records a write answered with a 2xx, now.
func (w *crashWriter) ack() {
	now := time.Now()
	w.acked = append(w.acked, now)
	w.lastAck.Store(now.UnixNano())
}

// acks is the number of writes answered with a 2xx.
func (w *crashWriter) acks() int { return len(w.acked) }

// run writes until ctx is done or a write gets no answer (the server was
// killed); its outcome is then unknown and the writer stops for the cycle.
// A write under way when ctx ends is finished.
func (w *crashWriter) run(ctx context.Context, c *faultClient) {
	for ctx.Err() == nil {
		w.seq++
		tmpl := faultTemplate(fmt.Sprintf("writer %d write %d", w.id, w.seq), 100+w.rnd.IntN(crashMaxTemplate))
		if len(w.bins) < crashBinsPerWriter || w.rnd.IntN(crashCreateOneIn) == 0 {
			if !w.create(ctx, c, tmpl) {
				return
			}
			continue
		}
		if !w.update(ctx, c, w.bins[w.rnd.IntN(len(w.bins))], tmpl) {
			return
		}
	}
}

// send sends one write, to its end even if ctx ends meanwhile, and
// keeps the longest wait for an answer.
func (w *crashWriter) send(ctx context.Context, c *faultClient, path, tmpl string, ifMatch int) (faultResponse, error) {
	start := time.Now()
	resp, err := c.do(context.WithoutCancel(ctx), http.MethodPost, path, map[string]string{"template": tmpl}, ifMatch)
	w.slowest = max(w.slowest, time.Since(start))
	return resp, err
}

// refusal records a 503 answer to a write, which must say that the store
// was unreachable and the change not saved; it reports whether it did.
func (w *crashWriter) refusal(what string, resp faultResponse) bool {
	if problem := storeUnreachableProblem(resp); problem != "" {
		w.failures = append(w.failures, fmt.Sprintf("%s: %s", what, problem))
		return false
	}
	w.refused = append(w.refused, time.Now())
	return true
}

func (w *crashWriter) create(ctx context.Context, c *faultClient, tmpl string) bool {
	resp, err := w.send(ctx, c, "/api/v1/bins", tmpl, 0)
	var b faultBin
	if err == nil && resp.status == http.StatusCreated {
		err = json.Unmarshal(resp.body, &b)
	}
	switch {
	case err != nil:
		// No answer, or an answer cut short: the bin may exist, under a
		// SID the test never learns.
		w.orphans[tmpl] = true
		w.unanswered++
		return false
	case resp.status == http.StatusServiceUnavailable:
		// The same, but the server answers: write on.
		w.orphans[tmpl] = true
		return w.refusal("create", resp)
	case resp.status != http.StatusCreated:
		w.failures = append(w.failures, fmt.Sprintf("create: %d %s", resp.status, resp.body))
		return false
	case b.Revision != 1 || b.Template != tmpl:
		w.failures = append(w.failures, fmt.Sprintf("create answered revision %d with a template of %d bytes, want 1 and %d", b.Revision, len(b.Template), len(tmpl)))
	}
	if w.sent != nil {
		w.sent(b.SID, tmpl)
	}
	w.bins = append(w.bins, &crashBin{sid: b.SID, acked: 1, wrote: map[int]string{1: tmpl}})
	w.ack()
	return true
}

func (w *crashWriter) update(ctx context.Context, c *faultClient, b *crashBin, tmpl string) bool {
	next := b.acked + 1
	if b.unknown {
		// The write to next that was refused is sent again, so that
		// whichever attempt is saved, next holds its template.
		tmpl = b.wrote[next]
	}
	b.wrote[next] = tmpl
	if w.sent != nil {
		w.sent(b.sid, tmpl)
	}
	resp, err := w.send(ctx, c, "/api/v1/bins/"+b.sid, tmpl, b.acked)
	if resp.status == http.StatusOK {
		// The status is sent after the commit: the write is acknowledged
		// even if the body was cut short.
		if err == nil {
			var got faultBin
			if err := json.Unmarshal(resp.body, &got); err != nil || got.Revision != next {
				w.failures = append(w.failures, fmt.Sprintf("update of %s answered %s, want revision %d", b.sid, resp.body, next))
			}
		}
		b.acked = next
		b.unknown = false
		delete(b.wrote, next-1)
		w.ack()
		return err == nil
	}
	switch {
	case err != nil:
		b.unknown = true
		w.unanswered++
		return false
	case resp.status == http.StatusServiceUnavailable:
		b.unknown = true
		return w.refusal("update of "+b.sid, resp)
	case resp.status == http.StatusPreconditionFailed && b.unknown:
		// The bin is past acked: only this writer writes it, so the
		// refused write to next was saved after all.
		b.acked = next
		b.unknown = false
		delete(b.wrote, next-1)
		w.committed++
		return true
	}
	w.failures = append(w.failures, fmt.Sprintf("update of %s at revision %d: %d %s", b.sid, b.acked, resp.status, resp.body))
	return false
}

// TestCrashKeepsAcknowledgedWrites kills the server with SIGKILL at random
// moments while writers create and update bins through the API as fast as
// it answers, and checks after each kill that the database file passes
// bbolt's consistency check and, once the server is restarted on it, that
// every write answered with a 2xx is there, whole: each bin holds the
// revision last acknowledged or the one write after it that got no answer,
// with exactly the template sent for that revision. Every other bin is one
// whose create got no answer, holding that create's template.
//
// It runs -crash.cycles (or $CRASH_CYCLES) kill cycles, 3 by default;
// `make crash` runs many.
func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts the server many times")
	}
	n := crashCycleCount(t)
	bin := buildBinary(t)
	db := filepath.Join(t.TempDir(), "twimlbin.db")
	sid, token := createFaultAccount(t, bin, db)
	writers, orphans := runCrashCycles(t, n, sid, token,
		func() *faultServer { return startFaultServer(t, bin, db, "warn") },
		func() { checkCrashedFile(t, db, sid) })

	// The last restart: check every write, stop gracefully, and check the
	// file once more and every bin in it.
	srv := startFaultServer(t, bin, db, "warn")
	c := newFaultClient(srv.base, sid, token)
	verifyCrashWrites(t, c, writers, orphans)
	require.NoError(t, srv.stop(t), "serve should exit 0 after SIGTERM; stderr:\n%s", srv.stderr.String())
	sdb, err := store.Open(db, store.Options{})
	require.NoError(t, err)
	defer sdb.Close()
	require.NoError(t, sdb.Check())
	acks, unanswered, committed := 0, 0, 0
	for _, w := range writers {
		acks, unanswered, committed = acks+w.acks(), unanswered+w.unanswered, committed+w.committed
		for _, b := range w.bins {
			got, err := sdb.Bin(sid, b.sid)
			require.NoError(t, err)
			require.Equal(t, b.acked, got.Revision, b.sid)
			require.Equal(t, b.wrote[b.acked], got.Template, b.sid)
		}
	}
	require.NoError(t, sdb.Close())
	t.Logf("%d kill cycles, %d acknowledged writes, 0 lost; %d writes cut off by a kill, of which %d updates and %d creates were committed",
		n, acks, unanswered, committed, len(orphans))
}

// runCrashCycles runs n kill cycles of writers over the server that start
// starts: each starts it, checks every write so far (but the first),
// lets the writers write through it for a random moment, kills it with
// SIGKILL and calls afterKill. It returns the writers and the bins found
// whose create got no answer. The writers' random choices and the kill
// times come from -crash.seed, or a seed it logs.
func runCrashCycles(t *testing.T, n int, sid, token string, start func() *faultServer, afterKill func()) ([]*crashWriter, map[string]bool) {
	t.Helper()
	seed := *crashSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("%d kill cycles, seed %d (rerun with -crash.seed=%d)", n, seed, seed)
	rnd := rand.New(rand.NewPCG(seed, 0))
	writers := newCrashWriters(crashWriters, seed)
	orphans := map[string]bool{}
	for cycle := 1; cycle <= n; cycle++ {
		srv := start()
		c := newFaultClient(srv.base, sid, token)
		if cycle > 1 {
			verifyCrashWrites(t, c, writers, orphans)
		}

		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		for _, w := range writers {
			wg.Go(func() { w.run(ctx, c) })
		}
		time.Sleep(crashMinRun + time.Duration(rnd.Int64N(int64(crashMaxRun-crashMinRun)))) // the fault's random moment
		srv.kill()
		cancel()
		wg.Wait()
		c.http.CloseIdleConnections()
		for _, w := range writers {
			require.Empty(t, w.failures, "cycle %d, writer %d", cycle, w.id)
		}
		afterKill()
	}
	return writers, orphans
}

// listStoredBins lists every bin of the client's account through the API,
// with its template, by SID.
func listStoredBins(ctx context.Context, c *faultClient) (map[string]faultBin, error) {
	stored := map[string]faultBin{}
	path := "/api/v1/bins?page_size=1000&include=template"
	for path != "" {
		resp, err := c.do(ctx, http.MethodGet, path, nil, 0)
		if err != nil {
			return nil, err
		}
		if resp.status != http.StatusOK {
			return nil, fmt.Errorf("%s%s: %d %s", c.base, path, resp.status, resp.body)
		}
		var page struct {
			Bins []faultBin `json:"bins"`
			Meta struct {
				NextPageURI *string `json:"next_page_uri"`
			} `json:"meta"`
		}
		if err := json.Unmarshal(resp.body, &page); err != nil {
			return nil, fmt.Errorf("%s%s: %w", c.base, path, err)
		}
		for _, b := range page.Bins {
			stored[b.SID] = b
		}
		path = ""
		if page.Meta.NextPageURI != nil {
			path = *page.Meta.NextPageURI
		}
	}
	return stored, nil
}

// checkCrashedFile opens the database a killed server left, as the next
// server will, runs bbolt's consistency check over it, and checks that the
// stored count of bins is the number of bins of the only account.
func checkCrashedFile(t *testing.T, path, accountSID string) {
	t.Helper()
	db, err := store.Open(path, store.Options{})
	require.NoError(t, err, "open after SIGKILL")
	defer db.Close()
	require.NoError(t, db.Check(), "consistency check after SIGKILL")
	bins, token := 0, ""
	for {
		page, err := db.ListBins(accountSID, store.ListQuery{PageSize: store.MaxPageSize, PageToken: token})
		require.NoError(t, err)
		bins += len(page.Bins)
		if token = page.Next; token == "" {
			break
		}
	}
	stats := db.Stats()
	require.Equal(t, 1, stats.Accounts)
	require.Equal(t, bins, stats.Bins, "stored count of bins")
	require.NoError(t, db.Close())
}

// verifyCrashWrites lists every bin and checks it: a bin of a writer
// against the writes acknowledged before the last kill, any other bin
// against the creates that got no answer (adding those it finds to
// orphans). Then it takes what is stored as the new acknowledged state: a
// write that got no answer but was committed is there now, and the next
// one builds on it.
func verifyCrashWrites(t *testing.T, c *faultClient, writers []*crashWriter, orphans map[string]bool) {
	t.Helper()
	stored, err := listStoredBins(t.Context(), c)
	require.NoError(t, err)

	for _, w := range writers {
		for _, b := range w.bins {
			got, ok := stored[b.sid]
			require.True(t, ok, "bin %s, created with a 201, is gone", b.sid)
			delete(stored, b.sid)
			latest := b.acked
			if b.unknown {
				latest++
			}
			require.GreaterOrEqual(t, got.Revision, b.acked, "bin %s lost an acknowledged write", b.sid)
			require.LessOrEqual(t, got.Revision, latest, "bin %s has a revision no one wrote", b.sid)
			require.Equal(t, b.wrote[got.Revision], got.Template, "bin %s at revision %d does not hold the template written for it", b.sid, got.Revision)
			if got.Revision > b.acked {
				w.committed++
				delete(b.wrote, b.acked)
				b.acked = got.Revision
			}
			delete(b.wrote, b.acked+1)
			b.unknown = false
		}
	}

	// Every other bin is an unanswered create, whole.
	for _, b := range stored {
		orphan := false
		for _, w := range writers {
			orphan = orphan || w.orphans[b.Template]
		}
		require.True(t, orphan, "bin %s holds a template no create sent (%d bytes)", b.SID, len(b.Template))
		require.Equal(t, 1, b.Revision, b.SID)
		orphans[b.SID] = true
	}
}
