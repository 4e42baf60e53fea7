package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/twimlbin/twimlbin/engine"
	"github.com/twimlbin/twimlbin/internal/backendtest"
	"github.com/twimlbin/twimlbin/internal/namecases"
	"github.com/twimlbin/twimlbin/internal/ratelimit"
	"github.com/twimlbin/twimlbin/store"
)

// The promises of the web form about hostile requests. Every case below
// names the one it guards: an attacker holds an account of their own, can
// make a victim's browser send requests, and can send any cookie.
const (
	promiseCSRF       = "every POST carries the CSRF token of the session it is sent with, in its body"
	promiseSession    = "a session is the signed, unexpired cookie the server made; nothing else signs anyone in"
	promiseSignIn     = "signing in takes the account's own SID and auth token, exactly"
	promiseIsolation  = "a signed-in account sees only its own bins: another's is the same 404 as none"
	promiseEscaping   = "whatever a template, a name or a request value holds is shown as text"
	promiseFormLimits = "the form refuses a template over 64 KiB and a body over MaxBodyBytes, with a clear page"
	promiseNext       = "signing in goes on to a page of the web form, never to another site: a next that is not one of its pages goes to /bins"
)

// TestHostileCSRF: posts that carry some token, but not the token of the
// session they are sent with, change nothing.
func TestHostileCSRF(t *testing.T) {
	env := newTestEnv(t, Config{})
	victim := env.signedIn()
	sameAccount := env.signedIn() // the victim, in another browser
	other, otherToken, err := env.db.CreateAccount("Attacker")
	require.NoError(t, err)
	attacker := env.signedInAs(other.SID, otherToken)
	bin := env.createBin(t, "target", validTemplate)
	require.NotEqual(t, victim.csrf, sameAccount.csrf)

	form := func(token string) url.Values {
		f := editorForm("pwned", warningTemplate, "strict", bin.Revision)
		f.Set("csrf_token", token)
		return f
	}
	tests := []struct {
		name string
		send func() response
	}{
		{"another session of the same account", func() response { return victim.post("/bins/"+bin.SID, form(sameAccount.csrf)) }},
		{"another account's session", func() response { return victim.post("/bins/"+bin.SID, form(attacker.csrf)) }},
		{"a signed-out session", func() response { return victim.post("/bins/"+bin.SID, form(env.anonymous().tokenOf(t))) }},
		{"the token in the query string only", func() response {
			f := form("")
			f.Del("csrf_token")
			req := httptest.NewRequest(http.MethodPost, "/bins/"+bin.SID+"?csrf_token="+url.QueryEscape(victim.csrf), strings.NewReader(f.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return victim.do(req)
		}},
		{"a wrong token before the right one", func() response {
			f := form("wrong")
			f["csrf_token"] = append(f["csrf_token"], victim.csrf)
			return victim.post("/bins/"+bin.SID, f)
		}},
		{"the token in another case", func() response { return victim.post("/bins/"+bin.SID, form(strings.ToLower(victim.csrf))) }},
		{"the token with a space", func() response { return victim.post("/bins/"+bin.SID, form(victim.csrf+" ")) }},
		{"the token as multipart", func() response {
			body := "--x\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n" + victim.csrf +
				"\r\n--x\r\nContent-Disposition: form-data; name=\"friendly_name\"\r\n\r\npwned\r\n--x--\r\n"
			req := httptest.NewRequest(http.MethodPost, "/bins/"+bin.SID, strings.NewReader(body))
			req.Header.Set("Content-Type", "multipart/form-data; boundary=x")
			return victim.do(req)
		}},
		{"the victim's token with the attacker's cookie", func() response {
			stolen := *attacker
			return stolen.post("/bins", form(victim.csrf))
		}},
		{"the victim's token without a cookie", func() response {
			return (&client{t: t, h: env.h}).post("/bins/"+bin.SID, form(victim.csrf))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tt.send()
			assert.Equal(t, http.StatusForbidden, res.code, promiseCSRF)
			assert.Contains(t, text(res.body), "Nothing was changed", promiseCSRF)
		})
	}
	got, err := env.db.Bin(env.acct.SID, bin.SID)
	require.NoError(t, err)
	assert.Equal(t, bin.Revision, got.Revision, promiseCSRF)
	assert.Equal(t, "target", got.FriendlyName, promiseCSRF)
	assert.Equal(t, 1, countBins(t, env), promiseCSRF)
	// The victim's own token still works.
	assert.Equal(t, http.StatusSeeOther, victim.post("/bins/"+bin.SID, form(victim.csrf)).code)
}

// TestHostileSessionCookies: cookies an attacker can make or alter.
func TestHostileSessionCookies(t *testing.T) {
	env := newTestEnv(t, Config{})
	bin := env.createBin(t, "mine", validTemplate)
	other, _, err := env.db.CreateAccount("Other")
	require.NoError(t, err)
	c := env.signedIn()
	require.Equal(t, http.StatusOK, c.get("/bins").code)
	payload, sig, _ := strings.Cut(c.cookie.Value, ".")
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	require.NoError(t, err)
	fields := strings.Split(string(raw), "|")
	require.Len(t, fields, 5)
	me := "v2|" + env.acct.SID + "|0|"  // version, SID, epoch
	them := "v2|" + other.SID + "|0|x|" // and a CSRF token

	encode := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	// signed signs a payload with the server's own key: what only the
	// server can make, to check it reads every field.
	signed := func(p string) string {
		return encode(p) + "." + base64.RawURLEncoding.EncodeToString(env.h.sessions.sign([]byte(p)))
	}
	otherKey := sessions{key: []byte(strings.Repeat("k", MinSessionKeyBytes))}
	future := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	past := strconv.FormatInt(time.Now().Add(-time.Second).Unix(), 10)

	tests := []struct {
		name  string
		value string
	}{
		{"another account's SID, the signature kept", encode("v2|"+other.SID+"|"+strings.Join(fields[2:], "|")) + "." + sig},
		{"a later expiry, the signature kept", encode(strings.Join(fields[:4], "|")+"|"+future+"0") + "." + sig},
		{"a later epoch, the signature kept", encode(me[:len(me)-2]+"1|"+strings.Join(fields[3:], "|")) + "." + sig},
		{"signed with another key", encode(them+future) + "." + base64.RawURLEncoding.EncodeToString(otherKey.sign([]byte(them+future)))},
		{"signed with an empty key", encode(them+future) + "." + base64.RawURLEncoding.EncodeToString((&sessions{}).sign([]byte(them+future)))},
		{"the signature of another cookie", payload + "." + base64.RawURLEncoding.EncodeToString(env.h.sessions.sign([]byte("x")))},
		{"a truncated signature", payload + "." + sig[:len(sig)/2]},
		{"a padded signature", payload + "." + sig + "=="},
		{"a padded payload", payload + "=." + sig},
		{"expired", signed(me + "x|" + past)},
		{"expiring now", signed(me + "x|" + strconv.FormatInt(time.Now().Unix(), 10))},
		{"expiry not a number", signed(me + "x|soon")},
		{"no CSRF token", signed(me + "|" + future)},
		{"a sixth field", signed(me + "x|" + future + "|admin")},
		{"another version", signed("v3|" + env.acct.SID + "|0|x|" + future)},
		{"no version", signed(env.acct.SID + "|0|x|" + future)},
		{"epoch not a number", signed("v2|" + env.acct.SID + "|one|x|" + future)},
		{"a negative epoch", signed("v2|" + env.acct.SID + "|-1|x|" + future)},
		{"another epoch", signed("v2|" + env.acct.SID + "|1|x|" + future)},
		{"signed out", signed("v2||0|x|" + future)},
		{"an account that does not exist", signed("v2|AC" + strings.Repeat("0", 32) + "|0|x|" + future)},
		{"empty", ""},
		{"only a dot", "."},
		{"10 kB", strings.Repeat("A", 10<<10) + "." + sig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forged := &client{t: t, h: env.h, cookie: &http.Cookie{Name: sessionCookie, Value: tt.value}}
			res := forged.get("/bins/" + bin.SID)
			assert.Equal(t, http.StatusSeeOther, res.code, promiseSession)
			assert.True(t, strings.HasPrefix(res.location(), "/login?"), promiseSession)
			// A post with the cookie and its own CSRF field changes nothing.
			forged.cookie = &http.Cookie{Name: sessionCookie, Value: tt.value}
			post := forged.post("/bins/"+bin.SID, url.Values{"csrf_token": {"x"}, "friendly_name": {"pwned"}, "template": {validTemplate}, "render_policy": {"lenient"}, "revision": {"1"}})
			assert.Equal(t, http.StatusForbidden, post.code, promiseSession)
		})
	}
	got, err := env.db.Bin(env.acct.SID, bin.SID)
	require.NoError(t, err)
	assert.Equal(t, "mine", got.FriendlyName, promiseSession)
	// The genuine cookie still works: nothing above was a sign-out.
	assert.Equal(t, http.StatusOK, c.get("/bins/"+bin.SID).code)
}

// TestHostileSignIn: credentials that are not exactly an account's own.
func TestHostileSignIn(t *testing.T) {
	env := newTestEnv(t, Config{})
	other, otherToken, err := env.db.CreateAccount("Other")
	require.NoError(t, err)
	tests := []struct {
		name, sid, token string
	}{
		{"another account's SID with my token", other.SID, env.token},
		{"my SID with another account's token", env.acct.SID, otherToken},
		{"my SID in upper case", strings.ToUpper(env.acct.SID), env.token},
		{"my token in upper case", env.acct.SID, strings.ToUpper(env.token)},
		{"my token cut short", env.acct.SID, env.token[:len(env.token)-1]},
		{"my token and more", env.acct.SID, env.token + "0"},
		{"an empty token", env.acct.SID, ""},
		{"no SID", "", env.token},
		{"a SID with NUL", env.acct.SID + "\x00", env.token},
		{"10 kB token", env.acct.SID, strings.Repeat("0", 10<<10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := env.anonymous()
			c.get("/login")
			res := c.post("/login", url.Values{"account_sid": {tt.sid}, "auth_token": {tt.token}, "next": {"/bins"}})
			assert.Equal(t, http.StatusForbidden, res.code, promiseSignIn)
			assert.Contains(t, text(res.body), "The account SID or the auth token is wrong.", promiseSignIn)
			if len(tt.token) >= 16 {
				assert.NotContains(t, res.body, tt.token, "the token typed is not shown again")
			}
			assert.Equal(t, http.StatusSeeOther, c.get("/bins").code, promiseSignIn)
		})
	}
	t.Run("signing in as another account ends the first session's forms", func(t *testing.T) {
		c := env.signedIn()
		first := c.csrf
		res := c.post("/login", url.Values{"account_sid": {other.SID}, "auth_token": {otherToken}})
		require.Equal(t, http.StatusSeeOther, res.code)
		assert.Contains(t, c.get("/bins").body, other.SID)
		assert.NotEqual(t, first, c.csrf)
		res = c.post("/bins", url.Values{"csrf_token": {first}, "friendly_name": {"x"}, "template": {validTemplate}, "render_policy": {"lenient"}})
		assert.Equal(t, http.StatusForbidden, res.code, promiseCSRF)
	})
}

// TestHostileWebCrossAccount: every page and form of another account's bin
// answers what a bin that does not exist answers.
func TestHostileWebCrossAccount(t *testing.T) {
	env := newTestEnv(t, Config{})
	c := env.signedIn()
	theirs := env.otherAccountBin(t)
	unknown := "EH" + strings.Repeat("0", 32)
	edit := func() url.Values { return editorForm("mine now", warningTemplate, "strict", 1) }
	routes := []struct {
		method, suffix string
		form           url.Values
	}{
		{"GET", "", nil},
		{"GET", "/preview", nil},
		{"GET", "/events", nil},
		{"GET", "/delete", nil},
		{"GET", "/revisions", nil},
		{"GET", "/revisions/1", nil},
		{"GET", "/revisions/1/diff", nil},
		{"POST", "", edit()},
		{"POST", "/preview", edit()},
		{"POST", "/delete", url.Values{"revision": {"1"}}},
		{"POST", "/revisions/1/restore", url.Values{"revision": {"1"}}},
	}
	for _, r := range routes {
		t.Run(r.method+" "+r.suffix, func(t *testing.T) {
			do := func(sid string) response {
				if r.method == "GET" {
					return c.get("/bins/" + sid + r.suffix)
				}
				f := url.Values{}
				for k, v := range r.form {
					f[k] = v
				}
				return c.post("/bins/"+sid+r.suffix, f)
			}
			want := do(unknown)
			require.Equal(t, http.StatusNotFound, want.code)
			got := do(theirs.SID)
			assert.Equal(t, want.code, got.code, promiseIsolation)
			assert.Equal(t, want.body, got.body, promiseIsolation)
			assert.NotContains(t, got.body, "theirs", promiseIsolation)
		})
	}
	got, err := env.db.BinBySID(theirs.SID)
	require.NoError(t, err)
	assert.Equal(t, 1, got.Revision, promiseIsolation)
	assert.Equal(t, "theirs", got.FriendlyName, promiseIsolation)
}

// TestHostileWebEscaping: text an attacker chose, from a template, a bin's
// name or a request value that reached the event log, on every page.
func TestHostileWebEscaping(t *testing.T) {
	env := newTestEnv(t, Config{})
	c := env.signedIn()
	const script = `<script>alert(1)</script>`

	t.Run("a friendly name in the list", func(t *testing.T) {
		env.createBin(t, `"><img src=x onerror=alert(1)>`+script, validTemplate)
		res := c.get("/bins")
		require.Equal(t, http.StatusOK, res.code)
		assert.NotContains(t, res.body, script, promiseEscaping)
		assert.NotContains(t, res.body, "<img src=x", promiseEscaping)
	})
	t.Run("a diagnostic that quotes an element", func(t *testing.T) {
		res := c.post("/bins", editorForm("x", "<Response>"+script+"</Response>", "lenient", 0))
		require.Equal(t, http.StatusUnprocessableEntity, res.code)
		assert.NotContains(t, res.body, script, promiseEscaping)
		assert.Contains(t, text(res.body), "<script> is not allowed", promiseEscaping)
	})
	t.Run("a request value in the event log", func(t *testing.T) {
		const tmpl = "<Response>\n  <Dial><Number>{{To}}</Number></Dial>\n  <Hangup/>\n</Response>\n"
		b := env.createBin(t, "dialer", tmpl)
		compiled, err := engine.Compile(tmpl)
		require.NoError(t, err)
		_, diags, err := compiled.Render(map[string][]string{"To": {script}}, engine.Lenient)
		require.NoError(t, err)
		require.NotEmpty(t, diags)
		for _, d := range diags {
			env.db.AddEvent(b.SID, store.Event{Severity: d.Severity.String(), Code: string(d.Code), Message: d.Message, Slot: d.Slot, Line: d.Line, Column: d.Column})
		}
		res := c.get("/bins/" + b.SID + "/events")
		require.Equal(t, http.StatusOK, res.code)
		assert.NotContains(t, res.body, script, promiseEscaping)
		assert.Contains(t, text(res.body), script, "the value is shown, as text")
	})
	t.Run("a preview of hostile values", func(t *testing.T) {
		b := env.createBin(t, "p", validTemplate)
		form := editorForm("p", validTemplate, "lenient", b.Revision)
		form["param_name"] = []string{"name"}
		form["param_value"] = []string{"]]></textarea>" + script}
		res := c.post("/bins/"+b.SID+"/preview", form)
		require.Equal(t, http.StatusOK, res.code)
		assert.NotContains(t, res.body, script, promiseEscaping)
		assert.NotContains(t, res.body, "</textarea><script", promiseEscaping)
	})
}

// TestWebLimitsAtTheirEdge: the template and body limits of the form, at
// the limit and one over.
func TestWebLimitsAtTheirEdge(t *testing.T) {
	padded := func(n int) string {
		return "<Response>" + strings.Repeat(" ", n-len("<Response></Response>")) + "</Response>"
	}
	t.Run("template", func(t *testing.T) {
		env := newTestEnv(t, Config{})
		c := env.signedIn()
		res := c.post("/bins", editorForm("edge", padded(maxTemplateBytes), "lenient", 0))
		require.Equal(t, http.StatusSeeOther, res.code, promiseFormLimits)
		res = c.post("/bins", editorForm("over", padded(maxTemplateBytes+1), "lenient", 0))
		assert.Equal(t, http.StatusUnprocessableEntity, res.code, promiseFormLimits)
		assert.Contains(t, text(res.body), "the limit is 65536 bytes", promiseFormLimits)
		assert.Equal(t, 1, countBins(t, env))
		// The form's line ends become "\n" before the limit applies, as
		// the browser's "\r\n" are not the template's.
		crlf := "<Response>\r\n" + strings.Repeat(" ", maxTemplateBytes-len("<Response>\n</Response>")) + "</Response>"
		require.Equal(t, maxTemplateBytes+1, len(crlf))
		res = c.post("/bins", editorForm("crlf", crlf, "lenient", 0))
		assert.Equal(t, http.StatusSeeOther, res.code, promiseFormLimits)
	})
	t.Run("body", func(t *testing.T) {
		env := newTestEnv(t, Config{})
		c := env.signedIn()
		body := func(n int) string {
			head := url.Values{"csrf_token": {c.csrf}, "friendly_name": {"big"}, "render_policy": {"lenient"}}.Encode() + "&template="
			return head + strings.Repeat("+", n-len(head))
		}
		post := func(b string) response {
			req := httptest.NewRequest(http.MethodPost, "/bins", strings.NewReader(b))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return c.do(req)
		}
		res := post(body(DefaultMaxBodyBytes))
		assert.Equal(t, http.StatusUnprocessableEntity, res.code, "a body at the limit is read; its template is too large")
		res = post(body(DefaultMaxBodyBytes + 1))
		assert.Equal(t, http.StatusRequestEntityTooLarge, res.code, promiseFormLimits)
		assert.Contains(t, text(res.body), "Nothing was changed", promiseFormLimits)
		assert.Equal(t, 0, countBins(t, env))
	})
}

// TestHostileSessionRevocation: a copy of a session cookie stops working
// once its account signs out or changes its auth token, and a restart
// keeps sessions.
func TestHostileSessionRevocation(t *testing.T) {
	copyOf := func(c *client) *client {
		cookie := *c.cookie
		return &client{t: c.t, h: c.h, cookie: &cookie, csrf: c.csrf}
	}
	signedOut := func(t *testing.T, c *client, why string) {
		t.Helper()
		res := c.get("/bins")
		assert.Equal(t, http.StatusSeeOther, res.code, why)
		assert.Equal(t, "/login?next=%2Fbins", res.location(), why)
	}
	t.Run("a copy made before sign-out is refused after it", func(t *testing.T) {
		env := newTestEnv(t, Config{})
		c := env.signedIn()
		stolen := copyOf(c)
		other := env.signedIn() // the same account in another browser
		require.Equal(t, http.StatusOK, stolen.get("/bins").code)
		require.Equal(t, http.StatusSeeOther, c.post("/logout", nil).code)
		signedOut(t, stolen, "sign-out ends every session of the account")
		signedOut(t, other, "sign-out ends every session of the account")
		post := stolen.post("/bins", editorForm("pwned", validTemplate, "lenient", 0))
		assert.Equal(t, http.StatusForbidden, post.code)
		assert.Equal(t, 0, countBins(t, env))
		// Signing in again works, and the new session is not ended by
		// the old one's sign-out.
		again := env.signedIn()
		assert.Equal(t, http.StatusOK, again.get("/bins").code)
		signedOut(t, stolen, "the new session does not revive the old ones")
	})
	t.Run("a cookie from before a token rotation is refused after it", func(t *testing.T) {
		env := newTestEnv(t, Config{})
		c := env.signedIn()
		token, err := env.db.RotateAuthToken(env.acct.SID)
		require.NoError(t, err)
		signedOut(t, c, "rotating the auth token ends every session")
		fresh := env.signedInAs(env.acct.SID, token)
		assert.Equal(t, http.StatusOK, fresh.get("/bins").code)
	})
	t.Run("sessions survive a restart", func(t *testing.T) {
		storage := backendtest.New(t)
		open := func() (store.Store, *Handler) {
			db, err := storage.Open(store.Options{NoSync: true})
			require.NoError(t, err)
			h, err := New(Config{}, db, nil)
			require.NoError(t, err)
			return db, h
		}
		db, h := open()
		acct, token, err := db.CreateAccount("Restart")
		require.NoError(t, err)
		env := &testEnv{t: t, db: db, h: h, acct: acct, token: token}
		c := env.signedIn()
		require.NoError(t, db.Close())

		db, h = open()
		t.Cleanup(func() { require.NoError(t, db.Close()) })
		c.h = h
		assert.Equal(t, http.StatusOK, c.get("/bins").code, "a restart keeps sessions")
		assert.Equal(t, http.StatusSeeOther, c.post("/bins", editorForm("after", validTemplate, "lenient", 0)).code,
			"the form's CSRF token is still the session's")
	})
	t.Run("a forged epoch fails the signature", func(t *testing.T) {
		env := newTestEnv(t, Config{})
		c := env.signedIn()
		require.Equal(t, http.StatusSeeOther, env.signedIn().post("/logout", nil).code)
		signedOut(t, c, "the epoch has moved on")
		payload, sig, _ := strings.Cut(c.cookie.Value, ".")
		raw, err := base64.RawURLEncoding.DecodeString(payload)
		require.NoError(t, err)
		fields := strings.Split(string(raw), "|")
		require.Len(t, fields, 5)
		require.Equal(t, "0", fields[2])
		fields[2] = "1" // the account's epoch now
		forged := &client{t: t, h: env.h, cookie: &http.Cookie{Name: sessionCookie,
			Value: base64.RawURLEncoding.EncodeToString([]byte(strings.Join(fields, "|"))) + "." + sig}}
		signedOut(t, forged, promiseSession)
	})
	t.Run("a cookie of the earlier format is refused", func(t *testing.T) {
		env := newTestEnv(t, Config{})
		future := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
		p := env.acct.SID + "|x|" + future
		m := hmac.New(sha256.New, env.h.sessions.key)
		m.Write([]byte("twimlbin session v1\x00" + p))
		old := &client{t: t, h: env.h, cookie: &http.Cookie{Name: sessionCookie,
			Value: base64.RawURLEncoding.EncodeToString([]byte(p)) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))}}
		signedOut(t, old, promiseSession)
	})
}

// TestHostileFriendlyNames: the editor and the sign-up form refuse a
// friendly name by the store's one rule, the API's, and say why.
func TestHostileFriendlyNames(t *testing.T) {
	env := newTestEnv(t, Config{OpenSignup: true})
	c := env.signedIn()
	bin := env.createBin(t, "kept", validTemplate)
	for what, tt := range namecases.Bad {
		t.Run(what, func(t *testing.T) {
			for path, form := range map[string]url.Values{
				"/bins":            editorForm(tt.Name, validTemplate, "lenient", 0),
				"/bins/" + bin.SID: editorForm(tt.Name, validTemplate, "lenient", bin.Revision),
			} {
				res := c.post(path, form)
				assert.Equal(t, http.StatusUnprocessableEntity, res.code, path)
				assert.Contains(t, text(res.body), "The name ", path)
				assert.Contains(t, text(res.body), tt.Says, path)
			}
			anon := env.anonymous()
			anon.get("/signup")
			res := anon.post("/signup", url.Values{"friendly_name": {tt.Name}})
			assert.Equal(t, http.StatusUnprocessableEntity, res.code)
			assert.Contains(t, text(res.body), tt.Says)
		})
	}
	got, err := env.db.Bin(env.acct.SID, bin.SID)
	require.NoError(t, err)
	assert.Equal(t, "kept", got.FriendlyName)
	assert.Equal(t, 1, countBins(t, env))
	n, err := env.db.CountAccounts()
	require.NoError(t, err)
	assert.Equal(t, 1, n)

	for _, name := range namecases.Good {
		t.Run("accepted "+name, func(t *testing.T) {
			res := c.post("/bins", editorForm(name, validTemplate, "lenient", 0))
			assert.Equal(t, http.StatusSeeOther, res.code, res.body)
			anon := env.anonymous()
			anon.get("/signup")
			assert.Equal(t, http.StatusCreated, anon.post("/signup", url.Values{"friendly_name": {name}}).code)
		})
	}
	assert.Equal(t, 1+len(namecases.Good), countBins(t, env))
}

// TestHostileSignInRateLimits: failed sign-ins are limited per client
// address and per account, and sign-ups per address, with a 429 page
// saying when to try again.
func TestHostileSignInRateLimits(t *testing.T) {
	burst := ratelimit.DefaultFailures.Burst
	now := time.Unix(1_700_000_000, 0)
	env := newTestEnv(t, Config{OpenSignup: true, Now: func() time.Time { return now }})
	from := func(remote string) *client {
		c := env.anonymous()
		c.remote = remote
		c.get("/login")
		return c
	}
	signIn := func(c *client, sid, token string) response {
		return c.post("/login", url.Values{"account_sid": {sid}, "auth_token": {token}})
	}
	wrong := strings.Repeat("0", 32)
	limited := func(t *testing.T, res response, retryAfter string) {
		t.Helper()
		assert.Equal(t, http.StatusTooManyRequests, res.code)
		assert.Equal(t, retryAfter, res.header.Get("Retry-After"))
		assert.Contains(t, text(res.body), "Try again in "+retryAfter+" seconds")
	}

	t.Run("per address", func(t *testing.T) {
		c := from("198.51.100.1:1000")
		for i := range burst {
			assert.Equal(t, http.StatusForbidden, signIn(c, fmt.Sprintf("AC%032x", i+1), wrong).code, "failure %d", i+1)
		}
		limited(t, signIn(c, fmt.Sprintf("AC%032x", burst+1), wrong), "6")
		limited(t, signIn(c, env.acct.SID, env.token), "6")
		assert.Equal(t, http.StatusSeeOther, signIn(from("198.51.100.2:1000"), env.acct.SID, env.token).code, "another address is not affected")
		now = now.Add(6 * time.Second)
		assert.Equal(t, http.StatusSeeOther, signIn(c, env.acct.SID, env.token).code)
		now = now.Add(time.Hour)
	})
	t.Run("per account, over many addresses", func(t *testing.T) {
		for i := range burst {
			assert.Equal(t, http.StatusForbidden, signIn(from(fmt.Sprintf("203.0.113.%d:1000", i)), env.acct.SID, wrong).code)
		}
		limited(t, signIn(from("203.0.113.200:1000"), env.acct.SID, env.token), "6")
		now = now.Add(2 * time.Minute)
		assert.Equal(t, http.StatusSeeOther, signIn(from("203.0.113.200:1000"), env.acct.SID, env.token).code, "after the window")
	})
	t.Run("sign-up per address", func(t *testing.T) {
		signup := func(remote string) response {
			c := env.anonymous()
			c.remote = remote
			c.get("/signup")
			return c.post("/signup", url.Values{"friendly_name": {"new"}})
		}
		for range ratelimit.DefaultSignups.Burst {
			require.Equal(t, http.StatusCreated, signup("198.51.100.9:1000").code)
		}
		limited(t, signup("198.51.100.9:1000"), "720")
		assert.Equal(t, http.StatusCreated, signup("198.51.100.10:1000").code)
	})
}

// The promises of the web form about what one tenant may store.
const (
	promiseQuota  = "a save past an account's quota is refused with a page that says which quota, keeping what was typed"
	promisePruned = "a bin keeps its newest revisions; the list shows those, and a pruned one says it was pruned"
)

// TestHostileWebQuota: the form saves the last bin the quota allows and
// refuses the next with a message, keeping the template typed.
func TestHostileWebQuota(t *testing.T) {
	env := newTestEnvWith(t, Config{}, store.Options{MaxBinsPerAccount: 1})
	c := env.signedIn()
	c.get("/bins/new")
	res := c.post("/bins", editorForm("first", validTemplate, "lenient", 0))
	require.Equal(t, http.StatusSeeOther, res.code, res.body)
	c.get("/bins/new")
	res = c.post("/bins", editorForm("second", validTemplate+"<!-- typed -->", "lenient", 0))
	assert.Equal(t, http.StatusForbidden, res.code, promiseQuota)
	page := text(res.body)
	for _, s := range []string{"1 bins", "quota", "Nothing was saved", "Delete bins"} {
		assert.Contains(t, page, s, promiseQuota)
	}
	assert.Contains(t, res.body, "&lt;!-- typed --&gt;", promiseQuota)
}

// TestHostileWebRevisionsPruned: the revision list shows the kept
// revisions, and a pruned one is a 404 page that says it was pruned.
func TestHostileWebRevisionsPruned(t *testing.T) {
	env := newTestEnvWith(t, Config{}, store.Options{RevisionsKept: 2})
	c := env.signedIn()
	b := env.createBin(t, "Greeter", validTemplate)
	for i := 2; i <= 3; i++ {
		_, err := env.db.UpdateBin(env.acct.SID, b.SID, 0, store.BinInput{FriendlyName: "Greeter " + strconv.Itoa(i), Template: validTemplate, RenderPolicy: "lenient"})
		require.NoError(t, err)
	}
	res := c.get("/bins/" + b.SID + "/revisions")
	require.Equal(t, http.StatusOK, res.code)
	assert.Contains(t, res.body, `href="/bins/`+b.SID+`/revisions/2"`, promisePruned)
	assert.NotContains(t, res.body, `href="/bins/`+b.SID+`/revisions/1"`, promisePruned)
	for _, path := range []string{"/revisions/1", "/revisions/1/diff"} {
		res := c.get("/bins/" + b.SID + path)
		assert.Equal(t, http.StatusNotFound, res.code, path)
		assert.Contains(t, text(res.body), "pruned", promisePruned+": "+path)
	}
	res = c.post("/bins/"+b.SID+"/revisions/1/restore", url.Values{"revision": {"3"}})
	assert.Equal(t, http.StatusNotFound, res.code)
	assert.Contains(t, text(res.body), "pruned", promisePruned+": restore")
}

// TestHostileNextRedirect: values of the sign-in's next parameter that a
// browser would follow to another site, or that name no page of the web
// form. The sign-in form, a failed sign-in and a successful one all carry
// /bins instead; the pages' own links still come back.
func TestHostileNextRedirect(t *testing.T) {
	// Every value makes a failed sign-in, more than the limit allows.
	unlimited := ratelimit.Rate{Events: -1}
	env := newTestEnv(t, Config{SignInFailures: unlimited, SignInFailuresPerAccount: unlimited})
	bin := env.createBin(t, "mine", validTemplate)
	hostile := []string{
		`/./\evil.example`,
		"/\t/evil.example",
		"/%09/evil.example",
		"//evil.example",
		`/\evil.example`,
		"https://evil.example",
		"/\n/evil.example",
		"/\r\n/evil.example",
		" //evil.example",
		"\t//evil.example",
		`\\evil.example`,
		`/\/evil.example`,
		"/%2F/evil.example",
		"/%5Cevil.example",
		"/%5C%5Cevil.example",
		"///evil.example",
		"/.//evil.example",
		"/bins/../\\evil.example",
		"/bins/..//evil.example",
		"/bins//evil.example",
		"/bins/./../../evil.example",
		"https:/evil.example",
		"https:evil.example",
		"//user@evil.example/bins",
		"javascript:alert(1)",
		"data:text/html,<script>alert(1)</script>",
		"bins",
		"/login/../..//evil.example",
		"/nothing-here",
		"/twiml/" + bin.SID,
		"/api/v1/bins",
		"/assets/app.js",
		"/logout",
		"/bins/" + bin.SID + "#//evil.example",
		"/bins\x00//evil.example",
		"/bins/" + bin.SID + "\u2028//evil.example",
		"/bins/%E2%80%A8//evil.example",
		strings.Repeat("/bins", 2000),
	}
	for _, next := range hostile {
		t.Run(strconv.Quote(next), func(t *testing.T) {
			c := env.anonymous()
			form := c.get("/login?next=" + url.QueryEscape(next))
			require.Equal(t, http.StatusOK, form.code)
			assert.Contains(t, form.body, `name="next" value="/bins"`, promiseNext)

			failed := c.post("/login", url.Values{"account_sid": {env.acct.SID}, "auth_token": {"wrong"}, "next": {next}})
			require.Equal(t, http.StatusForbidden, failed.code)
			assert.Contains(t, failed.body, `name="next" value="/bins"`, promiseNext)

			res := c.post("/login", url.Values{"account_sid": {env.acct.SID}, "auth_token": {env.token}, "next": {next}})
			require.Equal(t, http.StatusSeeOther, res.code)
			assert.Equal(t, "/bins", res.location(), promiseNext)
		})
	}

	legitimate := []string{
		"/bins",
		"/bins/new",
		"/bins/new?from=client-contextual-call",
		"/bins/" + bin.SID,
		"/bins/" + bin.SID + "?saved=2",
		"/bins/" + bin.SID + "?saved=2&name=a%20b",
		"/bins/" + bin.SID + "/events",
		"/bins/" + bin.SID + "/revisions/1/diff",
		"/bins?page=abc",
		"/",
	}
	for _, next := range legitimate {
		t.Run("legitimate "+next, func(t *testing.T) {
			c := env.anonymous()
			form := c.get("/login?next=" + url.QueryEscape(next))
			assert.Contains(t, form.body, `name="next" value="`+html.EscapeString(next)+`"`)
			res := c.post("/login", url.Values{"account_sid": {env.acct.SID}, "auth_token": {env.token}, "next": {next}})
			require.Equal(t, http.StatusSeeOther, res.code)
			assert.Equal(t, next, res.location())
		})
	}

	// A signed-out visit to a page comes back to it, query and all.
	t.Run("the round trip of a signed-out visit", func(t *testing.T) {
		page := "/bins/" + bin.SID + "/revisions/1?x=%2F%2Fy"
		c := env.anonymous()
		res := c.get(page)
		require.Equal(t, http.StatusSeeOther, res.code)
		loc, err := url.Parse(res.location())
		require.NoError(t, err)
		assert.Equal(t, "/login", loc.Path)
		next := loc.Query().Get("next")
		assert.Equal(t, page, next)
		form := c.get(res.location())
		assert.Contains(t, form.body, `name="next" value="`+html.EscapeString(page)+`"`)
		res = c.post("/login", url.Values{"account_sid": {env.acct.SID}, "auth_token": {env.token}, "next": {next}})
		assert.Equal(t, page, res.location())
	})
}
