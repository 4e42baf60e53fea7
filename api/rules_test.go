package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/twimlbin/twimlbin/engine"
	"github.com/twimlbin/twimlbin/internal/backendtest"
	"github.com/twimlbin/twimlbin/store"
)

// TestStorePoliciesAreTheEngines: the render policies the store lets a bin
// have are the engine's, by name, and a new bin's default is the engine's
// default. The store cannot import the engine, so the API, which uses
// both, holds them together.
func TestStorePoliciesAreTheEngines(t *testing.T) {
	for _, p := range []engine.Policy{engine.Lenient, engine.Strict} {
		if err := store.CheckRenderPolicy(p.String()); err != nil {
			t.Errorf("the store refuses the engine's policy %q: %v", p, err)
		}
	}
	for _, name := range []string{store.RenderPolicyLenient, store.RenderPolicyStrict} {
		p, err := engine.ParsePolicy(name)
		if err != nil || p.String() != name {
			t.Errorf("the engine reads the store's policy %q as %q, %v", name, p, err)
		}
	}
	if def, _ := engine.ParsePolicy(""); def.String() != store.DefaultRenderPolicy {
		t.Errorf("the engine's default policy is %q, the store's %q", def, store.DefaultRenderPolicy)
	}
}

// TestRestoreAppliesTheStoresRules: a revision saved under older rules is
// not restored when its content breaks the store's rules today, which the
// restore would otherwise meet in the store, after compiling.
func TestRestoreAppliesTheStoresRules(t *testing.T) {
	// It compiles: only the size rule refuses it.
	tooLarge := "<Response>" + strings.Repeat(" ", MaxTemplateBytes) + "</Response>"
	for what, tt := range map[string]struct {
		edit   func(*store.Revision)
		status int
		code   int
		says   string
	}{
		"template over the limit": {func(r *store.Revision) { r.Template = tooLarge }, 422, codeTemplateTooLarge, "the limit is 65536 bytes"},
		"unknown render policy":   {func(r *store.Revision) { r.RenderPolicy = "loose" }, 400, codeInvalidParameter, "render_policy is no longer valid"},
	} {
		t.Run(what, func(t *testing.T) {
			e := newEnv(t, Config{})
			u := e.newUser("alice")
			b := e.createBin(u, helloTemplate, "")
			path := "/api/v1/bins/" + b.SID
			e.ok(req{method: "POST", path: path, user: &u, json: map[string]any{"friendly_name": "v2"}}, http.StatusOK, nil)
			srv, err := New(e.cfg, backendtest.OlderRevisions{Store: e.db, Edit: tt.edit}, nil)
			if err != nil {
				t.Fatal(err)
			}
			e.srv = srv

			got := e.fail(req{method: "POST", path: path + "/revisions/1/restore", user: &u}, tt.status, tt.code)
			if !strings.Contains(got.Message, tt.says) {
				t.Errorf("message %q, want it to say %q", got.Message, tt.says)
			}
			cur, err := e.db.Bin(u.sid, b.SID)
			if err != nil || cur.Revision != 2 {
				t.Errorf("after the refused restore: revision %d, %v; want 2", cur.Revision, err)
			}
		})
	}
}

// TestTooLargeDiagnosticIsTheStores: the API's diagnostic for a template
// over the limit says what the store's error says, as the web form's does.
func TestTooLargeDiagnosticIsTheStores(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.newUser("alice")
	src := strings.Repeat(" ", MaxTemplateBytes+1)
	want := (&store.TemplateTooLargeError{Size: len(src), Limit: store.MaxTemplateBytes}).Problem()

	var v validation
	e.ok(req{method: "POST", path: "/api/v1/validate", user: &u, json: map[string]any{"template": src}}, http.StatusOK, &v)
	if len(v.Diagnostics) != 1 || v.Diagnostics[0].Message != want || v.Diagnostics[0].Code != engine.CodeTemplateTooLarge {
		t.Errorf("validate: diagnostics %+v, want one saying %q", v.Diagnostics, want)
	}
	got := e.fail(req{method: "POST", path: "/api/v1/bins", user: &u, json: map[string]any{"template": src}}, 422, codeTemplateTooLarge)
	if len(got.Diagnostics) != 1 || got.Diagnostics[0].Message != want {
		t.Errorf("create: diagnostics %+v, want one saying %q", got.Diagnostics, want)
	}
}
