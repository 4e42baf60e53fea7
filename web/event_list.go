package web

import (
	"net/http"

	"github.com/twimlbin/twimlbin/store"
)

// eventListPage is the data of events.html.
type eventListPage struct {
	binPage
	Events []store.Event
}

// listEvents answers GET /bins/{sid}/events: what the bin's recent renders
// reported, newest first (Twilio's Debugger, for one bin).
func (h *Handler) listEvents(w http.ResponseWriter, r *http.Request) error {
	bin, err := h.readBin(r)
	if err != nil {
		return err
	}
	events, err := h.db.Events(bin.AccountSID, bin.SID, 0)
	if err != nil {
		return err
	}
	p := &eventListPage{binPage: h.newBinPage(r, bin, "events", "Events"), Events: events}
	h.render(w, r, http.StatusOK, "events", p)
	return nil
}
