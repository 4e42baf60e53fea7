package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/twimlbin/twimlbin/engine"
	"github.com/twimlbin/twimlbin/store"
)

// maxListBytes bounds a page of GET /api/v1/bins in bytes: a page with
// templates ends early rather than pass it, always with at least one bin.
const maxListBytes = 1 << 20

// binResource is a bin as the API shows it. Lists leave out the template
// and its warnings unless asked (include=template).
type binResource struct {
	SID              string             `json:"sid"`
	AccountSID       string             `json:"account_sid"`
	FriendlyName     string             `json:"friendly_name"`
	Template         string             `json:"template,omitzero"`
	URL              string             `json:"url"`
	Revision         int                `json:"revision"`
	RenderPolicy     string             `json:"render_policy"`
	DateCreated      time.Time          `json:"date_created"`
	DateUpdated      time.Time          `json:"date_updated"`
	DateLastAccessed *time.Time         `json:"date_last_accessed"`
	NumRequests      int64              `json:"num_requests"`
	Warnings         engine.Diagnostics `json:"warnings,omitzero"`
	Links            map[string]string  `json:"links"`
}

// binRequest is the body of a create or an update; a field left out keeps
// its value (its default, on create).
type binRequest struct {
	FriendlyName *string `json:"friendly_name"`
	Template     *string `json:"template"`
	RenderPolicy *string `json:"render_policy"`
}

// patch is what the request changes of a bin.
func (r binRequest) patch() store.BinPatch {
	return store.BinPatch{FriendlyName: r.FriendlyName, Template: r.Template, RenderPolicy: r.RenderPolicy}
}

// binList is the answer of GET /api/v1/bins.
type binList struct {
	Bins []binResource `json:"bins"`
	Meta pageMeta      `json:"meta"`
}

type pageMeta struct {
	PageSize    int     `json:"page_size"`
	NextPageURI *string `json:"next_page_uri"`
}

// createBin answers POST /api/v1/bins.
func (s *Server) createBin(c echo.Context) error {
	var req binRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.Template == nil {
		return errInvalidParameter("template is required.")
	}
	in := req.patch().NewBin()
	tmpl, err := checkBin(in, "")
	if err != nil {
		return err
	}
	start := time.Now()
	bin, err := s.db.CreateBin(accountOf(c).SID, in)
	s.metrics.observeStore(opWriteBin, start)
	if err != nil {
		return err
	}
	s.cache.put(bin, tmpl)
	c.Response().Header().Set(echo.HeaderLocation, s.baseURL(c)+"/api/v1/bins/"+bin.SID)
	return s.respondBin(c, http.StatusCreated, bin, tmpl)
}

// checkBin checks what a create or update would save: first by the
// store's rules, which the write applies again, so that their errors come
// before any compiling; then by compiling the template, which the store
// cannot do. held is the friendly name the bin keeps unchecked ("" for a
// new bin).
func checkBin(in store.BinInput, held string) (*engine.Template, error) {
	if err := store.CheckBinInput(in, held); err != nil {
		return nil, err
	}
	return engine.Compile(in.Template)
}

// errTemplateTooLarge is the 422 of a template over the store's limit.
func errTemplateTooLarge(tl *store.TemplateTooLargeError) *Error {
	e := newError(http.StatusUnprocessableEntity, codeTemplateTooLarge,
		fmt.Sprintf("The template is %d bytes; the limit is %d bytes (Twilio accepts at most 64 kB of TwiML).", tl.Size, tl.Limit))
	e.Diagnostics = engine.Diagnostics{tooLargeDiagnostic(tl)}
	return e
}

// tooLargeDiagnostic is the store's refusal of a template's size as a
// diagnostic, as the web form shows it too.
func tooLargeDiagnostic(tl *store.TemplateTooLargeError) engine.Diagnostic {
	return engine.Diagnostic{
		Severity: engine.SeverityError, Code: engine.CodeTemplateTooLarge, Line: 1, Column: 1,
		Message: tl.Problem(),
	}
}

// listBins answers GET /api/v1/bins. With include=template, each bin has
// its template and warnings, and a page ends early rather than pass
// maxListBytes.
func (s *Server) listBins(c echo.Context) error {
	size := store.DefaultPageSize
	if v := c.QueryParam("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxPageSize {
			return errInvalidParameter(fmt.Sprintf("page_size must be a number from 1 to %d.", store.MaxPageSize))
		}
		size = n
	}
	var templates bool
	switch v := c.QueryParam("include"); v {
	case "":
	case "template":
		templates = true
	default:
		return errInvalidParameter(fmt.Sprintf("include must be \"template\" or left out, not %q.", v))
	}
	q := store.ListQuery{PageSize: size, PageToken: c.QueryParam("page_token"), Templates: templates}
	out := binList{Bins: []binResource{}, Meta: pageMeta{PageSize: size}}
	if templates {
		// Each bin is shown as it is measured, once.
		used := 1024 // the envelope's bytes, and more
		q.Take = func(b store.Bin) bool {
			r := s.binResource(c, b, s.warnings(b))
			raw, err := json.Marshal(r)
			if err != nil {
				return false
			}
			if len(out.Bins) > 0 && used+len(raw)+1 > maxListBytes {
				return false
			}
			used += len(raw) + 1
			out.Bins = append(out.Bins, r)
			return true
		}
	}
	start := time.Now()
	page, err := s.db.ListBins(accountOf(c).SID, q)
	s.metrics.observeStore(opReadBin, start)
	if err != nil {
		return err
	}
	if !templates {
		for _, b := range page.Bins {
			r := s.binResource(c, b, nil)
			r.Warnings = nil
			out.Bins = append(out.Bins, r)
		}
	}
	if page.Next != "" {
		query := url.Values{"page_size": {strconv.Itoa(size)}, "page_token": {page.Next}}
		if templates {
			query.Set("include", "template")
		}
		next := "/api/v1/bins?" + query.Encode()
		out.Meta.NextPageURI = &next
	}
	return c.JSON(http.StatusOK, out)
}

// fetchBin answers GET /api/v1/bins/{sid}.
func (s *Server) fetchBin(c echo.Context) error {
	bin, err := s.readBin(c)
	if err != nil {
		return err
	}
	setETag(c, bin.Revision)
	return c.JSON(http.StatusOK, s.binResource(c, bin, s.warnings(bin)))
}

// updateBin answers POST and PATCH /api/v1/bins/{sid}. The fields the body
// leaves out keep their values. With If-Match, the update applies only to
// that revision; without, it applies to whatever is current, and a
// concurrent update is retried rather than lost.
func (s *Server) updateBin(c echo.Context) error {
	ifRev, err := ifMatch(c)
	if err != nil {
		return err
	}
	var req binRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	patch := req.patch()
	// The template compiled on an earlier attempt, and its text: a retry
	// compiles only when another update changed the template, which keeps
	// the window in which another update can win short.
	var tmpl *engine.Template
	var tmplSrc string
	for attempt := 0; ; attempt++ {
		cur, err := s.readBin(c)
		if err != nil {
			return err
		}
		if ifRev != 0 && cur.Revision != ifRev {
			return errPrecondition
		}
		if !patch.Changes(cur) {
			// Nothing changes: no new revision.
			setETag(c, cur.Revision)
			return c.JSON(http.StatusOK, s.binResource(c, cur, s.warnings(cur)))
		}
		in := patch.Apply(cur)
		if tmpl == nil || in.Template != tmplSrc {
			if tmpl, err = checkBin(in, cur.FriendlyName); err != nil {
				return err
			}
			tmplSrc = in.Template
		} else if err := store.CheckBinInput(in, cur.FriendlyName); err != nil {
			return err
		}
		start := time.Now()
		bin, err := s.db.UpdateBin(cur.AccountSID, cur.SID, cur.Revision, in)
		s.metrics.observeStore(opWriteBin, start)
		// Each conflict is another update committed, so retrying ends;
		// the bound is against a fault, not against contention.
		if errors.Is(err, store.ErrConflict) && ifRev == 0 && attempt < 1000 {
			continue
		}
		if err != nil {
			return err
		}
		s.cache.put(bin, tmpl)
		return s.respondBin(c, http.StatusOK, bin, tmpl)
	}
}

// deleteBin answers DELETE /api/v1/bins/{sid}.
func (s *Server) deleteBin(c echo.Context) error {
	sid := c.Param("sid")
	if !store.IsBinSID(sid) {
		return errNotFound
	}
	ifRev, err := ifMatch(c)
	if err != nil {
		return err
	}
	start := time.Now()
	err = s.db.DeleteBin(accountOf(c).SID, sid, ifRev)
	s.metrics.observeStore(opWriteBin, start)
	if err != nil {
		return err
	}
	s.cache.remove(sid)
	return c.NoContent(http.StatusNoContent)
}

// usage is the answer of GET /api/v1/bins/{sid}/usage.
type usage struct {
	SID              string     `json:"sid"`
	NumRequests      int64      `json:"num_requests"`
	DateLastAccessed *time.Time `json:"date_last_accessed"`
}

// fetchUsage answers GET /api/v1/bins/{sid}/usage.
func (s *Server) fetchUsage(c echo.Context) error {
	bin, err := s.readBin(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, usage{SID: bin.SID, NumRequests: bin.NumRequests, DateLastAccessed: optionalTime(bin.DateLastAccessed)})
}

// event is an entry of a bin's event log as the API shows it.
type event struct {
	Date     time.Time `json:"date"`
	Severity string    `json:"severity"`
	Code     string    `json:"code"`
	Message  string    `json:"message"`
	Slot     string    `json:"slot,omitempty"`
	Line     int       `json:"line,omitempty"`
	Column   int       `json:"column,omitempty"`
}

type eventList struct {
	Events []event `json:"events"`
}

// maxEvents bounds GET /api/v1/bins/{sid}/events?limit=.
const maxEvents = 1000

// listEvents answers GET /api/v1/bins/{sid}/events, newest first.
func (s *Server) listEvents(c echo.Context) error {
	sid := c.Param("sid")
	if !store.IsBinSID(sid) {
		return errNotFound
	}
	limit := 0
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxEvents {
			return errInvalidParameter(fmt.Sprintf("limit must be a number from 1 to %d.", maxEvents))
		}
		limit = n
	}
	start := time.Now()
	events, err := s.db.Events(accountOf(c).SID, sid, limit)
	s.metrics.observeStore(opReadBin, start)
	if err != nil {
		return err
	}
	out := eventList{Events: make([]event, 0, len(events))}
	for _, e := range events {
		out.Events = append(out.Events, event{
			Date: e.Time.UTC(), Severity: e.Severity, Code: e.Code, Message: e.Message,
			Slot: e.Slot, Line: e.Line, Column: e.Column,
		})
	}
	return c.JSON(http.StatusOK, out)
}

// readBin reads the bin named by the path for the authenticated account.
func (s *Server) readBin(c echo.Context) (store.Bin, error) {
	sid := c.Param("sid")
	if !store.IsBinSID(sid) {
		return store.Bin{}, errNotFound
	}
	start := time.Now()
	bin, err := s.db.Bin(accountOf(c).SID, sid)
	s.metrics.observeStore(opReadBin, start)
	return bin, err
}

// warnings returns the compile-time warnings of a bin's template. A
// template that no longer compiles (saved under an older engine) shows its
// diagnostics instead.
func (s *Server) warnings(b store.Bin) engine.Diagnostics {
	e, err := s.cache.peek(b)
	if err != nil {
		var compErr *engine.CompileError
		if errors.As(err, &compErr) {
			return compErr.Diagnostics
		}
		return nil
	}
	return e.tmpl.Warnings()
}

func (s *Server) respondBin(c echo.Context, status int, b store.Bin, t *engine.Template) error {
	setETag(c, b.Revision)
	return c.JSON(status, s.binResource(c, b, t.Warnings()))
}

func (s *Server) binResource(c echo.Context, b store.Bin, warnings engine.Diagnostics) binResource {
	if warnings == nil {
		warnings = engine.Diagnostics{}
	}
	self := "/api/v1/bins/" + b.SID
	return binResource{
		SID:              b.SID,
		AccountSID:       b.AccountSID,
		FriendlyName:     b.FriendlyName,
		Template:         b.Template,
		URL:              s.baseURL(c) + "/twiml/" + b.SID,
		Revision:         b.Revision,
		RenderPolicy:     b.RenderPolicy,
		DateCreated:      b.DateCreated.UTC(),
		DateUpdated:      b.DateUpdated.UTC(),
		DateLastAccessed: optionalTime(b.DateLastAccessed),
		NumRequests:      b.NumRequests,
		Warnings:         warnings,
		Links: map[string]string{
			"self":      self,
			"revisions": self + "/revisions",
			"events":    self + "/events",
			"usage":     self + "/usage",
			"preview":   self + "/preview",
		},
	}
}

func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// baseURL is the public base URL: Config.PublicURL, else the request's
// scheme and host.
func (s *Server) baseURL(c echo.Context) string {
	if s.base != "" {
		return s.base
	}
	return c.Scheme() + "://" + c.Request().Host
}

// setETag sets the ETag of a bin at a revision: the revision, quoted.
func setETag(c echo.Context, revision int) {
	c.Response().Header().Set("ETag", `"`+strconv.Itoa(revision)+`"`)
}

// ifMatch reads If-Match: the revision it names, or 0 when it is absent or
// "*" (any revision).
func ifMatch(c echo.Context) (int, error) {
	v := strings.TrimSpace(c.Request().Header.Get("If-Match"))
	if v == "" || v == "*" {
		return 0, nil
	}
	v = strings.TrimPrefix(v, "W/")
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	rev, err := strconv.Atoi(v)
	if err != nil || rev < 1 {
		return 0, newError(http.StatusBadRequest, codeBadIfMatch,
			`If-Match must be the ETag of a bin, such as "3".`)
	}
	return rev, nil
}
