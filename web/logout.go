package web

import "net/http"

// logout answers POST /logout: it ends the session.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) error {
	h.sessions.clear(w, r)
	return redirect(w, r, "/login")
}
