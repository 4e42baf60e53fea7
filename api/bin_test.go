package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/twimlbin/twimlbin/store"
)

const warnTemplate = `<Response><Say>Hi</Say><Play loop="abc">http://x/y.mp3</Play></Response>`

func TestCreateBin(t *testing.T) {
	e := newEnv(t, Config{PublicURL: "https://bins.example.com/"})
	u := e.newUser("alice")

	var b binResource
	rec := e.ok(req{method: "POST", path: "/api/v1/bins", user: &u, json: map[string]any{
		"friendly_name": "greeting", "template": helloTemplate,
	}}, http.StatusCreated, &b)

	if !store.IsBinSID(b.SID) {
		t.Errorf("sid %q", b.SID)
	}
	if got, want := rec.Header().Get("Location"), "https://bins.example.com/api/v1/bins/"+b.SID; got != want {
		t.Errorf("Location %q, want %q", got, want)
	}
	if got := rec.Header().Get("ETag"); got != `"1"` {
		t.Errorf("ETag %q, want \"1\"", got)
	}
	want := binResource{
		SID: b.SID, AccountSID: u.sid, FriendlyName: "greeting", Template: helloTemplate,
		URL: "https://bins.example.com/twiml/" + b.SID, Revision: 1, RenderPolicy: "lenient",
	}
	if b.SID != want.SID || b.AccountSID != want.AccountSID || b.FriendlyName != want.FriendlyName ||
		b.Template != want.Template || b.URL != want.URL || b.Revision != want.Revision ||
		b.RenderPolicy != want.RenderPolicy || b.NumRequests != 0 || b.DateLastAccessed != nil {
		t.Errorf("got %+v\nwant %+v", b, want)
	}
	if b.DateCreated.IsZero() || b.DateUpdated.IsZero() {
		t.Errorf("dates not set: %+v", b)
	}
	if b.Warnings == nil || len(b.Warnings) != 0 {
		t.Errorf("warnings %v, want []", b.Warnings)
	}
	if b.Links["revisions"] != "/api/v1/bins/"+b.SID+"/revisions" {
		t.Errorf("links %v", b.Links)
	}

	// The raw JSON uses the documented snake_case names.
	for _, field := range []string{`"sid"`, `"account_sid"`, `"friendly_name"`, `"template"`, `"url"`, `"revision"`,
		`"render_policy"`, `"date_created"`, `"date_updated"`, `"date_last_accessed":null`, `"num_requests"`, `"warnings":[]`} {
		if !strings.Contains(rec.Body.String(), field) {
			t.Errorf("body has no %s: %s", field, rec.Body)
		}
	}
}

func TestCreateBinForm(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.newUser("alice")
	var b binResource
	e.ok(req{method: "POST", path: "/api/v1/bins", user: &u, form: url.Values{
		"template": {helloTemplate}, "render_policy": {"strict"}, "friendly_name": {"form"},
	}}, http.StatusCreated, &b)
	if b.RenderPolicy != "strict" || b.FriendlyName != "form" || b.Template != helloTemplate {
		t.Errorf("got %+v", b)
	}
	if want := "http://example.com/twiml/" + b.SID; b.URL != want {
		t.Errorf("url %q, want %q (from the request's host)", b.URL, want)
	}
}

func TestCreateBinWarnings(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.newUser("alice")
	b := e.createBin(u, warnTemplate, "")
	if len(b.Warnings) != 1 || b.Warnings[0].Code != "TB301" || b.Warnings[0].Line != 1 {
		t.Fatalf("warnings %+v, want one TB301", b.Warnings)
	}
	// Saved and shown again on fetch.
	var got binResource
	e.ok(req{method: "GET", path: "/api/v1/bins/" + b.SID, user: &u}, http.StatusOK, &got)
	if len(got.Warnings) != 1 || got.Template != warnTemplate {
		t.Errorf("fetched %+v", got)
	}
}

func TestCreateBinErrors(t *testing.T) {
	e := newEnv(t, Config{MaxBodyBytes: 100 << 10})
	u := e.newUser("alice")
	post := func(body map[string]any) req {
		return req{method: "POST", path: "/api/v1/bins", user: &u, json: body}
	}
	tests := []struct {
		name   string
		r      req
		status int
		code   int
	}{
		{"no template", post(map[string]any{"friendly_name": "x"}), 400, codeInvalidParameter},
		{"empty body", req{method: "POST", path: "/api/v1/bins", user: &u}, 400, codeInvalidParameter},
		{"bad policy", post(map[string]any{"template": helloTemplate, "render_policy": "loose"}), 400, codeInvalidParameter},
		{"empty policy", post(map[string]any{"template": helloTemplate, "render_policy": ""}), 400, codeInvalidParameter},
		{"template not a string", post(map[string]any{"template": 3}), 400, codeInvalidParameter},
		{"long name", post(map[string]any{"template": helloTemplate, "friendly_name": strings.Repeat("n", 65)}), 400, codeInvalidParameter},
		{"unknown JSON field", post(map[string]any{"template": helloTemplate, "voice_url": "x"}), 400, codeUnknownField},
		{"unknown form field", req{method: "POST", path: "/api/v1/bins", user: &u,
			form: url.Values{"template": {helloTemplate}, "VoiceUrl": {"x"}}}, 400, codeUnknownField},
		{"repeated form field", req{method: "POST", path: "/api/v1/bins", user: &u,
			form: url.Values{"template": {helloTemplate, helloTemplate}}}, 400, codeInvalidParameter},
		{"malformed JSON", req{method: "POST", path: "/api/v1/bins", user: &u,
			body: `{"template": "<Response/>"`, contentType: "application/json"}, 400, codeBadBody},
		{"JSON array", req{method: "POST", path: "/api/v1/bins", user: &u,
			body: `["x"]`, contentType: "application/json"}, 400, codeBadBody},
		{"two JSON objects", req{method: "POST", path: "/api/v1/bins", user: &u,
			body: `{} {}`, contentType: "application/json"}, 400, codeBadBody},
		{"malformed form", req{method: "POST", path: "/api/v1/bins", user: &u,
			body: `template=%zz`, contentType: "application/x-www-form-urlencoded"}, 400, codeBadBody},
		{"text body", req{method: "POST", path: "/api/v1/bins", user: &u,
			body: helloTemplate, contentType: "text/xml"}, 415, codeUnsupportedMedia},
		{"invalid template", post(map[string]any{"template": `<Response><Sya>x</Sya></Response>`}), 422, codeTemplateInvalid},
		{"template over 64 KiB", post(map[string]any{"template": "<Response><Say>" + strings.Repeat("a", 64<<10) + "</Say></Response>"}), 422, codeTemplateTooLarge},
		{"body over the limit", post(map[string]any{"template": strings.Repeat("a", 100<<10)}), 413, codeBodyTooLarge},
		{"no credentials", req{method: "POST", path: "/api/v1/bins", json: map[string]any{"template": helloTemplate}}, 401, codeUnauthorized},
		{"wrong token", req{method: "POST", path: "/api/v1/bins", user: &user{u.sid, strings.Repeat("0", 32)},
			json: map[string]any{"template": helloTemplate}}, 401, codeUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			got := e.fail(tt.r, tt.status, tt.code)
			if tt.code == codeTemplateInvalid || tt.code == codeTemplateTooLarge {
				if len(got.Diagnostics) == 0 || got.Diagnostics[0].Line == 0 || got.Diagnostics[0].Code == "" {
					t.Errorf("diagnostics %+v", got.Diagnostics)
				}
			}
		})
	}
	e.t = t
	var list binList
	e.ok(req{method: "GET", path: "/api/v1/bins", user: &u}, http.StatusOK, &list)
	if len(list.Bins) != 0 {
		t.Errorf("failed creates saved %d bins", len(list.Bins))
	}
}

func TestUnauthorizedHeader(t *testing.T) {
	e := newEnv(t, Config{})
	rec := e.do(req{method: "GET", path: "/api/v1/bins"})
	checkError(t, "GET /api/v1/bins", rec, 401, codeUnauthorized)
	if got := rec.Header().Get("WWW-Authenticate"); got != `xBasic realm="twimlbin"` {
		t.Errorf("WWW-Authenticate %q", got)
	}
}

func TestListBinsPages(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.newUser("alice")
	other := e.newUser("bob")
	e.createBin(other, helloTemplate, "")
	var want []string
	for range 7 {
		want = append(want, e.createBin(u, helloTemplate, "").SID)
	}

	var got []string
	path := "/api/v1/bins?page_size=3"
	pages := 0
	for path != "" {
		var list binList
		e.ok(req{method: "GET", path: path, user: &u}, http.StatusOK, &list)
		if list.Meta.PageSize != 3 {
			t.Errorf("page_size %d", list.Meta.PageSize)
		}
		for _, b := range list.Bins {
			got = append(got, b.SID)
		}
		pages++
		path = ""
		if list.Meta.NextPageURI != nil {
			path = *list.Meta.NextPageURI
		}
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("listed %v\nwant %v (creation order, own bins only)", got, want)
	}

	var all binList
	e.ok(req{method: "GET", path: "/api/v1/bins", user: &u}, http.StatusOK, &all)
	if len(all.Bins) != 7 || all.Meta.PageSize != 50 || all.Meta.NextPageURI != nil {
		t.Errorf("default page: %d bins, meta %+v", len(all.Bins), all.Meta)
	}

	for _, bad := range []string{"page_size=0", "page_size=1001", "page_size=x"} {
		e.fail(req{method: "GET", path: "/api/v1/bins?" + bad, user: &u}, 400, codeInvalidParameter)
	}
	e.fail(req{method: "GET", path: "/api/v1/bins?page_token=%21%21garbage", user: &u}, 400, codeBadPageToken)
}

func TestUpdateBin(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.newUser("alice")
	b := e.createBin(u, helloTemplate, "")
	path := "/api/v1/bins/" + b.SID

	// POST updates only the fields given.
	var got binResource
	rec := e.ok(req{method: "POST", path: path, user: &u, json: map[string]any{"friendly_name": "renamed"}}, http.StatusOK, &got)
	if got.Revision != 2 || got.FriendlyName != "renamed" || got.Template != helloTemplate || got.RenderPolicy != "lenient" {
		t.Errorf("after POST: %+v", got)
	}
	if rec.Header().Get("ETag") != `"2"` {
		t.Errorf("ETag %q", rec.Header().Get("ETag"))
	}
	// PATCH too, form-encoded, with If-Match of the current revision.
	e.ok(req{method: "PATCH", path: path, user: &u, form: url.Values{"template": {dialTemplate}, "render_policy": {"strict"}},
		header: http.Header{"If-Match": {`"2"`}}}, http.StatusOK, &got)
	if got.Revision != 3 || got.Template != dialTemplate || got.RenderPolicy != "strict" || got.FriendlyName != "renamed" {
		t.Errorf("after PATCH: %+v", got)
	}
	// Nothing changed: no new revision.
	e.ok(req{method: "POST", path: path, user: &u, json: map[string]any{"render_policy": "strict"}}, http.StatusOK, &got)
	if got.Revision != 3 {
		t.Errorf("a no-op update made revision %d", got.Revision)
	}

	// Errors leave the bin as it was.
	e.fail(req{method: "POST", path: path, user: &u, json: map[string]any{"template": "<Response><Dial>"}}, 422, codeTemplateInvalid)
	e.fail(req{method: "POST", path: path, user: &u, json: map[string]any{"render_policy": "x"}}, 400, codeInvalidParameter)
	e.fail(req{method: "POST", path: path, user: &u, json: map[string]any{"sid": "EH00"}}, 400, codeUnknownField)
	e.fail(req{method: "POST", path: path, user: &u, json: map[string]any{"friendly_name": "x"},
		header: http.Header{"If-Match": {`"2"`}}}, 412, codePreconditionFailed)
	e.fail(req{method: "POST", path: path, user: &u, json: map[string]any{"friendly_name": "x"},
		header: http.Header{"If-Match": {`"two"`}}}, 400, codeBadIfMatch)
	e.ok(req{method: "GET", path: path, user: &u}, http.StatusOK, &got)
	if got.Revision != 3 || got.FriendlyName != "renamed" {
		t.Errorf("failed updates changed the bin: %+v", got)
	}
	// If-Match: * applies to any revision.
	e.ok(req{method: "POST", path: path, user: &u, json: map[string]any{"friendly_name": "star"},
		header: http.Header{"If-Match": {"*"}}}, http.StatusOK, &got)
	if got.Revision != 4 {
		t.Errorf("If-Match * : revision %d", got.Revision)
	}
}

func TestDeleteBin(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.newUser("alice")
	b := e.createBin(u, helloTemplate, "")
	path := "/api/v1/bins/" + b.SID
	e.ok(req{method: "GET", path: "/twiml/" + b.SID}, http.StatusOK, nil)

	e.fail(req{method: "DELETE", path: path, user: &u, header: http.Header{"If-Match": {`"7"`}}}, 412, codePreconditionFailed)
	e.ok(req{method: "GET", path: path, user: &u}, http.StatusOK, nil)

	rec := e.ok(req{method: "DELETE", path: path, user: &u, header: http.Header{"If-Match": {`"1"`}}}, http.StatusNoContent, nil)
	if rec.Body.Len() != 0 {
		t.Errorf("204 with a body: %s", rec.Body)
	}
	e.fail(req{method: "GET", path: path, user: &u}, 404, codeNotFound)
	e.fail(req{method: "DELETE", path: path, user: &u}, 404, codeNotFound)
	e.fail(req{method: "GET", path: path + "/revisions", user: &u}, 404, codeNotFound)
	e.fail(req{method: "GET", path: "/twiml/" + b.SID}, 404, codeNotFound)
}

// TestIfMatchRace updates one bin from many goroutines, each with the ETag
// it read: no update is lost, and each loser gets 412.
func TestIfMatchRace(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.newUser("alice")
	b := e.createBin(u, helloTemplate, "")
	path := "/api/v1/bins/" + b.SID

	const workers, rounds = 16, 5
	var (
		mu        sync.Mutex
		successes int
		failures  int
		names     = map[string]bool{}
	)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				rec := e.do(req{method: "GET", path: path, user: &u})
				etag := rec.Header().Get("ETag")
				name := fmt.Sprintf("w%d-r%d", w, r)
				rec = e.do(req{method: "POST", path: path, user: &u, json: map[string]any{"friendly_name": name},
					header: http.Header{"If-Match": {etag}}})
				mu.Lock()
				switch rec.Code {
				case http.StatusOK:
					successes++
					names[name] = true
				case http.StatusPreconditionFailed:
					failures++
				default:
					t.Errorf("status %d: %s", rec.Code, rec.Body)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	var got binResource
	e.ok(req{method: "GET", path: path, user: &u}, http.StatusOK, &got)
	if got.Revision != 1+successes {
		t.Errorf("revision %d after %d successful updates: an update was lost", got.Revision, successes)
	}
	if successes+failures != workers*rounds || successes == 0 {
		t.Errorf("%d successes, %d failures of %d", successes, failures, workers*rounds)
	}
	var revs revisionList
	e.ok(req{method: "GET", path: path + "/revisions", user: &u}, http.StatusOK, &revs)
	if len(revs.Revisions) != 1+successes {
		t.Errorf("%d revisions, want %d", len(revs.Revisions), 1+successes)
	}
	for _, r := range revs.Revisions[:len(revs.Revisions)-1] {
		if !names[r.FriendlyName] {
			t.Errorf("revision %d has name %q that no successful update wrote", r.Revision, r.FriendlyName)
		}
		delete(names, r.FriendlyName)
	}
	if len(names) != 0 {
		t.Errorf("successful updates missing from the history: %v", names)
	}
}

// TestUpdateRaceWithoutIfMatch: updates of different fields without
// If-Match are merged, not lost.
func TestUpdateRaceWithoutIfMatch(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.newUser("alice")
	b := e.createBin(u, helloTemplate, "")
	path := "/api/v1/bins/" + b.SID
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 20 {
			if rec := e.do(req{method: "POST", path: path, user: &u, json: map[string]any{"friendly_name": fmt.Sprint("n", i)}}); rec.Code != 200 {
				t.Errorf("status %d: %s", rec.Code, rec.Body)
			}
		}
	})
	wg.Go(func() {
		for i := range 20 {
			tmpl := fmt.Sprintf("<Response><Say>%d</Say></Response>", i)
			if rec := e.do(req{method: "POST", path: path, user: &u, json: map[string]any{"template": tmpl}}); rec.Code != 200 {
				t.Errorf("status %d: %s", rec.Code, rec.Body)
			}
		}
	})
	wg.Wait()
	var got binResource
	e.ok(req{method: "GET", path: path, user: &u}, http.StatusOK, &got)
	if got.FriendlyName != "n19" || got.Template != "<Response><Say>19</Say></Response>" || got.Revision != 41 {
		t.Errorf("got name %q template %q revision %d", got.FriendlyName, got.Template, got.Revision)
	}
}

// TestCrossAccount: another account's bin is a 404 on every route, the
// same 404 as a bin that does not exist.
func TestCrossAccount(t *testing.T) {
	e := newEnv(t, Config{})
	alice := e.newUser("alice")
	mallory := e.newUser("mallory")
	b := e.createBin(alice, helloTemplate, "")
	p := "/api/v1/bins/" + b.SID
	unknown := "/api/v1/bins/EH" + strings.Repeat("0", 32)
	malformed := "/api/v1/bins/EH123"

	routes := []req{
		{method: "GET", path: p},
		{method: "POST", path: p, json: map[string]any{"friendly_name": "mine"}},
		{method: "PATCH", path: p, json: map[string]any{"friendly_name": "mine"}},
		{method: "DELETE", path: p},
		{method: "GET", path: p + "/revisions"},
		{method: "GET", path: p + "/revisions/1"},
		{method: "POST", path: p + "/revisions/1/restore"},
		{method: "POST", path: p + "/preview", json: map[string]any{"params": map[string]any{"name": "x"}}},
		{method: "GET", path: p + "/events"},
		{method: "GET", path: p + "/usage"},
	}
	var bodies []string
	for _, r := range routes {
		for _, path := range []string{r.path, strings.Replace(r.path, p, unknown, 1), strings.Replace(r.path, p, malformed, 1)} {
			r := r
			r.path, r.user = path, &mallory
			rec := e.do(r)
			checkError(t, "mallory "+r.method+" "+r.path, rec, 404, codeNotFound)
			bodies = append(bodies, rec.Body.String())
		}
	}
	for _, body := range bodies {
		if body != bodies[0] {
			t.Errorf("404 bodies differ:\n%s\n%s", body, bodies[0])
		}
	}

	var list binList
	e.ok(req{method: "GET", path: "/api/v1/bins", user: &mallory}, http.StatusOK, &list)
	if len(list.Bins) != 0 {
		t.Errorf("mallory lists %d bins", len(list.Bins))
	}
	// Alice's bin is untouched.
	var got binResource
	e.ok(req{method: "GET", path: p, user: &alice}, http.StatusOK, &got)
	if got.Revision != 1 || got.FriendlyName != "test bin" {
		t.Errorf("alice's bin changed: %+v", got)
	}
}

func TestEventsAndUsage(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.newUser("alice")
	b := e.createBin(u, paramTemplate, "lenient")
	long := strings.Repeat("x", 200)
	e.ok(req{method: "GET", path: "/twiml/" + b.SID + "?crm=" + long}, http.StatusOK, nil)
	e.ok(req{method: "GET", path: "/twiml/" + b.SID + "?crm=short"}, http.StatusOK, nil)

	var usage struct {
		SID              string  `json:"sid"`
		NumRequests      int64   `json:"num_requests"`
		DateLastAccessed *string `json:"date_last_accessed"`
	}
	e.ok(req{method: "GET", path: "/api/v1/bins/" + b.SID + "/usage", user: &u}, http.StatusOK, &usage)
	if usage.SID != b.SID || usage.NumRequests != 2 || usage.DateLastAccessed == nil {
		t.Errorf("usage %+v", usage)
	}

	var events eventList
	e.ok(req{method: "GET", path: "/api/v1/bins/" + b.SID + "/events", user: &u}, http.StatusOK, &events)
	if len(events.Events) != 1 {
		t.Fatalf("events %+v, want one", events.Events)
	}
	ev := events.Events[0]
	if ev.Code != "TB304" || ev.Severity != "warning" || ev.Slot == "" || ev.Line != 1 || ev.Date.IsZero() {
		t.Errorf("event %+v", ev)
	}
	e.ok(req{method: "GET", path: "/api/v1/bins/" + b.SID + "/events?limit=1", user: &u}, http.StatusOK, &events)
	e.fail(req{method: "GET", path: "/api/v1/bins/" + b.SID + "/events?limit=0", user: &u}, 400, codeInvalidParameter)
}
