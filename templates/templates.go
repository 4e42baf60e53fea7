// Package templates is the gallery of ready-made bins: TwiML templates for
// the common ways of passing context through a call or a message, each with
// example request parameters and the TwiML it renders from them.
//
// Every entry is a directory named for its slug holding template.xml (the
// bin), params.json (the parameters of an example request, as a JSON object
// of name to list of values, like url.Values) and golden.xml (what the bin
// renders from those parameters with the strict policy). gallery.json lists
// the entries, in the order the gallery shows them, with their title,
// description and kind. The files are embedded in the binary and read once,
// when the package is initialised; the tests check that every entry
// compiles without warnings and renders exactly its golden file.
//
// The gallery is read-only: All and Get return copies, so callers may change
// what they get without affecting other callers.
package templates

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"regexp"
	"slices"
)

// files holds gallery.json and every entry's files. golden.xml is matched by
// the */*.xml pattern and may be missing from a new entry until its golden
// file is generated.
//
//go:embed gallery.json */*.xml */*.json
var files embed.FS

// Kinds of bin, as in Entry.Kind.
const (
	KindVoice     = "voice"
	KindMessaging = "messaging"
)

// Request splits the example request's parameters as they reach a bin
// URL: Twilio's own, whose names start with a capital letter (From,
// CallSid, SipHeader_X-…), in the form body it posts; the backend's, in
// the query string of the URL it gave Twilio.
func (e Entry) Request() (query, form url.Values) {
	query, form = url.Values{}, url.Values{}
	for name, values := range e.Params {
		if name != "" && name[0] >= 'A' && name[0] <= 'Z' {
			form[name] = values
		} else {
			query[name] = values
		}
	}
	return query, form
}

// Entry is one bin of the gallery.
type Entry struct {
	// Slug names the entry in URLs and is the name of its directory.
	Slug string
	// Title is a short name for the gallery's list.
	Title string
	// Description says in one paragraph what the bin does, which parameters
	// it reads and how Twilio or the backend passes them.
	Description string
	// Kind is KindVoice or KindMessaging: the kind of Twilio webhook the bin
	// answers.
	Kind string
	// Template is the TwiML template source, as engine.Compile takes it.
	Template string
	// Params are the parameters of an example request, by name, as they
	// arrive in a query string or form (a name may repeat).
	Params map[string][]string
	// Golden is the TwiML the template renders from Params with the strict
	// policy; empty only while an entry's golden.xml has not been generated.
	Golden string
}

// clone returns a copy of e that shares no map or slice with it.
func (e Entry) clone() Entry {
	params := make(map[string][]string, len(e.Params))
	for name, values := range e.Params {
		params[name] = slices.Clone(values)
	}
	e.Params = params
	return e
}

// gallery is read from the embedded files at initialisation and never
// changed afterwards.
var gallery = mustLoad(files)

// All returns every entry of the gallery in the gallery's order.
func All() []Entry {
	out := make([]Entry, len(gallery.entries))
	for i, e := range gallery.entries {
		out[i] = e.clone()
	}
	return out
}

// Get returns the entry named slug and whether there is one.
func Get(slug string) (Entry, bool) {
	i, ok := gallery.bySlug[slug]
	if !ok {
		return Entry{}, false
	}
	return gallery.entries[i].clone(), true
}

// catalog is the loaded gallery.
type catalog struct {
	entries []Entry
	bySlug  map[string]int
}

// meta is one element of gallery.json.
type meta struct {
	Slug        string `json:"slug"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Kind        string `json:"kind"`
}

// slugPattern is what a slug may look like: lower-case words of letters and
// digits joined by single hyphens, safe in a URL path as it is.
var slugPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

func mustLoad(fsys fs.FS) catalog {
	c, err := load(fsys)
	if err != nil {
		// The files are embedded at build time: a broken one is a bug in
		// the build, which the package's tests report first.
		panic("templates: embedded gallery: " + err.Error())
	}
	return c
}

// load reads the gallery from fsys. It fails when gallery.json or a file of
// an entry cannot be read or parsed, when an entry's metadata is
// incomplete, when two entries share a slug, and when a directory holds a
// template.xml that gallery.json does not list.
func load(fsys fs.FS) (catalog, error) {
	data, err := fs.ReadFile(fsys, "gallery.json")
	if err != nil {
		return catalog{}, err
	}
	var metas []meta
	if err := json.Unmarshal(data, &metas); err != nil {
		return catalog{}, fmt.Errorf("gallery.json: %w", err)
	}
	c := catalog{bySlug: make(map[string]int, len(metas))}
	for _, m := range metas {
		if err := m.check(); err != nil {
			return catalog{}, fmt.Errorf("gallery.json: %w", err)
		}
		if _, dup := c.bySlug[m.Slug]; dup {
			return catalog{}, fmt.Errorf("gallery.json: slug %q is listed twice", m.Slug)
		}
		e, err := loadEntry(fsys, m)
		if err != nil {
			return catalog{}, fmt.Errorf("%s: %w", m.Slug, err)
		}
		c.bySlug[m.Slug] = len(c.entries)
		c.entries = append(c.entries, e)
	}
	found, err := fs.Glob(fsys, "*/template.xml")
	if err != nil {
		return catalog{}, err
	}
	for _, p := range found {
		if slug := path.Dir(p); !slices.ContainsFunc(metas, func(m meta) bool { return m.Slug == slug }) {
			return catalog{}, fmt.Errorf("%s: the directory holds a template.xml but gallery.json does not list it", slug)
		}
	}
	return c, nil
}

// check reports the first missing or malformed field of m.
func (m meta) check() error {
	switch {
	case !slugPattern.MatchString(m.Slug):
		return fmt.Errorf("slug %q: use lower-case letters, digits and single hyphens", m.Slug)
	case m.Title == "":
		return fmt.Errorf("%s: title is empty", m.Slug)
	case m.Description == "":
		return fmt.Errorf("%s: description is empty", m.Slug)
	case m.Kind != KindVoice && m.Kind != KindMessaging:
		return fmt.Errorf("%s: kind %q: use %q or %q", m.Slug, m.Kind, KindVoice, KindMessaging)
	}
	return nil
}

// loadEntry reads the files of the entry m describes. A missing golden.xml
// leaves Golden empty.
func loadEntry(fsys fs.FS, m meta) (Entry, error) {
	e := Entry{Slug: m.Slug, Title: m.Title, Description: m.Description, Kind: m.Kind}
	tmpl, err := fs.ReadFile(fsys, path.Join(m.Slug, "template.xml"))
	if err != nil {
		return Entry{}, err
	}
	e.Template = string(tmpl)
	data, err := fs.ReadFile(fsys, path.Join(m.Slug, "params.json"))
	if err != nil {
		return Entry{}, err
	}
	if err := json.Unmarshal(data, &e.Params); err != nil {
		return Entry{}, fmt.Errorf("params.json: %w", err)
	}
	if e.Params == nil {
		return Entry{}, errors.New("params.json: want an object of name to list of values")
	}
	golden, err := fs.ReadFile(fsys, path.Join(m.Slug, "golden.xml"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return Entry{}, err
	default:
		e.Golden = string(golden)
	}
	return e, nil
}
