package web

import (
	"net/http"
	"strconv"

	"github.com/twimlbin/twimlbin/store"
)

// binPage is what every page about one bin shows above its content: the
// bin's name, SID, URL and usage, and the tabs of its pages.
type binPage struct {
	base
	Bin *store.Bin // nil on the new-bin page
	URL string
	Tab string // the current tab: "edit", "history", "events" or "delete"
}

func (h *Handler) newBinPage(r *http.Request, bin store.Bin, tab, title string) binPage {
	p := binPage{Bin: &bin, URL: h.binURL(r, bin.SID), Tab: tab}
	p.Title = title + ": " + displayName(bin)
	return p
}

// displayName is a bin's friendly name, or its SID when it has none.
func displayName(b store.Bin) string {
	if b.FriendlyName != "" {
		return b.FriendlyName
	}
	return b.SID
}

// readBin reads the bin the path names for the signed-in account: another
// account's bin is store.ErrNotFound, like a missing one.
func (h *Handler) readBin(r *http.Request) (store.Bin, error) {
	return h.db.Bin(accountOf(r).SID, r.PathValue("sid"))
}

// pathRevision reads {rev} from the path.
func pathRevision(r *http.Request) (int, error) {
	rev, err := strconv.Atoi(r.PathValue("rev"))
	if err != nil || rev < 1 {
		return 0, errNotFound
	}
	return rev, nil
}

// formRevision reads the revision a form was based on; a form without one
// is refused rather than saved over whatever is current.
func formRevision(r *http.Request) (int, error) {
	rev, err := strconv.Atoi(r.PostForm.Get("revision"))
	if err != nil || rev < 1 {
		return 0, &pageError{status: http.StatusBadRequest, title: "Bad request",
			message: "The form did not say which revision of the bin it was based on. Nothing was changed; reload the page and try again."}
	}
	return rev, nil
}
