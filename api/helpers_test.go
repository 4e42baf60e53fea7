package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/twimlbin/twimlbin/internal/backendtest"
	"github.com/twimlbin/twimlbin/store"
)

// env is a server over a real store of the test run's backend
// (internal/backendtest): a database file in a temporary directory, or a
// key prefix of its own in etcd.
type env struct {
	t        *testing.T
	storage  backendtest.Storage
	cfg      Config
	readOnly bool          // open the database with store.Options.ReadOnly
	opts     store.Options // the rest of the database's options
	db       store.Store
	srv      *Server
}

// newEnv opens a store and a server over it. The store is checked for
// consistency, where its backend has a check, and closed when the test
// ends.
func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	return newEnvWith(t, cfg, store.Options{})
}

// newEnvWith is newEnv with a database opened with opts.
func newEnvWith(t *testing.T, cfg Config, opts store.Options) *env {
	t.Helper()
	e := &env{t: t, storage: backendtest.New(t), cfg: cfg, opts: opts}
	e.open()
	t.Cleanup(func() {
		if e.db != nil {
			e.close()
		}
	})
	return e
}

func (e *env) open() {
	e.t.Helper()
	opts := e.opts
	opts.NoSync, opts.ReadOnly = true, e.readOnly
	db, err := e.storage.Open(opts)
	if err != nil {
		e.t.Fatalf("open the store: %v", err)
	}
	srv, err := New(e.cfg, db, nil)
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	e.db, e.srv = db, srv
}

// close checks and closes the database.
func (e *env) close() {
	e.t.Helper()
	if err := backendtest.Check(e.db); err != nil {
		e.t.Errorf("store: %v", err)
	}
	if err := e.db.Close(); err != nil {
		e.t.Errorf("store close: %v", err)
	}
	e.db = nil
}

// restart closes the database and opens it again with a new server.
func (e *env) restart() {
	e.t.Helper()
	e.close()
	e.open()
}

// user is an account's credentials.
type user struct {
	sid, token string
}

func (e *env) newUser(name string) user {
	e.t.Helper()
	acct, token, err := e.db.CreateAccount(name)
	if err != nil {
		e.t.Fatalf("CreateAccount: %v", err)
	}
	return user{acct.SID, token}
}

// req is a request to make.
type req struct {
	method, path string
	user         *user
	json         any        // marshalled as the JSON body
	form         url.Values // the form-encoded body
	body         string     // a raw body, with contentType
	contentType  string
	header       http.Header
	remote       string // RemoteAddr, host:port; httptest's 192.0.2.1:1234 when empty
}

// do serves r through the server's handler.
func (e *env) do(r req) *httptest.ResponseRecorder {
	e.t.Helper()
	var body io.Reader
	contentType := r.contentType
	switch {
	case r.json != nil:
		b, err := json.Marshal(r.json)
		if err != nil {
			e.t.Fatal(err)
		}
		body, contentType = bytes.NewReader(b), "application/json"
	case r.form != nil:
		body, contentType = strings.NewReader(r.form.Encode()), "application/x-www-form-urlencoded"
	case r.body != "":
		body = strings.NewReader(r.body)
	}
	hr := httptest.NewRequest(r.method, r.path, body)
	if contentType != "" {
		hr.Header.Set("Content-Type", contentType)
	}
	for name, values := range r.header {
		hr.Header[name] = values
	}
	if r.user != nil {
		hr.SetBasicAuth(r.user.sid, r.user.token)
	}
	if r.remote != "" {
		hr.RemoteAddr = r.remote
	}
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, hr)
	return rec
}

// ok serves r and fails the test unless the status is want; it decodes a
// JSON answer into out when out is not nil.
func (e *env) ok(r req, want int, out any) *httptest.ResponseRecorder {
	e.t.Helper()
	rec := e.do(r)
	if rec.Code != want {
		e.t.Fatalf("%s %s: status %d, want %d; body: %s", r.method, r.path, rec.Code, want, rec.Body)
	}
	if out != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			e.t.Fatalf("%s %s: decoding %s: %v", r.method, r.path, rec.Body, err)
		}
	}
	return rec
}

// fail serves r and checks that it fails with the status and error code,
// in the API's error shape.
func (e *env) fail(r req, status, code int) Error {
	e.t.Helper()
	rec := e.do(r)
	return checkError(e.t, r.method+" "+r.path, rec, status, code)
}

func checkError(t *testing.T, what string, rec *httptest.ResponseRecorder, status, code int) Error {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("%s: status %d, want %d; body: %s", what, rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want JSON", what, ct)
	}
	var raw map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
		t.Fatalf("%s: error body %s: %v", what, rec.Body, err)
	}
	for _, k := range []string{"code", "message", "more_info", "status"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("%s: error body %s has no %q", what, rec.Body, k)
		}
	}
	var got Error
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Code != code || got.Status != status {
		t.Errorf("%s: code %d status %d, want %d %d; body: %s", what, got.Code, got.Status, code, status, rec.Body)
	}
	if !strings.Contains(got.MoreInfo, "/api/v1/openapi.json#/components/x-error-codes/") {
		t.Errorf("%s: more_info %q", what, got.MoreInfo)
	}
	return got
}

// createBin creates a bin and returns it.
func (e *env) createBin(u user, template string, policy string) binResource {
	e.t.Helper()
	body := map[string]any{"template": template, "friendly_name": "test bin"}
	if policy != "" {
		body["render_policy"] = policy
	}
	var b binResource
	e.ok(req{method: "POST", path: "/api/v1/bins", user: &u, json: body}, http.StatusCreated, &b)
	return b
}

// The templates of the tests.
const (
	helloTemplate = `<Response><Say>Hello {{name}}</Say></Response>`
	dialTemplate  = `<Response><Dial callerId="{{callerId}}"><Number>{{to}}</Number></Dial></Response>`
	// paramTemplate puts a value in a <Parameter value>, limited to 128 bytes:
	// a longer one is cut (lenient) or fails the render (strict).
	paramTemplate = `<Response><Dial><Client><Identity>alice</Identity><Parameter name="crm" value="{{crm}}"/></Client></Dial></Response>`
)

func storeInput(name, template, policy string) store.BinInput {
	return store.BinInput{FriendlyName: name, Template: template, RenderPolicy: policy}
}
