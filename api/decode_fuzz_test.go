package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twimlbin/twimlbin/store"
)

// decodeFuzzRoute is a route whose request body is decoded.
type decodeFuzzRoute struct {
	method, path string
	auth         bool // as the fuzzing account; the bin URL takes none
}

// FuzzDecode sends any body with any Content-Type to every route that
// decodes a body, through the real handler over a real database: the
// answer is never a 5xx, and every 4xx has the API's error shape.
//
// Only the fuzzing account's own data can change. The bin URL routes serve
// bins of two other accounts, one of them checking signatures, which no
// request of the fuzzer can change, so an input answers the same whatever
// ran before it.
func FuzzDecode(f *testing.F) {
	db, err := store.Open(filepath.Join(f.TempDir(), "fuzz.db"), store.Options{NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		if err := db.Check(); err != nil {
			f.Errorf("store check: %v", err)
		}
		db.Close()
	})
	srv, err := New(Config{}, db, nil)
	if err != nil {
		f.Fatal(err)
	}
	acct, token, err := db.CreateAccount("fuzz")
	if err != nil {
		f.Fatal(err)
	}
	own, err := db.CreateBin(acct.SID, storeInput("own", helloTemplate, "lenient"))
	if err != nil {
		f.Fatal(err)
	}
	served := func(name, twilioToken string) string {
		a, _, err := db.CreateAccount(name)
		if err != nil {
			f.Fatal(err)
		}
		if twilioToken != "" {
			if _, err := db.SetTwilioAuthToken(a.SID, twilioToken); err != nil {
				f.Fatal(err)
			}
		}
		const tmpl = `<Response><Dial callerId="{{From}}"><Client><Identity>{{agent}}</Identity>` +
			`{{#p}}<Parameter name="p" value="{{.}}"/>{{/p}}</Client></Dial><Say>{{name}}</Say></Response>`
		b, err := db.CreateBin(a.SID, storeInput(name, tmpl, "lenient"))
		if err != nil {
			f.Fatal(err)
		}
		return b.SID
	}
	routes := []decodeFuzzRoute{
		{"POST", "/api/v1/bins", true},
		{"POST", "/api/v1/bins/" + own.SID, true},
		{"PATCH", "/api/v1/bins/" + own.SID, true},
		{"POST", "/api/v1/bins/" + own.SID + "/preview", true},
		{"POST", "/api/v1/preview", true},
		{"POST", "/api/v1/validate", true},
		{"POST", "/api/v1/account", true},
		{"POST", "/api/v1/bins/" + own.SID + "/revisions/1/restore", true},
		{"POST", "/twiml/" + served("open", ""), false},
		{"POST", "/twiml/" + served("signed", "0123456789abcdef0123456789abcdef"), false},
	}

	for _, s := range []struct {
		route       uint8
		contentType string
		body        string
	}{
		{0, "application/json", `{"friendly_name":"x","template":"<Response><Say>{{name}}</Say></Response>","render_policy":"strict"}`},
		{1, "application/x-www-form-urlencoded", "template=%3CResponse%2F%3E&friendly_name=%FF"},
		{2, "application/json; charset=utf-8", `{"render_policy":null,"template":1e400}`},
		{3, "application/json", `{"params":{"name":["a","b"],"x":"<"}}`},
		{4, "application/x-www-form-urlencoded", "template=%3CResponse%3E%3CSay%3E%7B%7Bname%7D%7D%3C%2FSay%3E%3C%2FResponse%3E&params=name%3DAda%26name%3D%253C"},
		{5, "application/json", `{"template":"<Response>{{> /etc/passwd}}</Response>"}`},
		{6, "application/json", `{"twilio_auth_token":"","friendly_name":"\ud800"}`},
		{7, "text/xml", "<Response/>"},
		{8, "application/x-www-form-urlencoded", "From=%2B14155551212&agent=a&p=1&p=2&name=%3C%2FSay%3E;x"},
		{9, "application/x-www-form-urlencoded", "From=%2B14155551212&%zz=1"},
	} {
		f.Add(s.route, s.contentType, []byte(s.body))
	}

	f.Fuzz(func(t *testing.T, route uint8, contentType string, body []byte) {
		r := routes[int(route)%len(routes)]
		hr := httptest.NewRequest(r.method, r.path, bytes.NewReader(body))
		hr.Header.Set("Content-Type", contentType)
		if r.auth {
			hr.SetBasicAuth(acct.SID, token)
		}
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, hr)

		what := r.method + " " + r.path
		if rec.Code >= 500 {
			t.Fatalf("%s with Content-Type %q and body %q: %d %s", what, contentType, body, rec.Code, rec.Body)
		}
		if rec.Code < 400 {
			wantType := "application/json"
			if strings.HasPrefix(r.path, "/twiml/") {
				wantType = xmlContentType
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, wantType) {
				t.Fatalf("%s: %d with Content-Type %q", what, rec.Code, ct)
			}
			if wantType == "application/json" && !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("%s: %d with a body that is not JSON: %s", what, rec.Code, rec.Body)
			}
			return
		}
		checkErrorShape(t, what, rec)
	})
}

// checkErrorShape fails unless rec is an error in the API's shape:
// {code, message, more_info, status}, JSON, with status the HTTP status.
func checkErrorShape(t *testing.T, what string, rec *httptest.ResponseRecorder) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s: %d with Content-Type %q: %s", what, rec.Code, ct, rec.Body)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
		t.Fatalf("%s: %d with a body that is not a JSON object: %s", what, rec.Code, rec.Body)
	}
	for _, k := range []string{"code", "message", "more_info", "status"} {
		if _, ok := raw[k]; !ok {
			t.Fatalf("%s: error without %q: %s", what, k, rec.Body)
		}
	}
	var e Error
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
		t.Fatalf("%s: %v: %s", what, err, rec.Body)
	}
	if e.Status != rec.Code || e.Code < 10000 || e.Message == "" || e.MoreInfo == "" {
		t.Fatalf("%s: %d with error %+v", what, rec.Code, e)
	}
	if rec.Code == http.StatusUnauthorized {
		t.Fatalf("%s: 401: the fuzzing account's credentials stopped working", what)
	}
}
