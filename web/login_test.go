package web

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSignIn(t *testing.T) {
	env := newTestEnv(t, Config{})

	t.Run("signed out pages send to the sign-in page", func(t *testing.T) {
		c := env.anonymous()
		res := c.get("/bins/new?from=blank")
		assert.Equal(t, http.StatusSeeOther, res.code)
		assert.Equal(t, "/login?next=%2Fbins%2Fnew%3Ffrom%3Dblank", res.location())
		assert.Equal(t, "/login", c.get("/").location())
	})
	t.Run("form", func(t *testing.T) {
		c := env.anonymous()
		res := c.get("/login?next=/bins/new")
		require.Equal(t, http.StatusOK, res.code)
		assert.Contains(t, res.body, `<label for="account_sid">`)
		assert.Contains(t, res.body, `<label for="auth_token">`)
		assert.Contains(t, res.body, `name="next" value="/bins/new"`)
		assert.NotContains(t, res.body, `href="/signup"`, "sign-up is closed")
	})
	t.Run("success", func(t *testing.T) {
		c := env.anonymous()
		c.get("/login")
		before := c.cookie.Value
		res := c.post("/login", url.Values{"account_sid": {env.acct.SID}, "auth_token": {env.token}, "next": {"/bins/new"}})
		assert.Equal(t, http.StatusSeeOther, res.code)
		assert.Equal(t, "/bins/new", res.location())
		assert.NotEqual(t, before, c.cookie.Value, "a new session")
		page := c.get("/bins")
		assert.Equal(t, http.StatusOK, page.code)
		assert.Contains(t, page.body, env.acct.SID)
		assert.Equal(t, "/bins", c.get("/").location())
	})
	t.Run("next must be this site's", func(t *testing.T) {
		for _, next := range []string{"//evil.example.com/x", "https://evil.example.com", `/\evil.example.com`, ""} {
			c := env.anonymous()
			c.get("/login")
			res := c.post("/login", url.Values{"account_sid": {env.acct.SID}, "auth_token": {env.token}, "next": {next}})
			assert.Equal(t, "/bins", res.location(), next)
		}
	})
	t.Run("wrong token", func(t *testing.T) {
		c := env.anonymous()
		c.get("/login")
		res := c.post("/login", url.Values{"account_sid": {env.acct.SID}, "auth_token": {"0123456789abcdef0123456789abcdef"}})
		assert.Equal(t, http.StatusForbidden, res.code)
		assert.Contains(t, text(res.body), "The account SID or the auth token is wrong.")
		assert.Contains(t, res.body, `value="`+env.acct.SID+`"`, "the SID typed is kept")
		assert.Equal(t, http.StatusSeeOther, c.get("/bins").code, "still signed out")
	})
	t.Run("unknown account", func(t *testing.T) {
		c := env.anonymous()
		c.get("/login")
		res := c.post("/login", url.Values{"account_sid": {"AC00000000000000000000000000000000"}, "auth_token": {env.token}})
		assert.Equal(t, http.StatusForbidden, res.code)
	})
}

func TestSignOut(t *testing.T) {
	env := newTestEnv(t, Config{})
	c := env.signedIn()
	res := c.post("/logout", nil)
	assert.Equal(t, http.StatusSeeOther, res.code)
	assert.Equal(t, "/login", res.location())
	assert.Nil(t, c.cookie, "the cookie is cleared")
	assert.Equal(t, http.StatusSeeOther, c.get("/bins").code)
}

func TestSignUp(t *testing.T) {
	t.Run("closed", func(t *testing.T) {
		env := newTestEnv(t, Config{})
		c := env.anonymous()
		assert.Equal(t, http.StatusNotFound, c.get("/signup").code)
		c.get("/login")
		assert.Equal(t, http.StatusNotFound, c.post("/signup", url.Values{"friendly_name": {"x"}}).code)
		n, err := env.db.CountAccounts()
		require.NoError(t, err)
		assert.Equal(t, 1, n)
	})
	t.Run("open", func(t *testing.T) {
		env := newTestEnv(t, Config{OpenSignup: true})
		c := env.anonymous()
		form := c.get("/signup")
		require.Equal(t, http.StatusOK, form.code)
		assert.Contains(t, form.body, `<label for="friendly_name">`)
		assert.Contains(t, c.get("/login").body, `href="/signup"`)

		res := c.post("/signup", url.Values{"friendly_name": {"Ada"}})
		require.Equal(t, http.StatusCreated, res.code, res.body)
		assert.Equal(t, "no-store", res.header.Get("Cache-Control"))
		assert.Contains(t, text(res.body), "Keep these credentials now.")
		sid := regexp.MustCompile(`<code id="new-sid">(AC[0-9a-f]{32})</code>`).FindStringSubmatch(res.body)
		token := regexp.MustCompile(`<code id="new-token">([0-9a-f]{32})</code>`).FindStringSubmatch(res.body)
		require.NotNil(t, sid)
		require.NotNil(t, token)
		acct, err := env.db.Authenticate(sid[1], token[1])
		require.NoError(t, err, "the credentials shown work")
		assert.Equal(t, "Ada", acct.FriendlyName)
		assert.Contains(t, c.get("/bins").body, sid[1], "and the new account is signed in")
	})
	t.Run("bad name", func(t *testing.T) {
		env := newTestEnv(t, Config{OpenSignup: true})
		c := env.anonymous()
		c.get("/signup")
		res := c.post("/signup", url.Values{"friendly_name": {strings.Repeat("a", 65)}})
		assert.Equal(t, http.StatusUnprocessableEntity, res.code)
		assert.Contains(t, res.body, `aria-invalid="true"`)
		n, err := env.db.CountAccounts()
		require.NoError(t, err)
		assert.Equal(t, 1, n)
	})
}
