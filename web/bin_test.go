package web

import (
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/twimlbin/twimlbin/engine"
	"github.com/twimlbin/twimlbin/internal/backendtest"
	"github.com/twimlbin/twimlbin/store"
	"github.com/twimlbin/twimlbin/templates"
)

const (
	validTemplate = "<Response>\n  <Say>Hello {{name}}</Say>\n</Response>\n"
	// brokenTemplate has an error on line 3.
	brokenTemplate = "<Response>\n  <Say>Hello {{name}}</Say>\n  <Dail>+14155550100</Dail>\n</Response>\n"
	// warningTemplate has a warning on line 2 and no error.
	warningTemplate = "<Response>\n  <Say voice=\"robot\">Hi</Say>\n</Response>\n"
	// scriptTemplate holds markup that would end the editor's textarea.
	scriptTemplate = "</textarea><script>alert(1)</script>"
)

// createBin saves a bin directly in the store.
func (e *testEnv) createBin(t *testing.T, name, tmpl string) store.Bin {
	t.Helper()
	b, err := e.db.CreateBin(e.acct.SID, store.BinInput{FriendlyName: name, Template: tmpl, RenderPolicy: "lenient"})
	require.NoError(t, err)
	return b
}

// otherAccountBin makes a second account with a bin.
func (e *testEnv) otherAccountBin(t *testing.T) store.Bin {
	t.Helper()
	other, _, err := e.db.CreateAccount("Other")
	require.NoError(t, err)
	b, err := e.db.CreateBin(other.SID, store.BinInput{FriendlyName: "theirs", Template: validTemplate, RenderPolicy: "lenient"})
	require.NoError(t, err)
	return b
}

func TestListBins(t *testing.T) {
	env := newTestEnv(t, Config{PublicURL: "https://bins.example.com/"})
	c := env.signedIn()

	empty := c.get("/bins")
	require.Equal(t, http.StatusOK, empty.code)
	assert.Contains(t, text(empty.body), "No bins yet")
	assert.Contains(t, empty.body, `href="/bins/new"`, "the empty state points to the gallery")

	b := env.createBin(t, "Support line", validTemplate)
	env.db.RecordRequest(b.SID, b.DateCreated)
	env.otherAccountBin(t)
	res := c.get("/bins")
	require.Equal(t, http.StatusOK, res.code)
	page := text(res.body)
	assert.Contains(t, page, "Support line")
	assert.Contains(t, page, b.SID)
	assert.Contains(t, res.body, `data-copy="https://bins.example.com/twiml/`+b.SID+`"`, "the URL with a copy button")
	assert.NotContains(t, page, "theirs", "only the account's own bins")
	assert.Regexp(t, `<td data-label="Requests" class="num">1</td>`, res.body, "the request count")
	assert.Equal(t, "no-store", res.header.Get("Cache-Control"))

	assert.Equal(t, http.StatusBadRequest, c.get("/bins?page=nope").code)
}

// TestBinBaseURL: with the bins on an origin of their own, the bin URLs
// shown are on it, on the list and on the bin's page.
func TestBinBaseURL(t *testing.T) {
	env := newTestEnv(t, Config{PublicURL: "https://twimlbin.example.com", BinBaseURL: "https://bins.example.com/"})
	c := env.signedIn()
	b := env.createBin(t, "Support line", validTemplate)
	want := `"https://bins.example.com/twiml/` + b.SID + `"`
	assert.Contains(t, c.get("/bins").body, `data-copy=`+want)
	assert.Contains(t, c.get("/bins/"+b.SID).body, want)
	assert.True(t, env.h.sessions.secure, "the web form's https URL makes its cookie Secure")

	_, err := New(Config{BinBaseURL: "bins.example.com"}, env.db, nil)
	assert.ErrorContains(t, err, "want an absolute http or https URL")
}

func TestNewBin(t *testing.T) {
	env := newTestEnv(t, Config{})
	c := env.signedIn()

	gallery := c.get("/bins/new")
	require.Equal(t, http.StatusOK, gallery.code)
	for _, e := range templates.All() {
		assert.Contains(t, gallery.body, `href="/bins/new?from=`+e.Slug+`"`)
	}
	assert.Contains(t, gallery.body, `href="/bins/new?from=blank"`)

	entry := templates.All()[0]
	res := c.get("/bins/new?from=" + entry.Slug)
	require.Equal(t, http.StatusOK, res.code)
	assert.Contains(t, res.body, `<textarea id="template" name="template"`)
	assert.Contains(t, res.body, "\n"+htmlEscape(entry.Template)+"</textarea>", "the entry's template, after the newline the textarea drops")
	for name, values := range entry.Params {
		assert.Contains(t, res.body, `value="`+htmlEscape(name)+`"`, "the example parameter %s", name)
		assert.Contains(t, res.body, `value="`+htmlEscape(values[0])+`"`)
	}
	assert.Contains(t, res.body, `name="gallery" value="`+entry.Slug+`"`)

	blank := c.get("/bins/new?from=blank")
	require.Equal(t, http.StatusOK, blank.code)
	assert.Contains(t, blank.body, htmlEscape(blankTemplate))
	for _, name := range []string{"From", "To", "CallSid", "AccountSid", "Direction"} {
		assert.Contains(t, blank.body, `value="`+name+`"`, "Twilio's standard parameter %s", name)
	}
	assert.Contains(t, blank.body, `value="`+env.acct.SID+`"`, "AccountSid is the account's")

	assert.Equal(t, http.StatusNotFound, c.get("/bins/new?from=no-such-entry").code)
}

func TestCreateBin(t *testing.T) {
	env := newTestEnv(t, Config{})
	c := env.signedIn()

	t.Run("success", func(t *testing.T) {
		form := editorForm("Hello", strings.ReplaceAll(validTemplate, "\n", "\r\n"), "strict", 0)
		form.Set("gallery", "sms-auto-reply")
		res := c.post("/bins", form)
		require.Equal(t, http.StatusSeeOther, res.code, res.body)
		m := regexp.MustCompile(`^/bins/(EH[0-9a-f]{32})\?created=1&from=sms-auto-reply$`).FindStringSubmatch(res.location())
		require.NotNil(t, m, res.location())
		b, err := env.db.Bin(env.acct.SID, m[1])
		require.NoError(t, err)
		assert.Equal(t, "Hello", b.FriendlyName)
		assert.Equal(t, validTemplate, b.Template, "line ends are \\n")
		assert.Equal(t, "strict", b.RenderPolicy)
		page := c.get(res.location())
		assert.Contains(t, text(page.body), "Created the bin.")
	})
	t.Run("errors", func(t *testing.T) {
		before := countBins(t, env)
		res := c.post("/bins", editorForm("Broken", brokenTemplate, "lenient", 0))
		require.Equal(t, http.StatusUnprocessableEntity, res.code)
		assert.Equal(t, before, countBins(t, env), "nothing saved")
		assert.Contains(t, res.body, "\n"+htmlEscape(brokenTemplate)+"</textarea>", "nothing typed is lost")
		assert.Contains(t, res.body, `value="Broken"`)
		assertDiagnosticShown(t, res.body, engine.Check(brokenTemplate).Errors()[0])
	})
	t.Run("too large", func(t *testing.T) {
		big := "<Response><Say>" + strings.Repeat("a", maxTemplateBytes) + "</Say></Response>"
		res := c.post("/bins", editorForm("Big", big, "lenient", 0))
		assert.Equal(t, http.StatusUnprocessableEntity, res.code)
		assert.Contains(t, res.body, string(engine.CodeTemplateTooLarge))
	})
	t.Run("bad fields", func(t *testing.T) {
		before := countBins(t, env)
		res := c.post("/bins", editorForm(strings.Repeat("n", 65), validTemplate, "sometimes", 0))
		require.Equal(t, http.StatusUnprocessableEntity, res.code)
		assert.Contains(t, res.body, `id="friendly_name-error"`)
		assert.Contains(t, res.body, `id="render_policy-error"`)
		assert.Equal(t, before, countBins(t, env))
	})
	t.Run("warnings are saved and shown", func(t *testing.T) {
		res := c.post("/bins", editorForm("Warned", warningTemplate, "lenient", 0))
		require.Equal(t, http.StatusSeeOther, res.code, res.body)
		page := c.get(res.location())
		require.Equal(t, http.StatusOK, page.code)
		w := engine.Check(warningTemplate)
		require.NotEmpty(t, w)
		require.False(t, w.HasErrors())
		assertDiagnosticShown(t, page.body, w[0])
	})
}

func countBins(t *testing.T, env *testEnv) int {
	t.Helper()
	page, err := env.db.ListBins(env.acct.SID, store.ListQuery{})
	require.NoError(t, err)
	return len(page.Bins)
}

// assertDiagnosticShown checks that a page lists a diagnostic as "line N,
// column M: CODE message" with its severity, and marks its line.
func assertDiagnosticShown(t *testing.T, body string, d engine.Diagnostic) {
	t.Helper()
	assert.Contains(t, text(body), fmt.Sprintf("line %d, column %d: %s %s", d.Line, d.Column, d.Code, d.Message))
	assert.Contains(t, body, fmt.Sprintf(`<li class="diag %s">`, d.Severity))
	assert.Regexp(t, fmt.Sprintf(`<li id="L%d" class="%s" data-message="%s`, d.Line, d.Severity, regexp.QuoteMeta(string(d.Code))), body)
}

func TestEditBin(t *testing.T) {
	env := newTestEnv(t, Config{})
	c := env.signedIn()
	b := env.createBin(t, "Greeter", validTemplate)

	res := c.get("/bins/" + b.SID)
	require.Equal(t, http.StatusOK, res.code)
	assert.Contains(t, res.body, "\n"+htmlEscape(validTemplate)+"</textarea>")
	assert.Contains(t, res.body, `name="revision" value="1"`)
	assert.Contains(t, res.body, `<option value="lenient" selected>`)
	assert.Contains(t, res.body, `value="name"`, "the template's variables are preview parameters")
	assert.Contains(t, res.body, `id="L3"`, "a numbered gutter")
	assert.Contains(t, text(res.body), "No problems found.")
	for _, field := range []string{"friendly_name", "render_policy", "template"} {
		assert.Contains(t, res.body, `<label for="`+field+`"`, "a label for %s", field)
	}

	t.Run("another account's bin", func(t *testing.T) {
		theirs := env.otherAccountBin(t)
		for _, path := range []string{"", "/preview", "/revisions", "/revisions/1", "/revisions/1/diff", "/events", "/delete"} {
			res := c.get("/bins/" + theirs.SID + path)
			assert.Equal(t, http.StatusNotFound, res.code, path)
			assert.Contains(t, text(res.body), "no such bin in your account", path)
			assert.NotContains(t, res.body, "theirs", path)
		}
		assert.Equal(t, http.StatusNotFound, c.get("/bins/EHnot-a-sid").code)
	})
}

func TestTemplateIsEscaped(t *testing.T) {
	env := newTestEnv(t, Config{})
	c := env.signedIn()

	check := func(t *testing.T, body string) {
		t.Helper()
		assert.NotContains(t, body, "<script>alert(1)")
		assert.NotContains(t, body, "</textarea><script>")
		assert.Contains(t, body, "&lt;/textarea&gt;&lt;script&gt;alert(1)&lt;/script&gt;")
	}
	t.Run("a template with errors", func(t *testing.T) {
		res := c.post("/bins", editorForm("x", scriptTemplate, "lenient", 0))
		require.Equal(t, http.StatusUnprocessableEntity, res.code)
		check(t, res.body)
	})
	t.Run("a saved template", func(t *testing.T) {
		tmpl := "<Response>\n  <!-- " + scriptTemplate + " -->\n  <Say>{{x}}</Say>\n</Response>\n"
		b := env.createBin(t, `<b>"name"</b>`, tmpl)
		for _, path := range []string{"/bins/" + b.SID, "/bins/" + b.SID + "/revisions/1", "/bins/" + b.SID + "/preview"} {
			res := c.get(path)
			require.Equal(t, http.StatusOK, res.code, path)
			check(t, res.body)
			assert.NotContains(t, res.body, `<b>"name"</b>`, path)
		}
	})
	t.Run("parameters in the preview", func(t *testing.T) {
		b := env.createBin(t, "p", validTemplate)
		form := editorForm("p", validTemplate, "lenient", b.Revision)
		form["param_name"] = []string{"name", `"><script>alert(2)</script>`}
		form["param_value"] = []string{"</pre><script>alert(1)</script>", "x"}
		res := c.post("/bins/"+b.SID+"/preview", form)
		require.Equal(t, http.StatusOK, res.code)
		assert.NotContains(t, res.body, "<script>alert(")
	})
}

func TestUpdateBin(t *testing.T) {
	env := newTestEnv(t, Config{})
	c := env.signedIn()

	t.Run("success", func(t *testing.T) {
		b := env.createBin(t, "Greeter", validTemplate)
		changed := strings.Replace(validTemplate, "Hello", "Hi", 1)
		res := c.post("/bins/"+b.SID, editorForm("Greeter 2", changed, "strict", 1))
		require.Equal(t, http.StatusSeeOther, res.code, res.body)
		assert.Equal(t, "/bins/"+b.SID+"?saved=2", res.location())
		got, err := env.db.Bin(env.acct.SID, b.SID)
		require.NoError(t, err)
		assert.Equal(t, 2, got.Revision)
		assert.Equal(t, changed, got.Template)
		assert.Equal(t, "Greeter 2", got.FriendlyName)
		assert.Equal(t, "strict", got.RenderPolicy)
		assert.Contains(t, text(c.get(res.location()).body), "Saved revision 2.")
	})
	t.Run("no change, no revision", func(t *testing.T) {
		b := env.createBin(t, "Same", validTemplate)
		res := c.post("/bins/"+b.SID, editorForm("Same", validTemplate, "lenient", 1))
		require.Equal(t, http.StatusSeeOther, res.code)
		assert.Contains(t, text(c.get(res.location()).body), "Nothing changed")
		got, err := env.db.Bin(env.acct.SID, b.SID)
		require.NoError(t, err)
		assert.Equal(t, 1, got.Revision)
	})
	t.Run("errors", func(t *testing.T) {
		b := env.createBin(t, "Greeter", validTemplate)
		res := c.post("/bins/"+b.SID, editorForm("Renamed", brokenTemplate, "lenient", 1))
		require.Equal(t, http.StatusUnprocessableEntity, res.code)
		assert.Contains(t, res.body, "\n"+htmlEscape(brokenTemplate)+"</textarea>", "nothing typed is lost")
		assert.Contains(t, res.body, `value="Renamed"`)
		assert.Contains(t, res.body, `name="revision" value="1"`)
		assertDiagnosticShown(t, res.body, engine.Check(brokenTemplate).Errors()[0])
		got, err := env.db.Bin(env.acct.SID, b.SID)
		require.NoError(t, err)
		assert.Equal(t, 1, got.Revision)
		assert.Equal(t, validTemplate, got.Template)
	})
	t.Run("warnings are saved and shown", func(t *testing.T) {
		b := env.createBin(t, "Greeter", validTemplate)
		res := c.post("/bins/"+b.SID, editorForm("Greeter", warningTemplate, "lenient", 1))
		require.Equal(t, http.StatusSeeOther, res.code, res.body)
		page := c.get(res.location())
		assertDiagnosticShown(t, page.body, engine.Check(warningTemplate)[0])
		assert.Contains(t, text(page.body), "1 warning. The template can be saved")
	})
	t.Run("stale revision", func(t *testing.T) {
		b := env.createBin(t, "Greeter", validTemplate)
		theirs := strings.Replace(validTemplate, "Hello", "Bonjour", 1)
		_, err := env.db.UpdateBin(env.acct.SID, b.SID, 1, store.BinInput{FriendlyName: "Greeter", Template: theirs, RenderPolicy: "lenient"})
		require.NoError(t, err)

		mine := strings.Replace(validTemplate, "Hello", "Hola", 1)
		res := c.post("/bins/"+b.SID, editorForm("Greeter", mine, "lenient", 1))
		require.Equal(t, http.StatusConflict, res.code)
		got, err := env.db.Bin(env.acct.SID, b.SID)
		require.NoError(t, err)
		assert.Equal(t, theirs, got.Template, "never silently overwritten")
		page := text(res.body)
		assert.Contains(t, page, "This bin was saved while you were editing it")
		assert.Contains(t, page, "You started from revision 1; revision 2 was saved since")
		assert.Contains(t, res.body, "\n"+htmlEscape(mine)+"</textarea>", "mine, in the editor")
		assert.Contains(t, res.body, "<code>  &lt;Say&gt;Bonjour {{name}}&lt;/Say&gt;</code>", "theirs, in full")
		assert.Regexp(t, `<tr class="del">.*Bonjour`, res.body, "and the difference")
		assert.Regexp(t, `<tr class="add">.*Hola`, res.body)
		assert.Contains(t, page, "Save mine as revision 3")
		assert.Contains(t, res.body, `name="revision" value="2"`, "saving again is a choice made knowing revision 2")

		again := c.post("/bins/"+b.SID, editorForm("Greeter", mine, "lenient", 2))
		require.Equal(t, http.StatusSeeOther, again.code)
		got, err = env.db.Bin(env.acct.SID, b.SID)
		require.NoError(t, err)
		assert.Equal(t, mine, got.Template)
		assert.Equal(t, 3, got.Revision)
	})
	t.Run("no revision in the form", func(t *testing.T) {
		b := env.createBin(t, "Greeter", validTemplate)
		res := c.post("/bins/"+b.SID, editorForm("Greeter", warningTemplate, "lenient", 0))
		assert.Equal(t, http.StatusBadRequest, res.code)
		got, err := env.db.Bin(env.acct.SID, b.SID)
		require.NoError(t, err)
		assert.Equal(t, 1, got.Revision)
	})
	t.Run("another account's bin", func(t *testing.T) {
		theirs := env.otherAccountBin(t)
		res := c.post("/bins/"+theirs.SID, editorForm("mine now", validTemplate, "lenient", 1))
		assert.Equal(t, http.StatusNotFound, res.code)
		got, err := env.db.BinBySID(theirs.SID)
		require.NoError(t, err)
		assert.Equal(t, "theirs", got.FriendlyName)
	})
}

// htmlEscape escapes as html/template escapes text.
func htmlEscape(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;", "+", "&#43;")
	return r.Replace(s)
}

// TestReadOnlyDatabase serves the pages over a database opened read-only:
// signing in and every page that reads work, every page says nothing can
// be saved, and a save answers 503 with the form as typed, so that no
// edit is lost; deleting and restoring answer a page that says why.
func TestReadOnlyDatabase(t *testing.T) {
	backendtest.SkipUnlessBolt(t, "only a database file is opened read-only")
	path := filepath.Join(t.TempDir(), "twimlbin.db")
	db, err := store.Open(path, store.Options{NoSync: true})
	require.NoError(t, err)
	acct, token, err := db.CreateAccount("Tester")
	require.NoError(t, err)
	b, err := db.CreateBin(acct.SID, store.BinInput{FriendlyName: "Greeter", Template: validTemplate, RenderPolicy: "lenient"})
	require.NoError(t, err)
	require.NoError(t, db.Close())

	db, err = store.Open(path, store.Options{ReadOnly: true})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	h, err := New(Config{}, db, nil)
	require.NoError(t, err)
	env := &testEnv{t: t, db: db, h: h, acct: acct, token: token}
	c := env.signedIn()
	const banner = "This server's database is read-only"

	for _, page := range []string{"/bins", "/bins/" + b.SID, "/bins/" + b.SID + "/revisions", "/bins/new"} {
		res := c.get(page)
		require.Equal(t, http.StatusOK, res.code, page)
		assert.Contains(t, text(res.body), banner, page)
	}

	mine := strings.Replace(validTemplate, "Hello", "Hola", 1)
	res := c.post("/bins/"+b.SID, editorForm("Renamed", mine, "strict", 1))
	require.Equal(t, http.StatusServiceUnavailable, res.code, res.body)
	assert.Contains(t, text(res.body), "Not saved. This server's database is read-only, so nothing was saved; bins are still served.")
	assert.Contains(t, res.body, "\n"+htmlEscape(mine)+"</textarea>", "nothing typed is lost")
	assert.Contains(t, res.body, `value="Renamed"`)

	res = c.post("/bins", editorForm("New one", mine, "lenient", 0))
	require.Equal(t, http.StatusServiceUnavailable, res.code, res.body)
	assert.Contains(t, res.body, "\n"+htmlEscape(mine)+"</textarea>", "nothing typed is lost")

	for _, path := range []string{"/bins/" + b.SID + "/delete", "/bins/" + b.SID + "/revisions/1/restore"} {
		res := c.post(path, url.Values{"revision": {"1"}})
		require.Equal(t, http.StatusServiceUnavailable, res.code, path)
		assert.Contains(t, text(res.body), "Nothing can be saved", path)
	}
	got, err := db.Bin(acct.SID, b.SID)
	require.NoError(t, err)
	assert.Equal(t, validTemplate, got.Template)
}
