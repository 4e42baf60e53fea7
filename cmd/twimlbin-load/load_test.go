package main

import (
	"bufio"
	"bytes"
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary be the peer: the load run starts its own
// executable with -peer-body, and under test that is this binary.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "-"+peerFlag {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// result is what one run of the command produced.
type result struct {
	code           int
	stdout, stderr string
}

func runCommand(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), args, strings.NewReader(""), &stdout, &stderr)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// TestLoad runs a tiny load run from the repository's root, building
// twimlbin itself: every part runs, every request is answered as expected
// and every access-log line is there, or the exit code would be 1 (the
// figures themselves are not checked). wrk runs if it is on PATH. Part 4
// is left to TestLoadEtcd: here the etcd server cannot be found, and the
// run says it skips the part.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds twimlbin and runs servers")
	}
	t.Setenv("TWIMLBIN_ETCD", filepath.Join(t.TempDir(), "no-etcd"))
	t.Chdir("../..")
	got := runCommand(t, "-clients", "2", "-duration", "50ms", "-rounds", "1",
		"-wrk-duration", "1s", "-wrk-connections", "4",
		"-bins", "20", "-create-clients", "1", "-create-duration", "50ms")
	if got.code != exitOK {
		t.Fatalf("exit code %d\nstdout:\n%s\nstderr:\n%s", got.code, got.stdout, got.stderr)
	}
	want := []string{
		"serve --addr 127.0.0.1:0 --db DB, default flags",
		"round 1, peer:", "round 1, bin URL:", "bin URL / peer:", "bin URL p99 - peer p99",
		"creates:", "access log of serve: ", "bins:", "each bin once (cold):", "round 1, random of ",
		"round 1, one bin stored:", " / one bin stored:", "VmRSS", "Go heap in use",
		"access log of serve with one bin: ", // and of the serve with -bins bins or more (part 2 may make more)
		"4. The etcd backend: skipped, no etcd server", "no-etcd",
	}
	if _, err := exec.LookPath("wrk"); err == nil {
		want = append(want, "wrk round 1, peer:", "wrk round 1, bin URL:")
	} else {
		want = append(want, "b. wrk: skipped, not found")
	}
	for _, w := range want {
		if !strings.Contains(got.stdout, w) {
			t.Errorf("the report lacks %q:\n%s", w, got.stdout)
		}
	}
	if n := strings.Count(got.stdout, "requests served (one each)"); n != 3 {
		t.Errorf("%d access logs hold one line per request, want 3:\n%s", n, got.stdout)
	}
}

// TestLoadEtcd runs part 4 alone, briefly, over a cluster of real etcd
// members: every figure is reported, every request is answered as
// expected, every node serves every update, and every access-log line is
// there, or the exit code would be 1 (the figures themselves are not
// checked).
func TestLoadEtcd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds twimlbin and runs servers and an etcd cluster")
	}
	t.Chdir("../..")
	got := runCommand(t, "-etcd-only", "-clients", "2", "-duration", "50ms", "-rounds", "1",
		"-bins", "200", "-create-clients", "1", "-create-duration", "50ms", "-etcd-updates", "6")
	if got.code != exitOK {
		t.Fatalf("exit code %d\nstdout:\n%s\nstderr:\n%s", got.code, got.stdout, got.stderr)
	}
	want := []string{
		"4. The etcd backend against the bbolt file: etcd ",
		"round 1, bbolt:", "round 1, etcd:", "etcd / bbolt: ", "(target ≥ 0.95: ",
		"creates, bbolt:", "creates, etcd:",
		" bins on each side", "etcd's data over them: database in use ", " bytes in use per bin,",
		"serve over etcd: listening", "serve over bbolt: listening", "after 100 requests of random bins (0 errors)",
		"VmRSS", "Go heap in use", "etcd / bbolt: resident ", "; anonymous ",
		"updates answered by A: ", "answered on A → served by B: ", "over 12 (update, other node) pairs (target p99 ≤ 100ms: ",
		" bytes in use per update",
		"access log of node A: ", "access log of node B: ", "access log of node C: ",
		"load average after: ",
	}
	for _, w := range want {
		if !strings.Contains(got.stdout, w) {
			t.Errorf("the report lacks %q:\n%s", w, got.stdout)
		}
	}
	for _, other := range []string{"1. The contextual-calling bin", "2. Creates", "random of "} {
		if strings.Contains(got.stdout, other) {
			t.Errorf("-etcd-only runs another part too (%q):\n%s", other, got.stdout)
		}
	}
	// Two serves for a and b, started again for c, and three nodes for d.
	if n := strings.Count(got.stdout, "requests served (one each)"); n != 7 {
		t.Errorf("%d access logs hold one line per request, want 7:\n%s", n, got.stdout)
	}
}

func TestFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string // in stderr
	}{
		{[]string{"-clients", "0"}, "take 1 or more"},
		{[]string{"-rounds", "0"}, "take 1 or more"},
		{[]string{"-duration", "0s"}, "positive duration"},
		{[]string{"-wrk-duration", "1500ms"}, "whole seconds"},
		{[]string{"-wrk-connections", "1", "-wrk-threads", "2"}, "at least one per thread"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"-twimlbin", filepath.Join(t.TempDir(), "missing")}, "want a built twimlbin binary"},
		{[]string{"-no-such-flag"}, "flag provided but not defined"},
		{[]string{"-etcd-updates", "0"}, "take 1 or more"},
		{[]string{"-etcd-only", "-peer-only"}, "give one of them"},
		{[]string{"-peer-work", "-1us"}, "want a duration of 0 or more"},
	} {
		got := runCommand(t, tt.args...)
		if got.code != exitUsage || !strings.Contains(got.stderr, tt.want) {
			t.Errorf("%v: exit code %d, stderr %q; want %d and %q", tt.args, got.code, got.stderr, exitUsage, tt.want)
		}
	}
	got := runCommand(t, "-h")
	if got.code != exitOK {
		t.Errorf("-h: exit code %d", got.code)
	}
	for _, w := range []string{"serve --addr 127.0.0.1:0", "no middleware", "Nothing is flushed between runs", "no garbage collection", "-wrk-duration", "-twimlbin PATH", "--etcd-endpoints", "-etcd-only", "-etcd-updates", "-peer-work"} {
		if !strings.Contains(got.stderr, w) {
			t.Errorf("-h lacks %q", w)
		}
	}
	if strings.Contains(got.stderr, "-"+peerFlag) {
		t.Errorf("-h lists the peer's mode, -%s", peerFlag)
	}

	// -etcd-only without an etcd server stops before building anything.
	t.Setenv("TWIMLBIN_ETCD", filepath.Join(t.TempDir(), "no-etcd"))
	got = runCommand(t, "-etcd-only")
	if got.code != exitUsage || !strings.Contains(got.stderr, "-etcd-only: ") || !strings.Contains(got.stderr, "no-etcd") {
		t.Errorf("-etcd-only without etcd: exit code %d, stderr %q; want %d and the missing etcd named", got.code, got.stderr, exitUsage)
	}
}

// TestParseServeOutput reads what serve prints, in the words of
// cmd/twimlbin/serve.go (TestLoad reads the real thing).
func TestParseServeOutput(t *testing.T) {
	const first = "twimlbin is serving at http://127.0.0.1:39001 (database /tmp/x.db)\n" +
		"\nCreated the first account. Keep its credentials: the auth token is not shown again.\n" +
		"  Account SID: AC0123\n  Auth token:  tok456\n\nTry it:\n"
	url, sid, token, err := parseServeOutput(bufio.NewReader(strings.NewReader(first)), true)
	if err != nil || url != "http://127.0.0.1:39001" || sid != "AC0123" || token != "tok456" {
		t.Errorf("first start: %q %q %q %v", url, sid, token, err)
	}
	const again = "twimlbin is serving at http://127.0.0.1:39002 (database /tmp/x.db)\n"
	url, _, _, err = parseServeOutput(bufio.NewReader(strings.NewReader(again)), false)
	if err != nil || url != "http://127.0.0.1:39002" {
		t.Errorf("database with an account: %q %v", url, err)
	}
	for name, out := range map[string]string{
		"no account printed":  again,
		"nothing printed":     "",
		"serving elsewhere":   "twimlbin is serving at https://bins.example.com (database x.db)\n",
		"cut off after a SID": strings.Split(first, "  Auth token")[0],
	} {
		if _, _, _, err := parseServeOutput(bufio.NewReader(strings.NewReader(out)), true); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

const wrkReport = `Running 5s test @ http://127.0.0.1:40001/
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.31ms    1.80ms  31.22ms   88.01%
    Req/Sec    14.52k     1.31k   17.40k    71.00%
  Latency Distribution
     50%    1.95ms
     75%    2.80ms
     90%    4.02ms
     99%  812.00us
  144480 requests in 5.01s, 90.67MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  28838.32
Transfer/sec:     18.10MB
`

func TestParseWrk(t *testing.T) {
	got, err := parseWrk(wrkReport)
	if err != nil {
		t.Fatal(err)
	}
	want := wrkResult{requests: 144480, elapsed: 5010 * time.Millisecond, rate: 28838.32,
		p50: 1950 * time.Microsecond, p99: 812 * time.Microsecond, non2xx: 4, socket: 3}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if _, err := parseWrk(strings.Replace(wrkReport, "     99%", "     98%", 1)); err == nil {
		t.Error("a report without its 99th percentile: no error")
	}
	if _, err := parseWrk(strings.Replace(wrkReport, "1.95ms", "1.95xs", 1)); err == nil {
		t.Error("a latency in no known unit: no error")
	}
	for s, want := range map[string]time.Duration{"1.20m": 72 * time.Second, "2.00s": 2 * time.Second, "1.00h": time.Hour} {
		if got, err := parseWrkDuration(s); err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", s, got, err, want)
		}
	}
}

func TestParseMetrics(t *testing.T) {
	const text = `# HELP twimlbin_http_requests_total HTTP requests by route, method and status code.
# TYPE twimlbin_http_requests_total counter
twimlbin_http_requests_total{code="200",method="POST",route="/twiml/:sid"} 1234
twimlbin_http_requests_total{code="201",method="POST",route="/api/v1/bins"} 6
go_memstats_heap_inuse_bytes 1.2582912e+07
`
	got, err := parseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if got["twimlbin_http_requests_total"] != 1240 || got["go_memstats_heap_inuse_bytes"] != 12582912 {
		t.Errorf("got %v", got)
	}
	if _, err := parseMetrics(strings.NewReader("go_goroutines many\n")); err == nil {
		t.Error("a value that is no number: no error")
	}
}

func TestReadAccessLog(t *testing.T) {
	log := filepath.Join(t.TempDir(), "serve.log")
	lines := `time=2025-01-01T00:00:00Z level=INFO msg=request request_id=A method=POST path=/twiml/EH1 route=/twiml/:sid status=200 bytes=380 duration=6.191µs remote_ip=127.0.0.1
time=2025-01-01T00:00:00Z level=WARN msg="flush failed" error=x
time=2025-01-01T00:00:00Z level=INFO msg=request request_id=B method=GET path=/metrics route=/metrics status=200 bytes=9 duration=2ms remote_ip=127.0.0.1
time=2025-01-01T00:00:00Z level=INFO msg=request request_id=C method=POST path=/twiml/EH2 route=/twiml/:sid status=404 bytes=90 duration=3s remote_ip=127.0.0.1
time=2025-01-01T00:00:00Z level=INFO msg=request request_id=D method=GET path=/twiml/EH1 route=/twiml/:sid status=200 bytes=380 duration=1.5ms remote_ip=127.0.0.1
time=2025-01-01T00:00:00Z level=INFO msg="shutting down"
`
	if err := os.WriteFile(log, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readAccessLog(log)
	if err != nil {
		t.Fatal(err)
	}
	want := accessLog{lines: 4, binURLTimes: []time.Duration{6191 * time.Nanosecond, 1500 * time.Microsecond}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("readAccessLog = %+v; want %+v", got, want)
	}

	bad := strings.Replace(lines, "duration=6.191µs", "duration=soon", 1)
	if err := os.WriteFile(log, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readAccessLog(log); err == nil || !strings.Contains(err.Error(), `"soon"`) {
		t.Errorf("a bin URL line whose duration is no duration: error %v", err)
	}
}

func TestQuantile(t *testing.T) {
	sorted := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for q, want := range map[float64]time.Duration{0: 1, 0.5: 6, 0.99: 10, 0.999: 10, 1: 10} {
		if got := quantile(sorted, q); got != want {
			t.Errorf("quantile(1..10, %v) = %v; want %v", q, got, want)
		}
	}
	if got := fmtHandlerTime(6191 * time.Nanosecond); got != "6.2µs" {
		t.Errorf("fmtHandlerTime(6.191µs) = %q", got)
	}
	if got := fmtHandlerTime(1500 * time.Microsecond); got != "1.50ms" {
		t.Errorf("fmtHandlerTime(1.5ms) = %q", got)
	}
}

// TestPeerTimeoutsAreServes: the peer's http.Server has the timeouts and
// limits of serve's (the constants of cmd/twimlbin/serve.go).
func TestPeerTimeoutsAreServes(t *testing.T) {
	ours := map[string]time.Duration{
		"readHeaderTimeout": readHeaderTimeout, "readTimeout": readTimeout, "writeTimeout": writeTimeout,
		"idleTimeout": idleTimeout, "shutdownTimeout": shutdownTimeout, "maxHeaderBytes": maxHeaderBytes,
	}
	serves := constExprs(t, "../twimlbin/serve.go")
	for name, v := range ours {
		expr, ok := serves[name]
		if !ok {
			t.Errorf("serve.go declares no %s", name)
			continue
		}
		d, err := evalDuration(expr)
		if err != nil {
			t.Errorf("serve.go's %s = %s: %v", name, expr, err)
		} else if d != v {
			t.Errorf("serve.go's %s is %s = %v, the peer's %v", name, expr, d, v)
		}
	}
}

// constExprs returns the source of each constant's value in a Go file.
func constExprs(t *testing.T, path string) map[string]string {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok {
			for i, name := range vs.Names {
				if i < len(vs.Values) {
					out[name.Name] = string(src[fset.Position(vs.Values[i].Pos()).Offset:fset.Position(vs.Values[i].End()).Offset])
				}
			}
		}
		return true
	})
	return out
}

// evalDuration evaluates "N * time.Unit" or "N << M" or "N".
func evalDuration(expr string) (time.Duration, error) {
	if n, shift, ok := strings.Cut(expr, "<<"); ok {
		a, err := time.ParseDuration(strings.TrimSpace(n) + "ns")
		if err != nil {
			return 0, err
		}
		b, err := time.ParseDuration(strings.TrimSpace(shift) + "ns")
		return a << b, err
	}
	n, unit, _ := strings.Cut(expr, "*")
	units := map[string]string{"time.Second": "s", "time.Minute": "m", "time.Millisecond": "ms", "": "ns"}
	u, ok := units[strings.TrimSpace(unit)]
	if !ok {
		return 0, &time.ParseError{Value: expr, Message: ": not N * time.Unit"}
	}
	return time.ParseDuration(strings.TrimSpace(n) + u)
}

// TestPeerWork: with -peer-work the peer still answers the bin URL's bytes,
// and only after keeping the processor busy for at least that long.
func TestPeerWork(t *testing.T) {
	body := []byte("<Response/>")
	for _, work := range []time.Duration{0, 3 * time.Millisecond} {
		h := peerHandler(body, work)
		rec := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/twiml/EH0", nil))
		took := time.Since(start)
		if rec.Code != http.StatusOK || rec.Body.String() != string(body) {
			t.Errorf("work %s: answered %d %q, want 200 %q", work, rec.Code, rec.Body, body)
		}
		if took < work {
			t.Errorf("work %s: answered after %s", work, took)
		}
	}
}
