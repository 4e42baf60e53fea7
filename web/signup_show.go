package web

import "net/http"

// signupPage is the data of signup.html: the form, or the new account's
// credentials once it is made.
type signupPage struct {
	base
	Form       signupForm
	Errors     fieldErrors
	AccountSID string // set once the account is made
	AuthToken  string
}

// showSignup answers GET /signup when Config.OpenSignup is on.
func (h *Handler) showSignup(w http.ResponseWriter, r *http.Request) error {
	if !h.cfg.OpenSignup {
		return errSignupClosed
	}
	p := &signupPage{Errors: fieldErrors{}}
	p.Title = "Sign up"
	h.render(w, r, http.StatusOK, "signup", p)
	return nil
}
