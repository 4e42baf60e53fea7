package api

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

func TestBinURL(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.newUser("alice")
	b := e.createBin(u, helloTemplate, "")
	path := "/twiml/" + b.SID

	tests := []struct {
		name string
		r    req
		want string
	}{
		{"GET with query", req{method: "GET", path: path + "?name=Ada"}, "Hello Ada"},
		{"GET without parameters", req{method: "GET", path: path}, "Hello "},
		{"escaped", req{method: "GET", path: path + "?name=%3Cb%3E%26"}, "Hello &lt;b&gt;&amp;"},
		{"POST form", req{method: "POST", path: path, form: url.Values{"name": {"Bea"}}}, "Hello Bea"},
		{"POST query only", req{method: "POST", path: path + "?name=Cy"}, "Hello Cy"},
		{"form wins over query", req{method: "POST", path: path + "?name=Query", form: url.Values{"name": {"Form"}}}, "Hello Form"},
		{"query kept beside form", req{method: "POST", path: path + "?name=Query", form: url.Values{"other": {"x"}}}, "Hello Query"},
		{"JSON body ignored", req{method: "POST", path: path + "?name=Q", body: `{"name":"J"}`, contentType: "application/json"}, "Hello Q"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			rec := e.ok(tt.r, http.StatusOK, nil)
			if got := rec.Header().Get("Content-Type"); got != "text/xml; charset=utf-8" {
				t.Errorf("Content-Type %q", got)
			}
			want := "<Response><Say>" + tt.want + "</Say></Response>"
			if got := rec.Body.String(); got != want {
				t.Errorf("body %q, want %q", got, want)
			}
		})
	}
}

// TestBinURLBodiesAreTheirOwn: bodies are read into recycled memory,
// which the values taken from them share; requests at once, with bodies
// of every length, stated or chunked, each get their own values back.
func TestBinURLBodiesAreTheirOwn(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.newUser("alice")
	b := e.createBin(u, `<Response><Say>{{name}} {{#Digits}}[{{.}}]{{/Digits}}</Say></Response>`, "")
	handler := e.srv.Handler()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				name := strings.Repeat(string(rune('a'+g)), 1+(i*7)%300)
				body := url.Values{"name": {name}, "Digits": {fmt.Sprint(i), fmt.Sprint(g)}}.Encode()
				r := httptest.NewRequest("POST", "/twiml/"+b.SID, strings.NewReader(body))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if i%2 == 1 {
					r.ContentLength = -1 // read to its end, as a chunked body
				}
				rec := httptest.NewRecorder()
				handler.ServeHTTP(rec, r)
				want := fmt.Sprintf("<Response><Say>%s [%d][%d]</Say></Response>", name, i, g)
				if rec.Code != http.StatusOK || rec.Body.String() != want {
					t.Errorf("request %d of %d: %d %q, want %q", i, g, rec.Code, rec.Body.String(), want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestBinURLNotFound(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.newUser("alice")
	b := e.createBin(u, helloTemplate, "")
	deleted := e.createBin(u, helloTemplate, "")
	e.ok(req{method: "DELETE", path: "/api/v1/bins/" + deleted.SID, user: &u}, http.StatusNoContent, nil)

	var bodies []string
	for _, sid := range []string{
		"EH" + strings.Repeat("0", 32),   // unknown
		deleted.SID,                      // deleted
		"EH123",                          // malformed
		strings.ToUpper(b.SID),           // upper case
		"AC" + b.SID[2:],                 // wrong prefix
		b.SID + "0",                      // too long
		"EH" + strings.Repeat("g", 32),   // not hex
		url.PathEscape(b.SID[:33] + "/"), // an escaped slash
	} {
		for _, method := range []string{"GET", "POST"} {
			rec := e.do(req{method: method, path: "/twiml/" + sid})
			checkError(t, method+" "+sid, rec, 404, codeNotFound)
			bodies = append(bodies, rec.Body.String())
		}
	}
	for _, body := range bodies {
		if body != bodies[0] {
			t.Errorf("404 bodies differ:\n%s\n%s", body, bodies[0])
		}
	}
	e.ok(req{method: "GET", path: "/twiml/" + b.SID}, http.StatusOK, nil)
}

func TestBinURLPolicy(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.newUser("alice")
	long := strings.Repeat("x", 200)

	lenient := e.createBin(u, paramTemplate, "lenient")
	rec := e.ok(req{method: "GET", path: "/twiml/" + lenient.SID + "?crm=" + long}, http.StatusOK, nil)
	if want := `value="` + long[:128] + `"`; !strings.Contains(rec.Body.String(), want) {
		t.Errorf("lenient: %s, want the value cut to 128 bytes", rec.Body)
	}

	strict := e.createBin(u, paramTemplate, "strict")
	rec = e.do(req{method: "GET", path: "/twiml/" + strict.SID + "?crm=" + long})
	got := checkError(t, "strict", rec, 500, codeRenderFailed)
	for _, secret := range []string{"Parameter", "crm", "TB304", "alice", long[:20]} {
		if strings.Contains(rec.Body.String(), secret) {
			t.Errorf("the failure reveals %q: %s", secret, rec.Body)
		}
	}
	if len(got.Diagnostics) != 0 {
		t.Errorf("diagnostics shown: %+v", got.Diagnostics)
	}
	// The same bin renders a value within the limit.
	e.ok(req{method: "GET", path: "/twiml/" + strict.SID + "?crm=ok"}, http.StatusOK, nil)

	// Both renders are in the event logs: a warning and an error.
	for _, tt := range []struct {
		sid, severity string
	}{{lenient.SID, "warning"}, {strict.SID, "error"}} {
		var events eventList
		e.ok(req{method: "GET", path: "/api/v1/bins/" + tt.sid + "/events", user: &u}, http.StatusOK, &events)
		if len(events.Events) != 1 || events.Events[0].Severity != tt.severity || events.Events[0].Code != "TB304" {
			t.Errorf("events of the %s bin: %+v", tt.severity, events.Events)
		}
	}
}

// TestBinURLSeesUpdates: an update, a restore and a delete are visible to
// the very next request.
func TestBinURLSeesUpdates(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.newUser("alice")
	b := e.createBin(u, helloTemplate, "")
	path := "/twiml/" + b.SID + "?name=Ada"
	body := func() string { return e.ok(req{method: "GET", path: path}, http.StatusOK, nil).Body.String() }

	if got := body(); got != "<Response><Say>Hello Ada</Say></Response>" {
		t.Fatalf("before: %s", got)
	}
	for i := range 5 {
		tmpl := fmt.Sprintf("<Response><Say>Update %d {{name}}</Say></Response>", i)
		e.ok(req{method: "POST", path: "/api/v1/bins/" + b.SID, user: &u, json: map[string]any{"template": tmpl}}, http.StatusOK, nil)
		if got, want := body(), fmt.Sprintf("<Response><Say>Update %d Ada</Say></Response>", i); got != want {
			t.Errorf("after update %d: %s, want %s", i, got, want)
		}
	}
	e.ok(req{method: "POST", path: "/api/v1/bins/" + b.SID + "/revisions/1/restore", user: &u}, http.StatusOK, nil)
	if got := body(); got != "<Response><Say>Hello Ada</Say></Response>" {
		t.Errorf("after restore: %s", got)
	}
	// A write that bypasses the API (the web form writes through the store).
	if _, err := e.db.UpdateBin(u.sid, b.SID, 0, storeInput("direct", "<Response><Say>Direct</Say></Response>", "lenient")); err != nil {
		t.Fatal(err)
	}
	if got := body(); got != "<Response><Say>Direct</Say></Response>" {
		t.Errorf("after a direct store update: %s", got)
	}
	e.ok(req{method: "DELETE", path: "/api/v1/bins/" + b.SID, user: &u}, http.StatusNoContent, nil)
	e.fail(req{method: "GET", path: path}, 404, codeNotFound)
}

// TestBinURLSeesStoreWrites: writes made through the store by another
// caller than the API (the web form, a script) reach the very next request
// to a bin served from memory: its account's Twilio auth token, set and
// cleared, and its deletion.
func TestBinURLSeesStoreWrites(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.newUser("alice")
	b := e.createBin(u, helloTemplate, "")
	other := e.createBin(u, helloTemplate, "")
	path := "/twiml/" + b.SID
	for range 3 {
		e.ok(req{method: "GET", path: path}, http.StatusOK, nil)
	}
	if _, err := e.db.SetTwilioAuthToken(u.sid, "0123456789abcdef0123456789abcdef"); err != nil {
		t.Fatal(err)
	}
	e.fail(req{method: "GET", path: path}, 403, codeBadSignature)
	if _, err := e.db.SetTwilioAuthToken(u.sid, ""); err != nil {
		t.Fatal(err)
	}
	e.ok(req{method: "GET", path: path}, http.StatusOK, nil)
	if err := e.db.DeleteBin(u.sid, b.SID, 0); err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{"GET", "POST"} {
		e.fail(req{method: method, path: path}, 404, codeNotFound)
	}
	e.ok(req{method: "GET", path: "/twiml/" + other.SID}, http.StatusOK, nil)
}

// TestBinURLSeesUpdatesUnderLoad: while other goroutines keep requesting
// a bin, each update made through the store is in the next request made
// after it returns.
func TestBinURLSeesUpdatesUnderLoad(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.newUser("alice")
	b := e.createBin(u, helloTemplate, "")
	h := e.srv.Handler()
	get := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/twiml/"+b.SID, nil))
		return rec
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if rec := get(); rec.Code != http.StatusOK {
					t.Errorf("status %d under load", rec.Code)
					return
				}
			}
		})
	}
	for i := range 50 {
		want := fmt.Sprintf("<Response><Say>Update %d</Say></Response>", i)
		if _, err := e.db.UpdateBin(u.sid, b.SID, 0, storeInput("load", want, "lenient")); err != nil {
			t.Fatal(err)
		}
		if got := get().Body.String(); got != want {
			t.Errorf("after update %d: %s", i, got)
		}
	}
	close(stop)
	wg.Wait()
}

func TestBinURLSignature(t *testing.T) {
	const twilioToken = "0123456789abcdef0123456789abcdef"
	e := newEnv(t, Config{PublicURL: "https://bins.example.com"})
	u := e.newUser("alice")
	b := e.createBin(u, helloTemplate, "")
	unsigned := e.createBin(e.newUser("bob"), helloTemplate, "")
	e.ok(req{method: "POST", path: "/api/v1/account", user: &u, json: map[string]any{"twilio_auth_token": twilioToken}}, http.StatusOK, nil)

	path := "/twiml/" + b.SID + "?name=Ada&x=%2B1"
	full := "https://bins.example.com" + path
	manyParams := url.Values{}
	for i := range 40 {
		manyParams.Set(fmt.Sprintf("Param%02d", 39-i), fmt.Sprintf("value %d +&=", i))
	}
	manyParams["Multi"] = []string{"b", "a", "c"}
	manyParams.Set("name", "Form")
	sig := func(url string, form url.Values) http.Header {
		return http.Header{"X-Twilio-Signature": {TwilioSignature(twilioToken, url, form)}}
	}

	tests := []struct {
		name   string
		r      req
		status int
	}{
		{"GET signed", req{method: "GET", path: path, header: sig(full, nil)}, 200},
		{"GET signed with :443", req{method: "GET", path: path, header: sig("https://bins.example.com:443"+path, nil)}, 200},
		{"GET unsigned", req{method: "GET", path: path}, 403},
		{"GET signed with another token", req{method: "GET", path: path, header: http.Header{"X-Twilio-Signature": {TwilioSignature("other", full, nil)}}}, 403},
		{"GET signed for another URL", req{method: "GET", path: path, header: sig(full+"&name=Eve", nil)}, 403},
		{"GET signed with another port", req{method: "GET", path: path, header: sig("https://bins.example.com:8443"+path, nil)}, 403},
		{"GET signed for http", req{method: "GET", path: path, header: sig("http://bins.example.com"+path, nil)}, 403},
		{"GET garbage signature", req{method: "GET", path: path, header: http.Header{"X-Twilio-Signature": {"not base64!"}}}, 403},
		{"POST signed", req{method: "POST", path: path, form: manyParams, header: sig(full, manyParams)}, 200},
		{"POST signed without the body", req{method: "POST", path: path, form: manyParams, header: sig(full, nil)}, 403},
		{"POST with a changed parameter", req{method: "POST", path: path, form: with(manyParams, "Param07", "changed"), header: sig(full, manyParams)}, 403},
		{"POST with an added parameter", req{method: "POST", path: path, form: with(manyParams, "Extra", "1"), header: sig(full, manyParams)}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			rec := e.do(tt.r)
			if tt.status == 200 {
				if rec.Code != 200 {
					t.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
				return
			}
			checkError(t, tt.name, rec, 403, codeBadSignature)
			if strings.Contains(rec.Body.String(), "Say") || strings.Contains(rec.Body.String(), b.SID) {
				t.Errorf("403 reveals the bin: %s", rec.Body)
			}
		})
	}
	e.t = t
	// The form's value won over the query's.
	rec := e.ok(req{method: "POST", path: path, form: manyParams, header: sig(full, manyParams)}, 200, nil)
	if !strings.Contains(rec.Body.String(), "Hello Form") {
		t.Errorf("body %s", rec.Body)
	}
	// Bob holds no Twilio token: his bin needs no signature.
	e.ok(req{method: "GET", path: "/twiml/" + unsigned.SID}, 200, nil)
	// A refusal is in the event log.
	var events eventList
	e.ok(req{method: "GET", path: "/api/v1/bins/" + b.SID + "/events", user: &u}, http.StatusOK, &events)
	if len(events.Events) == 0 || events.Events[0].Code != fmt.Sprint(codeBadSignature) {
		t.Errorf("events %+v", events.Events)
	}
	// Clearing the token turns the check off.
	e.ok(req{method: "POST", path: "/api/v1/account", user: &u, json: map[string]any{"twilio_auth_token": ""}}, http.StatusOK, nil)
	e.ok(req{method: "GET", path: path}, 200, nil)
}

// TestBinURLSignatureFromRequest: without a public URL the signed URL is
// rebuilt from the request's scheme and Host, with or without its port.
func TestBinURLSignatureFromRequest(t *testing.T) {
	const twilioToken = "12345"
	e := newEnv(t, Config{})
	u := e.newUser("alice")
	b := e.createBin(u, helloTemplate, "")
	if _, err := e.db.SetTwilioAuthToken(u.sid, twilioToken); err != nil {
		t.Fatal(err)
	}
	path := "/twiml/" + b.SID + "?name=Ada"
	tests := []struct {
		host, proto, signed string
		status              int
	}{
		{"bins.example.com", "", "http://bins.example.com" + path, 200},
		{"bins.example.com", "", "http://bins.example.com:80" + path, 200},
		{"bins.example.com:80", "", "http://bins.example.com" + path, 200},
		{"bins.example.com:8080", "", "http://bins.example.com:8080" + path, 200},
		{"bins.example.com:8080", "", "http://bins.example.com" + path, 200}, // without the port, as Twilio's libraries accept
		{"bins.example.com", "https", "https://bins.example.com:443" + path, 200},
		{"bins.example.com", "https", "http://bins.example.com" + path, 403},
		{"bins.example.com", "", "http://other.example.com" + path, 403},
		// From a public address, X-Forwarded-Proto is not trusted.
		{"bins.example.com", "untrusted-https", "https://bins.example.com" + path, 403},
	}
	for _, tt := range tests {
		hr := httptest.NewRequest("GET", path, nil)
		hr.Host = tt.host
		if tt.proto == "untrusted-https" {
			hr.Header.Set("X-Forwarded-Proto", "https")
		} else if tt.proto != "" {
			// From a proxy on loopback, whose forwarding headers echo trusts.
			hr.RemoteAddr = "127.0.0.1:40000"
			hr.Header.Set("X-Forwarded-Proto", tt.proto)
		}
		hr.Header.Set("X-Twilio-Signature", TwilioSignature(twilioToken, tt.signed, nil))
		rec := httptest.NewRecorder()
		e.srv.Handler().ServeHTTP(rec, hr)
		if rec.Code != tt.status {
			t.Errorf("Host %s proto %q signed %s: status %d, want %d", tt.host, tt.proto, tt.signed, rec.Code, tt.status)
		}
	}
}

func TestNoStaticRoute(t *testing.T) {
	e := newEnv(t, Config{})
	for _, method := range []string{"GET", "POST"} {
		e.fail(req{method: method, path: "/static"}, 404, codeNotFound)
	}
}

func with(v url.Values, name, value string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	out.Set(name, value)
	return out
}

// TestBinURLAnsweredAsByTheRouter: serveHTTP answers the bin URL's GET and
// POST without echo's router, and must answer every path as the router
// would, with the same access line; the paths it leaves to the router
// (escaped, nested, other methods) stay the router's.
func TestBinURLAnsweredAsByTheRouter(t *testing.T) {
	var logs bytes.Buffer
	e := newEnv(t, Config{})
	srv, err := New(Config{AccessLog: &logs}, e.db, nil)
	if err != nil {
		t.Fatal(err)
	}
	u := e.newUser("owner")
	bin, err := e.db.CreateBin(u.sid, storeInput("b", `<Response><Say>{{greeting}}</Say></Response>`, "strict"))
	if err != nil {
		t.Fatal(err)
	}
	router := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setInertHeaders(w.Header())
		srv.echo.ServeHTTP(w, r)
	})
	answer := func(h http.Handler, method, target string) (*httptest.ResponseRecorder, string) {
		logs.Reset()
		r := httptest.NewRequest(method, target, strings.NewReader("greeting=Hello+there"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		// The access line but for its time, request ID and duration.
		fields := strings.Fields(logs.String())
		kept := fields[:0]
		for _, f := range fields {
			if !strings.HasPrefix(f, "time=") && !strings.HasPrefix(f, "request_id=") && !strings.HasPrefix(f, "duration=") {
				kept = append(kept, f)
			}
		}
		return rec, strings.Join(kept, " ")
	}
	for _, tc := range []struct{ method, target string }{
		{"GET", "/twiml/" + bin.SID + "?greeting=Hi"},
		{"POST", "/twiml/" + bin.SID + "?greeting=Hi"},
		{"POST", "/twiml/" + bin.SID + "/"},
		{"GET", "/twiml/" + bin.SID + "/x"},
		{"GET", "/twiml/EH00000000000000000000000000000000"},
		{"GET", "/twiml/not-a-sid"},
		{"GET", "/twiml/"},
		{"GET", "/twiml"},
		{"GET", "/twiml/%45" + bin.SID[1:]},
		{"GET", "/twiml/a%2Fb"},
		{"HEAD", "/twiml/" + bin.SID},
		{"PUT", "/twiml/" + bin.SID},
	} {
		got, gotLine := answer(srv.Handler(), tc.method, tc.target)
		want, wantLine := answer(router, tc.method, tc.target)
		if got.Code != want.Code || got.Body.String() != want.Body.String() || !sameHeaders(got.Header(), want.Header()) {
			t.Errorf("%s %s: answered %d %v %q, the router %d %v %q", tc.method, tc.target,
				got.Code, got.Header(), got.Body, want.Code, want.Header(), want.Body)
		}
		if gotLine != wantLine || gotLine == "" {
			t.Errorf("%s %s: access line %q, the router's %q", tc.method, tc.target, gotLine, wantLine)
		}
	}
}

func TestIsForm(t *testing.T) {
	for _, tc := range []struct {
		values []string
		want   bool
	}{
		{[]string{"application/x-www-form-urlencoded"}, true},
		{[]string{"application/x-www-form-urlencoded; charset=UTF-8"}, true},
		{[]string{" Application/X-WWW-Form-Urlencoded ;charset=utf-8"}, true},
		{[]string{"application/json"}, false},
		{[]string{"multipart/form-data; boundary=x"}, false},
		{[]string{""}, false},
		{nil, false},
	} {
		if got := isForm(tc.values); got != tc.want {
			t.Errorf("isForm(%q) = %v, want %v", tc.values, got, tc.want)
		}
	}
}
