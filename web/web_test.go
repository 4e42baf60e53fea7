package web

import (
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSecurityHeaders(t *testing.T) {
	env := newTestEnv(t, Config{})
	c := env.signedIn()
	b := env.createBin(t, "x", validTemplate)
	for _, path := range []string{"/login", "/bins", "/bins/" + b.SID, "/nope", "/assets/app.js"} {
		t.Run(path, func(t *testing.T) {
			res := c.get(path)
			csp := res.header.Get("Content-Security-Policy")
			assert.Contains(t, csp, "default-src 'self'")
			assert.Contains(t, csp, "script-src 'self'")
			assert.Contains(t, csp, "style-src 'self'")
			assert.Contains(t, csp, "frame-ancestors 'none'")
			assert.NotContains(t, csp, "unsafe-inline")
			assert.Equal(t, "nosniff", res.header.Get("X-Content-Type-Options"))
			assert.Equal(t, "same-origin", res.header.Get("Referrer-Policy"))
		})
	}
}

// TestNoInlineScriptOrStyle keeps the pages within the Content-Security-
// Policy: no inline script, no style attribute or element.
func TestNoInlineScriptOrStyle(t *testing.T) {
	for name, page := range parsedPageSources(t) {
		assert.NotContains(t, page, "style=", name)
		assert.NotContains(t, page, "<style", name)
		assert.NotRegexp(t, `<script(?: [^>]*)?>[^<]`, page, name)
		assert.NotRegexp(t, ` on[a-z]+=`, page, name)
	}
}

func parsedPageSources(t *testing.T) map[string]string {
	t.Helper()
	entries, err := templateFiles.ReadDir("templates")
	require.NoError(t, err)
	out := map[string]string{}
	for _, e := range entries {
		b, err := templateFiles.ReadFile("templates/" + e.Name())
		require.NoError(t, err)
		out[e.Name()] = string(b)
	}
	return out
}

func TestNotFound(t *testing.T) {
	env := newTestEnv(t, Config{})
	c := env.signedIn()
	for _, req := range [][2]string{{"GET", "/nope"}, {"GET", "/bins/x/y/z"}, {"DELETE", "/bins"}} {
		res := c.do(httptest.NewRequest(req[0], req[1], nil))
		assert.Equal(t, http.StatusNotFound, res.code, req)
		assert.Contains(t, res.header.Get("Content-Type"), "text/html")
	}
}

func TestAssets(t *testing.T) {
	env := newTestEnv(t, Config{})
	c := env.anonymous()
	for name, ctype := range map[string]string{"app.js": "text/javascript", "app.css": "text/css"} {
		res := c.get("/assets/" + name)
		require.Equal(t, http.StatusOK, res.code)
		assert.True(t, strings.HasPrefix(res.header.Get("Content-Type"), ctype), res.header.Get("Content-Type"))
		etag := res.header.Get("ETag")
		require.NotEmpty(t, etag)
		req := httptest.NewRequest(http.MethodGet, "/assets/"+name, nil)
		req.Header.Set("If-None-Match", etag)
		assert.Equal(t, http.StatusNotModified, c.do(req).code)
	}
	assert.Equal(t, http.StatusNotFound, c.get("/assets/nope.js").code)
	assert.Nil(t, c.cookie, "assets set no session")
}

// TestDependencies keeps web off storage and the API: it imports the
// store's API and the engine, never bbolt, and nothing of echo or api.
func TestDependencies(t *testing.T) {
	imports, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	assert.NotContains(t, strings.Fields(string(imports)), "go.etcd.io/bbolt")
	deps, err := exec.Command("go", "list", "-deps", ".").Output()
	require.NoError(t, err)
	for _, forbidden := range []string{"github.com/labstack/echo/v4", "github.com/twimlbin/twimlbin/api"} {
		assert.NotContains(t, strings.Fields(string(deps)), forbidden)
	}
}

func TestBodyLimit(t *testing.T) {
	env := newTestEnv(t, Config{MaxBodyBytes: 1 << 10})
	c := env.signedIn()
	res := c.post("/bins", editorForm("big", strings.Repeat("x", 2<<10), "lenient", 0))
	assert.Equal(t, http.StatusRequestEntityTooLarge, res.code)
	assert.Equal(t, 0, countBins(t, env))
}
