package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/twimlbin/twimlbin/engine"
)

func TestPreview(t *testing.T) {
	env := newTestEnv(t, Config{})
	c := env.signedIn()
	b := env.createBin(t, "Greeter", validTemplate)

	t.Run("the saved bin", func(t *testing.T) {
		res := c.get("/bins/" + b.SID + "/preview")
		require.Equal(t, http.StatusOK, res.code)
		assert.Contains(t, res.body, `<pre class="twiml" id="twiml">`)
		assert.Contains(t, text(res.body), "Response: HTTP 200")
	})
	t.Run("a draft with parameters", func(t *testing.T) {
		draft := strings.Replace(validTemplate, "Hello", "Goodbye", 1)
		form := editorForm("Greeter", draft, "lenient", b.Revision)
		form["param_name"] = []string{"name", "", "unused"}
		form["param_value"] = []string{"Ada & <Lovelace>", "ignored", "x"}
		res := c.post("/bins/"+b.SID+"/preview", form)
		require.Equal(t, http.StatusOK, res.code)
		assert.Contains(t, text(res.body), "<Say>Goodbye Ada &amp; &lt;Lovelace&gt;</Say>", "the rendered TwiML, shown as text")
		assert.Contains(t, res.body, "\n"+htmlEscape(draft)+"</textarea>", "the draft stays in the editor")
		assert.Contains(t, res.body, `name="revision" value="1"`)
		assert.Contains(t, res.body, `value="Ada &amp; &lt;Lovelace&gt;"`, "the parameters stay")

		// Nothing saved, nothing counted, nothing logged.
		require.NoError(t, env.db.Flush())
		got, err := env.db.Bin(env.acct.SID, b.SID)
		require.NoError(t, err)
		assert.Equal(t, 1, got.Revision)
		assert.Equal(t, validTemplate, got.Template)
		assert.Zero(t, got.NumRequests)
		events, err := env.db.Events(env.acct.SID, b.SID, 0)
		require.NoError(t, err)
		assert.Empty(t, events)
	})
	t.Run("render diagnostics", func(t *testing.T) {
		tmpl := "<Response>\n  <Dial callerId=\"{{From}}\">{{To}}</Dial>\n</Response>\n"
		form := editorForm("Dialer", tmpl, "lenient", b.Revision)
		form["param_name"] = []string{"From", "To"}
		form["param_value"] = []string{"not a number", "+14155550100"}
		res := c.post("/bins/"+b.SID+"/preview", form)
		require.Equal(t, http.StatusOK, res.code)
		_, diags, err := mustCompile(t, tmpl).Render(map[string][]string{"From": {"not a number"}, "To": {"+14155550100"}}, engine.Lenient)
		require.NoError(t, err)
		require.NotEmpty(t, diags, "the test needs a value the engine repairs")
		assert.Contains(t, text(res.body), diags[0].Message)

		form.Set("render_policy", "strict")
		strict := c.post("/bins/"+b.SID+"/preview", form)
		require.Equal(t, http.StatusOK, strict.code)
		assert.Contains(t, text(strict.body), "Response: HTTP 500")
		assert.Contains(t, text(strict.body), "fallback URL")
	})
	t.Run("a draft with errors", func(t *testing.T) {
		res := c.post("/bins/"+b.SID+"/preview", editorForm("Greeter", brokenTemplate, "lenient", b.Revision))
		require.Equal(t, http.StatusUnprocessableEntity, res.code)
		assert.NotContains(t, res.body, `id="twiml"`)
		assertDiagnosticShown(t, res.body, engine.Check(brokenTemplate).Errors()[0])
	})
	t.Run("a new bin", func(t *testing.T) {
		form := editorForm("New", validTemplate, "lenient", 0)
		form["param_name"] = []string{"name"}
		form["param_value"] = []string{"Grace"}
		res := c.post("/bins/preview", form)
		require.Equal(t, http.StatusOK, res.code)
		assert.Contains(t, text(res.body), "<Say>Hello Grace</Say>")
		assert.Contains(t, res.body, `action="/bins"`, "saving creates the bin")
		assert.Equal(t, 1, countBins(t, env))
	})
}

func mustCompile(t *testing.T, src string) *engine.Template {
	t.Helper()
	tmpl, err := engine.Compile(src)
	require.NoError(t, err)
	return tmpl
}

func TestValidate(t *testing.T) {
	env := newTestEnv(t, Config{})
	c := env.signedIn()
	validate := func(t *testing.T, src string) validation {
		t.Helper()
		res := c.post("/bins/validate", url.Values{"template": {src}})
		require.Equal(t, http.StatusOK, res.code, res.body)
		assert.Equal(t, "application/json", res.header.Get("Content-Type"))
		var v validation
		require.NoError(t, json.Unmarshal([]byte(res.body), &v))
		return v
	}
	ok := validate(t, validTemplate)
	assert.True(t, ok.Valid)
	assert.Empty(t, ok.Diagnostics)
	assert.Equal(t, []string{"name"}, ok.Variables)

	bad := validate(t, strings.ReplaceAll(brokenTemplate, "\n", "\r\n"))
	assert.False(t, bad.Valid)
	assert.Equal(t, engine.Check(brokenTemplate), bad.Diagnostics, "the same diagnostics as saving, CRLF or not")

	warned := validate(t, warningTemplate)
	assert.True(t, warned.Valid)
	assert.Equal(t, engine.Check(warningTemplate), warned.Diagnostics)

	anon := env.anonymous()
	anon.get("/login")
	res := anon.post("/bins/validate", url.Values{"template": {validTemplate}})
	assert.Equal(t, http.StatusForbidden, res.code, "signed out")
}
