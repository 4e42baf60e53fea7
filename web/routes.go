package web

import (
	"net/http"
	"net/url"
	"path"
	"strings"
)

// routes lists every route of the web form. public pages can be seen
// signed out; private ones redirect to the sign-in page. Every POST checks
// the session's CSRF token (see wrap).
func (h *Handler) routes() {
	public := func(pattern string, f handlerFunc) { h.handle(pattern, f, false) }
	private := func(pattern string, f handlerFunc) { h.handle(pattern, f, true) }

	h.mux.HandleFunc("GET /assets/{name}", h.serveAsset)

	public("GET /{$}", h.home)
	public("GET /login", h.showLogin)
	public("POST /login", h.login)
	public("POST /logout", h.logout)
	public("GET /signup", h.showSignup)
	public("POST /signup", h.signup)

	private("GET /bins", h.listBins)
	private("GET /bins/new", h.newBin)
	private("POST /bins", h.createBin)
	private("POST /bins/preview", h.previewNewBin)
	private("POST /bins/validate", h.validate)

	private("GET /bins/{sid}", h.editBin)
	private("POST /bins/{sid}", h.updateBin)
	private("GET /bins/{sid}/preview", h.previewBin)
	private("POST /bins/{sid}/preview", h.previewBin)
	private("GET /bins/{sid}/events", h.listEvents)
	private("GET /bins/{sid}/delete", h.confirmDelete)
	private("POST /bins/{sid}/delete", h.deleteBin)

	private("GET /bins/{sid}/revisions", h.listRevisions)
	private("GET /bins/{sid}/revisions/{rev}", h.showRevision)
	private("GET /bins/{sid}/revisions/{rev}/diff", h.diffRevision)
	private("POST /bins/{sid}/revisions/{rev}/restore", h.restoreRevision)

	// Anything else, and a method a route does not take.
	public("/", h.notFound)
}

// handle adds a page's route, and records a GET page's pattern for
// nextPage.
func (h *Handler) handle(pattern string, f handlerFunc, private bool) {
	h.mux.Handle(pattern, h.wrap(f, private))
	if strings.HasPrefix(pattern, http.MethodGet+" ") {
		h.getPages[pattern] = true
	}
}

// defaultPage is where signing in goes on to when next names no page.
const defaultPage = "/bins"

// nextPage returns next, the page to go on to after signing in, when it
// is a GET page of the web form, else defaultPage: the sign-in page must
// never send a browser to another site. next must be a clean path with an
// optional query, no scheme, host or fragment, written exactly as
// net/url writes it back (so nothing a browser reads differently, such as
// a backslash, a tab or a needless escape, gets through), that the router
// sends to one of the pages routes lists, not to the catch-all, an asset
// or a POST-only route.
func (h *Handler) nextPage(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Opaque != "" || u.User != nil || u.Host != "" || u.Fragment != "" ||
		!strings.HasPrefix(u.Path, "/") || path.Clean(u.Path) != u.Path {
		return defaultPage
	}
	written := &url.URL{Path: u.Path, RawQuery: u.RawQuery}
	if written.String() != next {
		return defaultPage
	}
	_, pattern := h.mux.Handler(&http.Request{Method: http.MethodGet, URL: &url.URL{Path: u.Path}})
	if !h.getPages[pattern] {
		return defaultPage
	}
	return next
}
