package web

import (
	"net/http"
	"strings"

	"github.com/twimlbin/twimlbin/engine"
	"github.com/twimlbin/twimlbin/store"
)

// revisionPage is the data of revision.html: one revision, as it is or
// against the current one.
type revisionPage struct {
	binPage
	Revision    store.Revision
	Lines       []string   // the revision's template, line by line
	Diff        []diffLine // set on the diff page
	Changed     bool       // the diff has a changed line
	Diagnostics engine.Diagnostics
}

// showRevision answers GET /bins/{sid}/revisions/{rev}.
func (h *Handler) showRevision(w http.ResponseWriter, r *http.Request) error {
	p, err := h.revisionPage(r)
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "revision", p)
	return nil
}

func (h *Handler) revisionPage(r *http.Request) (*revisionPage, error) {
	n, err := pathRevision(r)
	if err != nil {
		return nil, err
	}
	bin, err := h.readBin(r)
	if err != nil {
		return nil, err
	}
	rev, err := h.db.Revision(bin.AccountSID, bin.SID, n)
	if err != nil {
		return nil, err
	}
	p := &revisionPage{binPage: h.newBinPage(r, bin, "history", "Revision"), Revision: rev,
		Lines: strings.Split(rev.Template, "\n")}
	return p, nil
}
