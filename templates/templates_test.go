package templates

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/twimlbin/twimlbin/engine"
)

var update = flag.Bool("update", false, "rewrite each entry's golden.xml with what its template renders")

// TestEntries compiles every entry, renders its example parameters with the
// strict policy and compares the result with golden.xml.
func TestEntries(t *testing.T) {
	entries := All()
	if len(entries) == 0 {
		t.Fatal("the gallery is empty")
	}
	for _, e := range entries {
		t.Run(e.Slug, func(t *testing.T) {
			tmpl, err := engine.Compile(e.Template)
			if err != nil {
				var cerr *engine.CompileError
				if errors.As(err, &cerr) {
					for _, d := range cerr.Diagnostics {
						t.Errorf("template.xml:%s", d)
					}
				}
				t.Fatalf("Compile: %v", err)
			}
			for _, d := range tmpl.Warnings() {
				t.Errorf("template.xml:%s", d)
			}
			if got := tmpl.Context(); got != e.Kind {
				t.Errorf("the engine reads the template as %s TwiML; gallery.json says kind %q", got, e.Kind)
			}

			out, diags, err := tmpl.Render(e.Params, engine.Strict)
			for _, d := range diags {
				t.Errorf("render: %s", d)
			}
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			checkTwiML(t, out)

			if *update {
				if err := os.WriteFile(filepath.Join(e.Slug, "golden.xml"), out, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if e.Golden == "" {
				t.Fatalf("%s/golden.xml is missing; run go test ./templates -update", e.Slug)
			}
			if got, want := string(out), e.Golden; got != want {
				t.Errorf("rendered TwiML differs from golden.xml (run with -update to accept it)\ngot:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestEntriesWithoutParams renders every entry for a request that carries
// none of the parameters it reads, with the default lenient policy: a bin
// must still answer with valid TwiML.
func TestEntriesWithoutParams(t *testing.T) {
	for _, e := range All() {
		t.Run(e.Slug, func(t *testing.T) {
			tmpl, err := engine.Compile(e.Template)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			out, _, err := tmpl.Render(nil, engine.Lenient)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			checkTwiML(t, out)
		})
	}
}

// checkTwiML fails the test unless out is one well-formed XML document
// whose root is <Response>.
func checkTwiML(t *testing.T, out []byte) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(out))
	depth, roots := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("output is not well-formed XML: %v\n%s", err, out)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
				if tok.Name.Local != "Response" {
					t.Errorf("root element is <%s>, want <Response>", tok.Name.Local)
				}
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(tok)) > 0 {
				t.Errorf("text outside the root element: %q", tok)
			}
		}
	}
	if roots != 1 {
		t.Errorf("output has %d root elements, want 1\n%s", roots, out)
	}
}

// TestAllAndGetAgree checks that Get finds every entry All lists, with the
// same content, and that slugs are unique and URL-safe.
func TestAllAndGetAgree(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range All() {
		if seen[e.Slug] {
			t.Errorf("slug %q appears twice", e.Slug)
		}
		seen[e.Slug] = true
		if !slugPattern.MatchString(e.Slug) {
			t.Errorf("slug %q is not lower-case words joined by hyphens", e.Slug)
		}
		got, ok := Get(e.Slug)
		if !ok {
			t.Errorf("Get(%q) found nothing", e.Slug)
			continue
		}
		if got.Slug != e.Slug || got.Title != e.Title || got.Description != e.Description ||
			got.Kind != e.Kind || got.Template != e.Template || got.Golden != e.Golden ||
			!equalParams(got.Params, e.Params) {
			t.Errorf("Get(%q) and All disagree", e.Slug)
		}
	}
	if _, ok := Get("no-such-bin"); ok {
		t.Error(`Get("no-such-bin") found an entry`)
	}
}

// TestEntriesAreCopies checks that changing a returned entry does not change
// the gallery.
func TestEntriesAreCopies(t *testing.T) {
	e := All()[0]
	for name := range e.Params {
		e.Params[name][0] = "changed"
	}
	e.Params["added"] = []string{"x"}
	got, _ := Get(e.Slug)
	for name, values := range got.Params {
		if values[0] == "changed" {
			t.Errorf("changing Params[%q] of an entry from All changed the gallery", name)
		}
	}
	if _, ok := got.Params["added"]; ok {
		t.Error("adding to the Params of an entry from All changed the gallery")
	}
}

func equalParams(a, b map[string][]string) bool {
	return maps.EqualFunc(a, b, slices.Equal[[]string])
}

// TestNoOrphans checks, on disk, that every directory holding a
// template.xml is listed in gallery.json. (The embedded copy cannot see
// directories that embed skips, such as those starting with '_' or '.'.)
func TestNoOrphans(t *testing.T) {
	dirs, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(d.Name(), "template.xml")); err != nil {
			continue
		}
		if _, ok := Get(d.Name()); !ok {
			t.Errorf("%s/template.xml is not listed in gallery.json", d.Name())
		}
	}
}

// TestLoadErrors checks that load refuses a broken gallery, which is what
// makes a broken embedded file fail at initialisation.
func TestLoadErrors(t *testing.T) {
	good := func() fstest.MapFS {
		return fstest.MapFS{
			"gallery.json":       {Data: []byte(`[{"slug":"a-bin","title":"A","description":"D","kind":"voice"}]`)},
			"a-bin/template.xml": {Data: []byte("<Response/>")},
			"a-bin/params.json":  {Data: []byte(`{"From":["+14155550142"]}`)},
			"a-bin/golden.xml":   {Data: []byte("<Response/>")},
		}
	}
	if _, err := load(good()); err != nil {
		t.Fatalf("load of a good gallery: %v", err)
	}
	tests := []struct {
		name   string
		change func(fstest.MapFS)
		want   string
	}{
		{"no gallery", func(f fstest.MapFS) { delete(f, "gallery.json") }, "gallery.json"},
		{"bad gallery JSON", func(f fstest.MapFS) { f["gallery.json"].Data = []byte("[{") }, "gallery.json"},
		{"bad slug", func(f fstest.MapFS) {
			f["gallery.json"].Data = []byte(`[{"slug":"A Bin","title":"A","description":"D","kind":"voice"}]`)
		}, "slug"},
		{"unknown kind", func(f fstest.MapFS) {
			f["gallery.json"].Data = []byte(`[{"slug":"a-bin","title":"A","description":"D","kind":"fax"}]`)
		}, "kind"},
		{"no title", func(f fstest.MapFS) {
			f["gallery.json"].Data = []byte(`[{"slug":"a-bin","description":"D","kind":"voice"}]`)
		}, "title"},
		{"duplicate slug", func(f fstest.MapFS) {
			f["gallery.json"].Data = []byte(`[{"slug":"a-bin","title":"A","description":"D","kind":"voice"},` +
				`{"slug":"a-bin","title":"B","description":"D","kind":"voice"}]`)
		}, "twice"},
		{"no template", func(f fstest.MapFS) { delete(f, "a-bin/template.xml") }, "template.xml"},
		{"no params", func(f fstest.MapFS) { delete(f, "a-bin/params.json") }, "params.json"},
		{"params not a map of lists", func(f fstest.MapFS) { f["a-bin/params.json"].Data = []byte(`{"From":"+1"}`) }, "params.json"},
		{"params null", func(f fstest.MapFS) { f["a-bin/params.json"].Data = []byte(`null`) }, "params.json"},
		{"orphan", func(f fstest.MapFS) { f["b-bin/template.xml"] = &fstest.MapFile{Data: []byte("<Response/>")} }, "b-bin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := good()
			tt.change(fsys)
			_, err := load(fsys)
			if err == nil {
				t.Fatal("load succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}

	t.Run("missing golden", func(t *testing.T) {
		fsys := good()
		delete(fsys, "a-bin/golden.xml")
		c, err := load(fsys)
		if err != nil {
			t.Fatalf("load: %v", err)
		}
		if c.entries[0].Golden != "" {
			t.Errorf("Golden = %q, want empty", c.entries[0].Golden)
		}
	})
}

func TestRequest(t *testing.T) {
	e, ok := Get("client-contextual-call")
	if !ok {
		t.Fatal("no client-contextual-call")
	}
	query, form := e.Request()
	if got := slices.Sorted(maps.Keys(query)); !slices.Equal(got, []string{"customerID", "displayName", "selectedProductID"}) {
		t.Errorf("query parameters %v, want the backend's three", got)
	}
	if len(form) != len(e.Params)-3 || form.Get("From") != "+15017122661" || form.Get("SipHeader_X-CustomerID") != "CRM-0042917" {
		t.Errorf("form parameters %v, want Twilio's", form)
	}
}
