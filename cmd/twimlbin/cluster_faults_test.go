package main

// Faults of several `twimlbin serve` nodes over one etcd cluster, each
// under load: readers of the bin URL on every node, and writers creating
// and updating bins through the API (crashWriter) on every node.

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The shape of the load of the cluster fault tests, and how long it runs
// before and after a fault.
const (
	clusterReadersPerNode = 1
	clusterWritersPerNode = 2
	clusterLoadBefore     = 2 * time.Second
	clusterLoadAfter      = 3 * time.Second
	clusterEtcdOutage     = 10 * time.Second
	clusterMemberRejoin   = 30 * time.Second // bounds a restarted member's return
)

// TestClusterSurvivesAKilledEtcdMember kills the leader of a three-member
// etcd cluster with SIGKILL under load on three nodes: no request to a bin
// URL fails, writes are acknowledged again after the kill, and no
// acknowledged write is lost. The member is restarted over its data and
// rejoins: a node started over it alone loads every write, and follows
// the writes made after.
func TestClusterSurvivesAKilledEtcdMember(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an etcd cluster and three nodes")
	}
	c := startClusterNodes(t, 3, 3)
	load := startClusterLoad(t, c)
	time.Sleep(clusterLoadBefore)
	leader, err := c.etcd.Leader()
	require.NoError(t, err)
	killed := time.Now()
	c.etcd.Kill(leader)
	load.awaitWrites(t, c)
	time.Sleep(clusterLoadAfter)
	load.awaitWritersAfter(t, killed, 0, 1, 2)
	load.stop()
	f := load.figures(killed)
	load.requireReadsServed(t, 0, 1, 2)
	load.requireWritesAnswered(t, 0, 1, 2)
	load.requireWritesAfter(t, killed, 0, 1, 2)

	require.NoError(t, c.etcd.Restart(leader))
	restarted := time.Now()
	require.NoError(t, c.etcd.WaitHealthy(leader, clusterMemberRejoin))
	healthy := time.Since(restarted)
	// A later --etcd-endpoints wins: this node reaches the member alone.
	c.startNode(t, "--etcd-endpoints", c.etcd.Endpoints[leader])
	over := c.clients[len(c.clients)-1]
	orphans := verifyClusterWrites(t, over, c.clients[:3], load.writers)
	after := c.clients[0].createBin(t, faultTemplate("after the member rejoined", 100))
	eventually(t, "a write after the member rejoined is served through it", func() string {
		return serves(t, over, after.SID, http.StatusOK, "after the member rejoined")
	})

	t.Logf("killed etcd member %d, the leader, after %s of load; healthy again %s after its restart", leader, clusterLoadBefore, healthy.Round(time.Millisecond))
	f.log(t, "the kill", load.writers, orphans)
}

// TestClusterNodesSurviveAKilledNode kills one of three nodes with SIGKILL
// under load: the other two keep serving every bin, with no failed
// request, and keep taking writes; no acknowledged write is lost, those
// made through the killed node included.
func TestClusterNodesSurviveAKilledNode(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an etcd cluster and three nodes")
	}
	c := startClusterNodes(t, 3, 3)
	load := startClusterLoad(t, c)
	time.Sleep(clusterLoadBefore)
	killed := time.Now()
	c.nodes[2].kill()
	time.Sleep(clusterLoadAfter)
	load.awaitWritersAfter(t, killed, 0, 1)
	load.stop()
	f := load.figures(killed)
	load.requireReadsServed(t, 0, 1)
	load.requireWritesAnswered(t, 0, 1)
	load.requireWritesAfter(t, killed, 0, 1)
	for _, r := range load.readersOf(2) {
		require.NotZero(t, r.failed.Load(), "a reader of the killed node was still answered")
	}

	orphans := verifyClusterWrites(t, c.startNode(t).client(c), c.clients[:2], load.writers)
	f.log(t, "the kill", load.writers, orphans)
	unanswered := 0
	for _, w := range load.writersOf(2) {
		unanswered += w.unanswered
	}
	t.Logf("the killed node left %d writes unanswered", unanswered)
}

// TestClusterNodesServeWhileEtcdIsDown stops every member of the etcd
// cluster for clusterEtcdOutage under load. Every node keeps serving
// every bin from memory, with no failed request; every write is answered
// 503 with code 10509, saying it was not saved, within the client's
// timeout; /readyz answers 200 and says the store is unreachable. Once
// the members are back, every node takes writes again without a restart,
// a write made after the outage is served by every node, and no
// acknowledged write is lost.
func TestClusterNodesServeWhileEtcdIsDown(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an etcd cluster and three nodes")
	}
	c := startClusterNodes(t, 3, 3)
	load := startClusterLoad(t, c)
	time.Sleep(clusterLoadBefore)
	down := time.Now()
	for i := range c.etcd.Endpoints {
		c.etcd.Stop(i)
	}
	readsBefore := load.reads()
	for _, node := range c.clients {
		eventually(t, "/readyz says the store is unreachable", func() string {
			return readyzSays(t, node, true)
		})
	}
	time.Sleep(time.Until(down.Add(clusterEtcdOutage)))
	readsDuring := load.reads() - readsBefore

	for i := range c.etcd.Endpoints {
		require.NoError(t, c.etcd.Restart(i))
	}
	up := time.Now()
	for i := range c.etcd.Endpoints {
		require.NoError(t, c.etcd.WaitHealthy(i, clusterMemberRejoin))
	}
	healthy := time.Since(up)
	load.awaitWrites(t, c)
	for _, node := range c.clients {
		eventually(t, "/readyz says the store is reachable", func() string {
			return readyzSays(t, node, false)
		})
	}
	after := c.clients[1].createBin(t, faultTemplate("after the outage", 100))
	for _, node := range c.clients {
		eventually(t, "a write after the outage is served by every node", func() string {
			return serves(t, node, after.SID, http.StatusOK, "after the outage")
		})
	}
	c.clients[2].deleteBin(t, after.SID)
	time.Sleep(clusterLoadAfter)
	load.awaitWritersAfter(t, up, 0, 1, 2)
	load.stop()
	f := load.figures(down)
	load.requireReadsServed(t, 0, 1, 2)
	load.requireWritesAnswered(t, 0, 1, 2)
	load.requireWritesAfter(t, up, 0, 1, 2)
	for node := range c.clients {
		refused := 0
		for _, w := range load.writersOf(node) {
			refused += len(w.refused)
		}
		require.NotZero(t, refused, "no write through node %d was refused while etcd was down", node)
	}

	orphans := verifyClusterWrites(t, c.startNode(t).client(c), c.clients[:3], load.writers)
	t.Logf("etcd down for %s after %s of load: %d bin URL requests answered meanwhile; members healthy %s after their restart",
		clusterEtcdOutage, clusterLoadBefore, readsDuring, healthy.Round(time.Millisecond))
	firstAfter := time.Duration(0)
	for _, w := range load.writers {
		for _, at := range w.acked {
			if at.After(up) && (firstAfter == 0 || at.Sub(up) < firstAfter) {
				firstAfter = at.Sub(up)
			}
		}
	}
	t.Logf("first write acknowledged %s after the members were restarted", firstAfter.Round(time.Millisecond))
	f.log(t, "the stop", load.writers, orphans)
}

// TestClusterCrashKeepsAcknowledgedWrites is TestCrashKeepsAcknowledgedWrites
// over etcd: it kills a node with SIGKILL at random moments while the
// writers write through it, starts it again over the same cluster, and
// checks every acknowledged write, on the new node and on a node that ran
// throughout. It runs -crash.cycles (or $CRASH_CYCLES) kill cycles, 3 by
// default.
func TestClusterCrashKeepsAcknowledgedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts a node many times")
	}
	n := crashCycleCount(t)
	c := startClusterNodes(t, 3, 1)
	writers, orphans := runCrashCycles(t, n, c.sid, c.token, func() *faultServer { return c.startNode(t) }, func() {})

	last := c.startNode(t)
	verifyCrashWrites(t, last.client(c), writers, orphans)
	requireSameBins(t, last.client(c), c.clients[:1])
	require.NoError(t, last.stop(t), "serve should exit 0 after SIGTERM; stderr:\n%s", last.stderr.String())
	acks, refused, unanswered, committed := 0, 0, 0, 0
	for _, w := range writers {
		acks, refused, unanswered, committed = acks+w.acks(), refused+len(w.refused), unanswered+w.unanswered, committed+w.committed
	}
	t.Logf("%d kill cycles, %d acknowledged writes, 0 lost; %d writes cut off by a kill, %d refused (503, code 10509); of those, %d updates and %d creates were committed",
		n, acks, unanswered, refused, committed, len(orphans))
}

// client returns the client of s among the cluster's.
func (s *faultServer) client(c *clusterNodes) *faultClient {
	return c.clients[slices.Index(c.nodes, s)]
}

// deleteBin deletes a bin through the API and requires a 204.
func (c *faultClient) deleteBin(t *testing.T, sid string) {
	t.Helper()
	resp, err := c.do(t.Context(), http.MethodDelete, "/api/v1/bins/"+sid, nil, 0)
	require.NoError(t, err)
	require.Equal(t, http.StatusNoContent, resp.status, "%s", resp.body)
}

// readyzSays reports "" when the node's /readyz answers 200, ready, with
// store_unreachable set or not as unreachable says.
func readyzSays(t *testing.T, c *faultClient, unreachable bool) string {
	resp, err := c.do(t.Context(), http.MethodGet, "/readyz", nil, 0)
	if err != nil {
		return err.Error()
	}
	var h struct {
		Status           string `json:"status"`
		StoreUnreachable string `json:"store_unreachable"`
	}
	if resp.status != http.StatusOK || json.Unmarshal(resp.body, &h) != nil || h.Status != "ready" || (h.StoreUnreachable != "") != unreachable {
		return fmt.Sprintf("%s/readyz answers %d %s", c.base, resp.status, resp.body)
	}
	return ""
}

// storeUnreachableProblem says what is wrong with resp as the answer to a
// write the store could not take because its etcd cluster could not be
// reached: it must be 503 with code 10509 in the API's error shape, and
// say that the change was not saved. "" when nothing is.
func storeUnreachableProblem(resp faultResponse) string {
	var e apiError
	switch {
	case resp.status != http.StatusServiceUnavailable:
		return fmt.Sprintf("%d %s, want 503", resp.status, resp.body)
	case !strings.HasPrefix(resp.ctype, "application/json") || json.Unmarshal(resp.body, &e) != nil:
		return fmt.Sprintf("503 with %q, want the API's JSON error: %s", resp.ctype, resp.body)
	case e.Status != http.StatusServiceUnavailable || e.Code != 10509 || e.MoreInfo == "":
		return fmt.Sprintf("503 %s, want status 503, code 10509 and more_info in it", resp.body)
	case !strings.Contains(e.Message, "not saved"):
		return fmt.Sprintf("503 %s: the message does not say the change was not saved", resp.body)
	}
	return ""
}

// verifyClusterWrites checks every write of writers on check, a node
// started after the load (so holding what etcd holds), with
// verifyCrashWrites, then that every node of live lists the same bins. It
// returns the bins found whose create got no answer, or a 503.
func verifyClusterWrites(t *testing.T, check *faultClient, live []*faultClient, writers []*crashWriter) map[string]bool {
	t.Helper()
	orphans := map[string]bool{}
	verifyCrashWrites(t, check, writers, orphans)
	requireSameBins(t, check, live)
	return orphans
}

// requireSameBins polls every node of live until it lists the bins want
// lists, each at the same revision with the same template.
func requireSameBins(t *testing.T, want *faultClient, live []*faultClient) {
	t.Helper()
	wanted, err := listStoredBins(t.Context(), want)
	require.NoError(t, err)
	for _, node := range live {
		eventually(t, "every node holds the bins etcd holds", func() string {
			got, err := listStoredBins(t.Context(), node)
			if err != nil {
				return err.Error()
			}
			for sid, w := range wanted {
				if g, ok := got[sid]; !ok || g.Revision != w.Revision || g.Template != w.Template {
					return fmt.Sprintf("%s has bin %s at revision %d (listed: %t), want %d", node.base, sid, g.Revision, ok, w.Revision)
				}
			}
			if len(got) != len(wanted) {
				return fmt.Sprintf("%s lists %d bins, want %d", node.base, len(got), len(wanted))
			}
			return ""
		})
	}
}

// binContents is every content each bin may serve: that of every write
// sent to it, answered or not, since a write without an answer may have
// been saved, and a node serves an older revision until its watch brings
// the newer. Safe for concurrent use.
type binContents struct {
	mu      sync.RWMutex
	sids    []string
	created map[string]binCreated
	sent    map[string]map[[sha256.Size]byte]bool
}

// binCreated says through which node a bin was created, and when.
type binCreated struct {
	node int
	at   time.Time
}

func newBinContents() *binContents {
	return &binContents{created: map[string]binCreated{}, sent: map[string]map[[sha256.Size]byte]bool{}}
}

// add records that tmpl was sent to bin sid through node; the first for
// a bin is its create, acknowledged.
func (b *binContents) add(node int, sid, tmpl string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sent[sid] == nil {
		b.sent[sid] = map[[sha256.Size]byte]bool{}
		b.sids = append(b.sids, sid)
		b.created[sid] = binCreated{node, time.Now()}
	}
	b.sent[sid][sha256.Sum256([]byte(tmpl))] = true
}

// createdBy returns through which node bin sid was created, and when.
func (b *binContents) createdBy(sid string) binCreated {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.created[sid]
}

// pick returns a bin at random.
func (b *binContents) pick(rnd *rand.Rand) string {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.sids[rnd.IntN(len(b.sids))]
}

// holds reports whether body is the content of a write sent to bin sid:
// a template without parameters renders as itself.
func (b *binContents) holds(sid string, body []byte) bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.sent[sid][sha256.Sum256(body)]
}

// clusterReader requests the bin URLs of one node, of bins picked at
// random, and checks every answer: 200, TwiML, and the content of a write
// sent to the bin. A bin created through another node is unknown to this
// one (404) until its watch brings it, which may take as long as etcd is
// unreachable; once served, it must be served from then on (that every
// node comes to serve every bin, requireSameBins checks). It stops at a
// request without an answer: the node is gone.
type clusterReader struct {
	node     int
	rnd      *rand.Rand
	requests atomic.Int64
	failed   atomic.Int64
	mu       sync.Mutex
	first    []string // the first failures
	// unseen counts the 404s for bins created through another node and
	// not yet served by this one, and unseenFor is the longest since its
	// create that one was unknown.
	unseen    int
	unseenFor time.Duration
	served    map[string]bool // bins this node has served; only run touches it
}

func (r *clusterReader) run(ctx context.Context, c *faultClient, contents *binContents) {
	r.served = map[string]bool{}
	for ctx.Err() == nil {
		sid := contents.pick(r.rnd)
		resp, err := c.serveBinURL(context.WithoutCancel(ctx), sid)
		r.requests.Add(1)
		if err == nil && resp.status == http.StatusNotFound && !r.served[sid] {
			if created := contents.createdBy(sid); created.node != r.node {
				r.mu.Lock()
				r.unseen++
				r.unseenFor = max(r.unseenFor, time.Since(created.at))
				r.mu.Unlock()
				continue
			}
		}
		if err == nil && resp.status == http.StatusOK {
			r.served[sid] = true
		}
		switch {
		case err != nil:
			r.fail(err.Error())
			return
		case resp.status != http.StatusOK || resp.ctype != "text/xml; charset=utf-8":
			r.fail(fmt.Sprintf("%s/twiml/%s: %d %q %s", c.base, sid, resp.status, resp.ctype, resp.body))
		case !contents.holds(sid, resp.body):
			r.fail(fmt.Sprintf("%s/twiml/%s: %d bytes that no write sent to it: %.80s", c.base, sid, len(resp.body), resp.body))
		}
	}
}

func (r *clusterReader) fail(msg string) {
	r.failed.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.first) < 5 {
		r.first = append(r.first, msg)
	}
}

// clusterLoad is readers and writers on every node of a cluster, running
// until stop. Writer i writes through node i mod the number of nodes.
type clusterLoad struct {
	nodes    int
	contents *binContents
	readers  []*clusterReader
	writers  []*crashWriter
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	mu             sync.Mutex
	refusedCreates []string // templates of awaitWrites' refused creates
}

// startClusterLoad creates a bin through each writer, for the readers,
// then starts the readers and the writers on every node of c.
func startClusterLoad(t *testing.T, c *clusterNodes) *clusterLoad {
	t.Helper()
	l := &clusterLoad{nodes: len(c.clients), contents: newBinContents()}
	ctx, cancel := context.WithCancel(t.Context())
	l.cancel = cancel
	t.Cleanup(l.stop)
	l.writers = newCrashWriters(l.nodes*clusterWritersPerNode, 1)
	for i, w := range l.writers {
		w.sent = func(sid, tmpl string) { l.contents.add(i%l.nodes, sid, tmpl) }
		w.create(ctx, c.clients[i%l.nodes], faultTemplate(fmt.Sprintf("writer %d first bin", w.id), 100))
		require.Len(t, w.bins, 1, "writer %d could not create its first bin: %v", w.id, w.failures)
	}
	for i := range l.nodes * clusterReadersPerNode {
		l.readers = append(l.readers, &clusterReader{node: i % l.nodes, rnd: rand.New(rand.NewPCG(uint64(i), 2))})
	}
	for _, r := range l.readers {
		l.wg.Go(func() { r.run(ctx, c.clients[r.node], l.contents) })
	}
	for i, w := range l.writers {
		l.wg.Go(func() { w.run(ctx, c.clients[i%l.nodes]) })
	}
	return l
}

// stop stops the load, letting the requests under way end, and waits.
// Then it gives the creates of awaitWrites that were refused, and so may
// have been saved, to a writer, so that verifyCrashWrites takes the bins
// they made for its own.
func (l *clusterLoad) stop() {
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, tmpl := range l.refusedCreates {
		l.writers[0].orphans[tmpl] = true
	}
	l.refusedCreates = nil
}

// awaitWrites waits until every node of c takes a write: a create,
// deleted again once acknowledged, so that every bin left is a writer's.
func (l *clusterLoad) awaitWrites(t *testing.T, c *clusterNodes) {
	t.Helper()
	for _, node := range c.clients {
		tmpl := faultTemplate("awaited write on "+node.base, 100)
		var made faultBin
		eventually(t, "a node takes writes", func() string {
			resp, err := node.do(t.Context(), http.MethodPost, "/api/v1/bins", map[string]string{"template": tmpl}, 0)
			switch {
			case err != nil:
				return err.Error()
			case resp.status != http.StatusCreated:
				l.mu.Lock()
				l.refusedCreates = append(l.refusedCreates, tmpl)
				l.mu.Unlock()
				return fmt.Sprintf("%s answers a create %d %s", node.base, resp.status, resp.body)
			}
			require.NoError(t, json.Unmarshal(resp.body, &made))
			return ""
		})
		node.deleteBin(t, made.SID)
	}
}

// reads returns the number of bin URL requests so far.
func (l *clusterLoad) reads() int64 {
	var n int64
	for _, r := range l.readers {
		n += r.requests.Load()
	}
	return n
}

func (l *clusterLoad) readersOf(nodes ...int) []*clusterReader {
	var out []*clusterReader
	for _, r := range l.readers {
		if slices.Contains(nodes, r.node) {
			out = append(out, r)
		}
	}
	return out
}

func (l *clusterLoad) writersOf(nodes ...int) []*crashWriter {
	var out []*crashWriter
	for i, w := range l.writers {
		if slices.Contains(nodes, i%l.nodes) {
			out = append(out, w)
		}
	}
	return out
}

// requireReadsServed requires every bin URL request to the nodes to have
// been answered as it should.
func (l *clusterLoad) requireReadsServed(t *testing.T, nodes ...int) {
	t.Helper()
	for _, r := range l.readersOf(nodes...) {
		require.NotZero(t, r.requests.Load(), "node %d", r.node)
		require.Zero(t, r.failed.Load(), "failed bin URL requests to node %d; the first: %v", r.node, r.first)
	}
}

// requireWritesAnswered requires every write through the nodes to have
// been answered, and as it should.
func (l *clusterLoad) requireWritesAnswered(t *testing.T, nodes ...int) {
	t.Helper()
	for _, w := range l.writersOf(nodes...) {
		require.Empty(t, w.failures, "writer %d", w.id)
		require.Zero(t, w.unanswered, "writer %d: writes without an answer", w.id)
	}
}

// awaitWritersAfter lets the load run on until the writers through each
// of the nodes have had a write acknowledged after at: on a slow machine,
// a writer may still be waiting out the request timeout of a write the
// fault cut short when the load's time is up. It fails the test after
// visibleWithin.
func (l *clusterLoad) awaitWritersAfter(t *testing.T, at time.Time, nodes ...int) {
	t.Helper()
	for _, node := range nodes {
		eventually(t, fmt.Sprintf("a write through node %d is acknowledged after the fault", node), func() string {
			for _, w := range l.writersOf(node) {
				if w.lastAck.Load() > at.UnixNano() {
					return ""
				}
			}
			return "none yet"
		})
	}
}

// requireWritesAfter requires writes through each of the nodes to have
// been acknowledged after at.
func (l *clusterLoad) requireWritesAfter(t *testing.T, at time.Time, nodes ...int) {
	t.Helper()
	for _, node := range nodes {
		n := 0
		for _, w := range l.writersOf(node) {
			n += len(w.acked) - countBefore(w.acked, at)
		}
		require.NotZero(t, n, "no write through node %d was acknowledged after the fault", node)
	}
}

// countBefore returns how many of times, in order, are before at.
func countBefore(times []time.Time, at time.Time) int {
	n, _ := slices.BinarySearchFunc(times, at, func(a, b time.Time) int { return a.Compare(b) })
	return n
}

// loadFigures is what a load did, around a fault at a moment.
type loadFigures struct {
	reads, readsFailed int64
	// per node: requests, and failures
	readsPerNode, failedPerNode []int64
	// unseen are the reads of bins not yet known to the node read, and
	// unseenFor the longest since its create that one was unknown.
	unseen          int
	unseenFor       time.Duration
	acks, acksAfter int
	// refused writes, and from when to when after the fault.
	refused                  int
	refusedFrom, refusedTo   time.Duration
	longestWithoutAck        time.Duration
	slowestWrite             time.Duration
	unanswered, writersCount int
}

// figures sums the readers and writers of a stopped load.
func (l *clusterLoad) figures(fault time.Time) loadFigures {
	f := loadFigures{readsPerNode: make([]int64, l.nodes), failedPerNode: make([]int64, l.nodes), writersCount: len(l.writers)}
	for _, r := range l.readers {
		f.readsPerNode[r.node] += r.requests.Load()
		f.failedPerNode[r.node] += r.failed.Load()
		f.reads += r.requests.Load()
		f.readsFailed += r.failed.Load()
		f.unseen += r.unseen
		f.unseenFor = max(f.unseenFor, r.unseenFor)
	}
	var acked, refused []time.Time
	for _, w := range l.writers {
		acked, refused = append(acked, w.acked...), append(refused, w.refused...)
		f.slowestWrite = max(f.slowestWrite, w.slowest)
		f.unanswered += w.unanswered
	}
	slices.SortFunc(acked, func(a, b time.Time) int { return a.Compare(b) })
	slices.SortFunc(refused, func(a, b time.Time) int { return a.Compare(b) })
	f.acks, f.acksAfter = len(acked), len(acked)-countBefore(acked, fault)
	for i := 1; i < len(acked); i++ {
		f.longestWithoutAck = max(f.longestWithoutAck, acked[i].Sub(acked[i-1]))
	}
	f.refused = len(refused)
	if len(refused) > 0 {
		f.refusedFrom, f.refusedTo = refused[0].Sub(fault), refused[len(refused)-1].Sub(fault)
	}
	return f
}

// log logs the figures, with those of writers whose unknown outcomes
// verifyCrashWrites has settled.
func (f loadFigures) log(t *testing.T, fault string, writers []*crashWriter, orphans map[string]bool) {
	t.Helper()
	committed := 0
	for _, w := range writers {
		committed += w.committed
	}
	ms := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	t.Logf("bin URL: %d requests (per node %v), %d failed (per node %v); %d answered 404 for a bin created through another node, at most %s after its create",
		f.reads, f.readsPerNode, f.readsFailed, f.failedPerNode, f.unseen, ms(f.unseenFor))
	t.Logf("writes by %d writers: %d acknowledged, %d of them after %s, 0 lost; longest time without an acknowledged write %s; slowest answer %s",
		f.writersCount, f.acks, f.acksAfter, fault, ms(f.longestWithoutAck), ms(f.slowestWrite))
	if f.refused > 0 {
		t.Logf("writes refused (503, code 10509): %d, from %s to %s after %s", f.refused, ms(f.refusedFrom), ms(f.refusedTo), fault)
	} else {
		t.Logf("writes refused (503, code 10509): 0")
	}
	t.Logf("writes without an answer: %d; refused or unanswered writes found saved: %d updates and %d creates", f.unanswered, committed, len(orphans))
}
