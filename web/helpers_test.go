package web

import (
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twimlbin/twimlbin/internal/backendtest"
	"github.com/twimlbin/twimlbin/store"
)

// testEnv is a web handler over a real store of the test run's backend
// (internal/backendtest), with one account.
type testEnv struct {
	t     *testing.T
	db    store.Store
	h     *Handler
	acct  store.Account
	token string
}

func newTestEnv(t *testing.T, cfg Config) *testEnv {
	t.Helper()
	return newTestEnvWith(t, cfg, store.Options{})
}

// newTestEnvWith is newTestEnv over a store opened with opts.
func newTestEnvWith(t *testing.T, cfg Config, opts store.Options) *testEnv {
	t.Helper()
	opts.NoSync = true
	db, err := backendtest.New(t).Open(opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, backendtest.Check(db), "the database is consistent")
		require.NoError(t, db.Close())
	})
	h, err := New(cfg, db, nil)
	require.NoError(t, err)
	acct, token, err := db.CreateAccount("Tester")
	require.NoError(t, err)
	return &testEnv{t: t, db: db, h: h, acct: acct, token: token}
}

// client is a browser of the handler: it keeps the session cookie and the
// CSRF token of the last page that had one.
type client struct {
	t      *testing.T
	h      http.Handler
	cookie *http.Cookie
	csrf   string
	remote string // RemoteAddr, host:port; httptest's 192.0.2.1:1234 when empty
}

func (e *testEnv) anonymous() *client {
	return &client{t: e.t, h: e.h}
}

// signedIn returns a client signed in to the env's account.
func (e *testEnv) signedIn() *client {
	e.t.Helper()
	return e.signedInAs(e.acct.SID, e.token)
}

func (e *testEnv) signedInAs(sid, token string) *client {
	e.t.Helper()
	c := e.anonymous()
	c.get("/login")
	res := c.post("/login", url.Values{"account_sid": {sid}, "auth_token": {token}})
	require.Equal(e.t, http.StatusSeeOther, res.code, res.body)
	c.get("/bins") // for the new session's CSRF token
	return c
}

// response is what a request answered.
type response struct {
	code   int
	header http.Header
	body   string
}

func (r response) location() string { return r.header.Get("Location") }

func (c *client) get(path string) response {
	c.t.Helper()
	return c.do(httptest.NewRequest(http.MethodGet, path, nil))
}

// post sends a form with the client's CSRF token, unless form has one.
func (c *client) post(path string, form url.Values) response {
	c.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if !form.Has("csrf_token") {
		form.Set("csrf_token", c.csrf)
	}
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

var csrfInput = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func (c *client) do(req *http.Request) response {
	c.t.Helper()
	if c.cookie != nil {
		req.AddCookie(c.cookie)
	}
	if c.remote != "" {
		req.RemoteAddr = c.remote
	}
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	res := rec.Result()
	body, err := io.ReadAll(res.Body)
	require.NoError(c.t, err)
	for _, ck := range res.Cookies() {
		if ck.Name != sessionCookie {
			continue
		}
		if ck.MaxAge < 0 {
			c.cookie = nil
		} else {
			c.cookie = ck
		}
	}
	if m := csrfInput.FindSubmatch(body); m != nil {
		c.csrf = string(m[1])
	}
	return response{code: res.StatusCode, header: res.Header, body: string(body)}
}

var (
	inlineTag = regexp.MustCompile(`</?(?:a|b|code|em|span|strong|time)\b[^>]*>`)
	anyTag    = regexp.MustCompile(`(?s)<[^>]*>`)
)

// text is a page's body with tags removed and entities decoded, spaces
// collapsed: what a reader sees, roughly.
func text(body string) string {
	s := inlineTag.ReplaceAllString(body, "")
	s = anyTag.ReplaceAllString(s, " ")
	return strings.Join(strings.Fields(html.UnescapeString(s)), " ")
}

// editorForm returns the editor's form values for a template.
func editorForm(name, tmpl, policy string, revision int) url.Values {
	v := url.Values{"friendly_name": {name}, "template": {tmpl}, "render_policy": {policy}}
	if revision > 0 {
		v.Set("revision", strconv.Itoa(revision))
	}
	return v
}
