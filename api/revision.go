package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/twimlbin/twimlbin/engine"
	"github.com/twimlbin/twimlbin/store"
)

// revisionResource is a saved revision of a bin. Lists leave the template
// out; fetch it by revision.
type revisionResource struct {
	BinSID       string    `json:"bin_sid"`
	Revision     int       `json:"revision"`
	FriendlyName string    `json:"friendly_name"`
	RenderPolicy string    `json:"render_policy"`
	Template     *string   `json:"template,omitempty"`
	Size         int       `json:"size"`
	DateCreated  time.Time `json:"date_created"`
	URI          string    `json:"uri"`
}

type revisionList struct {
	Revisions []revisionResource `json:"revisions"`
}

func newRevisionResource(sid string, r store.Revision, withTemplate bool) revisionResource {
	out := revisionResource{
		BinSID:       sid,
		Revision:     r.Revision,
		FriendlyName: r.FriendlyName,
		RenderPolicy: r.RenderPolicy,
		Size:         r.Size,
		DateCreated:  r.DateCreated.UTC(),
		URI:          "/api/v1/bins/" + sid + "/revisions/" + strconv.Itoa(r.Revision),
	}
	if withTemplate {
		out.Template = &r.Template
	}
	return out
}

// listRevisions answers GET /api/v1/bins/{sid}/revisions, newest first.
func (s *Server) listRevisions(c echo.Context) error {
	sid := c.Param("sid")
	if !store.IsBinSID(sid) {
		return errNotFound
	}
	start := time.Now()
	revs, err := s.db.Revisions(accountOf(c).SID, sid)
	s.metrics.observeStore(opReadBin, start)
	if err != nil {
		return err
	}
	out := revisionList{Revisions: make([]revisionResource, 0, len(revs))}
	for _, r := range revs {
		out.Revisions = append(out.Revisions, newRevisionResource(sid, r, false))
	}
	return c.JSON(http.StatusOK, out)
}

// fetchRevision answers GET /api/v1/bins/{sid}/revisions/{rev}.
func (s *Server) fetchRevision(c echo.Context) error {
	sid, rev, ok := revisionPath(c)
	if !ok {
		return errNotFound
	}
	start := time.Now()
	r, err := s.db.Revision(accountOf(c).SID, sid, rev)
	s.metrics.observeStore(opReadBin, start)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newRevisionResource(sid, r, true))
}

// restoreRevision answers POST /api/v1/bins/{sid}/revisions/{rev}/restore:
// it saves the revision's content as a new revision and answers with the
// bin. If-Match applies to the bin's current revision, as for an update.
func (s *Server) restoreRevision(c echo.Context) error {
	sid, rev, ok := revisionPath(c)
	if !ok {
		return errNotFound
	}
	ifRev, err := ifMatch(c)
	if err != nil {
		return err
	}
	acct := accountOf(c).SID
	start := time.Now()
	old, err := s.db.Revision(acct, sid, rev)
	s.metrics.observeStore(opReadBin, start)
	if err != nil {
		return err
	}
	// A revision saved under older rules or an older engine may no longer
	// be valid: refuse to make it current rather than serve a bin that
	// fails. Its name is restored as it was.
	in := store.BinInput{FriendlyName: old.FriendlyName, Template: old.Template, RenderPolicy: old.RenderPolicy}
	if err := store.CheckBinInput(in, old.FriendlyName); errors.Is(err, store.ErrBadRenderPolicy) {
		return errInvalidParameter("The revision's render_policy is no longer valid.")
	} else if err != nil {
		return err
	}
	tmpl, err := engine.Compile(old.Template)
	if err != nil {
		return err
	}
	start = time.Now()
	bin, err := s.db.RestoreRevision(acct, sid, rev, ifRev)
	s.metrics.observeStore(opWriteBin, start)
	if err != nil {
		return err
	}
	s.cache.put(bin, tmpl)
	return s.respondBin(c, http.StatusOK, bin, tmpl)
}

// revisionPath reads {sid} and {rev}.
func revisionPath(c echo.Context) (string, int, bool) {
	sid := c.Param("sid")
	rev, err := strconv.Atoi(c.Param("rev"))
	if !store.IsBinSID(sid) || err != nil || rev < 1 {
		return "", 0, false
	}
	return sid, rev, true
}
