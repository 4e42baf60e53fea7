package web

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/twimlbin/twimlbin/templates"
)

// editBin answers GET /bins/{sid}: the editor holding the saved bin, with
// its warnings and the preview's parameters.
func (h *Handler) editBin(w http.ResponseWriter, r *http.Request) error {
	bin, err := h.readBin(r)
	if err != nil {
		return err
	}
	form := binFormOf(bin)
	t, diags := checkTemplate(bin.Template)
	entry := galleryEntryOf(bin.Template)
	if e, ok := templates.Get(r.URL.Query().Get("from")); ok {
		entry = &e
	}
	form.Params = defaultParams(accountOf(r).SID, entry, t)
	p := h.newEditorPage(r, &bin, form, diags)
	q := r.URL.Query()
	switch {
	case q.Has("created"):
		p.Notice = "Created the bin. Paste its URL into the Twilio console as a phone number's webhook."
	case q.Has("restored") && q.Get("saved") == strconv.Itoa(bin.Revision):
		p.Notice = fmt.Sprintf("Restored revision %s as revision %d.", q.Get("restored"), bin.Revision)
	case q.Get("saved") == strconv.Itoa(bin.Revision):
		p.Notice = fmt.Sprintf("Saved revision %d.", bin.Revision)
	case q.Has("unchanged"):
		p.Notice = "Nothing changed: no new revision was saved."
	}
	h.render(w, r, http.StatusOK, "editor", p)
	return nil
}
