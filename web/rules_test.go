package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/twimlbin/twimlbin/internal/backendtest"
	"github.com/twimlbin/twimlbin/store"
)

// TestFormFieldsLeftOutKeepTheirValues: the editor's form merges as the
// API does (store.BinPatch): a field the form leaves out keeps the bin's
// value, or takes the store's default for a new bin.
func TestFormFieldsLeftOutKeepTheirValues(t *testing.T) {
	env := newTestEnv(t, Config{})
	c := env.signedIn()

	res := c.post("/bins", url.Values{"friendly_name": {"No policy"}, "template": {validTemplate}})
	require.Equal(t, http.StatusSeeOther, res.code, res.body)
	page, err := env.db.ListBins(env.acct.SID, store.ListQuery{})
	require.NoError(t, err)
	require.Len(t, page.Bins, 1)
	b := page.Bins[0]
	assert.Equal(t, store.DefaultRenderPolicy, b.RenderPolicy, "a new bin's default")

	b, err = env.db.UpdateBin(env.acct.SID, b.SID, b.Revision, store.BinInput{FriendlyName: "Strict", Template: validTemplate, RenderPolicy: store.RenderPolicyStrict})
	require.NoError(t, err)
	changed := strings.Replace(validTemplate, "Hello", "Hi", 1)
	res = c.post("/bins/"+b.SID, url.Values{"template": {changed}, "revision": {"2"}})
	require.Equal(t, http.StatusSeeOther, res.code, res.body)
	got, err := env.db.Bin(env.acct.SID, b.SID)
	require.NoError(t, err)
	assert.Equal(t, 3, got.Revision)
	assert.Equal(t, changed, got.Template)
	assert.Equal(t, "Strict", got.FriendlyName, "kept")
	assert.Equal(t, store.RenderPolicyStrict, got.RenderPolicy, "kept")

	// A form that carries a field changes it, to empty too.
	res = c.post("/bins/"+b.SID, url.Values{"friendly_name": {""}, "revision": {"3"}})
	require.Equal(t, http.StatusSeeOther, res.code, res.body)
	got, err = env.db.Bin(env.acct.SID, b.SID)
	require.NoError(t, err)
	assert.Equal(t, "", got.FriendlyName)
	assert.Equal(t, changed, got.Template, "kept")

	// A form that changes nothing saves no revision.
	res = c.post("/bins/"+b.SID, url.Values{"render_policy": {store.RenderPolicyStrict}, "revision": {"4"}})
	require.Equal(t, http.StatusSeeOther, res.code, res.body)
	assert.Contains(t, res.location(), "unchanged=1")
}

// TestRestoreRefusesAnUnknownRenderPolicy: a revision whose render policy
// the store no longer allows is not restored, as the API refuses it, and
// the page says why.
func TestRestoreRefusesAnUnknownRenderPolicy(t *testing.T) {
	env := newTestEnv(t, Config{})
	b := env.createBin(t, "Greeter", validTemplate)
	_, err := env.db.UpdateBin(env.acct.SID, b.SID, 1, store.BinInput{FriendlyName: "v2", Template: validTemplate, RenderPolicy: store.RenderPolicyStrict})
	require.NoError(t, err)
	env.h, err = New(Config{}, backendtest.OlderRevisions{Store: env.db, Edit: func(r *store.Revision) { r.RenderPolicy = "loose" }}, nil)
	require.NoError(t, err)
	c := env.signedIn()

	res := c.post("/bins/"+b.SID+"/revisions/1/restore", url.Values{"revision": {"2"}})
	assert.Equal(t, http.StatusUnprocessableEntity, res.code)
	assert.Contains(t, text(res.body), `Revision 1 was not restored: its render policy "loose" is neither strict nor lenient`)
	got, err := env.db.Bin(env.acct.SID, b.SID)
	require.NoError(t, err)
	assert.Equal(t, 2, got.Revision, "nothing was restored")
}
