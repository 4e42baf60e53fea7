package api

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestPreviewBin(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.newUser("alice")
	b := e.createBin(u, paramTemplate, "strict")
	path := "/api/v1/bins/" + b.SID + "/preview"
	long := strings.Repeat("x", 200)

	var got previewResult
	e.ok(req{method: "POST", path: path, user: &u, json: map[string]any{"params": map[string]any{"crm": "CRM-1"}}}, http.StatusOK, &got)
	if got.Status != 200 || got.TwiML == nil || !strings.Contains(*got.TwiML, `value="CRM-1"`) || len(got.Diagnostics) != 0 || got.RenderPolicy != "strict" {
		t.Errorf("preview: %+v", got)
	}
	// The bin's strict policy: the render fails, as the bin URL would.
	e.ok(req{method: "POST", path: path, user: &u, json: map[string]any{"params": map[string]any{"crm": []string{long}}}}, http.StatusOK, &got)
	if got.Status != 500 || got.TwiML != nil || len(got.Diagnostics) != 1 || got.Diagnostics[0].Code != "TB304" {
		t.Errorf("strict preview: %+v", got)
	}
	// Overriding the policy.
	e.ok(req{method: "POST", path: path, user: &u, form: url.Values{"render_policy": {"lenient"}, "params": {"crm=" + long}}}, http.StatusOK, &got)
	if got.Status != 200 || got.TwiML == nil || len(got.Diagnostics) != 1 || got.RenderPolicy != "lenient" {
		t.Errorf("lenient preview: %+v", got)
	}
	// Previews are not requests: no usage, no events.
	var bin binResource
	e.ok(req{method: "GET", path: "/api/v1/bins/" + b.SID, user: &u}, http.StatusOK, &bin)
	var events eventList
	e.ok(req{method: "GET", path: "/api/v1/bins/" + b.SID + "/events", user: &u}, http.StatusOK, &events)
	if bin.NumRequests != 0 || len(events.Events) != 0 {
		t.Errorf("previews counted: %d requests, %d events", bin.NumRequests, len(events.Events))
	}

	e.fail(req{method: "POST", path: path, user: &u, json: map[string]any{"template": helloTemplate}}, 400, codeUnknownField)
	e.fail(req{method: "POST", path: path, user: &u, json: map[string]any{"params": []string{"x"}}}, 400, codeInvalidParameter)
	e.fail(req{method: "POST", path: path, user: &u, json: map[string]any{"params": map[string]any{"x": 1}}}, 400, codeInvalidParameter)
	e.fail(req{method: "POST", path: path, user: &u, json: map[string]any{"render_policy": "x"}}, 400, codeInvalidParameter)
}

func TestPreviewDraft(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.newUser("alice")
	var got previewResult
	e.ok(req{method: "POST", path: "/api/v1/preview", user: &u, json: map[string]any{
		"template": warnTemplate + "", "params": map[string]any{},
	}}, http.StatusOK, &got)
	if got.Status != 200 || got.TwiML == nil || len(got.Warnings) != 1 || got.RenderPolicy != "lenient" {
		t.Errorf("draft: %+v", got)
	}
	e.ok(req{method: "POST", path: "/api/v1/preview", user: &u, json: map[string]any{
		"template": helloTemplate, "params": map[string]any{"name": "<Ada>"},
	}}, http.StatusOK, &got)
	if got.TwiML == nil || *got.TwiML != "<Response><Say>Hello &lt;Ada&gt;</Say></Response>" {
		t.Errorf("draft: %+v", got)
	}
	e.fail(req{method: "POST", path: "/api/v1/preview", user: &u, json: map[string]any{"params": map[string]any{}}}, 400, codeInvalidParameter)
	got2 := e.fail(req{method: "POST", path: "/api/v1/preview", user: &u, json: map[string]any{"template": "<Response><Say>{{{x}}}</Say></Response>"}}, 422, codeTemplateInvalid)
	if len(got2.Diagnostics) == 0 || got2.Diagnostics[0].Code != "TB103" {
		t.Errorf("diagnostics %+v", got2.Diagnostics)
	}
	e.fail(req{method: "POST", path: "/api/v1/preview", user: &u, json: map[string]any{"template": strings.Repeat(" ", 65<<10) + helloTemplate}}, 422, codeTemplateTooLarge)
	// Nothing was saved.
	var list binList
	e.ok(req{method: "GET", path: "/api/v1/bins", user: &u}, http.StatusOK, &list)
	if len(list.Bins) != 0 {
		t.Errorf("a preview saved a bin")
	}
}

func TestValidate(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.newUser("alice")
	tests := []struct {
		name      string
		template  string
		valid     bool
		codes     []string
		context   string
		variables []string
	}{
		{"valid", dialTemplate, true, nil, "voice", []string{"callerId", "to"}},
		{"warning", warnTemplate, true, []string{"TB301"}, "voice", nil},
		{"error", `<Response><Sya>x</Sya></Response>`, false, []string{"TB201"}, "", nil},
		{"too large", "<Response><Say>" + strings.Repeat("a", 64<<10) + "</Say></Response>", false, []string{"TB111"}, "", nil},
		{"messaging", `<Response><Message>{{Body}}</Message></Response>`, true, nil, "messaging", []string{"Body"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			var got validation
			e.ok(req{method: "POST", path: "/api/v1/validate", user: &u, json: map[string]any{"template": tt.template}}, http.StatusOK, &got)
			var codes []string
			for _, d := range got.Diagnostics {
				codes = append(codes, string(d.Code))
			}
			if got.Valid != tt.valid || strings.Join(codes, ",") != strings.Join(tt.codes, ",") || got.Context != tt.context ||
				strings.Join(got.Variables, ",") != strings.Join(tt.variables, ",") {
				t.Errorf("got %+v", got)
			}
			if got.Diagnostics == nil || got.Variables == nil {
				t.Errorf("null lists: %+v", got)
			}
		})
	}
	e.t = t
	e.fail(req{method: "POST", path: "/api/v1/validate", user: &u, json: map[string]any{}}, 400, codeInvalidParameter)
	e.fail(req{method: "POST", path: "/api/v1/validate", user: &u, form: url.Values{"template": {"x"}, "name": {"y"}}}, 400, codeUnknownField)
	var got validation
	e.ok(req{method: "POST", path: "/api/v1/validate", user: &u, form: url.Values{"template": {helloTemplate}}}, http.StatusOK, &got)
	if !got.Valid {
		t.Errorf("form: %+v", got)
	}
}
