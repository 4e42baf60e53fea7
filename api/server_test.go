package api

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/twimlbin/twimlbin/internal/backendtest"
	"github.com/twimlbin/twimlbin/store"
)

func TestErrorShapes(t *testing.T) {
	e := newEnv(t, Config{MaxBodyBytes: 1 << 10})
	u := e.newUser("alice")
	b := e.createBin(u, helloTemplate, "")

	e.fail(req{method: "GET", path: "/nowhere"}, 404, codeNotFound)
	e.fail(req{method: "GET", path: "/api/v1/nowhere", user: &u}, 404, codeNotFound)
	e.fail(req{method: "GET", path: "/api/v1/bins/" + b.SID + "/nowhere", user: &u}, 404, codeNotFound)

	for _, r := range []req{
		{method: "PUT", path: "/api/v1/bins/" + b.SID, user: &u},
		{method: "DELETE", path: "/api/v1/bins", user: &u},
		{method: "PUT", path: "/twiml/" + b.SID},
		{method: "DELETE", path: "/twiml/" + b.SID},
		{method: "POST", path: "/healthz"},
		{method: "GET", path: "/api/v1/validate", user: &u},
		{method: "GET", path: "/api/v1/bins/" + b.SID + "/revisions/1/restore", user: &u},
	} {
		rec := e.do(r)
		checkError(t, r.method+" "+r.path, rec, 405, codeMethodNotAllowed)
		if rec.Header().Get("Allow") == "" {
			t.Errorf("%s %s: 405 without Allow", r.method, r.path)
		}
	}

	// 413, by Content-Length and by reading (chunked, no length).
	big := `{"template": "` + strings.Repeat("a", 2<<10) + `"}`
	e.fail(req{method: "POST", path: "/api/v1/bins", user: &u, body: big, contentType: "application/json"}, 413, codeBodyTooLarge)
	hr := httptest.NewRequest("POST", "/api/v1/bins", strings.NewReader(big))
	hr.ContentLength = -1
	hr.Header.Set("Content-Type", "application/json")
	hr.SetBasicAuth(u.sid, u.token)
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, hr)
	checkError(t, "chunked", rec, 413, codeBodyTooLarge)
	e.fail(req{method: "POST", path: "/twiml/" + b.SID, body: "name=" + strings.Repeat("a", 2<<10), contentType: "application/x-www-form-urlencoded"}, 413, codeBodyTooLarge)

	// Every response has a request ID; a sensible incoming one is kept.
	rec = e.do(req{method: "GET", path: "/nowhere", header: http.Header{"X-Request-Id": {"abc-123"}}})
	if got := rec.Header().Get("X-Request-Id"); got != "abc-123" {
		t.Errorf("X-Request-Id %q", got)
	}
	rec = e.do(req{method: "GET", path: "/healthz", header: http.Header{"X-Request-Id": {"bad\x01id"}}})
	if got := rec.Header().Get("X-Request-Id"); got == "" || got == "bad\x01id" {
		t.Errorf("X-Request-Id %q", got)
	}
}

func TestPanicRecovery(t *testing.T) {
	var logs bytes.Buffer
	e := newEnv(t, Config{})
	srv, err := New(Config{}, e.db, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv.echo.GET("/panic", func(echo.Context) error { panic("secret detail") })
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/panic", nil))
	checkError(t, "panic", rec, 500, codeInternal)
	if strings.Contains(rec.Body.String(), "secret") {
		t.Errorf("500 reveals the panic: %s", rec.Body)
	}
	if !strings.Contains(logs.String(), "secret detail") || !strings.Contains(logs.String(), rec.Header().Get("X-Request-Id")) {
		t.Errorf("the panic is not logged with the request ID: %s", logs.String())
	}
}

func TestAccessLog(t *testing.T) {
	var logs bytes.Buffer
	e := newEnv(t, Config{})
	srv, err := New(Config{AccessLog: &logs}, e.db, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/twiml/EH123?From=%2B15551234567", nil))
	if strings.Contains(logs.String(), "555") {
		t.Errorf("the access log has the query string: %s", logs.String())
	}
	if n := strings.Count(logs.String(), "\n"); n != 1 {
		t.Fatalf("%d lines for one request: %q", n, logs.String())
	}
	for _, want := range []string{" level=INFO msg=request ", " request_id=" + rec.Header().Get("X-Request-Id") + " ",
		" method=GET path=/twiml/EH123 route=/twiml/:sid status=404 ", " remote_ip=192.0.2.1\n"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("access log %q lacks %q", logs.String(), want)
		}
	}
}

// TestAccessLogClientAddress: the access log names the client as the rate
// limits do: X-Forwarded-For counts only from a trusted proxy, so a client
// cannot write another address into the log.
func TestAccessLogClientAddress(t *testing.T) {
	var logs bytes.Buffer
	e := newEnv(t, Config{})
	srv, err := New(Config{AccessLog: &logs, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, e.db, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ peer, forwardedFor, want string }{
		{"192.0.2.1:5000", "", "192.0.2.1"},
		{"192.0.2.1:5000", "203.0.113.9", "192.0.2.1"},
		{"10.1.2.3:5000", "203.0.113.9", "203.0.113.9"},
		{"[2001:db8::7]:5000", "203.0.113.9", "2001:db8::7"},
		{"not an address", "", `""`},
	} {
		logs.Reset()
		r := httptest.NewRequest("GET", "/twiml/EH123", nil)
		r.RemoteAddr = tc.peer
		if tc.forwardedFor != "" {
			r.Header.Set("X-Forwarded-For", tc.forwardedFor)
		}
		srv.Handler().ServeHTTP(httptest.NewRecorder(), r)
		if want := " remote_ip=" + tc.want + "\n"; !strings.HasSuffix(logs.String(), want) {
			t.Errorf("peer %s, X-Forwarded-For %q: access line %q, want it to end with %q", tc.peer, tc.forwardedFor, logs.String(), want)
		}
	}
}

// TestAccessLineIsSlogText: the access log writes its lines by hand, for
// speed, exactly as log/slog's TextHandler would write the same record,
// so that one parser reads every line of the server's log.
func TestAccessLineIsSlogText(t *testing.T) {
	at := time.Date(2026, 12, 2, 11, 43, 56, 123456789, time.UTC)
	for _, path := range []string{
		"/twiml/EH0123456789abcdef0123456789abcdef", "/twiml/a b", `/twiml/"quoted"`, "/twiml/a=b", "/twiml/é☎",
		"/twiml/\x00\n\t", "/twiml/\xff", "/twiml/\u2028", `/twiml/back\slash`, "",
	} {
		for _, remoteIP := range []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("2001:db8::1"), {}} {
			line := accessLine{at: at, requestID: "ABCDEFGHIJKLMNOPQRSTUVWXYZ", method: "POST", path: path, route: "/twiml/:sid",
				status: 200, bytes: 380, duration: 1234567 * time.Nanosecond, remoteIP: remoteIP}
			remote := ""
			if remoteIP.IsValid() {
				remote = remoteIP.String()
			}
			var want bytes.Buffer
			slog.New(slog.NewTextHandler(&want, nil)).LogAttrs(context.Background(), slog.LevelInfo, "request",
				slog.String("request_id", line.requestID), slog.String("method", line.method), slog.String("path", line.path),
				slog.String("route", line.route), slog.Int("status", line.status), slog.Int64("bytes", line.bytes),
				slog.Duration("duration", line.duration), slog.String("remote_ip", remote))
			// The handler reads the time itself: put the line's in its place.
			wantLine := "time=2026-12-02T11:43:56.123Z" + want.String()[strings.Index(want.String(), " level="):]
			if got := string(line.appendTo(nil)); got != wantLine {
				t.Errorf("path %q, address %v:\n got %q\nwant %q", path, remoteIP, got, wantLine)
			}
		}
	}
}

func TestRequestIDs(t *testing.T) {
	ids := newRequestIDs()
	other := newRequestIDs()
	seen := map[string]bool{}
	for range 1000 {
		values := ids.next()
		if len(values) != 1 {
			t.Fatalf("request ID header values %q: want one", values)
		}
		id := values[0]
		if len(id) != 26 || !validRequestID(id) || strings.Trim(id, requestIDDigits) != "" || seen[id] {
			t.Fatalf("request ID %q: want 26 new characters of base32", id)
		}
		seen[id] = true
	}
	if first := other.next()[0]; seen[first] || first[:13] == ids.next()[0][:13] {
		t.Errorf("two servers' IDs share their prefix: %s", first)
	}
}

func TestHealth(t *testing.T) {
	e := newEnv(t, Config{})
	e.ok(req{method: "GET", path: "/healthz"}, http.StatusOK, nil)
	e.ok(req{method: "GET", path: "/readyz"}, http.StatusOK, nil)
	e.srv.Drain()
	e.fail(req{method: "GET", path: "/readyz"}, 503, codeNotReady)
	e.ok(req{method: "GET", path: "/healthz"}, http.StatusOK, nil)
}

// unreachableStore is a store that reports it cannot reach its cluster.
type unreachableStore struct {
	store.Store
	err error
}

func (u unreachableStore) Reachable() error { return u.err }

// TestReadyWhileStoreUnreachable: a node cut off from its etcd cluster
// stays ready, since it serves the bins it holds, and says what is wrong.
func TestReadyWhileStoreUnreachable(t *testing.T) {
	e := newEnv(t, Config{})
	var ready health
	e.ok(req{method: "GET", path: "/readyz"}, http.StatusOK, &ready)
	if ready.StoreUnreachable != "" {
		t.Errorf("store_unreachable %q on a store without a link", ready.StoreUnreachable)
	}
	cut := unreachableStore{Store: e.db, err: fmt.Errorf("etcd unreachable since 12:00:00: %w", store.ErrUnavailable)}
	srv, err := New(Config{}, cut, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	e.ok(req{method: "GET", path: "/readyz"}, http.StatusOK, &ready)
	if !strings.Contains(ready.StoreUnreachable, "unreachable since 12:00:00") {
		t.Errorf("store_unreachable %q does not say what is wrong", ready.StoreUnreachable)
	}
	cut.err = nil
	if e.srv, err = New(Config{}, cut, nil); err != nil {
		t.Fatal(err)
	}
	ready = health{}
	e.ok(req{method: "GET", path: "/readyz"}, http.StatusOK, &ready)
	if ready.StoreUnreachable != "" {
		t.Errorf("store_unreachable %q once reached again", ready.StoreUnreachable)
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.newUser("alice")
	b := e.createBin(u, helloTemplate, "")
	e.ok(req{method: "GET", path: "/twiml/" + b.SID}, http.StatusOK, nil)
	e.ok(req{method: "GET", path: "/twiml/" + b.SID}, http.StatusOK, nil)
	e.do(req{method: "GET", path: "/twiml/EH123"})
	e.do(req{method: "GET", path: "/some/random/path"})

	body := e.ok(req{method: "GET", path: "/metrics"}, http.StatusOK, nil).Body.String()
	for _, want := range []string{
		`twimlbin_http_requests_total{code="200",method="GET",route="/twiml/:sid"} 2`,
		`twimlbin_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`twimlbin_bin_requests_total{outcome="ok"} 2`,
		`twimlbin_bin_requests_total{outcome="not_found"} 1`,
		`twimlbin_render_duration_seconds_count{outcome="ok"} 2`,
		// The first request reads the bin and finds the template the create
		// compiled; the second is served from memory.
		`twimlbin_template_cache_requests_total{result="hit"} 1`,
		`twimlbin_bin_cache_requests_total{result="miss"} 1`,
		`twimlbin_bin_cache_requests_total{result="hit"} 1`,
		`twimlbin_store_duration_seconds_count{op="bin_by_sid"} 1`,
		`twimlbin_store_duration_seconds_count{op="write_bin"} 1`,
		`twimlbin_bins 1`,
		`twimlbin_accounts 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(body, "/some/random/path") {
		t.Error("an unmatched path is a label")
	}
}

func TestNewConfig(t *testing.T) {
	e := newEnv(t, Config{})
	for _, bad := range []string{"bins.example.com", "ftp://x", "https://x/?a=1", "https:///path"} {
		if _, err := New(Config{PublicURL: bad}, e.db, nil); err == nil {
			t.Errorf("PublicURL %q accepted", bad)
		}
	}
	srv, err := New(Config{PublicURL: "https://x.example/base/"}, e.db, nil)
	if err != nil || srv.base != "https://x.example/base" || srv.cfg.MaxBodyBytes != DefaultMaxBodyBytes {
		t.Errorf("New: %v %+v", err, srv)
	}
}

// TestRestart closes the database and opens it again: everything saved is
// there, and the counters too.
func TestRestart(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.newUser("alice")
	b := e.createBin(u, helloTemplate, "strict")
	path := "/api/v1/bins/" + b.SID
	e.ok(req{method: "POST", path: path, user: &u, json: map[string]any{"template": dialTemplate}}, http.StatusOK, nil)
	e.ok(req{method: "POST", path: "/api/v1/account", user: &u, json: map[string]any{"friendly_name": "Alice Ltd", "twilio_auth_token": "tok"}}, http.StatusOK, nil)
	sig := http.Header{"X-Twilio-Signature": {TwilioSignature("tok", "http://example.com/twiml/"+b.SID+"?callerId=abc", nil)}}
	e.do(req{method: "GET", path: "/twiml/" + b.SID + "?callerId=abc", header: sig}) // fails: an event
	var before binResource
	e.ok(req{method: "GET", path: path, user: &u}, http.StatusOK, &before)

	e.restart()

	var after binResource
	e.ok(req{method: "GET", path: path, user: &u}, http.StatusOK, &after)
	if after.Template != dialTemplate || after.Revision != 2 || after.RenderPolicy != "strict" || after.NumRequests != 1 ||
		!after.DateCreated.Equal(before.DateCreated) || after.DateLastAccessed == nil {
		t.Errorf("after restart %+v\nbefore %+v", after, before)
	}
	var revs revisionList
	e.ok(req{method: "GET", path: path + "/revisions", user: &u}, http.StatusOK, &revs)
	if len(revs.Revisions) != 2 {
		t.Errorf("%d revisions", len(revs.Revisions))
	}
	var events eventList
	e.ok(req{method: "GET", path: path + "/events", user: &u}, http.StatusOK, &events)
	if len(events.Events) != 1 || events.Events[0].Code != "13214" {
		t.Errorf("events %+v", events.Events)
	}
	var acct accountResource
	e.ok(req{method: "GET", path: "/api/v1/account", user: &u}, http.StatusOK, &acct)
	if acct.FriendlyName != "Alice Ltd" || !acct.TwilioAuthTokenSet {
		t.Errorf("account %+v", acct)
	}
	// The signature is still required, and the bin still renders.
	e.fail(req{method: "GET", path: "/twiml/" + b.SID}, 403, codeBadSignature)
	sig = http.Header{"X-Twilio-Signature": {TwilioSignature("tok", "http://example.com/twiml/"+b.SID+"?to=%2B15551234567", nil)}}
	rec := e.ok(req{method: "GET", path: "/twiml/" + b.SID + "?to=%2B15551234567", header: sig}, http.StatusOK, nil)
	if !strings.Contains(rec.Body.String(), "<Number>+15551234567</Number>") {
		t.Errorf("body %s", rec.Body)
	}
}

// TestReadOnlyDatabase serves a database opened read-only: bins are served
// and every read works, every write answers 503 with code 10508 and a
// message that says what to do, /readyz and /metrics say so, and nothing
// changes in the file.
func TestReadOnlyDatabase(t *testing.T) {
	backendtest.SkipUnlessBolt(t, "only a database file is opened read-only")
	e := newEnv(t, Config{OpenSignup: true, BackupAccounts: nil})
	u := e.newUser("alice")
	b := e.createBin(u, helloTemplate, "")
	binPath := "/api/v1/bins/" + b.SID
	e.readOnly = true
	e.restart()

	rec := e.ok(req{method: "GET", path: "/twiml/" + b.SID + "?name=Ada"}, http.StatusOK, nil)
	if !strings.Contains(rec.Body.String(), "Hello Ada") {
		t.Errorf("bin URL answered %s", rec.Body)
	}
	for _, r := range []req{
		{method: "GET", path: "/api/v1/bins", user: &u},
		{method: "GET", path: binPath, user: &u},
		{method: "GET", path: binPath + "/revisions/1", user: &u},
		{method: "GET", path: binPath + "/events", user: &u},
		{method: "GET", path: "/api/v1/account", user: &u},
		{method: "POST", path: binPath + "/preview", user: &u, json: map[string]any{"params": map[string]any{"name": "Bo"}}},
		{method: "POST", path: "/api/v1/validate", user: &u, json: map[string]any{"template": dialTemplate}},
	} {
		e.ok(r, http.StatusOK, nil)
	}
	var usage struct {
		NumRequests int `json:"num_requests"`
	}
	e.ok(req{method: "GET", path: binPath + "/usage", user: &u}, http.StatusOK, &usage)
	if usage.NumRequests != 1 {
		t.Errorf("usage counted in memory: %d requests, want 1", usage.NumRequests)
	}

	for _, r := range []req{
		{method: "POST", path: "/api/v1/bins", user: &u, json: map[string]any{"template": helloTemplate}},
		{method: "POST", path: binPath, user: &u, json: map[string]any{"template": dialTemplate}},
		{method: "DELETE", path: binPath, user: &u},
		{method: "POST", path: binPath + "/revisions/1/restore", user: &u},
		{method: "POST", path: "/api/v1/account", user: &u, json: map[string]any{"friendly_name": "Alice Ltd"}},
		{method: "POST", path: "/api/v1/account/auth-token", user: &u},
		{method: "POST", path: "/api/v1/accounts", json: map[string]any{"friendly_name": "Mallory"}},
	} {
		got := e.fail(r, http.StatusServiceUnavailable, codeReadOnly)
		if !strings.Contains(got.Message, "read-only") || !strings.Contains(got.Message, "bins are still served") {
			t.Errorf("%s %s: message %q does not say what happened and what still works", r.method, r.path, got.Message)
		}
	}

	var ready health
	e.ok(req{method: "GET", path: "/readyz"}, http.StatusOK, &ready)
	if !ready.ReadOnly {
		t.Error("/readyz does not say the database is read-only")
	}
	if body := e.ok(req{method: "GET", path: "/metrics"}, http.StatusOK, nil).Body.String(); !strings.Contains(body, "\ntwimlbin_store_read_only 1\n") {
		t.Error("metrics lack twimlbin_store_read_only 1")
	}

	e.readOnly = false
	e.restart()
	var after binResource
	e.ok(req{method: "GET", path: binPath, user: &u}, http.StatusOK, &after)
	if after.Revision != 1 || after.Template != helloTemplate {
		t.Errorf("after the read-only run: %+v", after)
	}
	ready = health{}
	e.ok(req{method: "GET", path: "/readyz"}, http.StatusOK, &ready)
	if ready.ReadOnly {
		t.Error("/readyz says read-only on a writable database")
	}
	e.ok(req{method: "POST", path: binPath, user: &u, json: map[string]any{"template": dialTemplate}}, http.StatusOK, nil)
}

// TestSecondTexts: the texts made once a second read as formatting the
// time on the spot would, in several zones and across a change to summer
// time, at milliseconds spread over four seconds, and the Date header is
// written as net/http writes it.
func TestSecondTexts(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("east", 5*3600+30*60), time.FixedZone("west", -8*3600)}
	if paris, err := time.LoadLocation("Europe/Paris"); err == nil {
		zones = append(zones, paris)
	}
	base := time.Date(2026, 3, 29, 0, 59, 58, 0, time.UTC) // across Paris' change to summer time
	for ms := 0; ms < 4000; ms += 7 {
		for _, zone := range zones { // the same second in each zone in turn
			at := base.Add(time.Duration(ms)*time.Millisecond + 123456*time.Nanosecond).In(zone)
			if got, want := string(appendLogTime(nil, at)), at.Format(accessLogTime); got != want {
				t.Fatalf("%v: log time %q, want %q", at, got, want)
			}
			if got, want := textsOf(at).date[0], at.UTC().Format(http.TimeFormat); got != want {
				t.Fatalf("%v: Date %q, want %q", at, got, want)
			}
		}
	}
}
