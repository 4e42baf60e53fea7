// Package engine compiles, validates and renders TwiML templates: TwiML
// documents with Mustache tags, filled in from a request's parameters.
//
// A template is untrusted input. Compile reads it without touching files or
// the network, refuses every construct that could let a request value change
// the document's structure (unescaped tags, partials, delimiter changes, tags
// inside markup) and every section boundary that would leave some branch
// ill-formed, and checks it against the TwiML vocabulary and Twilio's limits.
// What depends on the request is checked again at render time, slot by slot,
// following a Policy.
//
// The package has no HTTP and no storage in it.
package engine

import (
	"fmt"
	"sort"
	"strings"
)

// Policy says what Render does when a request value breaks the rule of the
// slot it lands in.
type Policy int

const (
	// Lenient repairs the output and reports a warning: a value that is too
	// long is cut at a character boundary, an attribute whose value has the
	// wrong type is left out, an element that would be one too many or whose
	// text cannot be repaired (a bad SIP URI) is dropped. The response is
	// always valid TwiML. This is the default.
	Lenient Policy = iota
	// Strict fails the render with a *RenderError, so that the HTTP layer can
	// answer with an error status and Twilio's fallback URL takes over.
	Strict
)

// String returns "lenient" or "strict".
func (p Policy) String() string {
	if p == Strict {
		return "strict"
	}
	return "lenient"
}

// ParsePolicy reads "strict" or "lenient"; the empty string means Lenient.
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "", "lenient":
		return Lenient, nil
	case "strict":
		return Strict, nil
	}
	return Lenient, fmt.Errorf("engine: unknown render policy %q: use \"strict\" or \"lenient\"", s)
}

// Template is a compiled template. It is immutable and safe for concurrent
// use by multiple goroutines.
type Template struct {
	prog      []op
	warnings  Diagnostics
	context   string
	variables []string
	counters  int // render-time counters the program uses
	src       *sourceMap
}

// Compile checks a template and prepares it for rendering. When the template
// has errors, it returns a *CompileError holding every diagnostic.
// Warnings of a template that compiles are available from Warnings.
func Compile(src string) (*Template, error) {
	t, diags := compile(src)
	if diags.HasErrors() {
		return nil, &CompileError{Diagnostics: diags}
	}
	t.warnings = diags
	return t, nil
}

// Check returns every diagnostic of a template, errors and warnings, in
// source order. It is what `twimlbin lint` reports.
func Check(src string) Diagnostics {
	_, diags := compile(src)
	return diags
}

// Warnings returns the warnings found when the template was compiled.
func (t *Template) Warnings() Diagnostics { return t.warnings }

// Context returns the kind of document the template is: "voice",
// "messaging" or "fax", chosen from the verbs it uses.
func (t *Template) Context() string { return t.context }

// Variables returns the names of the parameters the template reads,
// sorted. AppendRenderSlots takes their values in this order.
func (t *Template) Variables() []string { return t.variables }

// compile runs every stage and returns the template when no stage found an
// error. Stages stop at the first one that reports an error: what a later
// stage would say about a broken input is noise.
func compile(src string) (*Template, Diagnostics) {
	sm := newSourceMap(src)
	d := &diagList{sm: sm}
	if len(src) > MaxTemplateSize {
		d.add(SeverityError, CodeTemplateTooLarge, 0, fmt.Sprintf(
			"the template is %d bytes; the limit is %d bytes (Twilio accepts at most 64 kB of TwiML)", len(src), MaxTemplateSize))
		return nil, d.list
	}
	if !checkChars(src, d) {
		return nil, d.list
	}
	tags := strings.Count(src, "{{")
	sc := &scanner{src: src, diags: d, toks: make([]mtoken, 0, 2*tags+1)}
	sc.scan()
	if d.list.HasErrors() {
		return nil, d.list
	}
	nodes := buildTree(sc.toks, d)
	if d.list.HasErrors() {
		return nil, d.list
	}
	if err := libraryAccepts(src); err != nil {
		// The scanner mirrors the library; a disagreement is reported rather
		// than trusted either way.
		d.add(SeverityError, CodeSectionMismatch, 0, "the Mustache parser refuses this template: "+err.Error())
		return nil, d.list
	}
	b := newBuilder(d)
	doc := b.build(nodes)
	if d.list.HasErrors() {
		return nil, d.list
	}
	v := newValidator(d, loadedSchema.chooseContext(b.tags))
	v.validate(b.root)
	v.instructions(b.instructions)
	sortDiagnostics(d.list)
	if d.list.HasErrors() {
		return nil, d.list
	}
	g := &generator{}
	g.nodes(doc, false)
	t := &Template{
		prog:      g.finish(),
		context:   v.ctx.name,
		variables: collectVariables(nodes),
		counters:  v.counters,
		src:       sm,
	}
	bindSlots(t.prog, t.variables)
	return t, d.list
}

func sortDiagnostics(ds Diagnostics) {
	sort.SliceStable(ds, func(i, j int) bool {
		if ds[i].Line != ds[j].Line {
			return ds[i].Line < ds[j].Line
		}
		return ds[i].Column < ds[j].Column
	})
}

// collectVariables lists the parameter names the Mustache tree reads.
func collectVariables(nodes []*mnode) []string {
	seen := map[string]bool{}
	var walk func([]*mnode)
	walk = func(ns []*mnode) {
		for _, n := range ns {
			switch n.tok.kind {
			case mtVar, mtOpen:
				if n.tok.name != "." && n.tok.name != builtinE164 && !strings.HasPrefix(n.tok.name, "\x00") {
					seen[n.tok.name] = true
				}
				walk(n.children)
			}
		}
	}
	walk(nodes)
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
