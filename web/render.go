package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/twimlbin/twimlbin/engine"
	"github.com/twimlbin/twimlbin/store"
)

//go:embed templates/*.html
var templateFiles embed.FS

// base is what every page's layout needs. Page data types embed it.
type base struct {
	Title      string
	Account    store.Account // zero when signed out
	CSRF       string
	OpenSignup bool
	Notice     string // a line shown above the content, such as "Saved."
	ReadOnly   bool   // the database is open read-only: nothing can be saved
}

func (b *base) layout() *base { return b }

// pageData is the data of a page: a struct embedding base.
type pageData interface{ layout() *base }

// parsePages parses every page with the layout and the shared partials,
// once: a page is templates/NAME.html, rendered by name.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := make(map[string]*template.Template)
	for _, name := range names {
		page := strings.TrimSuffix(path.Base(name), ".html")
		if page == "layout" || page == "partials" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFiles,
			"templates/layout.html", "templates/partials.html", name)
		if err != nil {
			return nil, fmt.Errorf("web: parse %s: %w", name, err)
		}
		pages[page] = t
	}
	return pages, nil
}

// funcs are the functions the templates use.
var funcs = template.FuncMap{
	// date formats a time for people, in UTC; "never" for the zero time.
	"date": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	// iso formats a time for a <time datetime> attribute.
	"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	// bytes formats a size.
	"bytes": func(n int) string {
		if n == 1 {
			return "1 byte"
		}
		return fmt.Sprintf("%d bytes", n)
	},
	// summary counts a list of diagnostics for people.
	"summary": diagSummary,
	"plural":  plural,
	// add1 is n+1: the next revision, a row's number from its index.
	"add1": func(n int) int { return n + 1 },
	// lines splits a text into its lines, for a listing.
	"lines": func(s string) []string { return strings.Split(s, "\n") },
}

// render writes a page with a status. It executes the template into a
// buffer first, so that a failure writes a clean error instead of half a
// page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, page string, data pageData) {
	b := data.layout()
	sess := sessionOf(r)
	b.CSRF = sess.CSRF
	b.Account = accountOf(r)
	b.OpenSignup = h.cfg.OpenSignup
	b.ReadOnly = h.db.ReadOnly()
	var buf bytes.Buffer
	t, ok := h.pages[page]
	if !ok {
		h.logger.Error("web: no such page template", slog.String("page", page))
		http.Error(w, "Internal server error", http.StatusInternalServerError)
		return
	}
	if err := t.Execute(&buf, data); err != nil {
		h.logger.LogAttrs(r.Context(), slog.LevelError, "web: rendering a page",
			slog.String("page", page), slog.String("error", err.Error()))
		http.Error(w, "Internal server error", http.StatusInternalServerError)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// redirect answers a successful POST with a redirect to a page (303, so
// that reloading the page does not post again).
func redirect(w http.ResponseWriter, r *http.Request, to string) error {
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// diagSummary says how many errors and warnings a list holds. app.js
// writes the same sentences.
func diagSummary(ds engine.Diagnostics) string {
	errs := len(ds.Errors())
	warns := len(ds) - errs
	switch {
	case errs > 0:
		return fmt.Sprintf("%s, %s. A template with errors is not saved.", plural(errs, "error"), plural(warns, "warning"))
	case warns > 0:
		return plural(warns, "warning") + ". The template can be saved; Twilio may not do what you expect."
	}
	return "No problems found."
}

// plural says "1 error" or "2 errors".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
