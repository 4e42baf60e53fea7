package web

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twimlbin/twimlbin/store"
)

func TestSessionCookie(t *testing.T) {
	sessionCookieOf := func(t *testing.T, h http.Handler, req *http.Request) *http.Cookie {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		for _, c := range rec.Result().Cookies() {
			if c.Name == sessionCookie {
				return c
			}
		}
		t.Fatal("no session cookie")
		return nil
	}
	t.Run("plain http", func(t *testing.T) {
		env := newTestEnv(t, Config{})
		c := sessionCookieOf(t, env.h, httptest.NewRequest(http.MethodGet, "/login", nil))
		assert.True(t, c.HttpOnly)
		assert.Equal(t, http.SameSiteStrictMode, c.SameSite)
		assert.False(t, c.Secure)
		assert.Equal(t, "/", c.Path)
		assert.WithinDuration(t, time.Now().Add(DefaultSessionLifetime), c.Expires, time.Minute)
	})
	t.Run("TLS request", func(t *testing.T) {
		env := newTestEnv(t, Config{})
		req := httptest.NewRequest(http.MethodGet, "/login", nil)
		req.TLS = &tls.ConnectionState{}
		assert.True(t, sessionCookieOf(t, env.h, req).Secure)
	})
	t.Run("https public URL", func(t *testing.T) {
		env := newTestEnv(t, Config{PublicURL: "https://bins.example.com"})
		assert.True(t, sessionCookieOf(t, env.h, httptest.NewRequest(http.MethodGet, "/login", nil)).Secure)
	})
}

func TestSessionIsChecked(t *testing.T) {
	env := newTestEnv(t, Config{})
	c := env.signedIn()
	require.Equal(t, http.StatusOK, c.get("/bins").code)

	t.Run("tampered", func(t *testing.T) {
		payload, sig, _ := strings.Cut(c.cookie.Value, ".")
		for name, value := range map[string]string{
			"signature changed": payload + "." + strings.Repeat("A", len(sig)),
			"no signature":      payload,
			"garbage":           "!!!",
		} {
			t.Run(name, func(t *testing.T) {
				forged := &client{t: t, h: env.h, cookie: &http.Cookie{Name: sessionCookie, Value: value}}
				res := forged.get("/bins")
				assert.Equal(t, http.StatusSeeOther, res.code)
				assert.Equal(t, "/login?next=%2Fbins", res.location())
			})
		}
	})
	t.Run("another key", func(t *testing.T) {
		other, err := New(Config{SessionKey: []byte(strings.Repeat("o", MinSessionKeyBytes))}, env.db, nil)
		require.NoError(t, err)
		res := (&client{t: t, h: other, cookie: c.cookie}).get("/bins")
		assert.Equal(t, http.StatusSeeOther, res.code, "a restart with another key ends sessions")
	})
	t.Run("the database's key", func(t *testing.T) {
		again, err := New(Config{}, env.db, nil)
		require.NoError(t, err)
		res := (&client{t: t, h: again, cookie: c.cookie}).get("/bins")
		assert.Equal(t, http.StatusOK, res.code, "a restart over the same database keeps sessions")
	})
	t.Run("expired", func(t *testing.T) {
		s := env.h.sessions
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		s.write(rec, req, session{AccountSID: env.acct.SID, CSRF: "x", Expires: time.Now().Add(-time.Second)})
		req.AddCookie(rec.Result().Cookies()[0])
		_, ok := s.read(req)
		assert.False(t, ok)
	})
	t.Run("round trip", func(t *testing.T) {
		s := env.h.sessions
		want := s.start(env.acct.SID, 7)
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		s.write(rec, req, want)
		req.AddCookie(rec.Result().Cookies()[0])
		got, ok := s.read(req)
		require.True(t, ok)
		assert.Equal(t, want.AccountSID, got.AccountSID)
		assert.Equal(t, want.Epoch, got.Epoch)
		assert.Equal(t, want.CSRF, got.CSRF)
		assert.Equal(t, want.Expires.Unix(), got.Expires.Unix())
	})
}

func TestSessionKeyFromConfig(t *testing.T) {
	env := newTestEnv(t, Config{SessionKey: []byte(strings.Repeat("k", MinSessionKeyBytes))})
	c := env.signedIn()
	again, err := New(Config{SessionKey: []byte(strings.Repeat("k", MinSessionKeyBytes))}, env.db, nil)
	require.NoError(t, err)
	res := (&client{t: t, h: again, cookie: c.cookie}).get("/bins")
	assert.Equal(t, http.StatusOK, res.code, "the same key reads the same sessions after a restart")

	_, err = New(Config{SessionKey: []byte("short")}, env.db, nil)
	assert.Error(t, err)
	_, err = New(Config{PublicURL: "ftp://x"}, env.db, nil)
	assert.Error(t, err)
}

func TestCSRF(t *testing.T) {
	env := newTestEnv(t, Config{})
	c := env.signedIn()
	bin := env.createBin(t, "csrf", validTemplate)
	posts := map[string]url.Values{
		"/logout":                       nil,
		"/bins":                         editorForm("x", validTemplate, "lenient", 0),
		"/bins/preview":                 editorForm("x", validTemplate, "lenient", 0),
		"/bins/validate":                {"template": {validTemplate}},
		"/bins/" + bin.SID:              editorForm("x", validTemplate, "lenient", bin.Revision),
		"/bins/" + bin.SID + "/delete":  {"revision": {"1"}},
		"/bins/" + bin.SID + "/preview": editorForm("x", validTemplate, "lenient", bin.Revision),
		"/bins/" + bin.SID + "/revisions/1/restore": {"revision": {"1"}},
	}
	for path, form := range posts {
		for name, token := range map[string]string{"missing": "", "wrong": "not-the-token", "another session's": env.anonymous().tokenOf(t)} {
			t.Run(path+" "+name, func(t *testing.T) {
				f := url.Values{}
				for k, v := range form {
					f[k] = v
				}
				f.Set("csrf_token", token)
				res := c.post(path, f)
				assert.Equal(t, http.StatusForbidden, res.code)
				assert.Contains(t, text(res.body), "This form has expired")
				assert.Contains(t, text(res.body), "Nothing was changed")
			})
		}
	}
	// Nothing changed.
	got, err := env.db.Bin(env.acct.SID, bin.SID)
	require.NoError(t, err)
	assert.Equal(t, bin.Revision, got.Revision)
	page, err := env.db.ListBins(env.acct.SID, store.ListQuery{})
	require.NoError(t, err)
	assert.Len(t, page.Bins, 1)
	assert.Equal(t, http.StatusOK, c.get("/bins").code, "still signed in")

	t.Run("sign in without a session", func(t *testing.T) {
		res := env.anonymous().post("/login", url.Values{"account_sid": {env.acct.SID}, "auth_token": {env.token}, "csrf_token": {"x"}})
		assert.Equal(t, http.StatusForbidden, res.code, "no login CSRF")
	})
}

// tokenOf returns the CSRF token of a new anonymous session.
func (c *client) tokenOf(t *testing.T) string {
	t.Helper()
	c.get("/login")
	require.NotEmpty(t, c.csrf)
	return c.csrf
}
