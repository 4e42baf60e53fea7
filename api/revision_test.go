package api

import (
	"net/http"
	"testing"
)

func TestRevisions(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.newUser("alice")
	b := e.createBin(u, helloTemplate, "")
	path := "/api/v1/bins/" + b.SID
	e.ok(req{method: "POST", path: path, user: &u, json: map[string]any{"template": dialTemplate, "friendly_name": "dial"}}, http.StatusOK, nil)
	e.ok(req{method: "POST", path: path, user: &u, json: map[string]any{"render_policy": "strict"}}, http.StatusOK, nil)

	var list revisionList
	e.ok(req{method: "GET", path: path + "/revisions", user: &u}, http.StatusOK, &list)
	if len(list.Revisions) != 3 {
		t.Fatalf("%d revisions, want 3", len(list.Revisions))
	}
	for i, want := range []struct {
		rev          int
		name, policy string
		size         int
	}{{3, "dial", "strict", len(dialTemplate)}, {2, "dial", "lenient", len(dialTemplate)}, {1, "test bin", "lenient", len(helloTemplate)}} {
		r := list.Revisions[i]
		if r.Revision != want.rev || r.FriendlyName != want.name || r.RenderPolicy != want.policy || r.Size != want.size ||
			r.BinSID != b.SID || r.Template != nil || r.DateCreated.IsZero() {
			t.Errorf("revision %d: %+v", i, r)
		}
	}

	var r1 revisionResource
	e.ok(req{method: "GET", path: path + "/revisions/1", user: &u}, http.StatusOK, &r1)
	if r1.Revision != 1 || r1.Template == nil || *r1.Template != helloTemplate || r1.URI != path+"/revisions/1" {
		t.Errorf("revision 1: %+v", r1)
	}
	for _, bad := range []string{"/revisions/4", "/revisions/0", "/revisions/x", "/revisions/-1"} {
		e.fail(req{method: "GET", path: path + bad, user: &u}, 404, codeNotFound)
	}

	// Restore: a stale If-Match is refused, the current one accepted.
	e.fail(req{method: "POST", path: path + "/revisions/1/restore", user: &u, header: http.Header{"If-Match": {`"2"`}}}, 412, codePreconditionFailed)
	e.fail(req{method: "POST", path: path + "/revisions/9/restore", user: &u}, 404, codeNotFound)
	var restored binResource
	rec := e.ok(req{method: "POST", path: path + "/revisions/1/restore", user: &u, header: http.Header{"If-Match": {`"3"`}}}, http.StatusOK, &restored)
	if restored.Revision != 4 || restored.Template != helloTemplate || restored.FriendlyName != "test bin" || restored.RenderPolicy != "lenient" {
		t.Errorf("restored: %+v", restored)
	}
	if rec.Header().Get("ETag") != `"4"` {
		t.Errorf("ETag %q", rec.Header().Get("ETag"))
	}
	e.ok(req{method: "GET", path: path + "/revisions", user: &u}, http.StatusOK, &list)
	if len(list.Revisions) != 4 || list.Revisions[0].Revision != 4 {
		t.Errorf("after restore: %+v", list.Revisions)
	}
}
