package api

import (
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"
)

// backup answers GET /api/v1/backup with a consistent copy of the whole
// database, taken while the server keeps serving. The copy holds every
// account's bins and credentials, so it is given only to an account listed
// in Config.BackupAccounts or, when that list is empty, to the account of a
// database that holds only that account. Usage counters are flushed first,
// so that the copy has them.
func (s *Server) backup(c echo.Context) error {
	ok, err := s.mayBackup(accountOf(c).SID)
	if err != nil {
		return err
	}
	if !ok {
		return newError(http.StatusForbidden, codeBackupNotAllowed,
			"This account may not read a backup: a backup holds every account's data.")
	}
	start := time.Now()
	if err := s.db.Flush(); err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, echo.MIMEOctetStream)
	h.Set(echo.HeaderContentDisposition,
		`attachment; filename="twimlbin-`+time.Now().UTC().Format("20060102T150405Z")+`.db"`)
	h.Set(echo.HeaderCacheControl, "no-store")
	c.Response().WriteHeader(http.StatusOK)
	n, err := s.db.Backup(c.Response())
	s.metrics.observeStore(opBackup, start)
	if err != nil {
		// The status is sent; the client sees a short body.
		s.logger.LogAttrs(c.Request().Context(), slog.LevelError, "backup failed",
			slog.String("request_id", requestID(c)), slog.Int64("bytes", n), slog.String("error", err.Error()))
		return nil
	}
	s.logger.LogAttrs(c.Request().Context(), slog.LevelInfo, "backup",
		slog.String("request_id", requestID(c)), slog.String("account_sid", accountOf(c).SID), slog.Int64("bytes", n))
	return nil
}

func (s *Server) mayBackup(sid string) (bool, error) {
	if len(s.cfg.BackupAccounts) > 0 {
		return slices.Contains(s.cfg.BackupAccounts, sid), nil
	}
	start := time.Now()
	n, err := s.db.CountAccounts()
	s.metrics.observeStore(opReadAccount, start)
	return n == 1, err
}
