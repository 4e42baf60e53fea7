package web

import (
	"net/http"
	"net/url"

	"github.com/twimlbin/twimlbin/templates"
)

// createBin answers POST /bins: it saves a new bin when its template has no
// errors (warnings are saved and shown), else shows the form again with the
// diagnostics and everything typed.
func (h *Handler) createBin(w http.ResponseWriter, r *http.Request) error {
	form := newBinForm(r, nil)
	errs := form.validate("")
	t, diags := checkTemplate(form.Template)
	if len(errs) > 0 || t == nil {
		p := h.newEditorPage(r, nil, form, diags)
		p.Errors = errs
		if e, ok := templates.Get(form.Gallery); ok {
			p.Entry = &e
		}
		h.render(w, r, http.StatusUnprocessableEntity, "editor", p)
		return nil
	}
	bin, err := h.db.CreateBin(accountOf(r).SID, form.input())
	if err != nil {
		p := h.newEditorPage(r, nil, form, diags)
		if e, ok := templates.Get(form.Gallery); ok {
			p.Entry = &e
		}
		return h.showUnsaved(w, r, p, err)
	}
	q := url.Values{"created": {"1"}}
	if form.Gallery != "" {
		q.Set("from", form.Gallery)
	}
	return redirect(w, r, "/bins/"+bin.SID+"?"+q.Encode())
}
