package web

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/twimlbin/twimlbin/store"
)

// deleteBin answers POST /bins/{sid}/delete: it deletes the bin, its
// history and its events, when the bin is still at the revision the
// confirmation page showed.
func (h *Handler) deleteBin(w http.ResponseWriter, r *http.Request) error {
	bin, err := h.readBin(r)
	if err != nil {
		return err
	}
	rev, err := formRevision(r)
	if err != nil {
		return err
	}
	err = h.db.DeleteBin(bin.AccountSID, bin.SID, rev)
	if errors.Is(err, store.ErrConflict) {
		if bin, err = h.readBin(r); err != nil {
			return err
		}
		p := &deletePage{binPage: h.newBinPage(r, bin, "delete", "Delete")}
		p.Notice = fmt.Sprintf("The bin was saved again (revision %d) since you opened this page, so it was not deleted. Check it, then confirm again.", bin.Revision)
		h.render(w, r, http.StatusConflict, "delete", p)
		return nil
	}
	if err != nil {
		return err
	}
	return redirect(w, r, "/bins?deleted=1")
}
