package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Bounds of TestSlowClientsCannotExhaustServer: how many slow connections
// it holds at most, how long a normal request may take while they are held,
// and how long after readHeaderTimeout the server may take to drop one.
const (
	slowConnsMax       = 500
	slowNormalTimeout  = 3 * time.Second
	slowDropMargin     = 5 * time.Second
	slowNormalRequests = 5 // of each kind: bin URL and API GET
)

// TestSlowClientsCannotExhaustServer holds many half-open connections to
// the real binary, half trickling a request head a byte a second and half
// sending nothing, and checks that while the server holds them all, new
// clients still get answers from the bin URL and the API, and that the
// server drops every slow connection after its read-header timeout.
func TestSlowClientsCannotExhaustServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary, and holds connections for readHeaderTimeout")
	}
	bin := buildBinary(t)
	db := filepath.Join(t.TempDir(), "twimlbin.db")
	sid, token := createFaultAccount(t, bin, db)
	srv := startFaultServer(t, bin, db, "warn")
	c := newFaultClient(srv.base, sid, token)
	b := c.createBin(t, faultTemplate("slow", 200))

	pid := srv.cmd.Process.Pid
	n := slowConnCount(t, pid)
	t.Logf("holding %d slow connections", n)

	// Open the slow connections: even ones trickle a request head that never
	// ends, odd ones send nothing.
	head := "GET /twiml/" + b.SID + " HTTP/1.1\r\nHost: " + srv.addr + "\r\nX-Slow: " + strings.Repeat("a", 64)
	dropped := make(chan slowDrop, n)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() {
		close(stop)
		wg.Wait()
	})
	fdsBefore := slowOpenFDs(t, pid)
	for i := range n {
		conn, err := net.Dial("tcp", srv.addr)
		require.NoError(t, err, "dial slow connection %d", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			dropped <- holdSlowConn(conn, i%2 == 0, head, stop)
		}()
	}

	// The server has accepted them all: it holds a descriptor for each.
	deadline := time.Now().Add(readHeaderTimeout / 2)
	for slowOpenFDs(t, pid) < fdsBefore+n {
		if time.Now().After(deadline) {
			t.Fatalf("the server holds %d descriptors, want at least %d: it has not accepted the slow connections", slowOpenFDs(t, pid), fdsBefore+n)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// While they are held, new clients get answers: each request on a new
	// connection, bounded by slowNormalTimeout.
	normal := &faultClient{
		http: &http.Client{Timeout: slowNormalTimeout, Transport: &http.Transport{DisableKeepAlives: true}},
		base: srv.base, sid: sid, token: token,
	}
	type answer struct {
		what   string
		status int
		took   time.Duration
		err    error
	}
	answers := make(chan answer, 2*slowNormalRequests)
	for range slowNormalRequests {
		go func() {
			start := time.Now()
			resp, err := normal.serveBinURL(context.Background(), b.SID)
			answers <- answer{"bin URL", resp.status, time.Since(start), err}
		}()
		go func() {
			start := time.Now()
			resp, err := normal.do(context.Background(), http.MethodGet, "/api/v1/bins/"+b.SID, nil, 0)
			answers <- answer{"API GET", resp.status, time.Since(start), err}
		}()
	}
	var slowest time.Duration
	for range 2 * slowNormalRequests {
		a := <-answers
		require.NoError(t, a.err, "%s while %d slow connections are held", a.what, n)
		require.Equal(t, http.StatusOK, a.status, a.what)
		slowest = max(slowest, a.took)
	}
	// Otherwise the requests above ran with fewer than n slow connections held.
	require.Empty(t, dropped, "slow connections were dropped before the normal requests were answered")
	t.Logf("%d normal requests answered while %d slow connections were held; slowest took %s", 2*slowNormalRequests, n, slowest)

	// The server drops each slow connection after readHeaderTimeout.
	var latest time.Duration
	for range n {
		d := <-dropped
		require.NoError(t, d.err, "a slow connection (trickling: %v)", d.trickle)
		latest = max(latest, d.after)
	}
	t.Logf("the server dropped all %d slow connections, the last %s after it was opened (readHeaderTimeout %s)", n, latest.Round(time.Millisecond), readHeaderTimeout)
	fmt.Printf("slowloris: held=%d normal_answered=%d slowest_normal=%s dropped_all_within=%s read_header_timeout=%s\n",
		n, 2*slowNormalRequests, slowest.Round(time.Millisecond), latest.Round(time.Millisecond), readHeaderTimeout)
}

// slowDrop is how a slow connection ended: after how long the server closed
// it, or why it did not.
type slowDrop struct {
	trickle bool
	after   time.Duration
	err     error
}

// holdSlowConn keeps conn open, writing head a byte a second when trickle is
// set, until the server closes it; it fails when that takes longer than
// readHeaderTimeout + slowDropMargin. It closes conn.
func holdSlowConn(conn net.Conn, trickle bool, head string, stop <-chan struct{}) slowDrop {
	defer conn.Close()
	opened := time.Now()
	closed := make(chan error, 1)
	go func() {
		// Read until the server closes the connection, or the bound passes.
		_ = conn.SetReadDeadline(opened.Add(readHeaderTimeout + slowDropMargin))
		buf := make([]byte, 512)
		for {
			if _, err := conn.Read(buf); err != nil {
				closed <- err
				return
			}
		}
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i := 0; ; {
		if trickle && i < len(head) {
			// A failed write means the server has closed: the read says so.
			if _, err := conn.Write([]byte{head[i]}); err == nil {
				i++
			}
		}
		select {
		case err := <-closed:
			d := slowDrop{trickle: trickle, after: time.Since(opened)}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				d.err = fmt.Errorf("still open %s after it was opened: %w", d.after.Round(time.Millisecond), err)
			}
			return d
		case <-stop:
			return slowDrop{trickle: trickle, err: errors.New("the test ended first")}
		case <-tick.C:
		}
	}
}

// slowConnCount is how many slow connections the test holds: slowConnsMax,
// or fewer when the open-file limit of the test or the server is lower. It
// skips the test when the limit leaves too few.
func slowConnCount(t *testing.T, pid int) int {
	t.Helper()
	var own syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &own))
	limit := int(min(own.Cur, 1<<20))
	if server, ok := slowFileLimit(pid); ok {
		limit = min(limit, server)
	}
	n := min(slowConnsMax, limit-100)
	if n < 100 {
		t.Skipf("the open-file limit (%d) leaves room for %d slow connections, fewer than 100", limit, n)
	}
	return n
}

// slowFileLimit reads the soft open-file limit of process pid from
// /proc/<pid>/limits.
func slowFileLimit(pid int) (int, bool) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "Max open files"); ok {
			fields := strings.Fields(rest)
			if len(fields) == 0 {
				return 0, false
			}
			n, err := strconv.Atoi(fields[0])
			return n, err == nil
		}
	}
	return 0, false
}

// slowOpenFDs counts the open descriptors of process pid.
func slowOpenFDs(t *testing.T, pid int) int {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Skipf("counting the server's descriptors needs /proc: %v", err)
	}
	return len(fds)
}
