package web

import (
	"net/http"

	"github.com/twimlbin/twimlbin/store"
	"github.com/twimlbin/twimlbin/templates"
)

// previewBin answers GET and POST /bins/{sid}/preview: the editor with the
// render of its template (the saved one for GET, the form's for POST)
// with the parameters given. Nothing is saved and the bin's usage and
// event log are not touched.
func (h *Handler) previewBin(w http.ResponseWriter, r *http.Request) error {
	bin, err := h.readBin(r)
	if err != nil {
		return err
	}
	var form binForm
	if r.Method == http.MethodPost {
		form = newBinForm(r, &bin)
	} else {
		form = binFormOf(bin)
		t, _ := checkTemplate(bin.Template)
		form.Params = defaultParams(accountOf(r).SID, galleryEntryOf(bin.Template), t)
	}
	h.showPreview(w, r, &bin, form)
	return nil
}

// previewNewBin answers POST /bins/preview: the preview of a bin not yet
// created.
func (h *Handler) previewNewBin(w http.ResponseWriter, r *http.Request) error {
	h.showPreview(w, r, nil, newBinForm(r, nil))
	return nil
}

func (h *Handler) showPreview(w http.ResponseWriter, r *http.Request, bin *store.Bin, form binForm) {
	t, diags := checkTemplate(form.Template)
	p := h.newEditorPage(r, bin, form, diags)
	held := ""
	if bin != nil {
		held = bin.FriendlyName
	}
	p.Errors = form.validate(held)
	if e, ok := templates.Get(form.Gallery); ok && bin == nil {
		p.Entry = &e
	}
	status := http.StatusOK
	if t != nil {
		p.Preview = renderPreview(t, form)
	} else {
		status = http.StatusUnprocessableEntity
	}
	p.Title = "Preview: new bin"
	if bin != nil {
		p.Title = "Preview: " + displayName(*bin)
	}
	h.render(w, r, status, "editor", p)
}
