package web

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"syscall"

	"github.com/twimlbin/twimlbin/store"
)

// handlerFunc is a page handler. It writes the page, or returns an error
// that handleError turns into an error page.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

type contextKey int

const (
	sessionKey contextKey = iota
	accountKey
)

// sessionOf returns the request's session, set by wrap.
func sessionOf(r *http.Request) session {
	s, _ := r.Context().Value(sessionKey).(session)
	return s
}

// accountOf returns the signed-in account, set by wrap for private pages.
func accountOf(r *http.Request) store.Account {
	a, _ := r.Context().Value(accountKey).(store.Account)
	return a
}

// withSession returns ctx holding the session and its account.
func withSession(ctx context.Context, sess session, acct store.Account) context.Context {
	return context.WithValue(context.WithValue(ctx, sessionKey, sess), accountKey, acct)
}

// wrap runs a handler after what every page needs: the session (a new one,
// signed out, when the request has none), the CSRF check of a POST, and
// for a private page the signed-in account. Errors go to handleError.
func (h *Handler) wrap(f handlerFunc, private bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, err := h.begin(w, r, private)
		if err == nil {
			err = f(w, r)
		}
		if err != nil {
			h.handleError(w, r, err)
		}
	})
}

// begin reads the session, checks a POST's CSRF token, and for a private
// page reads the account. It returns the request carrying them. A session
// whose account is gone, or has ended its sessions since (its session
// epoch moved on), is signed out: it keeps its CSRF token, so that a form
// open in it still reaches the sign-in page, but no account.
func (h *Handler) begin(w http.ResponseWriter, r *http.Request, private bool) (*http.Request, error) {
	sess, ok := h.sessions.read(r)
	if !ok {
		sess = h.sessions.start("", 0)
		h.sessions.write(w, r, sess)
	}
	var acct store.Account
	if sess.AccountSID != "" {
		var err error
		acct, err = h.db.Account(sess.AccountSID)
		switch {
		case errors.Is(err, store.ErrNotFound) || err == nil && acct.SessionEpoch != sess.Epoch:
			sess = session{CSRF: sess.CSRF, Expires: sess.Expires}
			h.sessions.write(w, r, sess)
			acct = store.Account{}
		case err != nil:
			return r, err
		}
	}
	r = r.WithContext(withSession(r.Context(), sess, acct))
	if r.Method == http.MethodPost {
		if err := r.ParseForm(); err != nil {
			return r, errBadForm(err)
		}
		if !ok || !validCSRF(sess, r.PostForm.Get("csrf_token")) {
			return r, errCSRF
		}
	}
	if private && sess.AccountSID == "" {
		return r, errSignedOut
	}
	return r, nil
}

// pageError is an error that is shown to the user as it is: a status, a
// title and a message.
type pageError struct {
	status  int
	title   string
	message string
	cause   error // not shown
	// retryAfter is the Retry-After of a 429, in seconds.
	retryAfter int
}

func (e *pageError) Error() string {
	if e.cause != nil {
		return e.title + ": " + e.cause.Error()
	}
	return e.title
}

func (e *pageError) Unwrap() error { return e.cause }

// The errors handlers return.
var (
	// errSignedOut is a private page asked for without a signed-in
	// account: handleError sends a GET to the sign-in page.
	errSignedOut = &pageError{status: http.StatusForbidden, title: "Signed out",
		message: "You are not signed in, or your session is over. Nothing was changed. Sign in, then try again."}
	errNotFound = &pageError{status: http.StatusNotFound, title: "Not found",
		message: "There is no such page, or no such bin in your account."}
	errCSRF = &pageError{status: http.StatusForbidden, title: "This form has expired",
		message: "The form did not carry this session's security token: it was open for too long, you signed out or in elsewhere, or it did not come from this site. Nothing was changed. Go back, reload the page and try again."}
	errSignupClosed = &pageError{status: http.StatusNotFound, title: "Sign-up is closed",
		message: "This server does not let visitors create accounts; ask its operator for one."}
)

// storageError is the page for a write the database could not take, or
// nil when err is not one: the account is at a quota, which the message
// names with what to do; or, for a reason the user can do nothing about
// but wait, the database is read-only or its disk is full, where the bin
// URLs still work and the message says so.
func storageError(err error) *pageError {
	var quota *store.QuotaError
	switch {
	case errors.As(err, &quota) && quota.Quota == "bins":
		return &pageError{status: http.StatusForbidden, title: "Quota reached",
			message: fmt.Sprintf("Your account holds %d bins, its quota. Nothing was saved. Delete bins you no longer need, or ask the operator to raise the quota.", quota.Used), cause: err}
	case errors.As(err, &quota):
		return &pageError{status: http.StatusForbidden, title: "Quota reached",
			message: fmt.Sprintf("Saving this would make your account's templates take %d bytes, over its quota of %d (every kept revision of every bin counts). Nothing was saved. Delete bins you no longer need, or ask the operator to raise the quota.", quota.Want, quota.Limit), cause: err}
	case errors.Is(err, store.ErrReadOnly):
		return &pageError{status: http.StatusServiceUnavailable, title: "Nothing can be saved",
			message: "This server's database is read-only, so nothing was saved; bins are still served. The operator must make the database file writable and restart twimlbin.", cause: err}
	case errors.Is(err, syscall.EROFS):
		return &pageError{status: http.StatusServiceUnavailable, title: "Nothing can be saved",
			message: "This server's database is on a read-only file system, so nothing was saved; bins are still served. Try again once the operator has made it writable.", cause: err}
	case errors.Is(err, store.ErrUnavailable):
		return &pageError{status: http.StatusServiceUnavailable, title: "Nothing can be saved",
			message: "This server could not reach its database cluster in time, so this was most likely not saved; bins are still served. Check the page again in a few seconds before you retry.", cause: err}
	case errors.Is(err, store.ErrNoSpace) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT):
		return &pageError{status: http.StatusInsufficientStorage, title: "Nothing can be saved",
			message: "This server's database has no space left, so nothing was saved; bins are still served. Try again once the operator has freed space.", cause: err}
	}
	return nil
}

func errBadForm(err error) error {
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		return &pageError{status: http.StatusRequestEntityTooLarge, title: "Too large",
			message: "What you sent is larger than this server accepts. Nothing was changed.", cause: err}
	}
	return &pageError{status: http.StatusBadRequest, title: "Bad request",
		message: "The form could not be read. Nothing was changed.", cause: err}
}

// errorPage is the data of error.html.
type errorPage struct {
	base
	Message   string
	RequestID string
}

// handleError is the one place that turns errors into pages: the store's
// sentinel errors and pageErrors are shown as they are, a signed-out GET
// goes to the sign-in page; anything else is
// logged and shown as a generic 500 with a request ID.
func (h *Handler) handleError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errSignedOut) && r.Method == http.MethodGet {
		http.Redirect(w, r, "/login?"+url.Values{"next": {h.nextPage(r.URL.RequestURI())}}.Encode(), http.StatusSeeOther)
		return
	}
	var pe *pageError
	switch {
	case errors.As(err, &pe):
	case errors.Is(err, store.ErrPruned):
		pe = &pageError{status: http.StatusNotFound, title: "Revision pruned",
			message: "That revision was pruned: only a bin's newest revisions are kept, and older ones are deleted as new ones are saved. The bin's revision list shows those that remain."}
	case errors.Is(err, store.ErrNotFound):
		pe = errNotFound
	case errors.Is(err, store.ErrBadPageToken):
		pe = &pageError{status: http.StatusBadRequest, title: "Bad page link",
			message: "That page of the list does not exist; start again from the first page."}
	case storageError(err) != nil:
		pe = storageError(err)
	default:
		pe = &pageError{status: http.StatusInternalServerError, title: "Something went wrong",
			message: "The server could not complete the request. Nothing you did caused it; try again, and tell the operator the request ID below if it persists."}
	}
	if pe.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(pe.retryAfter))
	}
	data := &errorPage{Message: pe.message}
	data.Title = pe.title
	if pe.status >= 500 {
		data.RequestID = r.Header.Get("X-Request-Id")
		if data.RequestID == "" || len(data.RequestID) > 128 {
			data.RequestID = rand.Text()
		}
		h.logger.LogAttrs(r.Context(), slog.LevelError, "web request failed",
			slog.String("request_id", data.RequestID),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.String("error", err.Error()))
	}
	h.render(w, r, pe.status, "error", data)
}

// notFound answers every path no route takes.
func (h *Handler) notFound(http.ResponseWriter, *http.Request) error { return errNotFound }
