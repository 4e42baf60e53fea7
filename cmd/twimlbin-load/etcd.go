package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twimlbin/twimlbin/internal/etcdtest"
	"github.com/twimlbin/twimlbin/store"
	"github.com/twimlbin/twimlbin/store/etcdstore"
)

// Part 4 measures the etcd backend beside the bbolt file, on the same
// machine in the same run, over a cluster of etcdMembers members on
// loopback (internal/etcdtest): the bin URL's throughput, creates through
// the API, the memory of a node holding -bins bins with etcd's data size,
// and how soon an update made through one node is served by the others.

// The targets of part 4.
const (
	targetEtcdRatio  = 0.95                   // bin URL req/s over etcd, over bbolt's
	targetVisibleP99 = 100 * time.Millisecond // update answered on one node → served by another
)

const (
	// etcdMembers is the size of the cluster, and the number of serve
	// processes of part d.
	etcdMembers = 3
	// fillWriters is how many accounts part c spreads the bins it stores
	// over, with a writer each.
	fillWriters = 256
	// sampleRequests is how many random bins each serve of part c answers
	// before its memory is read.
	sampleRequests = 100
	// pollInterval is how long a poller of part d waits, after an answer
	// without the update, before asking again.
	pollInterval = time.Millisecond
	// visibleWithin bounds the wait for a node to serve an update; past
	// it the run fails.
	visibleWithin = 10 * time.Second
	// etcdOpenTimeout bounds opening the store that fills the cluster:
	// connecting and loading what the prefix holds.
	etcdOpenTimeout = time.Minute
	// etcdCommitWait lets etcd's backend commit what it has applied
	// (every 100 ms by default) before its data size is read.
	etcdCommitWait = 300 * time.Millisecond
)

// The key prefixes of part 4: parts a to c share one, as parts 1 to 3
// share a database; the nodes of part d have one of their own, so that
// each loads one bin, not -bins.
const (
	etcdPrefix      = "/twimlbin-load/"
	etcdNodesPrefix = "/twimlbin-load-nodes/"
)

// backend is one side of parts a to c: a serve over bbolt or over etcd,
// its account, and every bin stored in it.
type backend struct {
	name  string   // "bbolt" or "etcd"
	flags []string // serve's flags naming the store
	srv   *server  // nil while it is stopped
	acct  serveAccount
	sids  []string
}

// findEtcd finds the etcd server binary and its version, or says why
// there is none.
func (lt *loadTest) findEtcd() {
	bin, err := etcdtest.Binary()
	if err == nil {
		lt.etcdPath, err = exec.LookPath(bin)
	}
	if err != nil {
		lt.etcdNote = err.Error()
		return
	}
	lt.etcdVersion = "etcd (version unknown)"
	if out, err := exec.Command(lt.etcdPath, "--version").Output(); err == nil {
		first, _, _ := strings.Cut(string(out), "\n")
		if v, ok := strings.CutPrefix(first, "etcd Version: "); ok {
			lt.etcdVersion = "etcd " + strings.TrimSpace(v)
		}
	}
}

// etcdBackend runs part 4 over a cluster it starts and stops.
func (lt *loadTest) etcdBackend(ctx context.Context) (err error) {
	if lt.etcdPath == "" {
		lt.printf("4. The etcd backend: skipped, no etcd server (%s)\n", lt.etcdNote)
		return nil
	}
	dir := filepath.Join(lt.dir, "etcd")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	cluster, err := etcdtest.StartCluster(dir, etcdMembers)
	if err != nil {
		return fmt.Errorf("starting an etcd cluster of %d members: %w", etcdMembers, err)
	}
	defer cluster.Close()
	lt.printf("4. The etcd backend against the bbolt file: %s (%s), a cluster of %d members on loopback;\n"+
		"   serve with default flags but --etcd-endpoints URLS --etcd-prefix P, or --db DB\n",
		lt.etcdVersion, lt.etcdPath, etcdMembers)

	sides := [2]*backend{
		{name: "bbolt", flags: dbFlags(filepath.Join(lt.dir, "bbolt.db"))},
		{name: "etcd", flags: etcdServeFlags(cluster.Endpoints, etcdPrefix)},
	}
	defer func() {
		for _, b := range sides {
			if b.srv != nil {
				if cerr := lt.closeServe(b.srv); err == nil {
					err = cerr
				}
			}
		}
	}()
	for _, b := range sides {
		if b.srv, b.acct, err = lt.startServe("serve over "+b.name, b.flags, true); err != nil {
			return err
		}
	}
	if err := lt.etcdThroughput(ctx, sides); err != nil {
		return err
	}
	lt.etcdCreates(ctx, sides)
	if err := lt.etcdManyBins(ctx, cluster, sides); err != nil {
		return err
	}
	return lt.etcdVisibility(ctx, cluster)
}

// etcdThroughput times the contextual-calling bin's URL on the serve over
// etcd against the serve over bbolt, in alternating runs, as part 1a
// times it against the peer.
func (lt *loadTest) etcdThroughput(ctx context.Context, sides [2]*backend) error {
	var addrs, names [2]string
	var workers [2]func(int) loadWorker
	for k, b := range sides {
		sid, err := lt.createOneBin(b.srv, b.acct)
		if err != nil {
			return err
		}
		b.sids = append(b.sids, sid)
		addrs[k], names[k] = b.srv.addr, b.name
		workers[k] = every(lt.fixed(b.srv.addr, "/twiml/"+sid))
	}
	lt.printf("a. The contextual-calling bin's URL over each, this tool's client: %d keep-alive connections, %d alternating runs of %s per side\n",
		lt.cfg.clients, lt.cfg.rounds, lt.cfg.duration)
	runs := lt.alternate(ctx, addrs, names, workers)
	totals := [2]loadResult{merge(runs[0]), merge(runs[1])}
	lt.printf("  %s\n  %s\n", lt.line("bbolt, all", totals[0]), lt.line("etcd, all", totals[1]))
	median, desc := roundRatios([2][]float64{rates(runs[0]), rates(runs[1])})
	ratio := totals[1].rate() / totals[0].rate()
	lt.printf("  etcd / bbolt: %.3f over all runs, %s (target ≥ %.2f: %s)\n",
		ratio, desc, targetEtcdRatio, verdict(min(ratio, median) >= targetEtcdRatio))
	return ctx.Err()
}

// etcdCreates times creates through the API of each serve, as part 2
// does.
func (lt *loadTest) etcdCreates(ctx context.Context, sides [2]*backend) {
	lt.printf("b. Creates through the API: POST /api/v1/bins, %d clients of one account, %s per side (bbolt: fsync on; etcd: each committed by a quorum of members,\n"+
		"   each fsyncing, the creates of the account taking turns on its quota record)\n",
		lt.cfg.createClients, lt.cfg.createDuration)
	var totals [2]loadResult
	for k, b := range sides {
		total, sids := lt.timeCreates(ctx, b.srv, b.acct)
		b.sids = append(b.sids, sids...)
		lt.printf("  %s\n", lt.line("creates, "+b.name, total))
		lt.count(total)
		totals[k] = total
	}
	lt.printf("  etcd / bbolt: %.3f\n", totals[1].rate()/totals[0].rate())
}

// etcdManyBins stops both serves, stores bins through the store on each
// side up to -bins, reporting etcd's data size per bin, then starts both
// serves again and reports their memory once they have loaded and
// answered a few requests, and stops them.
func (lt *loadTest) etcdManyBins(ctx context.Context, cluster *etcdtest.Cluster, sides [2]*backend) (err error) {
	for _, b := range sides {
		err := lt.closeServe(b.srv)
		b.srv = nil
		if err != nil {
			return err
		}
	}
	want := max(lt.cfg.bins, len(sides[0].sids), len(sides[1].sids))
	lt.printf("c. %d bins on each side: those of a and b, the rest stored through the store, spread over %d more accounts with a writer each\n",
		want, fillWriters)

	boltSide, etcdSide := sides[0], sides[1]
	n := want - len(etcdSide.sids)
	sids, elapsed, growth, err := lt.fillEtcd(cluster.Endpoints, n)
	if err != nil {
		return fmt.Errorf("storing bins in etcd: %w", err)
	}
	etcdSide.sids = append(etcdSide.sids, sids...)
	lt.printf("  etcd:  %6d bins in %s (%.0f bins/s): etcdstore.Open under serve's prefix, then CreateBin (two requests each, the second committed by a quorum)\n",
		n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds())
	lt.printf("  etcd's data over them: %s\n", growth)

	n = want - len(boltSide.sids)
	sids, elapsed, size, err := lt.fillBolt(filepath.Join(lt.dir, "bbolt.db"), n)
	if err != nil {
		return fmt.Errorf("storing bins in the bbolt file: %w", err)
	}
	boltSide.sids = append(boltSide.sids, sids...)
	lt.printf("  bbolt: %6d bins in %s (%.0f bins/s): store.Open, then CreateBin (one transaction each, no fsync); %.0f MiB of data\n",
		n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), float64(size)/(1<<20))

	var rss, anon [2]int64
	for k, b := range sides {
		start := time.Now()
		if b.srv, _, err = lt.startServe(fmt.Sprintf("serve over %s with %d bins", b.name, len(b.sids)), b.flags, false); err != nil {
			return err
		}
		loaded := time.Since(start)
		r := lt.requestRandomBins(ctx, b.srv.addr, b.sids, sampleRequests)
		lt.count(r)
		mem, err := b.srv.memory()
		if err != nil {
			return err
		}
		rss[k], anon[k] = residentKiB(b.srv.cmd.Process.Pid)
		lt.printf("  serve over %-5s listening %s after starting; after %d requests of random bins (%d errors): %s\n",
			b.name+":", loaded.Round(time.Millisecond), r.requests+r.errors, r.errors, mem)
	}
	lt.printf("  (a node over etcd loads every bin into memory before it listens; serve over bbolt maps its file, whose pages read are resident as file)\n")
	compare := func(what string, kib [2]int64) string {
		if kib[0] <= 0 || kib[1] <= 0 {
			return what + " unknown"
		}
		return fmt.Sprintf("%s %.2f (%+.0f MiB, %+.0f bytes per bin)", what,
			float64(kib[1])/float64(kib[0]), float64(kib[1]-kib[0])/1024, float64(kib[1]-kib[0])*1024/float64(want))
	}
	lt.printf("  etcd / bbolt: %s; %s\n", compare("resident", rss), compare("anonymous", anon))
	for _, b := range sides {
		err := lt.closeServe(b.srv)
		b.srv = nil
		if err != nil {
			return err
		}
	}
	return ctx.Err()
}

// fillEtcd stores n bins under the prefix of parts a to c through the
// store, opened as serve opens it, spread over fillWriters new accounts
// (fillBins). It returns them, how long they took, and how etcd's data
// grew for them.
func (lt *loadTest) fillEtcd(endpoints []string, n int) (sids []string, elapsed time.Duration, growth string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), etcdOpenTimeout)
	defer cancel()
	st, err := etcdstore.Open(ctx, etcdstore.Config{
		Endpoints: endpoints,
		Prefix:    etcdPrefix,
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return nil, 0, "", err
	}
	defer func() { err = errors.Join(err, st.Close()) }()
	accounts, err := createAccounts(st, fillWriters)
	if err != nil {
		return nil, 0, "", err
	}
	time.Sleep(etcdCommitWait)
	before, err := readEtcdData(endpoints)
	if err != nil {
		return nil, 0, "", err
	}
	start := time.Now()
	if sids, err = lt.fillBins(st, accounts, n); err != nil {
		return nil, 0, "", err
	}
	elapsed = time.Since(start)
	time.Sleep(etcdCommitWait)
	after, err := readEtcdData(endpoints)
	if err != nil {
		return nil, 0, "", err
	}
	return sids, elapsed, before.growth(after, n, "bin"), nil
}

// fillBolt stores n bins in the database file at path through the store,
// without fsync, spread over fillWriters new accounts (fillBins), and
// returns them, how long they took, and the file's size.
func (lt *loadTest) fillBolt(path string, n int) (sids []string, elapsed time.Duration, size int64, err error) {
	db, err := store.Open(path, store.Options{NoSync: true})
	if err != nil {
		return nil, 0, 0, err
	}
	defer func() { err = errors.Join(err, db.Close()) }()
	accounts, err := createAccounts(db, fillWriters)
	if err != nil {
		return nil, 0, 0, err
	}
	start := time.Now()
	if sids, err = lt.fillBins(db, accounts, n); err != nil {
		return nil, 0, 0, err
	}
	return sids, time.Since(start), db.Stats().FileSize, nil
}

// createAccounts creates n accounts in st and returns their SIDs.
func createAccounts(st store.Store, n int) ([]string, error) {
	sids := make([]string, n)
	for i := range sids {
		acct, _, err := st.CreateAccount(fmt.Sprintf("loadtest %d", i+1))
		if err != nil {
			return nil, err
		}
		sids[i] = acct.SID
	}
	return sids, nil
}

// requestRandomBins requests n bins of sids at random from the serve at
// addr, each answered with the golden output.
func (lt *loadTest) requestRandomBins(ctx context.Context, addr string, sids []string, n int) loadResult {
	packed := packSIDs(sids)
	var left atomic.Int64
	left.Store(int64(n))
	return runLoad(ctx, addr, lt.cfg.clients, 0, func(i int) loadWorker {
		w := lt.randomBin(addr, packed, rand.New(rand.NewPCG(uint64(i), 2)))
		request := w.request
		w.request = func(buf []byte) []byte {
			if left.Add(-1) < 0 {
				return nil
			}
			return request(buf)
		}
		return w
	})
}

// etcdVisibility starts etcdMembers serve processes over the cluster,
// under a prefix of their own, and updates one bin through the API of
// each in turn, timing how soon the others serve each update.
func (lt *loadTest) etcdVisibility(ctx context.Context, cluster *etcdtest.Cluster) (err error) {
	flags := etcdServeFlags(cluster.Endpoints, etcdNodesPrefix)
	var nodes []*server
	defer func() {
		for _, n := range nodes {
			if cerr := lt.closeServe(n); err == nil {
				err = cerr
			}
		}
	}()
	var acct serveAccount
	for i := range etcdMembers {
		srv, a, err := lt.startServe(fmt.Sprintf("node %c", 'A'+i), flags, i == 0)
		if err != nil {
			return err
		}
		nodes = append(nodes, srv)
		if i == 0 {
			acct = a
		}
	}
	updates := lt.cfg.etcdUpdates
	lt.printf("d. Cross-node visibility: %d serve processes over the cluster (under a prefix of their own, holding one bin); %d updates of the bin through the API,\n"+
		"   on each node in turn, each followed by polling the bin URL of the %d others (GET; one poller per node, asking again %s after an answer without the update)\n"+
		"   until each serves the update's marker\n",
		len(nodes), updates, len(nodes)-1, pollInterval)

	marker := func(i int) string { return fmt.Sprintf("<Say>update %d</Say>", i) }
	template := func(i int) map[string]string {
		return map[string]string{"template": "<Response>" + marker(i) + "</Response>"}
	}
	fields := template(0)
	fields["friendly_name"] = "loadtest visibility"
	sid, status, err := postBin(nodes[0].client, nodes[0].addr, acct, "", fields)
	if err != nil || status != http.StatusCreated {
		return fmt.Errorf("creating the bin through the API of %s: status %d, %v", nodes[0].name, status, err)
	}
	pollers := make([]*poller, len(nodes))
	for i, n := range nodes {
		pollers[i] = newPoller(n, sid)
		defer pollers[i].conn.close()
		if _, err := pollers[i].until(ctx, marker(0), time.Now()); err != nil {
			return err
		}
	}

	before, err := readEtcdData(cluster.Endpoints)
	if err != nil {
		return err
	}
	var answered, visible []time.Duration
	start := time.Now()
	for i := 1; i <= updates && ctx.Err() == nil; i++ {
		a := nodes[i%len(nodes)]
		t := time.Now()
		_, status, err := postBin(a.client, a.addr, acct, sid, template(i))
		ack := time.Now()
		if err != nil || status != http.StatusOK {
			return fmt.Errorf("update %d through the API of %s: status %d, %v", i, a.name, status, err)
		}
		answered = append(answered, ack.Sub(t))
		var wg sync.WaitGroup
		seen := make([]time.Duration, len(nodes))
		errs := make([]error, len(nodes))
		for j, p := range pollers {
			if nodes[j] != a {
				wg.Go(func() { seen[j], errs[j] = p.until(ctx, marker(i), ack) })
			}
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("update %d, answered by %s: %w", i, a.name, err)
		}
		for j := range nodes {
			if nodes[j] != a {
				visible = append(visible, seen[j])
			}
		}
	}
	elapsed := time.Since(start)
	time.Sleep(etcdCommitWait)
	after, err := readEtcdData(cluster.Endpoints)
	if err != nil {
		return err
	}

	ans, vis := merge([]loadResult{{latencies: answered}}), merge([]loadResult{{latencies: visible}})
	lt.printf("  updates answered by A:        %s  (%d in %s)\n", spread(ans), len(answered), elapsed.Round(time.Millisecond))
	lt.printf("  answered on A → served by B:  %s  over %d (update, other node) pairs (target p99 ≤ %s: %s)\n",
		spread(vis), len(visible), targetVisibleP99, verdict(vis.percentile(99) <= targetVisibleP99))
	lt.printf("  (from the update's answer on A to B's first answer with it: each figure includes up to the %s between polls, and a poll's round trip)\n", pollInterval)
	lt.printf("  etcd's data over the updates: %s\n", before.growth(after, len(answered), "update (a revision of the bin)"))
	lt.printf("  (with the request counts the nodes flushed for the polls, every second)\n")
	return ctx.Err()
}

// spread is the p50, p99 and max of r's latencies.
func spread(r loadResult) string {
	var max time.Duration
	if len(r.latencies) > 0 {
		max = r.latencies[len(r.latencies)-1]
	}
	return fmt.Sprintf("p50 %7s  p99 %7s  max %7s", fmtLatency(r.percentile(50)), fmtLatency(r.percentile(99)), fmtLatency(max))
}

// poller asks one node for a bin's URL over a keep-alive connection of
// its own.
type poller struct {
	node *server
	conn *loadConn
	req  []byte
}

func newPoller(node *server, sid string) *poller {
	req := "GET /twiml/" + sid + " HTTP/1.1\r\nHost: " + node.addr + "\r\nUser-Agent: TwilioProxy/1.1\r\n\r\n"
	return &poller{node: node, conn: &loadConn{addr: node.addr}, req: []byte(req)}
}

// until asks for the bin until an answer holds want, and returns the
// time from since to that answer. An answer other than 200, a failed
// request, or no answer with want within visibleWithin of since is an
// error.
func (p *poller) until(ctx context.Context, want string, since time.Time) (time.Duration, error) {
	for {
		status, body, err := p.conn.roundTrip(p.req)
		at := time.Now()
		switch {
		case err != nil:
			return 0, fmt.Errorf("%s: %w", p.node.name, err)
		case status != http.StatusOK:
			return 0, fmt.Errorf("%s answers the bin URL %d %.200q", p.node.name, status, body)
		case bytes.Contains(body, []byte(want)):
			return at.Sub(since), nil
		case at.Sub(since) > visibleWithin:
			return 0, fmt.Errorf("%s does not serve %s after %s: it serves %.200q", p.node.name, want, visibleWithin, body)
		case ctx.Err() != nil:
			return 0, ctx.Err()
		}
		time.Sleep(pollInterval)
	}
}

// etcdData is what a cluster's members say of their data on /metrics.
type etcdData struct {
	size, inUse float64 // bytes of the members' databases, total and in use: the mean of the members
	revision    float64 // the cluster's revision: the highest a member has applied
}

// readEtcdData reads the data size and revision of every member.
func readEtcdData(endpoints []string) (etcdData, error) {
	client := &http.Client{Timeout: requestTimeout}
	var d etcdData
	for _, ep := range endpoints {
		resp, err := client.Get(ep + "/metrics")
		if err != nil {
			return d, fmt.Errorf("etcd's metrics: %w", err)
		}
		m, err := parseMetrics(resp.Body)
		resp.Body.Close()
		if err != nil {
			return d, fmt.Errorf("etcd at %s: %w", ep, err)
		}
		var v [3]float64
		for i, name := range []string{"etcd_mvcc_db_total_size_in_bytes", "etcd_mvcc_db_total_size_in_use_in_bytes", "etcd_debugging_mvcc_current_revision"} {
			var ok bool
			if v[i], ok = m[name]; !ok {
				return d, fmt.Errorf("etcd at %s: its /metrics has no %s: use etcd 3.4 or later", ep, name)
			}
		}
		n := float64(len(endpoints))
		d.size += v[0] / n
		d.inUse += v[1] / n
		d.revision = max(d.revision, v[2])
	}
	return d, nil
}

// growth describes the data added from d to after, per each of n units.
func (d etcdData) growth(after etcdData, n int, unit string) string {
	const mib = 1 << 20
	s := fmt.Sprintf("database in use %.1f → %.1f MiB (size %.1f → %.1f MiB), the mean of the members' own figures on /metrics; %.0f etcd revisions",
		d.inUse/mib, after.inUse/mib, d.size/mib, after.size/mib, after.revision-d.revision)
	if n > 0 {
		s += fmt.Sprintf(": %.0f bytes in use per %s, %.1f etcd revisions each", (after.inUse-d.inUse)/float64(n), unit, (after.revision-d.revision)/float64(n))
	}
	return s
}
