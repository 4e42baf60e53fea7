package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twimlbin/twimlbin/internal/etcdtest"

	"github.com/twimlbin/twimlbin/store"
)

// buildBinary builds twimlbin into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "twimlbin")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// TestServeEndToEnd runs the real binary, over a database file, over an
// etcd member and over an etcd member that requires TLS and a client
// certificate: it creates an account with `twimlbin account create`,
// starts `twimlbin serve` on a free port, creates a bin over HTTP, fetches
// the bin's URL with parameters, and stops the server with SIGTERM.
func TestServeEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	t.Run("bolt", func(t *testing.T) {
		serveEndToEnd(t, bin, "--db", filepath.Join(t.TempDir(), "data", "twimlbin.db"))
	})
	t.Run("etcd", func(t *testing.T) {
		serveEndToEnd(t, bin, "--etcd-endpoints", strings.Join(etcdtest.Start(t, 1).Endpoints, ","), "--etcd-prefix", etcdtest.Prefix(t))
	})
	t.Run("etcd over TLS", func(t *testing.T) {
		c := etcdtest.StartTLS(t, 1)
		serveEndToEnd(t, bin, "--etcd-endpoints", strings.Join(c.Endpoints, ","), "--etcd-prefix", etcdtest.Prefix(t),
			"--etcd-cert", c.TLS.Cert, "--etcd-key", c.TLS.Key, "--etcd-ca", c.TLS.CA)
	})
}

// TestServeTLSWrongAuthority: serve over a secured etcd, given the
// certificate authority of another cluster, does not start: it exits
// non-zero, saying that the members' certificate is not signed by that
// authority.
func TestServeTLSWrongAuthority(t *testing.T) {
	c := etcdtest.StartTLS(t, 1)
	other, err := etcdtest.WriteTLSFiles(t.TempDir())
	require.NoError(t, err)
	got := runCommand(t, "", "serve", "--addr", "127.0.0.1:0", "--etcd-endpoints", c.Endpoints[0], "--etcd-prefix", etcdtest.Prefix(t),
		"--etcd-cert", c.TLS.Cert, "--etcd-key", c.TLS.Key, "--etcd-ca", other.CA)
	assert.Equal(t, exitInvalid, got.code)
	assert.Empty(t, got.stdout, "serve printed that it serves")
	assert.Contains(t, got.stderr, "twimlbin serve: ")
	assert.Contains(t, got.stderr, "etcd at "+c.Endpoints[0])
	assert.Contains(t, got.stderr, "not signed by the certificate authority given")
}

// serveEndToEnd is TestServeEndToEnd over the store that storeFlags name.
func serveEndToEnd(t *testing.T, bin string, storeFlags ...string) {
	out, err := exec.Command(bin, append([]string{"account", "create", "--name", "Ops"}, storeFlags...)...).Output()
	require.NoError(t, err)
	var acct struct {
		SID       string `json:"sid"`
		AuthToken string `json:"auth_token"`
	}
	require.NoError(t, json.Unmarshal(out, &acct))
	require.Regexp(t, `^AC[0-9a-f]{32}$`, acct.SID)
	require.NotEmpty(t, acct.AuthToken)

	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--log-level", "warn"}, storeFlags...)...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	// The first line says where the server listens; no account is created
	// since the database has one.
	lines := bufio.NewScanner(stdout)
	require.True(t, lines.Scan(), "serve printed nothing")
	first := lines.Text()
	require.True(t, strings.HasPrefix(first, "twimlbin is serving at "), first)
	base := strings.Fields(strings.TrimPrefix(first, "twimlbin is serving at "))[0]
	go func() { _, _ = io.Copy(io.Discard, stdout) }()

	tmpl := `<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Dial callerId="{{From}}">
    <Client>
      <Identity>{{agent}}</Identity>
      <Parameter name="customerID" value="{{customerID}}"/>
    </Client>
  </Dial>
</Response>`
	body, _ := json.Marshal(map[string]string{"friendly_name": "contextual", "template": tmpl})
	req, err := http.NewRequest(http.MethodPost, base+"/api/v1/bins", strings.NewReader(string(body)))
	require.NoError(t, err)
	req.SetBasicAuth(acct.SID, acct.AuthToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var created struct {
		SID string `json:"sid"`
		URL string `json:"url"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&created))
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	require.Equal(t, base+"/twiml/"+created.SID, created.URL)

	q := url.Values{"customerID": {"375d1d60 & <co>"}, "agent": {"alice"}}
	form := url.Values{"From": {"+15105555555"}}
	resp, err = http.Post(created.URL+"?"+q.Encode(), "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	twiml, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", twiml)
	assert.Equal(t, "text/xml; charset=utf-8", resp.Header.Get("Content-Type"))

	var doc struct {
		XMLName xml.Name `xml:"Response"`
		Dial    struct {
			CallerID string `xml:"callerId,attr"`
			Client   struct {
				Identity  string `xml:"Identity"`
				Parameter struct {
					Name  string `xml:"name,attr"`
					Value string `xml:"value,attr"`
				} `xml:"Parameter"`
			} `xml:"Client"`
		} `xml:"Dial"`
	}
	require.NoError(t, xml.Unmarshal(twiml, &doc), "%s", twiml)
	assert.Equal(t, "+15105555555", doc.Dial.CallerID)
	assert.Equal(t, "alice", doc.Dial.Client.Identity)
	assert.Equal(t, "375d1d60 & <co>", doc.Dial.Client.Parameter.Value)

	if os.Getenv("GOGC") == "" {
		// The default --gc-heap-floor (32 MiB) has raised GOGC from 100
		// for a live heap of a few MiB.
		resp, err = http.Get(base + "/metrics")
		require.NoError(t, err)
		metrics, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		gogc := regexp.MustCompile(`(?m)^go_gc_gogc_percent (\d+)$`).FindSubmatch(metrics)
		require.NotNil(t, gogc, "no go_gc_gogc_percent in /metrics")
		percent, _ := strconv.Atoi(string(gogc[1]))
		assert.Greater(t, percent, 100, "GOGC under the heap floor")
	}

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, "serve should exit 0 after SIGTERM")
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after SIGTERM")
	}
}

// TestServeWebOnItsOwnAddress: with --web-addr, the web form answers only
// there, and the main address answers only the bins, the API and the
// operational endpoints.
func TestServeWebOnItsOwnAddress(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "twimlbin.db"), store.Options{NoSync: true})
	require.NoError(t, err)
	var out bytes.Buffer
	srv, err := newServer(serveConfig{Addr: "127.0.0.1:0", WebAddr: "127.0.0.1:0", DB: "test"}, db, slog.New(slog.DiscardHandler), &out)
	require.NoError(t, err)
	runUntilCleanup(t, srv)
	require.NotEqual(t, srv.url, srv.webURL)
	assert.Contains(t, out.String(), "twimlbin is serving at "+srv.url+" (web form at "+srv.webURL+"; ")
	assert.Contains(t, out.String(), "sign in to the web form at "+srv.webURL+"/")

	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		require.NoError(t, err)
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, resp.Header.Get("Content-Type")
	}
	tests := []struct {
		url    string
		status int
		ctype  string
	}{
		{srv.url + "/healthz", 200, "application/json"},
		{srv.url + "/api/v1/openapi.json", 200, "application/json"},
		{srv.url + "/twiml/EH" + strings.Repeat("0", 32), 404, "application/json"},
		{srv.url + "/", 404, "application/json"},
		{srv.url + "/login", 404, "application/json"},
		{srv.url + "/assets/app.js", 404, "application/json"},
		{srv.webURL + "/login", 200, "text/html"},
		{srv.webURL + "/assets/app.js", 200, "text/javascript"},
		{srv.webURL + "/twiml/EH" + strings.Repeat("0", 32), 404, "text/html"},
		{srv.webURL + "/api/v1/openapi.json", 404, "text/html"},
		{srv.webURL + "/healthz", 404, "text/html"},
	}
	for _, tt := range tests {
		status, ctype := get(tt.url)
		assert.Equal(t, tt.status, status, tt.url)
		assert.True(t, strings.HasPrefix(ctype, tt.ctype), "%s: Content-Type %q", tt.url, ctype)
	}
}

// runUntilCleanup runs srv until the test ends, then checks that it shut
// down cleanly.
func runUntilCleanup(t *testing.T, srv *server) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		assert.NoError(t, <-served)
	})
}
