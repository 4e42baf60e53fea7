package web

import "net/http"

// deletePage is the data of delete.html.
type deletePage struct {
	binPage
}

// confirmDelete answers GET /bins/{sid}/delete: what deleting the bin does,
// and the button that does it.
func (h *Handler) confirmDelete(w http.ResponseWriter, r *http.Request) error {
	bin, err := h.readBin(r)
	if err != nil {
		return err
	}
	p := &deletePage{binPage: h.newBinPage(r, bin, "delete", "Delete")}
	h.render(w, r, http.StatusOK, "delete", p)
	return nil
}
