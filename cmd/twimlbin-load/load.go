package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
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

// The targets the run reports against.
const (
	targetPeerRatio   = 0.9              // bin URL req/s over the peer's
	targetP99Diff     = time.Millisecond // bin URL p99 less the peer's
	targetManyBinsMin = 0.95             // random of many bins over one bin stored: no fall beyond noise
)

// buildTimeout bounds the go build of twimlbin when -twimlbin is not given.
const buildTimeout = 5 * time.Minute

// loadTest is one run of twimlbin-load.
type loadTest struct {
	cfg    config
	dir    string // the temporary directory: databases, logs, the peer's body
	out    io.Writer
	failed bool // a request failed, was answered otherwise than expected, or a log lacked lines

	twimlbin string // the twimlbin binary
	peerExe  string // this executable, run as the peer
	peerBody string // the file of the peer's body
	wrkPath  string // "" skips wrk
	wrkNote  string // why wrk is skipped
	serves   int    // serve processes started, to name their logs

	etcdPath    string // the etcd server binary; "" skips part 4
	etcdNote    string // why part 4 is skipped
	etcdVersion string

	entry   templates.Entry
	query   string // the backend's parameters
	form    string // Twilio's parameters
	golden  []byte
	account serveAccount // of the serve of parts 1 to 3
	oneSID  string       // the only bin of the second database of part 3
	sids    []string     // every bin stored by parts 1 to 3
}

func (lt *loadTest) printf(format string, args ...any) {
	fmt.Fprintf(lt.out, format, args...)
}

// setUp finds or builds what the run needs: the gallery's bin, the
// peer's executable and body, the etcd server, the twimlbin binary, and
// wrk.
func (lt *loadTest) setUp() error {
	entry, ok := templates.Get("client-contextual-call")
	if !ok {
		return errors.New("no client-contextual-call in the gallery")
	}
	lt.entry, lt.golden = entry, []byte(entry.Golden)
	query, form := entry.Request()
	lt.query, lt.form = query.Encode(), form.Encode()

	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding this executable, to run it as the peer: %w", err)
	}
	lt.peerExe = exe
	lt.peerBody = filepath.Join(lt.dir, "peer-body.xml")
	if err := os.WriteFile(lt.peerBody, lt.golden, 0o644); err != nil {
		return err
	}

	if !lt.cfg.peerOnly {
		lt.findEtcd()
		if lt.cfg.etcdOnly && lt.etcdPath == "" {
			return fmt.Errorf("-etcd-only: %s", lt.etcdNote)
		}
	}

	if lt.twimlbin = lt.cfg.twimlbin; lt.twimlbin == "" {
		lt.twimlbin = filepath.Join(lt.dir, "twimlbin")
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		out, err := exec.CommandContext(ctx, "go", "build", "-o", lt.twimlbin, "./cmd/twimlbin").CombinedOutput()
		if err != nil {
			return fmt.Errorf("go build -o %s ./cmd/twimlbin: %w\n%s\nrun twimlbin-load from the repository's root, or give -twimlbin PATH", lt.twimlbin, err, out)
		}
	} else if st, err := os.Stat(lt.twimlbin); err != nil || st.IsDir() {
		return fmt.Errorf("-twimlbin %s: want a built twimlbin binary, such as bin/twimlbin from make build (%v)", lt.twimlbin, cmp.Or(err, errors.New("a directory")))
	}

	if lt.cfg.wrk == "" {
		lt.wrkNote = "-wrk is empty"
	} else if lt.wrkPath, err = exec.LookPath(lt.cfg.wrk); err != nil {
		lt.wrkNote = fmt.Sprintf("%v; on Debian: apt-get install wrk", err)
	}
	return nil
}

func (lt *loadTest) run(ctx context.Context) error {
	lt.printf("twimlbin-load: %d CPUs, GOMAXPROCS %d, %s; load average %s\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), loadAverage())
	lt.printf("serve: %s serve --addr 127.0.0.1:0 --db DB, default flags (log level info, an access-log line per request, to a file)\n", lt.twimlbin)
	lt.printf("requests as Twilio makes them: POST, %d query and %d form bytes, %d-byte answer\n\n",
		len(lt.query), len(lt.form), len(lt.golden))

	if !lt.cfg.etcdOnly {
		if err := lt.bboltParts(ctx); err != nil || lt.cfg.peerOnly {
			return err
		}
		lt.printf("\n")
	}
	err := lt.etcdBackend(ctx)
	lt.printf("\nload average after: %s\n", loadAverage())
	return err
}

// bboltParts runs parts 1 to 3, each serve over a bbolt file; only part 1
// with -peer-only.
func (lt *loadTest) bboltParts(ctx context.Context) error {
	// Parts 1 and 2 share a serve over the database that part 3 fills up
	// to -bins; the second serve of part 3 holds one bin.
	many, one := filepath.Join(lt.dir, "x.db"), filepath.Join(lt.dir, "one.db")
	srv, acct, err := lt.startServe("serve", dbFlags(many), true)
	if err != nil {
		return err
	}
	lt.account = acct
	err = lt.againstPeer(ctx, srv)
	if err == nil && !lt.cfg.peerOnly {
		err = lt.creates(ctx, srv)
	}
	if cerr := lt.closeServe(srv); err == nil {
		err = cerr
	}
	lt.printf("\n")
	if err != nil || lt.cfg.peerOnly {
		return err
	}
	if err := lt.fill(many, one); err != nil {
		return err
	}
	return lt.manyBins(ctx, many, one)
}

// startServe starts the twimlbin binary serving the store of storeFlags
// (dbFlags, etcdServeFlags), its log in a file of its own.
func (lt *loadTest) startServe(name string, storeFlags []string, firstAccount bool) (*server, serveAccount, error) {
	lt.serves++
	log := filepath.Join(lt.dir, fmt.Sprintf("serve-%d.log", lt.serves))
	return startServe(name, lt.twimlbin, storeFlags, log, firstAccount)
}

// newAccount creates an account in the database at path.
func (lt *loadTest) newAccount(path string) (sid string, err error) {
	db, err := store.Open(path, store.Options{})
	if err != nil {
		return "", err
	}
	acct, _, err := db.CreateAccount("loadtest")
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return acct.SID, err
}

// againstPeer stores the contextual-calling bin through serve's API and
// times its URL against the peer, with this tool's client and with wrk.
func (lt *loadTest) againstPeer(ctx context.Context, srv *server) error {
	sid, err := lt.createOneBin(srv, lt.account)
	if err != nil {
		return err
	}
	lt.sids = []string{sid}
	peer, err := startPeer(lt.peerExe, lt.peerBody, lt.cfg.peerWork)
	if err != nil {
		return err
	}
	defer func() {
		if err := peer.close(); err != nil {
			lt.printf("  %v\n", err)
			lt.failed = true
		}
	}()
	if err := lt.sameAnswers(peer.addr, srv.addr, sid); err != nil {
		return fmt.Errorf("before timing: %w", err)
	}

	work := ""
	if lt.cfg.peerWork > 0 {
		work = fmt.Sprintf(", keeping the processor busy for %s on each request (-peer-work)", lt.cfg.peerWork)
	}
	lt.printf("1. The contextual-calling bin on serve against the peer (bare Echo, no middleware, same bytes%s)\n", work)
	lt.printf("a. This tool's client: %d keep-alive connections, %d alternating runs of %s per side\n",
		lt.cfg.clients, lt.cfg.rounds, lt.cfg.duration)
	peerWorker, binWorker := lt.fixed(peer.addr, "/twiml/"+sid), lt.fixed(srv.addr, "/twiml/"+sid)
	names := [2]string{"peer", "bin URL"}
	runs := lt.alternate(ctx, [2]string{peer.addr, srv.addr}, names, [2]func(int) loadWorker{every(peerWorker), every(binWorker)})
	peerTotal, binTotal := merge(runs[0]), merge(runs[1])
	lt.printf("  %s\n  %s\n", lt.line("peer, all", peerTotal), lt.line("bin URL, all", binTotal))
	lt.reportPair("peer", binTotal.rate()/peerTotal.rate(), [2][]float64{rates(runs[0]), rates(runs[1])},
		binTotal.percentile(99)-peerTotal.percentile(99), "of all runs")
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return lt.wrkAgainstPeer(ctx, peer.addr, srv.addr, sid)
}

// reportPair prints how the bin URL compares with the other side: the
// ratio of the rates over all runs and as the median of the rounds, and
// the difference of p99 latencies, each against its target.
func (lt *loadTest) reportPair(other string, total float64, rounds [2][]float64, p99Diff time.Duration, p99Of string) {
	median, desc := roundRatios(rounds)
	lt.printf("  bin URL / %s: %.3f over all runs, %s (target ≥ %.2f: %s)\n",
		other, total, desc, targetPeerRatio, verdict(min(total, median) >= targetPeerRatio))
	lt.printf("  bin URL p99 - %s p99 (%s): %+.2fms (target ≤ %s: %s)\n\n",
		other, p99Of, float64(p99Diff)/float64(time.Millisecond), targetP99Diff, verdict(p99Diff <= targetP99Diff))
}

// wrkAgainstPeer times the bin URL against the peer with wrk, in
// alternating runs; none warms up, as this tool's own runs just did.
func (lt *loadTest) wrkAgainstPeer(ctx context.Context, peerAddr, binAddr, sid string) error {
	if lt.wrkPath == "" {
		lt.printf("b. wrk: skipped, not found (%s)\n\n", lt.wrkNote)
		return nil
	}
	script, err := lt.writeWrkScript(sid)
	if err != nil {
		return err
	}
	lt.printf("b. wrk (%s): -t%d -c%d -d%s --latency, %d alternating runs per side, POST as above (wrk checks no bodies: errors are non-2xx answers and socket errors)\n",
		lt.wrkPath, lt.cfg.wrkThreads, lt.cfg.wrkConnections, lt.cfg.wrkDuration, lt.cfg.rounds)
	addrs, names := [2]string{peerAddr, binAddr}, [2]string{"peer", "bin URL"}
	var runs [2][]wrkResult
	for round := range lt.cfg.rounds {
		for k := range 2 {
			which := (round + k) % 2
			r, err := lt.runWrk(ctx, addrs[which], script)
			if err != nil {
				return err
			}
			if r.errors() > 0 {
				lt.failed = true
			}
			lt.printf("  %s\n", wrkLine(fmt.Sprintf("wrk round %d, %s", round+1, names[which]), r))
			runs[which] = append(runs[which], r)
		}
	}
	var totals [2]wrkResult
	var rounds [2][]float64
	var p99Diffs []time.Duration
	for k := range 2 {
		for i, r := range runs[k] {
			totals[k].requests += r.requests
			totals[k].elapsed += r.elapsed
			totals[k].non2xx += r.non2xx
			totals[k].socket += r.socket
			rounds[k] = append(rounds[k], r.rate)
			if k == 1 {
				p99Diffs = append(p99Diffs, r.p99-runs[0][i].p99)
			}
		}
	}
	rate := func(r wrkResult) float64 { return float64(r.requests) / r.elapsed.Seconds() }
	for k := range 2 {
		lt.printf("  %-31s %8.0f req/s  %7d requests  %d non-2xx, %d socket errors\n",
			names[k]+", all:", rate(totals[k]), totals[k].requests, totals[k].non2xx, totals[k].socket)
	}
	slices.Sort(p99Diffs)
	lt.reportPair("peer", rate(totals[1])/rate(totals[0]), rounds, p99Diffs[len(p99Diffs)/2], "median of the rounds")
	return ctx.Err()
}

func wrkLine(label string, r wrkResult) string {
	return fmt.Sprintf("%-31s %8.0f req/s  p50 %7s  p99 %7s  %7d requests  %d non-2xx, %d socket errors",
		label+":", r.rate, fmtLatency(r.p50), fmtLatency(r.p99), r.requests, r.non2xx, r.socket)
}

// sameAnswers checks that the peer and the bin URL answer Twilio's
// request alike: status 200, the golden body, and the same headers but
// for Date and the request ID, which the peer must not send.
func (lt *loadTest) sameAnswers(peerAddr, binAddr, sid string) error {
	var headers [2]http.Header
	client := &http.Client{Timeout: requestTimeout}
	for k, addr := range []string{peerAddr, binAddr} {
		req, err := http.NewRequest("POST", "http://"+addr+"/twiml/"+sid+"?"+lt.query, strings.NewReader(lt.form))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			err = lt.checkGolden(resp.StatusCode, body)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", []string{"the peer", "the bin URL"}[k], err)
		}
		headers[k] = resp.Header
	}
	if id := headers[0].Get("X-Request-Id"); id != "" {
		return fmt.Errorf("the peer sends a request ID, %q", id)
	}
	if headers[1].Get("X-Request-Id") == "" {
		return errors.New("the bin URL sends no request ID: is serve running with its middleware?")
	}
	for _, h := range headers {
		h.Del("Date")
		h.Del("X-Request-Id")
	}
	if !equalHeaders(headers[0], headers[1]) {
		return fmt.Errorf("the peer's headers %v differ from the bin URL's %v: make the peer (peer.go) answer as api/twiml.go does", headers[0], headers[1])
	}
	return nil
}

func equalHeaders(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// creates times POST /api/v1/bins from several clients.
func (lt *loadTest) creates(ctx context.Context, srv *server) error {
	total, sids := lt.timeCreates(ctx, srv, lt.account)
	lt.sids = append(lt.sids, sids...)
	lt.printf("2. Creates through the API: POST /api/v1/bins, %d clients, fsync on\n  %s\n",
		lt.cfg.createClients, lt.line("creates", total))
	lt.count(total)
	return nil
}

// timeCreates creates contextual-calling bins through the API of srv as
// acct, from -create-clients clients for -create-duration, and returns
// the run and the bins created.
func (lt *loadTest) timeCreates(ctx context.Context, srv *server, acct serveAccount) (loadResult, []string) {
	ctx, cancel := context.WithTimeout(ctx, lt.cfg.createDuration)
	defer cancel()
	transport := &http.Transport{MaxIdleConnsPerHost: lt.cfg.createClients}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: requestTimeout}
	var mu sync.Mutex
	var results []loadResult
	var created []string
	var wg sync.WaitGroup
	start := time.Now()
	for range lt.cfg.createClients {
		wg.Go(func() {
			var res loadResult
			var sids []string
			for ctx.Err() == nil {
				t := time.Now()
				sid, status, err := lt.createBin(client, srv.addr, acct)
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
			created = append(created, sids...)
		})
	}
	wg.Wait()
	total := merge(results)
	total.elapsed = time.Since(start)
	return total, created
}

// fill stores bins through the store, without fsync, in the database at
// many up to cfg.bins, and makes the database at one hold only the
// contextual-calling bin. serve is not running on either.
func (lt *loadTest) fill(many, one string) error {
	db, err := store.Open(many, store.Options{NoSync: true})
	if err != nil {
		return err
	}
	start := time.Now()
	sids, err := lt.fillBins(db, []string{lt.account.sid}, lt.cfg.bins-len(lt.sids))
	if err != nil {
		db.Close()
		return err
	}
	lt.sids = append(lt.sids, sids...)
	elapsed := time.Since(start)
	size := db.Stats().FileSize
	if err := db.Close(); err != nil {
		return err
	}
	lt.printf("3. %d bins: %d stored through the store (one transaction each, no fsync) in %s; %.0f MiB of data\n",
		len(lt.sids), len(sids), elapsed.Round(time.Millisecond), float64(size)/(1<<20))

	oneAccount, err := lt.newAccount(one)
	if err != nil {
		return err
	}
	if db, err = store.Open(one, store.Options{}); err != nil {
		return err
	}
	b, err := db.CreateBin(oneAccount, lt.binInput())
	lt.oneSID = b.SID
	return errors.Join(err, db.Close())
}

// binInput is the contextual-calling bin, as stored.
func (lt *loadTest) binInput() store.BinInput {
	return store.BinInput{FriendlyName: "loadtest", Template: lt.entry.Template, RenderPolicy: "strict"}
}

// fillBins creates n contextual-calling bins through st, one writer per
// account of accounts taking the next bin until n are made, and returns
// their SIDs. Over etcd, the creates of one account take turns on its
// quota record, so writers of different accounts are what runs at once;
// over bbolt, one transaction commits at a time whatever the writers.
func (lt *loadTest) fillBins(st store.Store, accounts []string, n int) ([]string, error) {
	var next atomic.Int64
	sids := make([][]string, len(accounts))
	errs := make([]error, len(accounts))
	var wg sync.WaitGroup
	for i, acct := range accounts {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				b, err := st.CreateBin(acct, lt.binInput())
				if err != nil {
					errs[i] = err
					return
				}
				sids[i] = append(sids[i], b.SID)
			}
		})
	}
	wg.Wait()
	return slices.Concat(sids...), errors.Join(errs...)
}

// manyBins serves the database at many, requests every bin once, then
// times a random bin per request against the one bin of the database at
// one, served by a second serve, and reports the first one's memory.
func (lt *loadTest) manyBins(ctx context.Context, many, one string) (err error) {
	srvMany, _, err := lt.startServe(fmt.Sprintf("serve with %d bins", len(lt.sids)), dbFlags(many), false)
	if err != nil {
		return err
	}
	defer func() { err = cmp.Or(err, lt.closeServe(srvMany)) }()
	srvOne, _, err := lt.startServe("serve with one bin", dbFlags(one), false)
	if err != nil {
		return err
	}
	defer func() { err = cmp.Or(err, lt.closeServe(srvOne)) }()

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
	runs := lt.alternate(ctx, [2]string{srvOne.addr, srvMany.addr}, names, [2]func(int) loadWorker{random(srvOne.addr, oneSID), random(srvMany.addr, allSIDs)})
	aloneTotal, randomTotal := merge(runs[0]), merge(runs[1])
	lt.printf("  %s\n  %s\n", lt.line(names[0]+", all", aloneTotal), lt.line(names[1]+", all", randomTotal))
	median, desc := roundRatios([2][]float64{rates(runs[0]), rates(runs[1])})
	ratio := randomTotal.rate() / aloneTotal.rate()
	lt.printf("  random of %d / one bin stored: %.3f over all runs, %s (must not fall; ≥ %.2f allows for noise: %s)\n",
		len(lt.sids), ratio, desc, targetManyBinsMin, verdict(min(ratio, median) >= targetManyBinsMin))

	mem, err := srvMany.memory()
	if err != nil {
		return err
	}
	lt.printf("  memory of the serve with %d bins, after the runs (no GC forced): %s\n", len(lt.sids), mem)
	return ctx.Err()
}

// alternate times two kinds of worker, each made per connection, against
// the servers at addrs, in alternating runs, starting with each in turn
// so that a drift of the machine's speed touches both alike, and returns
// the runs of each. Nothing is flushed between runs: serve writes its
// usage counters every second on its own, inside the runs.
func (lt *loadTest) alternate(ctx context.Context, addrs [2]string, names [2]string, workers [2]func(int) loadWorker) [2][]loadResult {
	var runs [2][]loadResult
	// A run of each, untimed, so that connections, caches and the heap's
	// size are settled.
	for k := range 2 {
		lt.count(runLoad(ctx, addrs[k], lt.cfg.clients, lt.cfg.duration, workers[k]))
	}
	for round := range lt.cfg.rounds {
		for k := range 2 {
			which := (round + k) % 2
			r := runLoad(ctx, addrs[which], lt.cfg.clients, lt.cfg.duration, workers[which])
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

// rates are the request rates of runs.
func rates(runs []loadResult) []float64 {
	rs := make([]float64, len(runs))
	for i, r := range runs {
		rs[i] = r.rate()
	}
	return rs
}

// roundRatios compares the second side's rates to the first's, round by
// round: the median of the rounds' ratios, which a burst of load from
// elsewhere on the machine moves less than the ratio over all runs, also
// described with their range.
func roundRatios(rounds [2][]float64) (median float64, desc string) {
	var rs []float64
	for i := range min(len(rounds[0]), len(rounds[1])) {
		if a := rounds[0][i]; a > 0 {
			rs = append(rs, rounds[1][i]/a)
		}
	}
	if len(rs) == 0 {
		return 0, "no complete round"
	}
	slices.Sort(rs)
	mid := len(rs) / 2
	median = rs[mid]
	if len(rs)%2 == 0 {
		median = (rs[mid-1] + rs[mid]) / 2
	}
	return median, fmt.Sprintf("median of the rounds %.3f (%.3f to %.3f)", median, rs[0], rs[len(rs)-1])
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

// createBin creates a contextual-calling bin through the API as acct.
func (lt *loadTest) createBin(client *http.Client, addr string, acct serveAccount) (sid string, status int, err error) {
	return postBin(client, addr, acct, "", map[string]string{"friendly_name": "loadtest", "template": lt.entry.Template, "render_policy": "strict"})
}

// createOneBin creates a contextual-calling bin through srv's API as acct,
// failing unless it is created.
func (lt *loadTest) createOneBin(srv *server, acct serveAccount) (string, error) {
	sid, status, err := lt.createBin(srv.client, srv.addr, acct)
	if err != nil || status != http.StatusCreated {
		return "", fmt.Errorf("creating the bin through the API of %s: status %d, %v", srv.name, status, err)
	}
	return sid, nil
}

// postBin posts fields to /api/v1/bins as acct, creating a bin, or with
// sid to /api/v1/bins/{sid}, updating that bin, and returns the bin's SID
// from the answer and its status.
func postBin(client *http.Client, addr string, acct serveAccount, sid string, fields map[string]string) (string, int, error) {
	body, _ := json.Marshal(fields)
	url := "http://" + addr + "/api/v1/bins"
	if sid != "" {
		url += "/" + sid
	}
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		return "", 0, err
	}
	req.SetBasicAuth(acct.sid, acct.token)
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
