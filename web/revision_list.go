package web

import (
	"net/http"

	"github.com/twimlbin/twimlbin/store"
)

// revisionListPage is the data of revisions.html.
type revisionListPage struct {
	binPage
	Revisions []store.Revision
}

// listRevisions answers GET /bins/{sid}/revisions: every saved revision,
// newest first.
func (h *Handler) listRevisions(w http.ResponseWriter, r *http.Request) error {
	bin, err := h.readBin(r)
	if err != nil {
		return err
	}
	return h.showRevisions(w, r, bin, http.StatusOK, "")
}

func (h *Handler) showRevisions(w http.ResponseWriter, r *http.Request, bin store.Bin, status int, notice string) error {
	revs, err := h.db.Revisions(bin.AccountSID, bin.SID)
	if err != nil {
		return err
	}
	p := &revisionListPage{binPage: h.newBinPage(r, bin, "history", "History"), Revisions: revs}
	p.Notice = notice
	h.render(w, r, status, "revisions", p)
	return nil
}
