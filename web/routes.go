package web

// routes lists every route of the web form. public pages can be seen
// signed out; private ones redirect to the sign-in page. Every POST checks
// the session's CSRF token (see wrap).
func (h *Handler) routes() {
	public := func(pattern string, f handlerFunc) { h.mux.Handle(pattern, h.wrap(f, false)) }
	private := func(pattern string, f handlerFunc) { h.mux.Handle(pattern, h.wrap(f, true)) }

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
