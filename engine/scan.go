package engine

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/cbroglie/mustache"
)

// maxSectionDepth bounds how deeply sections nest. Real bins use one or two
// levels; the bound keeps compile and render recursion shallow.
const maxSectionDepth = 8

// MaxTemplateSize is the largest template source Compile accepts, in bytes.
// It is twice Twilio's 64 kB response limit, leaving room for tags that the
// output does not contain. A bin holds less: store.MaxTemplateBytes.
const MaxTemplateSize = 128 << 10

// builtinE164 is the name of the built-in section that turns what it wraps
// into an E.164 number.
const builtinE164 = "e164"

// mtKind is the kind of a Mustache token.
type mtKind int

const (
	mtText mtKind = iota
	mtVar
	mtOpen
	mtClose
)

// mtoken is one piece of a template: text to emit, a variable, or a section
// boundary. Offsets index the template source.
type mtoken struct {
	kind     mtKind
	text     string // mtText: the text as it is emitted, standalone lines removed
	name     string // mtVar, mtOpen, mtClose
	inverted bool   // mtOpen: {{^name}}
	off      int    // source offset of the text or of the tag's "{{"
}

// mnode is a node of the Mustache tree: a text or variable token, or a
// section with its children.
type mnode struct {
	tok      *mtoken  // in the scanner's token list
	children []*mnode // sections only
	closeOff int      // sections only: offset of the closing tag
	hasLT    bool     // sections only: some text inside contains '<'
}

// sourceMap turns byte offsets into 1-based line and column numbers.
type sourceMap struct {
	src        string
	lineStarts []int
}

func newSourceMap(src string) *sourceMap {
	starts := []int{0}
	for i := 0; i < len(src); i++ {
		if src[i] == '\n' {
			starts = append(starts, i+1)
		}
	}
	return &sourceMap{src: src, lineStarts: starts}
}

// position returns the line and the column, in characters, of offset off.
func (m *sourceMap) position(off int) (line, col int) {
	if off > len(m.src) {
		off = len(m.src)
	}
	i := sort.Search(len(m.lineStarts), func(i int) bool { return m.lineStarts[i] > off }) - 1
	return i + 1, utf8.RuneCountInString(m.src[m.lineStarts[i]:off]) + 1
}

// scanner splits a template into Mustache tokens the way
// github.com/cbroglie/mustache does, including its handling of standalone
// lines, and refuses the constructs a tenant's template may not use.
type scanner struct {
	src   string
	p     int
	toks  []mtoken
	diags *diagList
}

// isStandaloneSigil reports whether a tag starting with c removes its line
// when it stands alone on it (the library's SkipWhitespaceTagTypes).
func isStandaloneSigil(c byte) bool {
	return strings.IndexByte(mustache.SkipWhitespaceTagTypes, c) >= 0
}

// scan tokenizes the whole source. It stops at the first tag it cannot read,
// since nothing after it can be trusted to mean what it seems.
func (s *scanner) scan() {
	for s.p < len(s.src) {
		start := s.p
		rel := strings.Index(s.src[start:], "{{")
		if rel < 0 {
			s.text(start, len(s.src))
			return
		}
		tagOff := start + rel
		// Find the padding before the tag: spaces and tabs back to a line start.
		i := tagOff
		for i > start && (s.src[i-1] == ' ' || s.src[i-1] == '\t') {
			i--
		}
		mayStandalone := i == 0 || s.src[i-1] == '\n'

		closeSeq := "}}"
		if tagOff+2 < len(s.src) && s.src[tagOff+2] == '{' {
			closeSeq = "}}}"
		}
		endRel := strings.Index(s.src[tagOff+2:], closeSeq)
		if endRel < 0 {
			s.text(start, tagOff)
			s.diags.add(SeverityError, CodeUnclosedTag, tagOff,
				"this {{ is never closed with }}; close the tag, or write the braces as text another way")
			return
		}
		inner := s.src[tagOff+2 : tagOff+2+endRel]
		after := tagOff + 2 + endRel + len(closeSeq)
		if closeSeq == "}}}" {
			inner += "}"
		}
		tag := strings.TrimSpace(inner)

		standalone := false
		next := after
		if mayStandalone && tag != "" && isStandaloneSigil(tag[0]) {
			eow := after
			for eow < len(s.src) && (s.src[eow] == ' ' || s.src[eow] == '\t') {
				eow++
			}
			switch {
			case eow == len(s.src):
				standalone, next = true, eow
			case s.src[eow] == '\n':
				standalone, next = true, eow+1
			case s.src[eow] == '\r' && eow+1 < len(s.src) && s.src[eow+1] == '\n':
				standalone, next = true, eow+2
			}
		}
		if standalone {
			s.text(start, i)
		} else {
			s.text(start, tagOff)
		}
		s.p = next
		if !s.tag(tag, tagOff) {
			return
		}
	}
}

func (s *scanner) text(from, to int) {
	if from < to {
		s.toks = append(s.toks, mtoken{kind: mtText, text: s.src[from:to], off: from})
	}
}

// tag records one tag and reports whether scanning may go on.
func (s *scanner) tag(tag string, off int) bool {
	if tag == "" {
		s.diags.add(SeverityError, CodeTagName, off, "empty tag {{}}: write a parameter name between the braces, such as {{From}}")
		return true
	}
	switch tag[0] {
	case '!':
		return true
	case '{', '&':
		s.diags.add(SeverityError, CodeUnescapedTag, off, fmt.Sprintf(
			"unescaped tag %q: request values are always escaped so they cannot change the TwiML; write {{%s}} instead",
			"{{"+tag+"}}", tagName(strings.Trim(tag, "{}&"))))
		return true
	case '>':
		s.diags.add(SeverityError, CodePartial, off,
			"partials ({{> name}}) are not supported: a bin cannot include other files; paste the TwiML into this template")
		return true
	case '=':
		s.diags.add(SeverityError, CodeDelimiter, off,
			"changing delimiters ({{=<% %>=}}) is not supported: keep {{ and }} so every tag can be checked")
		return false
	case '<', '$':
		s.diags.add(SeverityError, CodeTagName, off, fmt.Sprintf(
			"%q: blocks and parents are not part of this template language; use sections {{#name}}…{{/name}}", "{{"+tag+"}}"))
		return true
	case '#', '^', '/':
		name := strings.TrimSpace(tag[1:])
		if !s.checkName(name, off, false) {
			name = "\x00invalid"
		}
		switch tag[0] {
		case '#', '^':
			s.toks = append(s.toks, mtoken{kind: mtOpen, name: name, inverted: tag[0] == '^', off: off})
		default:
			s.toks = append(s.toks, mtoken{kind: mtClose, name: name, off: off})
		}
		return true
	}
	if tag == builtinE164 {
		s.diags.add(SeverityWarning, CodeBuiltinName, off,
			"{{e164}} reads a parameter named e164; to turn a value into an E.164 number, wrap it: {{#e164}}{{From}}{{/e164}}")
	}
	if s.checkName(tag, off, true) {
		s.toks = append(s.toks, mtoken{kind: mtVar, name: tag, off: off})
	}
	return true
}

// tagName returns name, or a placeholder when it is empty.
func tagName(name string) string {
	if name = strings.TrimSpace(name); name == "" {
		return "name"
	}
	return name
}

// checkName reports whether name can be a parameter name. "." (the current
// item of a section) is allowed for variables only.
func (s *scanner) checkName(name string, off int, variable bool) bool {
	if name == "." {
		if variable {
			return true
		}
		s.diags.add(SeverityError, CodeTagName, off, "a section cannot be named \".\"; name the parameter it depends on")
		return false
	}
	if name == "" {
		s.diags.add(SeverityError, CodeTagName, off, "section tag without a name: write {{#name}} and {{/name}}")
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
		if ok {
			continue
		}
		switch {
		case c == '.':
			s.diags.add(SeverityError, CodeTagName, off, fmt.Sprintf(
				"%q: dotted names are not supported, request parameters are flat; use the parameter's own name", name))
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			s.diags.add(SeverityError, CodeTagName, off, fmt.Sprintf(
				"%q: a tag holds one name without spaces; split it into separate tags", name))
		case c == '[' || c == ']':
			s.diags.add(SeverityError, CodeTagName, off, fmt.Sprintf(
				"%q: write the list's name without [] (a request's Dest[]=… is {{#Dest}}…{{/Dest}})", name))
		default:
			s.diags.add(SeverityError, CodeTagName, off, fmt.Sprintf(
				"%q: a name may hold letters, digits, '_' and '-' only", name))
		}
		return false
	}
	return true
}

// buildTree nests the tokens into sections. It reports unbalanced sections
// and returns nil when the tree cannot be built.
func buildTree(toks []mtoken, diags *diagList) []*mnode {
	root := &mnode{tok: &mtoken{}}
	stack := []*mnode{root}
	ok := true
	slab := make([]mnode, len(toks)) // one allocation for every node
	for i, t := range toks {
		top := stack[len(stack)-1]
		switch t.kind {
		case mtText, mtVar:
			n := &slab[i]
			n.tok = &toks[i]
			top.children = append(top.children, n)
		case mtOpen:
			if len(stack) > maxSectionDepth {
				diags.add(SeverityError, CodeNestingTooDeep, t.off, fmt.Sprintf(
					"sections nest more than %d deep here; flatten the conditions", maxSectionDepth))
				return nil
			}
			n := &slab[i]
			n.tok = &toks[i]
			top.children = append(top.children, n)
			stack = append(stack, n)
		case mtClose:
			if len(stack) == 1 {
				diags.add(SeverityError, CodeSectionMismatch, t.off, fmt.Sprintf(
					"{{/%s}} closes a section that was never opened; remove it or add {{#%s}} before it", t.name, t.name))
				ok = false
				continue
			}
			if top.tok.name != t.name {
				diags.add(SeverityError, CodeSectionMismatch, t.off, fmt.Sprintf(
					"{{/%s}} cannot close here: the open section is {{%s%s}}; close that one first with {{/%s}}",
					t.name, sigil(top.tok.inverted), top.tok.name, top.tok.name))
				return nil
			}
			top.closeOff = t.off
			stack = stack[:len(stack)-1]
		}
	}
	for len(stack) > 1 {
		top := stack[len(stack)-1]
		diags.add(SeverityError, CodeSectionMismatch, top.tok.off, fmt.Sprintf(
			"section {{%s%s}} is never closed; add {{/%s}} where it ends", sigil(top.tok.inverted), top.tok.name, top.tok.name))
		stack = stack[:len(stack)-1]
		ok = false
	}
	if !ok {
		return nil
	}
	markLT(root)
	return root.children
}

func sigil(inverted bool) string {
	if inverted {
		return "^"
	}
	return "#"
}

// markLT sets hasLT on every section whose text, at any depth, holds '<'.
func markLT(n *mnode) bool {
	has := false
	for _, c := range n.children {
		switch c.tok.kind {
		case mtText:
			if strings.IndexByte(c.tok.text, '<') >= 0 {
				has = true
			}
		case mtOpen:
			if markLT(c) {
				has = true
			}
		}
	}
	n.hasLT = has
	return has
}

// libraryAccepts parses src with github.com/cbroglie/mustache, which defines
// the language, and returns its error. Partials resolve to nothing, so the
// check never reads a file.
func libraryAccepts(src string) error {
	_, err := mustache.ParseStringPartials(src, &mustache.StaticProvider{})
	var perr mustache.ParseError
	if errors.As(err, &perr) {
		return perr
	}
	return err
}
