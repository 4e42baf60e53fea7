package web

import (
	"net/http"

	"github.com/twimlbin/twimlbin/store"
)

// binListPage is the data of bins.html.
type binListPage struct {
	base
	Bins []binRow
	Next string // the query of the next page, "" on the last
}

// binRow is a bin of the list, with its URL.
type binRow struct {
	store.Bin
	URL string
}

// listBins answers GET /bins: the account's bins, a page at a time.
func (h *Handler) listBins(w http.ResponseWriter, r *http.Request) error {
	page, err := h.db.ListBins(accountOf(r).SID, store.ListQuery{PageToken: r.URL.Query().Get("page")})
	if err != nil {
		return err
	}
	p := &binListPage{}
	p.Title = "Bins"
	for _, b := range page.Bins {
		p.Bins = append(p.Bins, binRow{Bin: b, URL: h.binURL(r, b.SID)})
	}
	if page.Next != "" {
		p.Next = "?page=" + page.Next
	}
	if r.URL.Query().Has("deleted") {
		p.Notice = "The bin was deleted."
	}
	h.render(w, r, http.StatusOK, "bins", p)
	return nil
}
