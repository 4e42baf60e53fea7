package web

import "net/http"

// loginPage is the data of login.html.
type loginPage struct {
	base
	Form   loginForm
	Failed bool
}

// showLogin answers GET /login: the sign-in form.
func (h *Handler) showLogin(w http.ResponseWriter, r *http.Request) error {
	p := &loginPage{Form: loginForm{Next: h.nextPage(r.URL.Query().Get("next"))}}
	p.Title = "Sign in"
	h.render(w, r, http.StatusOK, "login", p)
	return nil
}
