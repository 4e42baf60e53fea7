package web

import "net/http"

// home answers GET /: the bins when signed in, else the sign-in page.
func (h *Handler) home(w http.ResponseWriter, r *http.Request) error {
	if sessionOf(r).AccountSID != "" {
		return redirect(w, r, "/bins")
	}
	return redirect(w, r, "/login")
}
