package main

// What the fault tests (crash_test.go, faults_test.go, shutdown_test.go)
// share: the real binary run as a child process, so that it can be killed
// with SIGKILL and stopped with SIGTERM, and a client of its JSON API.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// faultStartTimeout bounds how long a server may take to start listening,
// and faultStopTimeout how long it may take to exit after a signal.
const (
	faultStartTimeout = 30 * time.Second
	faultStopTimeout  = 40 * time.Second // more than the server's shutdownTimeout
)

// faultServer is a `twimlbin serve` child process.
type faultServer struct {
	cmd    *exec.Cmd
	base   string // http://127.0.0.1:PORT
	addr   string // 127.0.0.1:PORT
	stderr *lockedBuffer
	done   chan struct{} // closed once the process has exited
	err    error         // what cmd.Wait returned; read it after done
}

// startFaultServer starts `twimlbin serve` on a free loopback port with the
// database at db and any extra flags, and returns once it listens. The
// process is killed when the test ends, if it is still running.
func startFaultServer(t *testing.T, bin, db, logLevel string, extra ...string) *faultServer {
	t.Helper()
	first := make(chan string, 1)
	args := append([]string{"serve", "--db", db, "--addr", "127.0.0.1:0", "--log-level", logLevel}, extra...)
	s := &faultServer{
		cmd:    exec.Command(bin, args...),
		stderr: &lockedBuffer{},
		done:   make(chan struct{}),
	}
	s.cmd.Stdout = &firstLineWriter{line: first}
	s.cmd.Stderr = s.stderr
	require.NoError(t, s.cmd.Start())
	t.Cleanup(func() { s.kill() })
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	select {
	case line := <-first:
		rest, ok := strings.CutPrefix(line, "twimlbin is serving at ")
		require.True(t, ok, "serve printed %q first", line)
		s.base = strings.Fields(rest)[0]
		s.addr = strings.TrimPrefix(s.base, "http://")
		return s
	case <-s.done:
		t.Fatalf("serve exited before listening (%v): %s", s.err, s.stderr.String())
	case <-time.After(faultStartTimeout):
		t.Fatalf("serve did not listen within %s: %s", faultStartTimeout, s.stderr.String())
	}
	return nil
}

// kill sends SIGKILL, unless the process has exited, and waits for it.
func (s *faultServer) kill() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}

// stop sends SIGTERM and returns what the process exited with: nil for
// status 0. It fails the test if the process takes longer than
// faultStopTimeout.
func (s *faultServer) stop(t *testing.T) error {
	t.Helper()
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	return s.wait(t)
}

// wait waits for the process to exit, at most faultStopTimeout.
func (s *faultServer) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-s.done:
		return s.err
	case <-time.After(faultStopTimeout):
		s.kill()
		t.Fatalf("serve did not exit within %s; stderr:\n%s", faultStopTimeout, s.stderr.String())
		return nil
	}
}

// firstLineWriter sends the first line written to it on line, and
// discards everything.
type firstLineWriter struct {
	buf  []byte
	line chan<- string
	sent bool
}

func (w *firstLineWriter) Write(p []byte) (int, error) {
	if !w.sent {
		w.buf = append(w.buf, p...)
		if i := bytes.IndexByte(w.buf, '\n'); i >= 0 {
			w.line <- string(w.buf[:i])
			w.sent, w.buf = true, nil
		}
	}
	return len(p), nil
}

// lockedBuffer is a bytes.Buffer safe for one writer and many readers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// createFaultAccount creates an account in db with `twimlbin account
// create` and returns its SID and auth token.
func createFaultAccount(t *testing.T, bin, db string) (sid, token string) {
	t.Helper()
	out, err := exec.Command(bin, "account", "create", "--db", db, "--name", "faults").Output()
	require.NoError(t, err)
	var acct struct {
		SID       string `json:"sid"`
		AuthToken string `json:"auth_token"`
	}
	require.NoError(t, json.Unmarshal(out, &acct))
	return acct.SID, acct.AuthToken
}

// faultClient calls a server's JSON API as one account.
type faultClient struct {
	http       *http.Client
	base       string
	sid, token string
}

// faultRequestTimeout bounds every request of the fault tests: a server that
// hangs fails the test rather than stalling it.
const faultRequestTimeout = 20 * time.Second

func newFaultClient(base, sid, token string) *faultClient {
	return &faultClient{
		http: &http.Client{
			Timeout:   faultRequestTimeout,
			Transport: &http.Transport{MaxIdleConnsPerHost: 64},
		},
		base: base, sid: sid, token: token,
	}
}

// faultResponse is a complete answer: its status, ETag and body.
type faultResponse struct {
	status int
	etag   string
	ctype  string
	body   []byte
}

// do sends a request with a JSON body (none when body is nil) and, when
// ifMatch is not 0, an If-Match with that revision. An error means no
// complete answer: the outcome of a write is then unknown.
func (c *faultClient) do(ctx context.Context, method, path string, body any, ifMatch int) (faultResponse, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return faultResponse{}, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return faultResponse{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if ifMatch != 0 {
		req.Header.Set("If-Match", fmt.Sprintf(`"%d"`, ifMatch))
	}
	if c.sid != "" {
		req.SetBasicAuth(c.sid, c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return faultResponse{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	out := faultResponse{status: resp.StatusCode, etag: resp.Header.Get("ETag"), ctype: resp.Header.Get("Content-Type"), body: b}
	if err != nil {
		return out, fmt.Errorf("%s %s: %d, then reading the body: %w", method, path, resp.StatusCode, err)
	}
	return out, nil
}

// faultBin is the part of a bin resource the fault tests check.
type faultBin struct {
	SID      string `json:"sid"`
	Template string `json:"template"`
	Revision int    `json:"revision"`
	URL      string `json:"url"`
}

// createBin creates a bin and requires a 201.
func (c *faultClient) createBin(t *testing.T, tmpl string) faultBin {
	t.Helper()
	resp, err := c.do(t.Context(), http.MethodPost, "/api/v1/bins", map[string]string{"template": tmpl}, 0)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, resp.status, "%s", resp.body)
	var b faultBin
	require.NoError(t, json.Unmarshal(resp.body, &b))
	return b
}

// fetchBin reads a bin through the API and requires a 200.
func (c *faultClient) fetchBin(t *testing.T, sid string) faultBin {
	t.Helper()
	resp, err := c.do(t.Context(), http.MethodGet, "/api/v1/bins/"+sid, nil, 0)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	var b faultBin
	require.NoError(t, json.Unmarshal(resp.body, &b))
	return b
}

// serveBinURL requests a bin's URL and returns the complete answer.
func (c *faultClient) serveBinURL(ctx context.Context, sid string) (faultResponse, error) {
	anon := *c
	anon.sid, anon.token = "", ""
	return anon.do(ctx, http.MethodGet, "/twiml/"+sid, nil, 0)
}

// faultTemplate is a valid template that says tag, padded with text to
// about size bytes, so that writes of different sizes span different
// numbers of bbolt pages and a torn write would show.
func faultTemplate(tag string, size int) string {
	var b strings.Builder
	b.WriteString("<Response><Say>" + tag + "</Say>")
	const sayMax = 4000 // under <Say>'s 4096 characters
	for pad := size - b.Len(); pad > 0; pad -= sayMax {
		n := min(pad, sayMax)
		b.WriteString("<Say>")
		for i := range n {
			b.WriteByte("abcdefghijklmnopqrstuvwxyz "[(i+len(tag))%27])
		}
		b.WriteString("</Say>")
	}
	b.WriteString("</Response>")
	return b.String()
}

// apiError is the API's error shape.
type apiError struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
	Status   int    `json:"status"`
}

// requireAPIError requires resp to be an error in the API's JSON shape,
// with its status in the body.
func requireAPIError(t *testing.T, resp faultResponse) apiError {
	t.Helper()
	require.True(t, strings.HasPrefix(resp.ctype, "application/json"), "Content-Type %q, body %s", resp.ctype, resp.body)
	var e apiError
	require.NoError(t, json.Unmarshal(resp.body, &e), "%s", resp.body)
	require.Equal(t, resp.status, e.Status, "%s", resp.body)
	require.NotZero(t, e.Code, "%s", resp.body)
	require.NotEmpty(t, e.Message, "%s", resp.body)
	require.NotEmpty(t, e.MoreInfo, "%s", resp.body)
	return e
}

// isRefused reports whether err is a refused connection: nothing listens.
func isRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED)
}
