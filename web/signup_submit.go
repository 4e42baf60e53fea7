package web

import "net/http"

// signup answers POST /signup: it creates an account, signs it in and shows
// its credentials, the one time the auth token can be shown. A client
// address that made too many accounts gets a 429 page.
func (h *Handler) signup(w http.ResponseWriter, r *http.Request) error {
	if !h.cfg.OpenSignup {
		return errSignupClosed
	}
	form := newSignupForm(r)
	p := &signupPage{Form: form, Errors: form.validate()}
	p.Title = "Sign up"
	if len(p.Errors) > 0 {
		h.render(w, r, http.StatusUnprocessableEntity, "signup", p)
		return nil
	}
	client := h.clientKey(r)
	if wait := h.limits.signupsByAddr.Wait(client); wait > 0 {
		return errRateLimited("Too many accounts were created from your address.", wait)
	}
	acct, token, err := h.db.CreateAccount(form.FriendlyName)
	if err != nil {
		return err
	}
	h.limits.signupsByAddr.Add(client)
	sess := h.sessions.start(acct.SID, acct.SessionEpoch)
	h.sessions.write(w, r, sess)
	// The page is rendered for the new session: its links and forms are
	// the signed-in account's.
	r = r.WithContext(withSession(r.Context(), sess, acct))
	p.Title = "Your new account"
	p.AccountSID, p.AuthToken = acct.SID, token
	h.render(w, r, http.StatusCreated, "signup", p)
	return nil
}
