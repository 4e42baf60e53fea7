package web

import (
	"errors"
	"net/http"

	"github.com/twimlbin/twimlbin/store"
)

// login answers POST /login: it checks the account SID and auth token and
// starts a new session, with a new CSRF token, for the account.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) error {
	form := newLoginForm(r)
	acct, err := h.db.Authenticate(form.AccountSID, form.AuthToken)
	if errors.Is(err, store.ErrUnauthorized) {
		p := &loginPage{Form: loginForm{AccountSID: form.AccountSID, Next: form.Next}, Failed: true}
		p.Title = "Sign in"
		h.render(w, r, http.StatusForbidden, "login", p)
		return nil
	}
	if err != nil {
		return err
	}
	h.sessions.write(w, r, h.sessions.start(acct.SID, acct.SessionEpoch))
	return redirect(w, r, form.Next)
}
