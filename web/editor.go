package web

import (
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/twimlbin/twimlbin/engine"
	"github.com/twimlbin/twimlbin/store"
	"github.com/twimlbin/twimlbin/templates"
)

// editorPage is the data of editor.html: the page that creates, edits and
// previews a bin.
type editorPage struct {
	binPage
	Entry         *templates.Entry // the gallery entry a new bin starts from
	Action        string           // where the form saves
	PreviewAction string           // where it previews
	Form          binForm
	Errors        fieldErrors
	Diagnostics   engine.Diagnostics
	Lines         []editorLine
	Params        []param
	Conflict      *conflictView
	Preview       *previewView
	SaveError     string // why a valid form could not be saved; the form keeps what was typed
}

// showUnsaved shows the form again, with everything typed, after the
// database refused a valid save for a reason storageError names. It
// returns err unchanged for any other error.
func (h *Handler) showUnsaved(w http.ResponseWriter, r *http.Request, p *editorPage, err error) error {
	pe := storageError(err)
	if pe == nil {
		return err
	}
	p.SaveError = pe.message
	h.render(w, r, pe.status, "editor", p)
	return nil
}

// editorLine is a line of the editor's gutter: its number and the most
// severe diagnostic on it.
type editorLine struct {
	Number   int
	Severity string // "error", "warning" or ""
	Message  string
}

// conflictView is the saved version of a bin that someone else saved while
// the user was editing.
type conflictView struct {
	BasedOn int // the revision the user's edit started from
	Saved   store.Bin
	Diff    []diffLine // from the saved template to the user's
}

// previewView is a render of the form's template.
type previewView struct {
	Status      int    // what the bin URL would answer: 200, or 500 when the render fails
	TwiML       string // the response body when Status is 200
	Policy      string
	Diagnostics engine.Diagnostics
}

// newEditorPage fills the parts of the editor page every handler needs.
func (h *Handler) newEditorPage(r *http.Request, bin *store.Bin, form binForm, diags engine.Diagnostics) *editorPage {
	p := &editorPage{Form: form, Errors: fieldErrors{}, Diagnostics: diags}
	if bin != nil {
		p.binPage = h.newBinPage(r, *bin, "edit", "Edit")
		p.Action = "/bins/" + bin.SID
		p.PreviewAction = "/bins/" + bin.SID + "/preview"
	} else {
		p.Title = "New bin"
		p.Action = "/bins"
		p.PreviewAction = "/bins/preview"
	}
	p.Lines = editorLines(form.Template, diags)
	p.Params = form.paramRows()
	return p
}

// editorLines numbers the lines of a template and marks those that
// diagnostics name; an error wins over a warning on the same line.
func editorLines(src string, diags engine.Diagnostics) []editorLine {
	lines := make([]editorLine, strings.Count(src, "\n")+1)
	for i := range lines {
		lines[i].Number = i + 1
	}
	for _, d := range diags {
		if d.Line < 1 || d.Line > len(lines) {
			continue
		}
		l := &lines[d.Line-1]
		sev := d.Severity.String()
		if l.Severity == "" || (l.Severity == "warning" && sev == "error") {
			l.Severity, l.Message = sev, string(d.Code)+" "+d.Message
		}
	}
	return lines
}

// renderPreview renders a compiled template with the form's
// parameters and policy. Nothing is saved and no request is counted.
func renderPreview(t *engine.Template, form binForm) *previewView {
	p := form.policy()
	out, diags, err := t.Render(form.values(), p)
	v := &previewView{Status: http.StatusOK, Policy: p.String(), Diagnostics: diags}
	if err != nil {
		v.Status = http.StatusInternalServerError
	} else {
		v.TwiML = string(out)
	}
	return v
}

// twilioParams are example values of the parameters Twilio sends with
// every voice request, for the preview of a bin that is not from the
// gallery.
var twilioParams = []param{
	{"From", "+14155550100"},
	{"To", "+15017122661"},
	{"CallSid", "CA0123456789abcdef0123456789abcdef"},
	{"AccountSid", ""}, // the signed-in account's
	{"Direction", "inbound"},
}

// defaultParams are the preview's parameters before the user sets any:
// first those the template reads, then the rest of the gallery entry's
// example request when the template is an entry's, else of Twilio's
// standard parameters. A value comes from the entry, else from the first
// gallery entry that has the parameter, else it is empty.
func defaultParams(accountSID string, entry *templates.Entry, t *engine.Template) []param {
	known := map[string][]string{}
	var rest []string
	if entry != nil {
		known = entry.Params
		rest = slices.Sorted(maps.Keys(entry.Params))
	} else {
		for _, p := range twilioParams {
			if p.Name == "AccountSid" {
				p.Value = accountSID
			}
			known[p.Name] = []string{p.Value}
			rest = append(rest, p.Name)
		}
	}
	var names []string
	if t != nil {
		names = t.Variables()
	}
	gallery := templates.All()
	var ps []param
	done := map[string]bool{}
	for _, name := range append(slices.Clone(names), rest...) {
		if done[name] {
			continue
		}
		done[name] = true
		values, ok := known[name]
		if !ok {
			values = []string{exampleValue(gallery, name)}
		}
		for _, v := range values {
			ps = append(ps, param{name, v})
		}
	}
	return ps
}

// exampleValue is the first value the gallery's example requests give a
// parameter, or "".
func exampleValue(gallery []templates.Entry, name string) string {
	for _, e := range gallery {
		if v := e.Params[name]; len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// galleryEntryOf returns the gallery entry a bin's template is, if any.
func galleryEntryOf(src string) *templates.Entry {
	for _, e := range templates.All() {
		if e.Template == src {
			return &e
		}
	}
	return nil
}
