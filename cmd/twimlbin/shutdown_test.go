package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twimlbin/twimlbin/store"
)

// Shape of the shutdown test's load.
const (
	shutdownReaders  = 6   // clients requesting bin URLs
	shutdownWriters  = 4   // clients updating their own bins
	shutdownCreators = 1   // clients creating bins
	shutdownWarmUp   = 300 // complete answers before SIGTERM
)

// shutdownCall is one request of the shutdown test and what became of it.
type shutdownCall struct {
	id string // its X-Request-Id, which the server's access log repeats
	// reused: it was sent on a keep-alive connection that had carried
	// an earlier request.
	reused bool
	// firstByte: some of the answer arrived.
	firstByte bool
	status    int
	body      []byte
	err       error // no complete answer
}

// shutdownClient sends requests, each with its own request ID, and
// records what became of each one.
type shutdownClient struct {
	name       string
	http       *http.Client
	base       string
	sid, token string
	calls      []shutdownCall
	load       *shutdownLoad
}

// shutdownLoad counts the complete answers of every client.
type shutdownLoad struct {
	completed atomic.Int64
	warm      chan struct{} // closed at shutdownWarmUp complete answers
}

func (c *shutdownClient) do(ctx context.Context, method, path string, body []byte, ctype string, ifMatch int) shutdownCall {
	call := shutdownCall{id: fmt.Sprintf("shutdown-%s-%d", c.name, len(c.calls))}
	defer func() { c.calls = append(c.calls, call) }()
	var firstByte, reused atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn:              func(info httptrace.GotConnInfo) { reused.Store(info.Reused) },
		GotFirstResponseByte: func() { firstByte.Store(true) },
	})
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		call.err = err
		return call
	}
	req.Header.Set("X-Request-Id", call.id)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if ifMatch != 0 {
		req.Header.Set("If-Match", strconv.Quote(strconv.Itoa(ifMatch)))
	}
	if c.sid != "" {
		req.SetBasicAuth(c.sid, c.token)
	}
	resp, err := c.http.Do(req)
	if err == nil {
		call.status = resp.StatusCode
		call.body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	call.firstByte, call.reused, call.err = firstByte.Load(), reused.Load(), err
	if err == nil && c.load.completed.Add(1) == shutdownWarmUp {
		close(c.load.warm)
	}
	return call
}

// TestShutdownUnderLoadLosesNothing sends SIGTERM to the server while
// clients request bin URLs and create and update bins on keep-alive
// connections, and while two requests (an update and a bin URL POST) are
// held in flight: the server has read their headers and waits for their
// bodies, which the test sends only once the listener is closed. It checks
// that every request the server handled (its request ID is in the access
// log) got a complete answer with the logged status; that a request that
// got no answer is one the server never handled (a connection refused, or
// closed by the server before any of the request was read) and got no
// part of an answer; that the held requests are answered and saved; that
// the process exits 0; and that the database then holds exactly the
// acknowledged writes.
//
// Without a shutdown delay, a request written onto an idle keep-alive
// connection just as the server closes it is lost unread, as with any
// HTTP/1.1 server. With one, every answer of the drain closes its
// connection, so that no request may be lost that way: only refused
// connections, or new ones still in the listener's queue as it closed.
func TestShutdownUnderLoadLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	t.Run("no delay", func(t *testing.T) { testShutdownUnderLoad(t, bin, 0) })
	t.Run("shutdown delay", func(t *testing.T) { testShutdownUnderLoad(t, bin, 500*time.Millisecond) })
}

func testShutdownUnderLoad(t *testing.T, bin string, delay time.Duration) {
	db := filepath.Join(t.TempDir(), "twimlbin.db")
	sid, token := createFaultAccount(t, bin, db)
	srv := startFaultServer(t, bin, db, "info", "--shutdown-delay", delay.String())
	setup := newFaultClient(srv.base, sid, token)

	var readBins []string
	for i := range 4 {
		readBins = append(readBins, setup.createBin(t, faultTemplate(fmt.Sprintf("read %d", i), 2000)).SID)
	}
	type ownBin struct {
		sid      string
		revision int
		template string
	}
	owned := make([][]*ownBin, shutdownWriters)
	for w := range owned {
		for i := range 2 {
			tmpl := faultTemplate(fmt.Sprintf("writer %d bin %d", w, i), 500)
			owned[w] = append(owned[w], &ownBin{sid: setup.createBin(t, tmpl).SID, revision: 1, template: tmpl})
		}
	}
	heldBin := setup.createBin(t, `<Response><Say>held for {{From}}</Say></Response>`)
	heldUpdate := &ownBin{sid: setup.createBin(t, faultTemplate("held update", 100)).SID, revision: 1}
	heldUpdate.template = setup.fetchBin(t, heldUpdate.sid).Template
	binsBefore := 4 + shutdownWriters*2 + 2

	// The load: each client on its own keep-alive connections, until
	// nothing listens any more.
	load := &shutdownLoad{warm: make(chan struct{})}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	newClient := func(name string, auth bool) *shutdownClient {
		c := &shutdownClient{name: name, base: srv.base, load: load,
			http: &http.Client{Timeout: faultRequestTimeout, Transport: &http.Transport{}}}
		if auth {
			c.sid, c.token = sid, token
		}
		return c
	}
	var (
		clients []*shutdownClient
		created []string // templates of the creates answered 201
		wg      sync.WaitGroup
		mu      sync.Mutex
	)
	for r := range shutdownReaders {
		c := newClient(fmt.Sprintf("read%d", r), false)
		clients = append(clients, c)
		wg.Go(func() {
			for i := 0; ; i++ {
				call := c.do(ctx, http.MethodGet, "/twiml/"+readBins[i%len(readBins)], nil, "", 0)
				if call.err != nil {
					return
				}
			}
		})
	}
	for w := range shutdownWriters {
		c := newClient(fmt.Sprintf("write%d", w), true)
		clients = append(clients, c)
		wg.Go(func() {
			for i := 0; ; i++ {
				b := owned[w][i%len(owned[w])]
				tmpl := faultTemplate(fmt.Sprintf("writer %d update %d", w, i), 500)
				body, _ := json.Marshal(map[string]string{"template": tmpl})
				call := c.do(ctx, http.MethodPost, "/api/v1/bins/"+b.sid, body, "application/json", b.revision)
				if call.err != nil {
					return
				}
				if call.status == http.StatusOK {
					b.revision, b.template = b.revision+1, tmpl
				}
			}
		})
	}
	for n := range shutdownCreators {
		c := newClient(fmt.Sprintf("create%d", n), true)
		clients = append(clients, c)
		wg.Go(func() {
			for i := 0; ; i++ {
				tmpl := faultTemplate(fmt.Sprintf("creator %d create %d", n, i), 500)
				body, _ := json.Marshal(map[string]string{"template": tmpl})
				call := c.do(ctx, http.MethodPost, "/api/v1/bins", body, "application/json", 0)
				if call.err != nil {
					return
				}
				if call.status == http.StatusCreated {
					mu.Lock()
					created = append(created, tmpl)
					mu.Unlock()
				}
			}
		})
	}

	// The held requests: their headers are sent with Expect: 100-continue,
	// and the server asks for the body once the handler reads it.
	heldClient := &http.Client{Timeout: 2 * faultStopTimeout, Transport: &http.Transport{ExpectContinueTimeout: 2 * faultStopTimeout}}
	heldForm := url.Values{"From": {"+15105550100"}}.Encode()
	heldTemplate := faultTemplate("updated while shutting down", 300)
	heldJSON, _ := json.Marshal(map[string]string{"template": heldTemplate})
	held := []*heldRequest{
		holdRequest(t, heldClient, http.MethodPost, srv.base+"/twiml/"+heldBin.SID, "application/x-www-form-urlencoded", "", "", 0, len(heldForm)),
		holdRequest(t, heldClient, http.MethodPatch, srv.base+"/api/v1/bins/"+heldUpdate.sid, "application/json", sid, token, heldUpdate.revision, len(heldJSON)),
	}
	for _, h := range held {
		select {
		case <-h.continued:
		case r := <-h.result:
			t.Fatalf("a held request was answered before its body was sent: %v %d %s", r.err, r.status, r.body)
		case <-time.After(faultRequestTimeout):
			t.Fatal("the server did not ask for the body of a held request")
		}
	}

	// SIGTERM once the load is going, then wait for the listener to close.
	select {
	case <-load.warm:
	case <-time.After(faultRequestTimeout):
		t.Fatalf("only %d answers in %s", load.completed.Load(), faultRequestTimeout)
	}
	require.NoError(t, srv.cmd.Process.Signal(syscall.SIGTERM))
	waitListenerClosed(t, srv.addr)
	atClose := load.completed.Load()

	// The held requests, sent in full only now, are answered.
	held[0].send(heldForm)
	held[1].send(string(heldJSON))
	for i, h := range held {
		r := <-h.result
		require.NoError(t, r.err, "held request %d", i)
		require.Equal(t, http.StatusOK, r.status, "held request %d: %s", i, r.body)
		if i == 0 {
			assert.Contains(t, string(r.body), "<Say>held for +15105550100</Say>")
		}
	}
	heldUpdate.revision, heldUpdate.template = heldUpdate.revision+1, heldTemplate

	require.NoError(t, srv.wait(t), "serve should exit 0 after SIGTERM; stderr:\n%s", srv.stderr.String())
	cancel()
	wg.Wait()

	// Every request the server handled got its whole answer; every other
	// one failed before any answer.
	handled := map[string]int{}
	for _, m := range accessLogLine.FindAllStringSubmatch(srv.stderr.String(), -1) {
		handled[m[1]], _ = strconv.Atoi(m[2])
	}
	total, refused, unanswered, unansweredReused := 0, 0, 0, 0
	for _, c := range clients {
		for _, call := range c.calls {
			total++
			status, ok := handled[call.id]
			switch {
			case call.err == nil:
				require.True(t, ok, "%s answered %d but is not in the access log", call.id, call.status)
				require.Equal(t, status, call.status, "%s: the status sent is not the one logged", call.id)
			case ok:
				t.Fatalf("%s was handled (%d) but its answer was lost: %v", call.id, status, call.err)
			case call.firstByte:
				t.Fatalf("%s got part of an answer, then: %v", call.id, call.err)
			case isRefused(call.err):
				refused++
			default:
				unanswered++
				if call.reused {
					unansweredReused++
				}
				t.Logf("%s was never handled (reused connection: %t): %v", call.id, call.reused, call.err)
			}
		}
	}
	t.Logf("%d requests: %d answered by the time the listener was seen closed, %d after; %d refused, %d closed unread by the server, %d of them on a reused connection",
		total, atClose, load.completed.Load()-atClose+int64(len(held)), refused, unanswered, unansweredReused)
	if delay > 0 {
		assert.Zero(t, unansweredReused, "with a shutdown delay, no keep-alive connection may be closed under a request")
	}

	// The file holds exactly what was acknowledged.
	sdb, err := store.Open(db, store.Options{})
	require.NoError(t, err)
	defer sdb.Close()
	require.NoError(t, sdb.Check())
	for _, bins := range append(owned, []*ownBin{heldUpdate}) {
		for _, b := range bins {
			got, err := sdb.Bin(sid, b.sid)
			require.NoError(t, err)
			assert.Equal(t, b.revision, got.Revision, b.sid)
			assert.Equal(t, b.template, got.Template, b.sid)
		}
	}
	page, err := sdb.ListBins(sid, store.ListQuery{PageSize: store.MaxPageSize})
	require.NoError(t, err)
	require.Empty(t, page.Next)
	assert.Len(t, page.Bins, binsBefore+len(created))
	require.NoError(t, sdb.Close())
}

// accessLogLine matches the server's access log: the request ID and the
// status sent.
var accessLogLine = regexp.MustCompile(`msg=request request_id=(\S+) .*? status=(\d+) `)

// waitListenerClosed returns once connecting to addr is refused. Nothing
// tells the test when the server closes its listener, so it tries every
// millisecond.
func waitListenerClosed(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(faultStopTimeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			// Refused once the listener is closed; reset when the
			// connection was still in the accept queue as it closed.
			require.True(t, isRefused(err) || errors.Is(err, syscall.ECONNRESET), "connecting while shutting down: %v", err)
			return
		}
		conn.Close()
		require.True(t, time.Now().Before(deadline), "the server still listens %s after SIGTERM", faultStopTimeout)
		time.Sleep(time.Millisecond)
	}
}

// heldRequest is a request whose body the test sends when it chooses.
type heldRequest struct {
	body      *io.PipeWriter
	continued chan struct{}   // closed when the server asks for the body
	result    chan heldResult // the answer
	once      sync.Once
}

type heldResult struct {
	status int
	body   []byte
	err    error
}

// holdRequest sends a request's headers with Expect: 100-continue and a
// Content-Length of n, and holds its body until send.
func holdRequest(t *testing.T, client *http.Client, method, target, ctype, sid, token string, ifMatch, n int) *heldRequest {
	t.Helper()
	pr, pw := io.Pipe()
	h := &heldRequest{body: pw, continued: make(chan struct{}), result: make(chan heldResult, 1)}
	ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
		Got100Continue: func() { h.once.Do(func() { close(h.continued) }) },
	})
	req, err := http.NewRequestWithContext(ctx, method, target, pr)
	require.NoError(t, err)
	req.ContentLength = int64(n)
	req.Header.Set("Expect", "100-continue")
	req.Header.Set("Content-Type", ctype)
	if sid != "" {
		req.SetBasicAuth(sid, token)
	}
	if ifMatch != 0 {
		req.Header.Set("If-Match", strconv.Quote(strconv.Itoa(ifMatch)))
	}
	go func() {
		var r heldResult
		resp, err := client.Do(req)
		if err == nil {
			r.status = resp.StatusCode
			r.body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		r.err = err
		h.result <- r
	}()
	return h
}

// send writes the held body and ends it.
func (h *heldRequest) send(body string) {
	go func() {
		_, _ = io.WriteString(h.body, body)
		h.body.Close()
	}()
}

// TestShutdownDelay sends SIGTERM to a server with a long shutdown delay:
// while it drains it still answers, /readyz answers 503 and every answer
// closes its connection; a second SIGTERM ends the delay, and the server
// exits 0 long before the delay is over.
func TestShutdownDelay(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	db := filepath.Join(t.TempDir(), "twimlbin.db")
	sid, token := createFaultAccount(t, bin, db)
	srv := startFaultServer(t, bin, db, "info", "--shutdown-delay", "10m")
	c := newFaultClient(srv.base, sid, token)
	b := c.createBin(t, faultTemplate("draining", 10))

	get := func(path string) *http.Response {
		t.Helper()
		resp, err := c.http.Get(srv.base + path)
		require.NoError(t, err)
		_, err = io.Copy(io.Discard, resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		return resp
	}
	resp := get("/readyz")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.False(t, resp.Close, "keep-alive before the signal")

	require.NoError(t, srv.cmd.Process.Signal(syscall.SIGTERM))
	require.Eventually(t, func() bool { return get("/readyz").StatusCode == http.StatusServiceUnavailable },
		faultRequestTimeout, 10*time.Millisecond, "/readyz still answers 200 after SIGTERM")
	resp = get("/twiml/" + b.SID)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "bins are served while draining")
	assert.True(t, resp.Close, "an answer while draining keeps its connection open")

	// wait fails the test unless the server exits within faultStopTimeout,
	// far less than the delay.
	require.NoError(t, srv.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, srv.wait(t), "stderr:\n%s", srv.stderr.String())
}
