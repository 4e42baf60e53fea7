package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"syscall"

	"github.com/labstack/echo/v4"
	"github.com/twimlbin/twimlbin/engine"
	"github.com/twimlbin/twimlbin/store"
)

// Error codes of the API. They are stable: clients match on them. The
// OpenAPI document lists them under components/x-error-codes, which is where
// an error's more_info points.
const (
	codeBadBody          = 10001 // 400: the body is not valid JSON or form encoding
	codeUnknownField     = 10002 // 400: the body has a field the resource does not have
	codeInvalidParameter = 10003 // 400: a field or query parameter has a bad value, or is missing
	codeBadPageToken     = 10004 // 400: page_token is not one this server gave
	codeBadIfMatch       = 10005 // 400: If-Match is not an ETag of this API
	codeUnsupportedMedia = 10006 // 415: the body is neither JSON nor form-encoded

	codeUnauthorized     = 10101 // 401: no credentials, or wrong ones
	codeSignupClosed     = 10102 // 403: POST /api/v1/accounts without open signup
	codeBadSignature     = 10103 // 403: X-Twilio-Signature missing or wrong
	codeBackupNotAllowed = 10104 // 403: the account may not read a backup
	codeRateLimited      = 10105 // 429: too many failed authentications or sign-ups; see Retry-After
	codeQuotaExceeded    = 10106 // 403: the write would take the account past a quota; nothing was saved
	codeCrossOrigin      = 10107 // 403: a browser on another site sent a write to the API

	codeNotFound           = 10201 // 404: no such route or resource (or another account's)
	codeMethodNotAllowed   = 10202 // 405
	codePreconditionFailed = 10203 // 412: If-Match names a revision that is no longer current
	codeBodyTooLarge       = 10204 // 413
	codeRevisionPruned     = 10205 // 404: the revision was deleted to keep the bin's newest ones

	codeTemplateInvalid  = 10301 // 422: the template has errors; see diagnostics
	codeTemplateTooLarge = 10302 // 422: the template is over MaxTemplateBytes

	codeRenderFailed = 10401 // 500: the bin URL could not render under the strict policy

	codeInternal    = 10500 // 500
	codeDiskFull    = 10507 // 507: the database's disk is full, or etcd's space quota reached; nothing was saved
	codeReadOnly    = 10508 // 503: the database cannot be written; nothing was saved
	codeUnavailable = 10509 // 503: the store (an etcd cluster) cannot be reached; the write was most likely not saved
	codeNotReady    = 10503 // 503: /readyz while the store is unreachable or the server drains
)

// Error is what the API answers when a request fails, as JSON. It is also
// the error type handlers return; the HTTPErrorHandler writes it.
type Error struct {
	// Code is one of the API's stable error codes.
	Code int `json:"code"`
	// Message says what went wrong, for people.
	Message string `json:"message"`
	// MoreInfo points at the code's description in the OpenAPI document.
	MoreInfo string `json:"more_info"`
	// Status is the HTTP status of the response.
	Status int `json:"status"`
	// Diagnostics are the template's findings, for codeTemplateInvalid.
	Diagnostics engine.Diagnostics `json:"diagnostics,omitempty"`

	cause      error // logged for 5xx, never shown
	retryAfter int   // seconds, the Retry-After of a 429 or 503
}

// Error returns the message, followed by the internal cause if any.
func (e *Error) Error() string {
	if e.cause != nil {
		return e.Message + ": " + e.cause.Error()
	}
	return e.Message
}

// Unwrap returns the internal cause, if any.
func (e *Error) Unwrap() error { return e.cause }

func newError(status, code int, msg string) *Error {
	return &Error{Status: status, Code: code, Message: msg}
}

// authChallenge is the WWW-Authenticate of a 401: a scheme no browser
// knows, so that none prompts for credentials and keeps them.
const authChallenge = `xBasic realm="twimlbin"`

// The errors handlers return most often.
var (
	errNotFound = newError(http.StatusNotFound, codeNotFound,
		"The requested resource was not found.")
	errUnauthorized = newError(http.StatusUnauthorized, codeUnauthorized,
		"Authenticate with HTTP Basic: your account SID as the user name and its auth token as the password.")
	errBadSignature = newError(http.StatusForbidden, codeBadSignature,
		"The request is not signed with the account's Twilio auth token.")
	errCrossOrigin = newError(http.StatusForbidden, codeCrossOrigin,
		"Browsers on other sites may not call this API: the request's Origin or Sec-Fetch-Site header says it came from another site, so nothing was changed. "+
			"curl, Twilio and server-side clients, which send neither header, are unaffected.")
	errRenderFailed = newError(http.StatusInternalServerError, codeRenderFailed,
		"The bin could not be rendered; see the bin's event log.")
	errPrecondition = newError(http.StatusPreconditionFailed, codePreconditionFailed,
		"The bin has changed since the revision named by If-Match; fetch it again and retry.")
)

func errInvalidParameter(msg string) *Error {
	return newError(http.StatusBadRequest, codeInvalidParameter, msg)
}

// handleError is the server's one echo HTTPErrorHandler: every error a
// handler or middleware returns, and every 404 and 405 of the router, is
// written here, in the same shape.
func (s *Server) handleError(err error, c echo.Context) {
	e := s.toError(err)
	if e.Status >= 500 {
		s.logger.LogAttrs(c.Request().Context(), slog.LevelError, "request failed",
			slog.String("request_id", requestID(c)),
			slog.String("method", c.Request().Method),
			slog.String("path", c.Request().URL.Path),
			slog.String("error", err.Error()))
	}
	if c.Response().Committed {
		return
	}
	if e.MoreInfo == "" {
		e.MoreInfo = s.moreInfo(e.Code)
	}
	h := c.Response().Header()
	if e.Status == http.StatusUnauthorized {
		// Not "Basic": a browser answers a Basic challenge with a prompt
		// and then sends what was typed with every request to the API,
		// from any page. Clients send Basic credentials up front.
		h.Set("WWW-Authenticate", authChallenge)
	}
	if e.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	h[echo.HeaderCacheControl] = noStore
	if c.Request().Method == http.MethodHead {
		err = c.NoContent(e.Status)
	} else {
		err = c.JSON(e.Status, e)
	}
	if err != nil {
		s.logger.LogAttrs(c.Request().Context(), slog.LevelWarn, "writing an error response",
			slog.String("request_id", requestID(c)), slog.String("error", err.Error()))
	}
}

// toError maps any error to the Error to answer with: a copy, so that the
// shared values above are never changed.
func (s *Server) toError(err error) *Error {
	var (
		apiErr    *Error
		httpErr   *echo.HTTPError
		maxErr    *http.MaxBytesError
		quotaErr  *store.QuotaError
		tooLarge  *store.TemplateTooLargeError
		tokenErr  *store.TwilioAuthTokenError
		compErr   *engine.CompileError
		renderErr *engine.RenderError
	)
	switch {
	case errors.As(err, &apiErr):
		e := *apiErr
		return &e
	case errors.As(err, &maxErr):
		return newError(http.StatusRequestEntityTooLarge, codeBodyTooLarge,
			"The request body is larger than "+strconv.FormatInt(s.cfg.MaxBodyBytes, 10)+" bytes.")
	case errors.Is(err, store.ErrPruned):
		return newError(http.StatusNotFound, codeRevisionPruned,
			"The revision was pruned: only a bin's newest revisions are kept, and older ones are deleted as new ones are saved. "+
				"List the bin's revisions to see those that remain.")
	case errors.Is(err, store.ErrNotFound):
		e := *errNotFound
		return &e
	case errors.As(err, &quotaErr):
		return quotaError(quotaErr)
	case errors.Is(err, store.ErrConflict):
		e := *errPrecondition
		return &e
	case errors.Is(err, store.ErrUnauthorized):
		e := *errUnauthorized
		return &e
	case errors.Is(err, store.ErrBadFriendlyName):
		// First of the store's rules for a bin, as CheckBinInput orders
		// them: a request that breaks several hears of the first.
		return friendlyNameError(err)
	case errors.Is(err, store.ErrBadRenderPolicy):
		return errInvalidParameter(`render_policy must be "strict" or "lenient".`)
	case errors.As(err, &tooLarge):
		return errTemplateTooLarge(tooLarge)
	case errors.As(err, &tokenErr):
		return errInvalidParameter("twilio_auth_token " + tokenErr.Problem + ".")
	case errors.Is(err, store.ErrBadPageToken):
		return newError(http.StatusBadRequest, codeBadPageToken,
			"page_token is not valid: use the next_page_uri of a previous page as it is.")
	case errors.As(err, &compErr):
		e := newError(http.StatusUnprocessableEntity, codeTemplateInvalid,
			"The template has errors; see diagnostics.")
		e.Diagnostics = compErr.Diagnostics
		return e
	case errors.As(err, &renderErr):
		e := *errRenderFailed
		return &e
	case errors.As(err, &httpErr):
		return fromHTTPError(httpErr)
	case errors.Is(err, store.ErrReadOnly):
		e := newError(http.StatusServiceUnavailable, codeReadOnly,
			"The server's database is open read-only, so nothing can be saved; bins are still served. "+
				"Tell the operator: make the database file writable and restart twimlbin.")
		e.cause = err
		return e
	case errors.Is(err, syscall.EROFS):
		e := newError(http.StatusServiceUnavailable, codeReadOnly,
			"The server's database is on a read-only file system; nothing was saved. Bins are still served; retry once it is writable.")
		e.cause = err
		return e
	case errors.Is(err, store.ErrUnavailable):
		e := newError(http.StatusServiceUnavailable, codeUnavailable,
			"The server could not reach its database cluster in time, so the change was most likely not saved; bins are still served. "+
				"Retry in a few seconds: read the resource first, or send If-Match, since a write cut short may still have been saved.")
		e.cause = err
		e.retryAfter = 5
		return e
	case errors.Is(err, store.ErrNoSpace) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT):
		e := newError(http.StatusInsufficientStorage, codeDiskFull,
			"The server's database has no space left (its disk is full, or its etcd cluster is at its space quota); nothing was saved. Bins are still served; retry once space is freed.")
		e.cause = err
		return e
	}
	e := newError(http.StatusInternalServerError, codeInternal, "Internal server error.")
	e.cause = err
	return e
}

// quotaError says which quota a write would pass, by how much, and what
// to do. Nothing was saved.
func quotaError(q *store.QuotaError) *Error {
	var msg string
	if q.Quota == "bins" {
		msg = fmt.Sprintf("The account holds %d bins, its quota; nothing was saved. "+
			"Delete bins you no longer need, or ask the operator to raise --max-bins-per-account.", q.Used)
	} else {
		msg = fmt.Sprintf("This would make the account's templates take %d bytes, over its quota of %d "+
			"(every kept revision of every bin counts; it holds %d); nothing was saved. "+
			"Delete bins you no longer need, or ask the operator to raise --max-bytes-per-account.", q.Want, q.Limit, q.Used)
	}
	return newError(http.StatusForbidden, codeQuotaExceeded, msg)
}

// fromHTTPError maps echo's errors: the router's 404 and 405, and whatever
// a middleware of echo's returns.
func fromHTTPError(he *echo.HTTPError) *Error {
	switch he.Code {
	case http.StatusNotFound:
		e := *errNotFound
		return &e
	case http.StatusMethodNotAllowed:
		return newError(http.StatusMethodNotAllowed, codeMethodNotAllowed,
			"The method is not allowed on this resource; see the Allow header.")
	case http.StatusRequestEntityTooLarge:
		return newError(http.StatusRequestEntityTooLarge, codeBodyTooLarge,
			"The request body is too large.")
	case http.StatusUnauthorized:
		e := *errUnauthorized
		return &e
	}
	if he.Code >= 400 && he.Code < 500 {
		return newError(he.Code, codeBadBody, http.StatusText(he.Code)+".")
	}
	e := newError(http.StatusInternalServerError, codeInternal, "Internal server error.")
	e.cause = he
	return e
}

// moreInfo is the address of a code's description in the OpenAPI document.
func (s *Server) moreInfo(code int) string {
	return s.base + "/api/v1/openapi.json#/components/x-error-codes/" + strconv.Itoa(code)
}
