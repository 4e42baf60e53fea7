package api

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/twimlbin/twimlbin/engine"
	"github.com/twimlbin/twimlbin/internal/backendtest"
	"github.com/twimlbin/twimlbin/internal/logwriter"
	"github.com/twimlbin/twimlbin/templates"
)

// benchRequest is the contextual-calling bin's request as Twilio makes it:
// the backend's parameters in the query string, Twilio's in the form body.
type benchRequest struct {
	query string
	form  string
}

func contextualCall(b *testing.B) (templates.Entry, benchRequest) {
	b.Helper()
	entry, ok := templates.Get("client-contextual-call")
	if !ok {
		b.Fatal("no client-contextual-call in the gallery")
	}
	query, form := entry.Request()
	return entry, benchRequest{query: query.Encode(), form: form.Encode()}
}

// benchEnv is a server over a database holding the contextual-calling bin,
// writing its access log as twimlbin serve does, through a
// logwriter.Writer, here to io.Discard.
func benchEnv(b *testing.B) (*env, string, benchRequest) {
	b.Helper()
	entry, r := contextualCall(b)
	t := &testing.T{}
	accessLog := logwriter.New(io.Discard)
	e := &env{t: t, storage: backendtest.New(b), cfg: Config{AccessLog: accessLog}}
	e.open()
	b.Cleanup(func() {
		e.db.Close()
		accessLog.Close()
	})
	u := e.newUser("bench")
	bin, err := e.db.CreateBin(u.sid, storeInput("bench", entry.Template, "strict"))
	if err != nil {
		b.Fatal(err)
	}
	// Check that the bin answers the golden output before timing it.
	rec := serveBench(e.srv.Handler(), "/twiml/"+bin.SID, r)
	if rec.Code != http.StatusOK || rec.Body.String() != entry.Golden {
		b.Fatalf("bin answers %d %q, want the golden %q", rec.Code, rec.Body, entry.Golden)
	}
	return e, bin.SID, r
}

// bareEcho is echo.New() with no middleware and one handler on the bin
// URL's routes, answering body with the bin URL's constant headers: what
// serving these bytes costs in echo alone, the peer twimlbin-load times
// the bin URL against.
func bareEcho(body []byte) http.Handler {
	e := echo.New()
	answer := func(c echo.Context) error {
		h := c.Response().Header()
		h["Content-Security-Policy"] = inertPolicy
		h["X-Content-Type-Options"] = nosniff
		h[echo.HeaderCacheControl] = noStore
		return c.Blob(http.StatusOK, xmlContentType, body)
	}
	e.GET("/twiml/:sid", answer)
	e.POST("/twiml/:sid", answer)
	return e
}

func serveBench(h http.Handler, path string, r benchRequest) *httptest.ResponseRecorder {
	hr := httptest.NewRequest("POST", path+"?"+r.query, strings.NewReader(r.form))
	hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, hr)
	return rec
}

// benchCall is one request to replay through a handler, with a response
// writer that keeps nothing: what a benchmark of the bin URL times is the
// handler's work, not httptest's.
type benchCall struct {
	req  *http.Request
	body strings.Reader
	form string
	w    benchWriter
}

func newBenchCall(path string, r benchRequest) *benchCall {
	c := &benchCall{form: r.form, w: benchWriter{header: http.Header{}}}
	c.req = httptest.NewRequest("POST", path+"?"+r.query, nil)
	c.req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	c.req.ContentLength = int64(len(r.form))
	return c
}

// serve sends the request through h and returns the answer's status.
func (c *benchCall) serve(h http.Handler) int {
	c.body.Reset(c.form)
	c.req.Body = benchBody{&c.body}
	clear(c.w.header)
	c.w.status = 0
	h.ServeHTTP(&c.w, c.req)
	return c.w.status
}

type benchBody struct{ *strings.Reader }

func (benchBody) Close() error { return nil }

type benchWriter struct {
	header http.Header
	status int
}

func (w *benchWriter) Header() http.Header { return w.header }

func (w *benchWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *benchWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return len(b), nil
}

// benchmarkPath times the bin URL's path of the server, or, with bare,
// of bareEcho answering the bin's output.
func benchmarkPath(b *testing.B, bare bool, parallel bool) {
	e, sid, r := benchEnv(b)
	path := "/twiml/" + sid
	h := e.srv.Handler()
	if bare { // TestBareEchoAnswersAsTheBinURL checks it answers alike
		entry, _ := contextualCall(b)
		h = bareEcho([]byte(entry.Golden))
	}
	b.ReportAllocs()
	b.ResetTimer()
	if !parallel {
		call := newBenchCall(path, r)
		for b.Loop() {
			if status := call.serve(h); status != http.StatusOK {
				b.Fatalf("status %d", status)
			}
		}
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		call := newBenchCall(path, r)
		for pb.Next() {
			if status := call.serve(h); status != http.StatusOK {
				b.Errorf("status %d", status)
				return
			}
		}
	})
}

// sameHeaders reports whether two answers have the same headers but for
// the request ID, which only the bin URL sends, and Date, which net/http
// adds to every answer that has none.
func sameHeaders(a, b http.Header) bool {
	a, b = a.Clone(), b.Clone()
	for _, h := range []http.Header{a, b} {
		h.Del(echo.HeaderXRequestID)
		h.Del("Date")
	}
	return maps.EqualFunc(a, b, slices.Equal)
}

// BenchmarkBinURL serves the contextual-calling bin through the router and
// every middleware, as Twilio requests it (query and form parameters).
func BenchmarkBinURL(b *testing.B) { benchmarkPath(b, false, false) }

// BenchmarkBareEcho serves the same bytes and headers from a bare
// echo.New() with one handler and no middleware: what BenchmarkBinURL
// adds (middleware, store and template work) is the difference.
func BenchmarkBareEcho(b *testing.B) { benchmarkPath(b, true, false) }

// BenchmarkBinURLParallel is BenchmarkBinURL from GOMAXPROCS goroutines.
func BenchmarkBinURLParallel(b *testing.B) { benchmarkPath(b, false, true) }

// BenchmarkBareEchoParallel is BenchmarkBareEcho from GOMAXPROCS goroutines.
func BenchmarkBareEchoParallel(b *testing.B) { benchmarkPath(b, true, true) }

// BenchmarkBinURLManyBins serves the contextual-calling bin from a
// database of 100,000 bins with that template, each served once before
// timing: "one" requests the same bin every time, "random" a random bin
// per request, which adds what serving many bins costs (cache lookups
// across 100,000 entries, usage of up to that many bins to count and
// flush every second). Usage is flushed in the background as in
// production.
func BenchmarkBinURLManyBins(b *testing.B) {
	entry, r := contextualCall(b)
	e := &env{t: &testing.T{}, storage: backendtest.New(b), cfg: Config{}}
	e.open()
	b.Cleanup(func() { e.db.Close() })
	u := e.newUser("bench")
	const n = 100_000
	sids := make([]string, n)
	for i := range sids {
		bin, err := e.db.CreateBin(u.sid, storeInput("bench", entry.Template, "strict"))
		if err != nil {
			b.Fatal(err)
		}
		sids[i] = bin.SID
	}
	h := e.srv.Handler()
	for _, sid := range sids {
		if rec := serveBench(h, "/twiml/"+sid, r); rec.Code != http.StatusOK || rec.Body.String() != entry.Golden {
			b.Fatalf("bin answers %d %q, want the golden output", rec.Code, rec.Body)
		}
	}
	paths := make([]string, n)
	for i, sid := range sids {
		paths[i] = "/twiml/" + sid
	}
	for _, bc := range []struct {
		name string
		next func(i int) string
	}{
		{"one", func(int) string { return paths[0] }},
		{"random", func(i int) string { return paths[(i*7919)%n] }}, // a prime: hop across every bin
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := rand.IntN(n)
				for pb.Next() {
					if rec := serveBench(h, bc.next(i), r); rec.Code != http.StatusOK {
						b.Errorf("status %d", rec.Code)
						return
					}
					i++
				}
			})
		})
	}
}

// BenchmarkBinParams picks the contextual-calling bin's parameters out of
// Twilio's request: the query string's, then the form body's.
func BenchmarkBinParams(b *testing.B) {
	entry, r := contextualCall(b)
	t, err := engine.Compile(entry.Template)
	if err != nil {
		b.Fatal(err)
	}
	vars := newVarSet(t.Variables())
	b.ReportAllocs()
	for b.Loop() {
		p := getParams()
		if got := vars.binParams(r.query, nil, r.form, p); slices.ContainsFunc(got, func(v []string) bool { return v == nil }) {
			b.Fatal("a parameter the template reads was not picked")
		}
		putParams(p)
	}
}

// TestBareEchoAnswersAsTheBinURL: the baseline of BenchmarkBareEcho
// answers the bytes and headers the bin URL answers, but for the request
// ID, so that the two benchmarks differ only in the work behind them.
func TestBareEchoAnswersAsTheBinURL(t *testing.T) {
	entry, ok := templates.Get("client-contextual-call")
	if !ok {
		t.Fatal("no client-contextual-call in the gallery")
	}
	query, form := entry.Request()
	r := benchRequest{query: query.Encode(), form: form.Encode()}
	e := newEnv(t, Config{})
	u := e.newUser("bench")
	bin, err := e.db.CreateBin(u.sid, storeInput("bench", entry.Template, "strict"))
	if err != nil {
		t.Fatal(err)
	}
	want := serveBench(e.srv.Handler(), "/twiml/"+bin.SID, r)
	got := serveBench(bareEcho([]byte(entry.Golden)), "/twiml/"+bin.SID, r)
	if got.Code != want.Code || got.Body.String() != want.Body.String() {
		t.Errorf("bare echo answers %d %q, the bin URL %d %q", got.Code, got.Body, want.Code, want.Body)
	}
	if !sameHeaders(got.Header(), want.Header()) {
		t.Errorf("bare echo's headers %v, the bin URL's %v", got.Header(), want.Header())
	}
	if got.Header().Get(echo.HeaderXRequestID) != "" {
		t.Errorf("bare echo sends a request ID")
	}
}

// BenchmarkAccessLog: the access line written by hand, as the server
// writes it, against log/slog's TextHandler writing the same record.
func BenchmarkAccessLog(b *testing.B) {
	line := accessLine{at: time.Now(), requestID: "ABCDEFGHIJKLMNOPQRSTUVWXYZ", method: "POST",
		path: "/twiml/EH0123456789abcdef0123456789abcdef", route: "/twiml/:sid", status: 200, bytes: 380,
		duration: 1234567 * time.Nanosecond, remoteIP: netip.MustParseAddr("127.0.0.1")}
	b.Run("by-hand", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 256)
		for b.Loop() {
			buf = line.appendTo(buf[:0])
			_, _ = io.Discard.Write(buf)
		}
	})
	b.Run("slog", func(b *testing.B) {
		b.ReportAllocs()
		logger := slog.New(slog.NewTextHandler(io.Discard, nil))
		ctx := context.Background()
		for b.Loop() {
			logger.LogAttrs(ctx, slog.LevelInfo, "request",
				slog.String("request_id", line.requestID), slog.String("method", line.method), slog.String("path", line.path),
				slog.String("route", line.route), slog.Int("status", line.status), slog.Int64("bytes", line.bytes),
				slog.Duration("duration", line.duration), slog.String("remote_ip", line.remoteIP.String()))
		}
	})
}
