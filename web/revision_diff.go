package web

import "net/http"

// diffRevision answers GET /bins/{sid}/revisions/{rev}/diff: the revision
// against the current one, line by line.
func (h *Handler) diffRevision(w http.ResponseWriter, r *http.Request) error {
	p, err := h.revisionPage(r)
	if err != nil {
		return err
	}
	p.Diff = lineDiff(p.Revision.Template, p.Bin.Template)
	p.Changed = diffChanged(p.Diff)
	h.render(w, r, http.StatusOK, "revision", p)
	return nil
}
