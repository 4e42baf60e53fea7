package web

import "net/http"

// logout answers POST /logout: it ends every session of the account, in
// this browser and wherever else it is signed in, and clears the cookie.
// The cookie is cleared even when the sessions could not be ended (the
// database is read-only), and the error page says so.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) error {
	h.sessions.clear(w, r)
	if sid := sessionOf(r).AccountSID; sid != "" {
		if _, err := h.db.EndSessions(sid); err != nil {
			return err
		}
	}
	return redirect(w, r, "/login")
}
