package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/twimlbin/twimlbin/store"
)

// restoreRevision answers POST /bins/{sid}/revisions/{rev}/restore: it
// saves the revision's content as the bin's next revision, when the bin is
// still at the revision the page showed and the old template still
// compiles.
func (h *Handler) restoreRevision(w http.ResponseWriter, r *http.Request) error {
	p, err := h.revisionPage(r)
	if err != nil {
		return err
	}
	current, err := formRevision(r)
	if err != nil {
		return err
	}
	// Saved under older rules, its render policy may no longer be one:
	// the store would refuse it. Its name is restored as it was.
	old := p.Revision
	in := store.BinInput{FriendlyName: old.FriendlyName, Template: old.Template, RenderPolicy: old.RenderPolicy}
	if err := store.CheckBinInput(in, old.FriendlyName); errors.Is(err, store.ErrBadRenderPolicy) {
		p.Notice = fmt.Sprintf("Revision %d was not restored: its render policy %q is neither strict nor lenient, the two this version of twimlbin knows.", old.Revision, old.RenderPolicy)
		h.render(w, r, http.StatusUnprocessableEntity, "revision", p)
		return nil
	}
	if _, diags := checkTemplate(p.Revision.Template); diags.HasErrors() {
		// Saved under an older engine, it no longer compiles: restoring it
		// would make a bin that fails every request.
		p.Diagnostics = diags
		p.Notice = fmt.Sprintf("Revision %d was not restored: its template has errors under this version of twimlbin.", p.Revision.Revision)
		h.render(w, r, http.StatusUnprocessableEntity, "revision", p)
		return nil
	}
	bin, err := h.db.RestoreRevision(p.Bin.AccountSID, p.Bin.SID, p.Revision.Revision, current)
	if errors.Is(err, store.ErrConflict) {
		if bin, err = h.readBin(r); err != nil {
			return err
		}
		return h.showRevisions(w, r, bin, http.StatusConflict, fmt.Sprintf(
			"Nothing was restored: the bin was saved again (it is now at revision %d) since you opened the page. Check the history, then restore again.", bin.Revision))
	}
	if err != nil {
		return err
	}
	q := url.Values{"restored": {strconv.Itoa(p.Revision.Revision)}, "saved": {strconv.Itoa(bin.Revision)}}
	return redirect(w, r, "/bins/"+bin.SID+"?"+q.Encode())
}
