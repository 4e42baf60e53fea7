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
	// StoreUnreachable is set by /readyz while a store shared over the
	// network (etcd) cannot be reached: it says since when. Bins held in
	// memory are served, writes answer 503.
	StoreUnreachable string `json:"store_unreachable,omitempty"`
}

// reachability is what a store shared over the network tells of its link
// to the shared data: nil while it is reached, else what is wrong and
// since when.
type reachability interface {
	Reachable() error
}

// healthz answers GET /healthz: 200 while the process serves requests.
func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, health{Status: "ok"})
}

// readyz answers GET /readyz: 200 when the store answers a read, 503 when
// it does not or when the server drains before shutting down. A read-only
// database is ready, since bins are served, and says so; so is a node that
// cannot reach its etcd cluster, which serves the bins it holds: taking
// every node out of a load balancer while etcd is down would drop the
// calls that memory can still answer.
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
	h := health{Status: "ready", ReadOnly: s.db.ReadOnly()}
	if r, ok := s.db.(reachability); ok {
		if err := r.Reachable(); err != nil {
			h.StoreUnreachable = err.Error()
		}
	}
	return c.JSON(http.StatusOK, h)
}
