package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/twimlbin/twimlbin/store"
)

func TestRevisions(t *testing.T) {
	env := newTestEnv(t, Config{})
	c := env.signedIn()
	b := env.createBin(t, "Greeter", validTemplate)
	second := strings.Replace(validTemplate, "Hello", "Hi", 1) + "<!-- v2 -->\n"
	_, err := env.db.UpdateBin(env.acct.SID, b.SID, 1, store.BinInput{FriendlyName: "Greeter", Template: second, RenderPolicy: "strict"})
	require.NoError(t, err)

	t.Run("list", func(t *testing.T) {
		res := c.get("/bins/" + b.SID + "/revisions")
		require.Equal(t, http.StatusOK, res.code)
		page := text(res.body)
		assert.Contains(t, page, "2 current")
		assert.Contains(t, page, bytesText(len(validTemplate)))
		assert.Contains(t, page, bytesText(len(second)))
		assert.Contains(t, res.body, `href="/bins/`+b.SID+`/revisions/1/diff"`)
		assert.Contains(t, res.body, `action="/bins/`+b.SID+`/revisions/1/restore"`)
		assert.NotContains(t, res.body, `action="/bins/`+b.SID+`/revisions/2/restore"`, "the current one is not restored")
	})
	t.Run("view", func(t *testing.T) {
		res := c.get("/bins/" + b.SID + "/revisions/1")
		require.Equal(t, http.StatusOK, res.code)
		assert.Contains(t, res.body, "<li><code>  &lt;Say&gt;Hello {{name}}&lt;/Say&gt;</code></li>")
		assert.Equal(t, http.StatusNotFound, c.get("/bins/"+b.SID+"/revisions/9").code)
		assert.Equal(t, http.StatusNotFound, c.get("/bins/"+b.SID+"/revisions/x").code)
	})
	t.Run("diff", func(t *testing.T) {
		res := c.get("/bins/" + b.SID + "/revisions/1/diff")
		require.Equal(t, http.StatusOK, res.code)
		assert.Regexp(t, `<tr class="del"><td class="ln">2</td><td class="ln"></td><td class="mark">-.*Hello \{\{name\}\}`, res.body)
		assert.Regexp(t, `<tr class="add"><td class="ln"></td><td class="ln">2</td><td class="mark">&#43;.*Hi \{\{name\}\}`, res.body)
		assert.Regexp(t, `<tr class="add"><td class="ln"></td><td class="ln">4</td>.*v2`, res.body)
		same := c.get("/bins/" + b.SID + "/revisions/2/diff")
		assert.Contains(t, text(same.body), "The template is the same as the current one.")
	})
	t.Run("restore", func(t *testing.T) {
		res := c.post("/bins/"+b.SID+"/revisions/1/restore", url.Values{"revision": {"2"}})
		require.Equal(t, http.StatusSeeOther, res.code, res.body)
		assert.Equal(t, "/bins/"+b.SID+"?restored=1&saved=3", res.location())
		got, err := env.db.Bin(env.acct.SID, b.SID)
		require.NoError(t, err)
		assert.Equal(t, 3, got.Revision, "restoring is a new revision")
		assert.Equal(t, validTemplate, got.Template)
		assert.Equal(t, "lenient", got.RenderPolicy)
		assert.Contains(t, text(c.get(res.location()).body), "Restored revision 1 as revision 3.")
	})
	t.Run("stale restore", func(t *testing.T) {
		res := c.post("/bins/"+b.SID+"/revisions/2/restore", url.Values{"revision": {"2"}})
		require.Equal(t, http.StatusConflict, res.code)
		assert.Contains(t, text(res.body), "Nothing was restored: the bin was saved again (it is now at revision 3)")
		got, err := env.db.Bin(env.acct.SID, b.SID)
		require.NoError(t, err)
		assert.Equal(t, 3, got.Revision)
	})
	t.Run("no revision in the form", func(t *testing.T) {
		res := c.post("/bins/"+b.SID+"/revisions/2/restore", nil)
		assert.Equal(t, http.StatusBadRequest, res.code)
	})
	t.Run("another account's bin", func(t *testing.T) {
		theirs := env.otherAccountBin(t)
		res := c.post("/bins/"+theirs.SID+"/revisions/1/restore", url.Values{"revision": {"1"}})
		assert.Equal(t, http.StatusNotFound, res.code)
		got, err := env.db.BinBySID(theirs.SID)
		require.NoError(t, err)
		assert.Equal(t, 1, got.Revision)
	})
}

func bytesText(n int) string { return funcs["bytes"].(func(int) string)(n) }

func TestEvents(t *testing.T) {
	env := newTestEnv(t, Config{})
	c := env.signedIn()
	b := env.createBin(t, "Greeter", validTemplate)

	empty := c.get("/bins/" + b.SID + "/events")
	require.Equal(t, http.StatusOK, empty.code)
	assert.Contains(t, text(empty.body), "No events")

	env.db.AddEvent(b.SID, store.Event{Severity: "warning", Code: "12200", Message: "Say@voice <robot> was dropped", Slot: "Say@voice", Line: 2, Column: 7})
	res := c.get("/bins/" + b.SID + "/events")
	require.Equal(t, http.StatusOK, res.code)
	page := text(res.body)
	assert.Contains(t, page, "Say@voice <robot> was dropped")
	assert.Contains(t, res.body, "Say@voice &lt;robot&gt; was dropped")
	assert.Contains(t, res.body, `href="/bins/`+b.SID+`#L2"`)
	assert.Contains(t, page, "line 2, column 7")

	theirs := env.otherAccountBin(t)
	assert.Equal(t, http.StatusNotFound, c.get("/bins/"+theirs.SID+"/events").code)
}

func TestDeleteBin(t *testing.T) {
	env := newTestEnv(t, Config{})
	c := env.signedIn()

	t.Run("confirm and delete", func(t *testing.T) {
		b := env.createBin(t, "Doomed", validTemplate)
		confirm := c.get("/bins/" + b.SID + "/delete")
		require.Equal(t, http.StatusOK, confirm.code)
		assert.Contains(t, text(confirm.body), "This cannot be undone.")
		assert.Contains(t, confirm.body, `name="revision" value="1"`)
		res := c.post("/bins/"+b.SID+"/delete", url.Values{"revision": {"1"}})
		require.Equal(t, http.StatusSeeOther, res.code)
		assert.Equal(t, "/bins?deleted=1", res.location())
		_, err := env.db.Bin(env.acct.SID, b.SID)
		assert.ErrorIs(t, err, store.ErrNotFound)
		assert.Contains(t, text(c.get(res.location()).body), "The bin was deleted.")
		assert.Equal(t, http.StatusNotFound, c.get("/bins/"+b.SID).code)
	})
	t.Run("stale", func(t *testing.T) {
		b := env.createBin(t, "Busy", validTemplate)
		_, err := env.db.UpdateBin(env.acct.SID, b.SID, 1, store.BinInput{Template: warningTemplate, RenderPolicy: "lenient"})
		require.NoError(t, err)
		res := c.post("/bins/"+b.SID+"/delete", url.Values{"revision": {"1"}})
		require.Equal(t, http.StatusConflict, res.code)
		assert.Contains(t, text(res.body), "so it was not deleted")
		assert.Contains(t, res.body, `name="revision" value="2"`)
		_, err = env.db.Bin(env.acct.SID, b.SID)
		assert.NoError(t, err)
	})
	t.Run("another account's bin", func(t *testing.T) {
		theirs := env.otherAccountBin(t)
		res := c.post("/bins/"+theirs.SID+"/delete", url.Values{"revision": {"1"}})
		assert.Equal(t, http.StatusNotFound, res.code)
		_, err := env.db.BinBySID(theirs.SID)
		assert.NoError(t, err)
	})
}

func TestRestoreRefusesABrokenRevision(t *testing.T) {
	env := newTestEnv(t, Config{})
	c := env.signedIn()
	// The store keeps what it is given: a revision saved under an older
	// engine may no longer compile.
	b := env.createBin(t, "Old", brokenTemplate)
	_, err := env.db.UpdateBin(env.acct.SID, b.SID, 1, store.BinInput{FriendlyName: "Old", Template: validTemplate, RenderPolicy: "lenient"})
	require.NoError(t, err)

	res := c.post("/bins/"+b.SID+"/revisions/1/restore", url.Values{"revision": {"2"}})
	require.Equal(t, http.StatusUnprocessableEntity, res.code)
	assert.Contains(t, text(res.body), "Revision 1 was not restored")
	got, err := env.db.Bin(env.acct.SID, b.SID)
	require.NoError(t, err)
	assert.Equal(t, 2, got.Revision)
}
