package web

import (
	"net/http"
	"unicode/utf8"

	"github.com/twimlbin/twimlbin/store"
	"github.com/twimlbin/twimlbin/templates"
)

// blankTemplate is where a blank bin starts.
const blankTemplate = `<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Say>Hello from twimlbin.</Say>
</Response>
`

// galleryPage is the data of gallery.html.
type galleryPage struct {
	base
	Entries []templates.Entry
}

// newBin answers GET /bins/new: the gallery to start from, then, with
// ?from=SLUG or ?from=blank, the editor holding that start.
func (h *Handler) newBin(w http.ResponseWriter, r *http.Request) error {
	from := r.URL.Query().Get("from")
	if from == "" {
		p := &galleryPage{Entries: templates.All()}
		p.Title = "New bin"
		h.render(w, r, http.StatusOK, "gallery", p)
		return nil
	}
	form := binForm{RenderPolicy: store.DefaultRenderPolicy, Template: blankTemplate}
	var entry *templates.Entry
	if from != "blank" {
		e, ok := templates.Get(from)
		if !ok {
			return errNotFound
		}
		entry = &e
		form.FriendlyName = truncate(e.Title, store.MaxFriendlyName)
		form.Template = e.Template
		form.Gallery = e.Slug
	}
	t, diags := checkTemplate(form.Template)
	form.Params = defaultParams(accountOf(r).SID, entry, t)
	p := h.newEditorPage(r, nil, form, diags)
	p.Entry = entry
	h.render(w, r, http.StatusOK, "editor", p)
	return nil
}

// truncate cuts s to at most n characters.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}
