package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twimlbin/twimlbin/store"
	"github.com/twimlbin/twimlbin/templates"
)

const loadtestUsage = `usage: twimlbin loadtest [flags]

Measures the server on loopback: the load run of make bench, a development
tool that help does not list. The server under test runs in a process of
its own (this executable with -serve-db), on 127.0.0.1, over databases in
a temporary directory that is removed at the end, and loadtest:

 1. stores the gallery's contextual-calling bin and times, in alternating
    runs, its URL against /static, which answers the same bytes through the
    same middleware with no store or template work. Each request is the
    one Twilio makes: a POST with the backend's parameters in the query
    string and Twilio's in the form body, on keep-alive connections, each
    waiting for its answer before the next request;
 2. times creates through the API (POST /api/v1/bins, fsync on);
 3. stores bins directly through the store up to -bins, serves them from
    a second server, requests each once (cold), then times, in alternating
    runs, a random bin per request against the one bin of a server whose
    database holds only that bin, and reports the resident memory of the
    server with -bins bins.

Each timed run is charged with writing the usage counters it leaves
buffered (the server is told to flush after it, and the flush's time added
to the run's). It prints the requests per second, p50 and p99 latency and
errors of every run and of each endpoint's runs together, and the ratio of
the two endpoints both over all their runs and as the median of the rounds
(which a burst of load from elsewhere on the machine moves less); a target
counts as met when both are. It exits 1 when a request failed or was
answered otherwise than expected.
`

// loadConfig is the configuration of `twimlbin loadtest`.
type loadConfig struct {
	serveDB        string // the server mode's database; see loadserver.go
	serverBin      string // the executable to run as the server under test
	profileDir     string // where servers under test write CPU profiles, "" for none
	serveProfile   string // the server mode's CPU profile file, "" for none
	clients        int
	duration       time.Duration
	rounds         int
	bins           int
	createClients  int
	createDuration time.Duration
}

// loadTargets are the figures the run is held to.
const (
	targetBinRatio    = 0.9  // bin URL req/s over /static's
	targetManyBinsMin = 0.95 // random of many bins over one bin stored: no fall beyond noise
)

func runLoadtest(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfg := loadConfig{}
	fs := newFlagSet("loadtest", loadtestUsage, stderr)
	fs.IntVar(&cfg.clients, "clients", 32, "concurrent keep-alive connections of the timed runs")
	fs.DurationVar(&cfg.duration, "duration", 2*time.Second, "length of each timed run")
	fs.IntVar(&cfg.rounds, "rounds", 8, "timed runs of each endpoint, alternating: many short runs cancel the drift of a shared machine")
	fs.IntVar(&cfg.bins, "bins", 100_000, "bins stored for the last part")
	fs.IntVar(&cfg.createClients, "create-clients", 4, "concurrent clients creating bins through the API")
	fs.DurationVar(&cfg.createDuration, "create-duration", 3*time.Second, "length of the run creating bins")
	fs.StringVar(&cfg.serverBin, "server-bin", "", "the twimlbin executable to run as the server under test (default: this one)")
	fs.StringVar(&cfg.serveDB, "serve-db", "", "run as the server under test, serving this database, until standard input closes")
	fs.StringVar(&cfg.profileDir, "profile-dir", "", "write CPU profiles of the servers under test over their timed runs into this directory (service.pprof, many.pprof, one.pprof)")
	fs.StringVar(&cfg.serveProfile, "serve-cpuprofile", "", "with -serve-db: write a CPU profile of the server to this file")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if cfg.serveDB != "" {
		entry, _ := templates.Get("client-contextual-call")
		if err := serveLoad(cfg.serveDB, cfg.serveProfile, []byte(entry.Golden), stdin, stdout, logger); err != nil {
			fmt.Fprintf(stderr, "twimlbin loadtest: %v\n", err)
			return exitInvalid
		}
		return exitOK
	}
	if cfg.serverBin == "" {
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintf(stderr, "twimlbin loadtest: %v\n", err)
			return exitUsage
		}
		cfg.serverBin = exe
	}
	if fs.NArg() > 0 || cfg.clients < 1 || cfg.rounds < 1 || cfg.duration <= 0 || cfg.bins < 1 || cfg.createClients < 1 {
		fmt.Fprintln(stderr, "twimlbin loadtest: want positive flag values and no arguments")
		return exitUsage
	}
	dir, err := os.MkdirTemp("", "twimlbin-loadtest-")
	if err != nil {
		fmt.Fprintf(stderr, "twimlbin loadtest: %v\n", err)
		return exitUsage
	}
	defer os.RemoveAll(dir)
	lt := &loadTest{
		cfg:    cfg,
		dir:    dir,
		out:    stdout,
		logger: logger,
	}
	if err := lt.run(ctx); err != nil {
		fmt.Fprintf(stderr, "twimlbin loadtest: %v\n", err)
		return exitInvalid
	}
	if lt.failed {
		fmt.Fprintln(stderr, "twimlbin loadtest: some requests failed")
		return exitInvalid
	}
	return exitOK
}

// loadTest is one run of `twimlbin loadtest`.
type loadTest struct {
	cfg    loadConfig
	dir    string // the databases' directory
	out    io.Writer
	logger *slog.Logger
	failed bool // a request failed or was answered otherwise than expected

	entry      templates.Entry
	query      string // the backend's parameters
	form       string // Twilio's parameters
	golden     []byte
	accountSID string
	authToken  string
	oneSID     string   // the only bin of the second database of part 3
	sids       []string // every bin stored
}

func (lt *loadTest) printf(format string, args ...any) {
	fmt.Fprintf(lt.out, format, args...)
}

func (lt *loadTest) run(ctx context.Context) error {
	entry, ok := templates.Get("client-contextual-call")
	if !ok {
		return errors.New("no client-contextual-call in the gallery")
	}
	lt.entry, lt.golden = entry, []byte(entry.Golden)
	query, form := entry.Request()
	lt.query, lt.form = query.Encode(), form.Encode()

	lt.printf("twimlbin load test: %d CPUs, GOMAXPROCS %d, %s; load average %s\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), loadAverage())
	lt.printf("%d keep-alive connections, %d alternating runs of %s per endpoint; "+
		"requests as Twilio makes them: POST, %d query and %d form parameters, %d-byte answer\n\n",
		lt.cfg.clients, lt.cfg.rounds, lt.cfg.duration, len(query), len(form), len(lt.golden))

	// Parts 1 and 2 share a server over the database that part 3 fills
	// up to -bins; the second server of part 3 holds one bin.
	many, one := filepath.Join(lt.dir, "many.db"), filepath.Join(lt.dir, "one.db")
	if err := lt.newAccount(many); err != nil {
		return err
	}
	srv, err := lt.startServer(many, "service")
	if err != nil {
		return err
	}
	err = lt.oneBin(ctx, srv)
	if err == nil {
		err = lt.creates(ctx, srv)
	}
	if cerr := srv.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := lt.fill(many, one); err != nil {
		return err
	}
	err = lt.manyBins(ctx, many, one)
	lt.printf("\nload average after: %s\n", loadAverage())
	return err
}

// startServer starts a server under test over the database at path,
// profiled into name.pprof under -profile-dir when it is set.
func (lt *loadTest) startServer(path, name string) (*loadServer, error) {
	profile := ""
	if lt.cfg.profileDir != "" {
		profile = filepath.Join(lt.cfg.profileDir, name+".pprof")
	}
	return startLoadServer(lt.cfg.serverBin, path, profile)
}

// newAccount creates the account of the run in the database at path.
func (lt *loadTest) newAccount(path string) error {
	db, err := store.Open(path, store.Options{})
	if err != nil {
		return err
	}
	acct, token, err := db.CreateAccount("loadtest")
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	lt.accountSID, lt.authToken = acct.SID, token
	return err
}

// oneBin stores the contextual-calling bin through the API and times its
// URL against /static.
func (lt *loadTest) oneBin(ctx context.Context, srv *loadServer) error {
	client := &http.Client{Timeout: requestTimeout}
	sid, status, err := lt.createBin(client, srv.addr)
	if err != nil || status != http.StatusCreated {
		return fmt.Errorf("creating the bin: status %d, %v", status, err)
	}
	lt.sids = []string{sid}

	static := lt.fixed(srv.addr, "/static")
	bin := lt.fixed(srv.addr, "/twiml/"+sid)
	for _, w := range []loadWorker{static, bin} { // both answer the golden bytes
		c := &loadConn{addr: srv.addr}
		status, body, err := c.roundTrip(w.request(nil))
		c.close()
		if err == nil {
			err = w.check(status, body)
		}
		if err != nil {
			return fmt.Errorf("before timing: %w", err)
		}
	}

	lt.printf("1. The contextual-calling bin against /static (same bytes, same middleware, no template work)\n")
	runs := lt.alternate(ctx, [2]*loadServer{srv, srv}, [2]string{"static", "bin URL"}, [2]func(int) loadWorker{every(static), every(bin)})
	staticTotal, binTotal := merge(runs[0]), merge(runs[1])
	lt.printf("  %s\n  %s\n", lt.line("static, all", staticTotal), lt.line("bin URL, all", binTotal))
	ratio, median, desc := ratios(runs)
	lt.printf("  bin URL / static: %.3f over all runs, %s (target ≥ %.2f: %s)\n\n",
		ratio, desc, targetBinRatio, verdict(min(ratio, median) >= targetBinRatio))
	return ctx.Err()
}

// creates times POST /api/v1/bins from several clients.
func (lt *loadTest) creates(ctx context.Context, srv *loadServer) error {
	ctx, cancel := context.WithTimeout(ctx, lt.cfg.createDuration)
	defer cancel()
	transport := &http.Transport{MaxIdleConnsPerHost: lt.cfg.createClients}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: requestTimeout}
	var mu sync.Mutex
	var results []loadResult
	var wg sync.WaitGroup
	start := time.Now()
	for range lt.cfg.createClients {
		wg.Go(func() {
			var res loadResult
			var sids []string
			for ctx.Err() == nil {
				t := time.Now()
				sid, status, err := lt.createBin(client, srv.addr)
				if err == nil && status != http.StatusCreated {
					err = fmt.Errorf("status %d", status)
				}
				if err != nil {
					if ctx.Err() == nil {
						res.errors++
						res.firstErr = cmp.Or(res.firstErr, err)
					}
					continue
				}
				res.requests++
				res.latencies = append(res.latencies, time.Since(t))
				sids = append(sids, sid)
			}
			mu.Lock()
			defer mu.Unlock()
			results = append(results, res)
			lt.sids = append(lt.sids, sids...)
		})
	}
	wg.Wait()
	total := merge(results)
	total.elapsed = time.Since(start)
	lt.printf("2. Creates through the API: POST /api/v1/bins, %d clients, fsync on\n  %s\n\n",
		lt.cfg.createClients, lt.line("creates", total))
	lt.count(total)
	return nil
}

// fill stores bins through the store, without fsync, in the database at
// many up to cfg.bins, and makes the database at one hold only the
// contextual-calling bin.
func (lt *loadTest) fill(many, one string) error {
	db, err := store.Open(many, store.Options{NoSync: true})
	if err != nil {
		return err
	}
	start := time.Now()
	in := store.BinInput{FriendlyName: "loadtest", Template: lt.entry.Template, RenderPolicy: "strict"}
	n := 0
	for len(lt.sids) < lt.cfg.bins {
		b, err := db.CreateBin(lt.accountSID, in)
		if err != nil {
			db.Close()
			return err
		}
		lt.sids = append(lt.sids, b.SID)
		n++
	}
	elapsed := time.Since(start)
	size := db.Stats().FileSize
	if err := db.Close(); err != nil {
		return err
	}
	lt.printf("3. %d bins: %d stored through the store (one transaction each, no fsync) in %s; %.0f MiB of data\n",
		len(lt.sids), n, elapsed.Round(time.Millisecond), float64(size)/(1<<20))

	if err := lt.newAccount(one); err != nil {
		return err
	}
	if db, err = store.Open(one, store.Options{}); err != nil {
		return err
	}
	b, err := db.CreateBin(lt.accountSID, in)
	lt.oneSID = b.SID
	return errors.Join(err, db.Close())
}

// manyBins serves the database at many, requests every bin once, then
// times a random bin per request against the one bin of the database at
// one, served by a second server, and reports the first server's memory.
func (lt *loadTest) manyBins(ctx context.Context, many, one string) error {
	srvMany, err := lt.startServer(many, "many")
	if err != nil {
		return err
	}
	defer srvMany.close()
	srvOne, err := lt.startServer(one, "one")
	if err != nil {
		return err
	}
	defer srvOne.close()

	allSIDs, oneSID := packSIDs(lt.sids), packSIDs([]string{lt.oneSID})
	order := rand.Perm(len(lt.sids))
	var next atomic.Int64
	sweep := loadWorker{
		request: func(buf []byte) []byte {
			i := next.Add(1) - 1
			if i >= int64(len(order)) {
				return nil
			}
			at := order[i] * sidLen
			return lt.binRequest(buf, srvMany.addr, "/twiml/", allSIDs[at:at+sidLen])
		},
		check: lt.checkGolden,
	}
	cold := runLoad(ctx, srvMany.addr, lt.cfg.clients, 0, every(sweep))
	lt.printf("  %s\n", lt.line("each bin once (cold)", cold))
	lt.count(cold)

	// Both sides pick a bin the same way, so that they differ only in the
	// server: a random bin of lt.sids, or of a list of the one bin.
	random := func(addr string, sids []byte) func(int) loadWorker {
		return func(i int) loadWorker {
			return lt.randomBin(addr, sids, rand.New(rand.NewPCG(uint64(i), 1)))
		}
	}
	names := [2]string{"one bin stored", fmt.Sprintf("random of %d", len(lt.sids))}
	runs := lt.alternate(ctx, [2]*loadServer{srvOne, srvMany}, names, [2]func(int) loadWorker{random(srvOne.addr, oneSID), random(srvMany.addr, allSIDs)})
	aloneTotal, randomTotal := merge(runs[0]), merge(runs[1])
	lt.printf("  %s\n  %s\n", lt.line(names[0]+", all", aloneTotal), lt.line(names[1]+", all", randomTotal))
	ratio, median, desc := ratios(runs)
	lt.printf("  random of %d / one bin stored: %.3f over all runs, %s (must not fall; ≥ %.2f allows for noise: %s)\n",
		len(lt.sids), ratio, desc, targetManyBinsMin, verdict(min(ratio, median) >= targetManyBinsMin))

	mem, err := srvMany.memory()
	if err != nil {
		return err
	}
	lt.printf("  memory of the server with %d bins, after the runs and a GC: %s\n", len(lt.sids), mem)
	return ctx.Err()
}

// alternate times two kinds of worker, each made per connection, in
// alternating runs, starting with each in turn so that a drift of the
// machine's speed touches both alike, and returns the runs of each. Each
// run is charged with writing the usage counters it leaves buffered: the
// store is flushed after it, and the flush's time added to the run's, so
// that no run pays for the one before.
func (lt *loadTest) alternate(ctx context.Context, servers [2]*loadServer, names [2]string, workers [2]func(int) loadWorker) [2][]loadResult {
	var runs [2][]loadResult
	for k, srv := range servers {
		if k == 1 && srv == servers[0] {
			break // one server for both
		}
		if err := srv.startProfile(); err != nil {
			lt.logger.Warn("CPU profile", "error", err)
		}
	}
	// A run of each, untimed, so that connections, caches and the heap's
	// size are settled.
	for k := range 2 {
		lt.count(runLoad(ctx, servers[k].addr, lt.cfg.clients, lt.cfg.duration, workers[k]))
		if err := servers[k].flush(); err != nil {
			lt.logger.Warn("flush", "error", err)
		}
	}
	for round := range lt.cfg.rounds {
		for k := range 2 {
			which := (round + k) % 2
			r := runLoad(ctx, servers[which].addr, lt.cfg.clients, lt.cfg.duration, workers[which])
			start := time.Now()
			if err := servers[which].flush(); err != nil {
				lt.logger.Warn("flush", "error", err)
			}
			r.elapsed += time.Since(start)
			lt.printf("  %s\n", lt.line(fmt.Sprintf("round %d, %s", round+1, names[which]), r))
			lt.count(r)
			runs[which] = append(runs[which], r)
			if ctx.Err() != nil {
				return runs
			}
		}
	}
	return runs
}

// ratios compares the second worker's rate to the first's: over all their
// runs, and as the median of the ratios of each round, which a burst of
// load from elsewhere on the machine moves less, also described with their
// range.
func ratios(runs [2][]loadResult) (total, median float64, desc string) {
	total = merge(runs[1]).rate() / merge(runs[0]).rate()
	var rs []float64
	for i := range min(len(runs[0]), len(runs[1])) {
		if a := runs[0][i].rate(); a > 0 {
			rs = append(rs, runs[1][i].rate()/a)
		}
	}
	if len(rs) == 0 {
		return total, total, "no complete round"
	}
	slices.Sort(rs)
	mid := len(rs) / 2
	median = rs[mid]
	if len(rs)%2 == 0 {
		median = (rs[mid-1] + rs[mid]) / 2
	}
	return total, median, fmt.Sprintf("median of the rounds %.3f (%.3f to %.3f)", median, rs[0], rs[len(rs)-1])
}

// every is a worker for every connection.
func every(w loadWorker) func(int) loadWorker {
	return func(int) loadWorker { return w }
}

// fixed is a worker requesting path, answered with the golden bytes.
func (lt *loadTest) fixed(addr, path string) loadWorker {
	req := lt.binRequest(nil, addr, path, nil)
	return loadWorker{
		request: func(buf []byte) []byte { return append(buf, req...) },
		check:   lt.checkGolden,
	}
}

// packSIDs lays bin SIDs end to end, so that picking one at random costs
// the load generator one cache miss, not two (a string header and its
// bytes): with 100,000 bins, its own misses would count against the
// server.
func packSIDs(sids []string) []byte {
	packed := make([]byte, 0, len(sids)*sidLen)
	for _, sid := range sids {
		if len(sid) != sidLen {
			panic("packSIDs: " + sid + " is not a SID")
		}
		packed = append(packed, sid...)
	}
	return packed
}

// sidLen is the length of a SID: two letters and 32 hex digits.
const sidLen = 34

// randomBin is a worker requesting a random bin of sids, packed by
// packSIDs.
func (lt *loadTest) randomBin(addr string, sids []byte, rnd *rand.Rand) loadWorker {
	n := len(sids) / sidLen
	return loadWorker{
		request: func(buf []byte) []byte {
			i := rnd.IntN(n) * sidLen
			return lt.binRequest(buf, addr, "/twiml/", sids[i:i+sidLen])
		},
		check: lt.checkGolden,
	}
}

func (lt *loadTest) checkGolden(status int, body []byte) error {
	if status != http.StatusOK || !bytes.Equal(body, lt.golden) {
		return fmt.Errorf("answer %d %.200q, want 200 and the golden output", status, body)
	}
	return nil
}

// binRequest appends to buf Twilio's request to path followed by sid.
func (lt *loadTest) binRequest(buf []byte, addr, path string, sid []byte) []byte {
	buf = append(buf, "POST "...)
	buf = append(buf, path...)
	buf = append(buf, sid...)
	buf = append(buf, '?')
	buf = append(buf, lt.query...)
	buf = append(buf, " HTTP/1.1\r\nHost: "...)
	buf = append(buf, addr...)
	buf = append(buf, "\r\nUser-Agent: TwilioProxy/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: "...)
	buf = strconv.AppendInt(buf, int64(len(lt.form)), 10)
	buf = append(buf, "\r\n\r\n"...)
	return append(buf, lt.form...)
}

// createBin creates a contextual-calling bin through the API.
func (lt *loadTest) createBin(client *http.Client, addr string) (sid string, status int, err error) {
	body, _ := json.Marshal(map[string]string{"friendly_name": "loadtest", "template": lt.entry.Template, "render_policy": "strict"})
	req, err := http.NewRequest("POST", "http://"+addr+"/api/v1/bins", bytes.NewReader(body))
	if err != nil {
		return "", 0, err
	}
	req.SetBasicAuth(lt.accountSID, lt.authToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer res.Body.Close()
	var bin struct {
		SID string `json:"sid"`
	}
	if err := json.NewDecoder(res.Body).Decode(&bin); err != nil {
		return "", res.StatusCode, err
	}
	return bin.SID, res.StatusCode, nil
}

// count notes failed requests.
func (lt *loadTest) count(r loadResult) {
	if r.errors > 0 {
		lt.failed = true
	}
}

// line formats a result.
func (lt *loadTest) line(label string, r loadResult) string {
	s := fmt.Sprintf("%-26s %8.0f req/s  p50 %7s  p99 %7s  %7d requests  %d errors",
		label+":", r.rate(), fmtLatency(r.percentile(50)), fmtLatency(r.percentile(99)), r.requests, r.errors)
	if r.firstErr != nil {
		s += fmt.Sprintf(" (first: %v)", r.firstErr)
	}
	return s
}

func fmtLatency(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// loadAverage is the first three fields of /proc/loadavg, or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
