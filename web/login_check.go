package web

import (
	"errors"
	"net/http"

	"github.com/twimlbin/twimlbin/store"
)

// login answers POST /login: it checks the account SID and auth token and
// starts a new session, with a new CSRF token, for the account. A client
// address or an account with too many failed sign-ins gets a 429 page
// before the credentials are checked.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) error {
	form := newLoginForm(r)
	form.Next = h.nextPage(form.Next)
	client, account := h.clientKey(r), limitKey(form.AccountSID)
	if wait := max(h.limits.failuresByAddr.Wait(client), h.limits.failuresByAccount.Wait(account)); wait > 0 {
		return errRateLimited("Too many failed sign-ins from your address or to this account.", wait)
	}
	acct, err := h.db.Authenticate(form.AccountSID, form.AuthToken)
	if errors.Is(err, store.ErrUnauthorized) {
		h.limits.failuresByAddr.Add(client)
		h.limits.failuresByAccount.Add(account)
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
