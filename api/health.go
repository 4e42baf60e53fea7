package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

type health struct {
	Status string `json:"status"`
	// ReadOnly is set by /readyz while the database is open read-only:
	// bins are served, nothing can be saved.
	ReadOnly bool `json:"read_only,omitempty"`
}

// healthz answers GET /healthz: 200 while the process serves requests.
func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, health{Status: "ok"})
}

// readyz answers GET /readyz: 200 when the store answers a read, 503 when
// it does not or when the server drains before shutting down. A read-only
// database is ready, since bins are served, and says so.
func (s *Server) readyz(c echo.Context) error {
	if s.draining.Load() {
		return newError(http.StatusServiceUnavailable, codeNotReady, "The server is shutting down.")
	}
	start := time.Now()
	_, err := s.db.CountAccounts()
	s.metrics.observeStore(opReadAccount, start)
	if err != nil {
		e := newError(http.StatusServiceUnavailable, codeNotReady, "The database is not available.")
		e.cause = err
		return e
	}
	return c.JSON(http.StatusOK, health{Status: "ready", ReadOnly: s.db.ReadOnly()})
}
