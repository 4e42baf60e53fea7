package web

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/twimlbin/twimlbin/engine"
)

// validation is the answer of POST /bins/validate.
type validation struct {
	Valid       bool               `json:"valid"`
	Diagnostics engine.Diagnostics `json:"diagnostics"`
	Variables   []string           `json:"variables"`
}

// validate answers POST /bins/validate, the editor's live check: the
// diagnostics of the form's template as JSON, as saving would find them.
// Nothing is saved.
func (h *Handler) validate(w http.ResponseWriter, r *http.Request) error {
	src := strings.ReplaceAll(r.PostForm.Get("template"), "\r\n", "\n")
	t, diags := checkTemplate(src)
	out := validation{Valid: t != nil, Diagnostics: diags, Variables: []string{}}
	if out.Diagnostics == nil {
		out.Diagnostics = engine.Diagnostics{}
	}
	if t != nil && t.Variables() != nil {
		out.Variables = t.Variables()
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-store")
	return json.NewEncoder(w).Encode(out)
}
