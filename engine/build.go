package engine

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// lexState is where the XML reader stands between two characters. Markup
// other than start tags (end tags, comments, declarations) is read whole
// within one piece of text, so a tag can never split it.
type lexState int

const (
	stContent   lexState = iota // character data, or between elements
	stInTag                     // inside a start tag, between attributes
	stAttrValue                 // inside a quoted attribute value
)

// containerKind is the kind of node that collects what the reader finds.
type containerKind int

const (
	cDoc        containerKind = iota // the document, outside the root
	cElem                            // an element's content
	cSection                         // a section in element content
	cTagSection                      // a section between attributes
	cParts                           // a section or e164 inside a value
)

type container struct {
	kind     containerKind
	elem     *xElem    // cElem
	sec      *xSection // cSection, cTagSection
	part     *part     // cParts
	children *[]xnode  // where nodes go (cDoc, cElem, cSection, cTagSection)
	parts    *[]*part  // where parts go (cParts)
	off      int
}

// slab hands out pointers to values allocated in chunks: a template's tree
// has thousands of small nodes, and one allocation per node made the
// garbage collector most of the cost of compiling.
type slab[T any] struct{ buf []T }

func (s *slab[T]) new(v T) *T {
	if len(s.buf) == cap(s.buf) {
		// Chunks grow with the template, so a small one stays small.
		s.buf = make([]T, 0, min(max(2*cap(s.buf), 8), 512))
	}
	s.buf = append(s.buf, v)
	return &s.buf[len(s.buf)-1]
}

// builder reads the Mustache tree as XML and builds the templated-XML tree,
// reporting everything that is not well-formed for some branch.
type builder struct {
	d     *diagList
	doc   []xnode
	stack []*container
	state lexState

	tag  *xElem // the start tag being read (stInTag, stAttrValue)
	lead string // whitespace read in a start tag since the last attribute
	// tagBoundary is set when a section tag stands in a start tag since the
	// last attribute: an attribute after it gets a space of its own.
	tagBoundary bool

	attr      *xAttr // the attribute value being read (stAttrValue)
	attrRaw   strings.Builder
	attrParts *[]*part // where the attribute's parts go

	run      *xText // the text run being read, nil if none
	runRaw   strings.Builder
	runParts *[]*part

	started    bool // anything at all has been read
	root       *xElem
	rootClosed bool
	tags       map[string]bool // every element name used, to choose the vocabulary
	// instructions are the processing instructions other than the XML
	// declaration, for validation to refuse.
	instructions []*xRaw
	failed       bool

	parts      slab[part]
	containers slab[container]
	elems      slab[xElem]
	attrs      slab[xAttr]
	texts      slab[xText]
	sections   slab[xSection]
}

func newBuilder(d *diagList) *builder {
	b := &builder{d: d, tags: map[string]bool{}}
	b.stack = []*container{{kind: cDoc, children: &b.doc}}
	return b
}

func (b *builder) top() *container { return b.stack[len(b.stack)-1] }

// fail records an error that stops reading: after it, the structure is
// unknown and further findings would be noise.
func (b *builder) fail(code Code, off int, msg string) {
	b.d.add(SeverityError, code, off, msg)
	b.failed = true
}

// currentElem returns the innermost open element, or nil at document level.
func (b *builder) currentElem() *xElem {
	for i := len(b.stack) - 1; i >= 0; i-- {
		if b.stack[i].kind == cElem {
			return b.stack[i].elem
		}
	}
	return nil
}

// build reads the whole tree and returns the document's nodes.
func (b *builder) build(nodes []*mnode) []xnode {
	b.walk(nodes)
	if b.failed {
		return nil
	}
	end := len(b.d.sm.src)
	switch b.state {
	case stInTag, stAttrValue:
		b.fail(CodeParseFailure, b.tag.off, fmt.Sprintf("the start tag <%s> is never finished with >", b.tag.name))
		return nil
	}
	b.flushRun()
	if b.failed {
		return nil
	}
	if e := b.currentElem(); e != nil {
		b.fail(CodeParseFailure, e.off, fmt.Sprintf("<%s> is never closed; add </%s>", e.name, e.name))
		return nil
	}
	if b.root == nil {
		b.fail(CodeParseFailure, end, "no root element: a TwiML document is one <Response>…</Response>")
		return nil
	}
	return b.doc
}

func (b *builder) walk(nodes []*mnode) {
	for _, n := range nodes {
		if b.failed {
			return
		}
		switch n.tok.kind {
		case mtText:
			b.text(n.tok.text, n.tok.off)
		case mtVar:
			b.variable(*n.tok)
		case mtOpen:
			b.section(n)
		}
	}
}

// variable places {{name}} in the value being read.
func (b *builder) variable(t mtoken) {
	p := b.parts.new(part{kind: partVar, name: t.name, off: t.off})
	if t.name == "." && !b.inSection() {
		b.d.add(SeverityError, CodeTagName, t.off, "{{.}} is the current item of a section and means nothing outside one; use a parameter name")
		return
	}
	switch b.state {
	case stAttrValue:
		*b.attrParts = append(*b.attrParts, p)
	case stInTag:
		b.fail(CodeTagPlacement, t.off, fmt.Sprintf(
			"{{%s}} inside the tag <%s> could add attributes; put it inside an attribute value, such as name=\"{{%s}}\"",
			t.name, b.tag.name, t.name))
	default:
		if b.currentElem() == nil {
			b.fail(CodeTagPlacement, t.off, fmt.Sprintf(
				"{{%s}} outside the root element would put text outside <Response>; move it inside an element", t.name))
			return
		}
		b.startRun(t.off)
		*b.runParts = append(*b.runParts, p)
	}
}

// inSection reports whether the reader is inside any section.
func (b *builder) inSection() bool {
	for _, c := range b.stack {
		switch c.kind {
		case cSection, cTagSection:
			if c.sec != nil {
				return true
			}
		case cParts:
			if c.part.kind == partSection {
				return true
			}
		}
	}
	return false
}

// section reads a section and checks that every branch of it (absent,
// present once, repeated) leaves the XML as it found it.
func (b *builder) section(n *mnode) {
	t := n.tok
	isE164 := t.name == builtinE164
	if isE164 && t.inverted {
		b.fail(CodeE164Content, t.off, "{{^e164}} never renders: e164 is a built-in that is always present; use {{#e164}}…{{/e164}}")
		return
	}
	inValue := b.state == stAttrValue || (b.state == stContent && b.currentElem() != nil && !n.hasLT)
	if isE164 && !inValue {
		b.fail(CodeE164Content, t.off, "{{#e164}} may only wrap text and variables inside an element or an attribute value, not markup")
		return
	}
	savedState, savedDepth, savedTag, savedAttr := b.state, len(b.stack), b.tag, b.attr

	switch {
	case inValue:
		kind := partSection
		if isE164 {
			kind = partE164
		}
		p := b.parts.new(part{kind: kind, name: t.name, inverted: t.inverted, off: t.off})
		if b.state == stAttrValue {
			*b.attrParts = append(*b.attrParts, p)
		} else {
			b.startRun(t.off)
			*b.runParts = append(*b.runParts, p)
		}
		c := b.containers.new(container{kind: cParts, part: p, parts: &p.parts, off: t.off})
		b.push(c)
		prevAttr, prevRun := b.attrParts, b.runParts
		if b.state == stAttrValue {
			b.attrParts = &p.parts
		} else {
			b.runParts = &p.parts
		}
		b.walk(n.children)
		if b.failed {
			return
		}
		b.attrParts, b.runParts = prevAttr, prevRun
	case b.state == stContent:
		b.flushRun()
		if b.failed {
			return
		}
		sec := b.sections.new(xSection{name: t.name, inverted: t.inverted, off: t.off})
		*b.top().children = append(*b.top().children, sec)
		b.push(b.containers.new(container{kind: cSection, sec: sec, children: &sec.children, off: t.off}))
		b.walk(n.children)
		if b.failed {
			return
		}
		b.flushRun()
	case b.state == stInTag:
		b.tagBoundary = true
		sec := b.sections.new(xSection{name: t.name, inverted: t.inverted, off: t.off})
		*b.top().children = append(*b.top().children, sec)
		b.push(b.containers.new(container{kind: cTagSection, sec: sec, children: &sec.children, off: t.off}))
		b.walk(n.children)
	}
	if b.failed {
		return
	}

	// Every branch must end where the section began.
	closeOff := n.closeOff
	name := sigil(t.inverted) + t.name
	switch {
	case b.state != savedState || b.tag != savedTag || b.attr != savedAttr:
		b.fail(CodeSectionBoundary, closeOff, fmt.Sprintf(
			"{{/%s}} must close where {{%s}} (line %d) opened: it opened %s and closes %s; some branch would be ill-formed",
			t.name, name, b.line(t.off), placeName(savedState, savedTag, savedAttr), placeName(b.state, b.tag, b.attr)))
	case len(b.stack) != savedDepth+1:
		inner := b.top()
		what := "a section"
		if inner.kind == cElem {
			what = fmt.Sprintf("<%s>", inner.elem.name)
		}
		b.fail(CodeSectionBoundary, closeOff, fmt.Sprintf(
			"{{/%s}} closes the section {{%s}} (line %d) while %s (line %d) opened inside it is still open; close it before the section ends",
			t.name, name, b.line(t.off), what, b.line(inner.off)))
	default:
		b.stack = b.stack[:len(b.stack)-1]
		if b.state == stInTag {
			b.tagBoundary = true
		}
	}
}

// placeName describes where the reader stands, for messages.
func placeName(st lexState, tag *xElem, attr *xAttr) string {
	switch st {
	case stInTag:
		return fmt.Sprintf("inside the tag <%s>", tag.name)
	case stAttrValue:
		return fmt.Sprintf("inside the value of %s", attr.name)
	}
	return "in element content"
}

func (b *builder) line(off int) int {
	l, _ := b.d.sm.position(off)
	return l
}

func (b *builder) push(c *container) { b.stack = append(b.stack, c) }

// startRun begins a text run at off if none is open.
func (b *builder) startRun(off int) {
	if b.run != nil {
		return
	}
	b.run = b.texts.new(xText{off: off})
	b.runRaw.Reset()
	b.runParts = &b.run.val.parts
}

// appendText adds static text to a list of parts, merging with the last one.
func (b *builder) appendText(parts *[]*part, text string, off int) {
	if n := len(*parts); n > 0 && (*parts)[n-1].kind == partText {
		(*parts)[n-1].text += text
		return
	}
	*parts = append(*parts, b.parts.new(part{kind: partText, text: text, off: off}))
}

// flushRun ends the open text run and adds it to the current container.
func (b *builder) flushRun() {
	r := b.run
	if r == nil {
		return
	}
	b.run = nil
	r.raw = b.runRaw.String()
	r.val.off = r.off
	c := b.top()
	if b.currentElem() == nil {
		if !r.blank() {
			b.fail(CodeParseFailure, r.off, "text outside the root element: everything must be inside <Response>…</Response>")
			return
		}
	}
	*c.children = append(*c.children, r)
}

// text reads a piece of template text in the current state.
func (b *builder) text(s string, off int) {
	i := 0
	for i < len(s) && !b.failed {
		switch b.state {
		case stContent:
			i = b.content(s, i, off)
		case stInTag:
			i = b.inTag(s, i, off)
		case stAttrValue:
			i = b.attrValue(s, i, off)
		}
	}
}

// content reads character data up to the next markup.
func (b *builder) content(s string, i, off int) int {
	if !b.started && i == 0 && off == 0 && strings.HasPrefix(s, byteOrderMark) {
		i = len(byteOrderMark) // read, not written: the output is UTF-8 without one
	}
	start := i
	for i < len(s) {
		c := s[i]
		if c == '<' {
			break
		}
		if c == '&' {
			b.started = true
			if i > start {
				b.runText(s[start:i], s[start:i], off+start)
			}
			dec, n, ok := decodeEntity(s[i:])
			if !ok {
				b.fail(CodeParseFailure, off+i, entityError(s[i:]))
				return len(s)
			}
			b.runText(s[i:i+n], dec, off+i)
			i += n
			start = i
			continue
		}
		if c == '>' && i >= 2 && s[i-2:i] == "]]" {
			b.fail(CodeParseFailure, off+i-2, "\"]]>\" is not allowed in text; write it as ]]&gt;")
			return len(s)
		}
		i++
	}
	if i > start {
		b.started = true
		b.runText(s[start:i], s[start:i], off+start)
	}
	if i < len(s) {
		return b.markup(s, i, off)
	}
	return i
}

// runText adds text to the open run, starting one if needed.
func (b *builder) runText(raw, decoded string, off int) {
	b.startRun(off)
	b.runRaw.WriteString(raw)
	b.appendText(b.runParts, decoded, off)
}

// markup reads the markup starting with '<' at s[i].
func (b *builder) markup(s string, i, off int) int {
	rest := s[i:]
	wasStarted := b.started
	b.started = true
	switch {
	case strings.HasPrefix(rest, "<!--"):
		end := strings.Index(rest[4:], "-->")
		if end < 0 {
			b.fail(CodeTagPlacement, off+i, "an XML comment must be closed with --> before any {{tag}}; tags cannot be used inside comments")
			return len(s)
		}
		body := rest[4 : 4+end]
		if strings.Contains(body, "--") || strings.HasSuffix(body, "-") {
			b.fail(CodeParseFailure, off+i, "\"--\" is not allowed inside an XML comment")
			return len(s)
		}
		b.flushRun()
		b.addNode(&xRaw{raw: rest[:4+end+3], off: off + i})
		return i + 4 + end + 3
	case strings.HasPrefix(rest, "<![CDATA["):
		end := strings.Index(rest, "]]>")
		if end < 0 {
			b.fail(CodeTagPlacement, off+i, "a CDATA section must be closed with ]]> before any {{tag}}; tags cannot be used inside CDATA")
			return len(s)
		}
		if b.currentElem() == nil {
			b.fail(CodeParseFailure, off+i, "CDATA outside the root element: everything must be inside <Response>")
			return len(s)
		}
		b.runText(rest[:end+3], rest[9:end], off+i)
		return i + end + 3
	case strings.HasPrefix(rest, "<!"):
		b.fail(CodeParseFailure, off+i, "DOCTYPE and other <! declarations are not allowed in TwiML; remove it")
		return len(s)
	case strings.HasPrefix(rest, "<?"):
		end := strings.Index(rest[2:], "?>")
		if end < 0 {
			b.fail(CodeParseFailure, off+i, "a processing instruction must be closed with ?> before any {{tag}}")
			return len(s)
		}
		end += 2
		pi := rest[:end+2]
		target := piTarget(pi)
		if target == "" || !isNameStart(target[0]) || (len(pi) > len(target)+4 && !isSpace(pi[2+len(target)])) {
			b.fail(CodeParseFailure, off+i, "a processing instruction starts with a name, such as <?xml …?>")
			return len(s)
		}
		if strings.EqualFold(target, "xml") {
			if wasStarted || (off+i != 0 && !(off+i == len(byteOrderMark) && strings.HasPrefix(b.d.sm.src, byteOrderMark))) {
				b.fail(CodeParseFailure, off+i, "the XML declaration must be the very first thing in the document: remove what comes before <?xml (even whitespace)")
				return len(s)
			}
			if msg := checkXMLDecl(pi); msg != "" {
				b.fail(CodeParseFailure, off+i, msg)
				return len(s)
			}
		}
		b.flushRun()
		raw := &xRaw{raw: pi, off: off + i}
		if !strings.EqualFold(target, "xml") {
			b.instructions = append(b.instructions, raw)
		}
		b.addNode(raw)
		return i + end + 2
	case strings.HasPrefix(rest, "</"):
		return b.endTag(s, i, off)
	}
	return b.startTag(s, i, off)
}

func (b *builder) addNode(n xnode) {
	c := b.top()
	*c.children = append(*c.children, n)
}

func piTarget(pi string) string {
	body := pi[2 : len(pi)-2]
	n := 0
	for n < len(body) && isNameByte(body[n]) {
		n++
	}
	return body[:n]
}

// checkXMLDecl checks <?xml version="1.0" encoding="UTF-8"?>.
func checkXMLDecl(pi string) string {
	if pi[2:5] != "xml" {
		return "write the XML declaration in lower case: <?xml version=\"1.0\" encoding=\"UTF-8\"?>"
	}
	body := pi[5 : len(pi)-2]
	if v, ok := pseudoAttr(body, "version"); !ok || v != "1.0" {
		return "the XML declaration needs version=\"1.0\""
	}
	if enc, ok := pseudoAttr(body, "encoding"); ok && !strings.EqualFold(enc, "UTF-8") {
		return fmt.Sprintf("the document is UTF-8 but declares encoding=%q; write encoding=\"UTF-8\" or leave it out", enc)
	}
	if !xmlDeclPattern.MatchString(pi) {
		return "write the XML declaration as <?xml version=\"1.0\" encoding=\"UTF-8\"?>, with a space between its parts"
	}
	return ""
}

// xmlDeclPattern is the grammar of an XML declaration (XML 1.0 §2.8).
var xmlDeclPattern = regexp.MustCompile(`^<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*("1\.0"|'1\.0')` +
	`([ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*("[A-Za-z][A-Za-z0-9._-]*"|'[A-Za-z][A-Za-z0-9._-]*'))?` +
	`([ \t\r\n]+standalone[ \t\r\n]*=[ \t\r\n]*("yes"|"no"|'yes'|'no'))?[ \t\r\n]*\?>$`)

// pseudoAttr finds name="value" in the body of an XML declaration.
func pseudoAttr(body, name string) (string, bool) {
	i := strings.Index(body, name)
	if i < 0 {
		return "", false
	}
	rest := strings.TrimLeft(body[i+len(name):], " \t\r\n")
	if !strings.HasPrefix(rest, "=") {
		return "", false
	}
	rest = strings.TrimLeft(rest[1:], " \t\r\n")
	if rest == "" || (rest[0] != '"' && rest[0] != '\'') {
		return "", false
	}
	end := strings.IndexByte(rest[1:], rest[0])
	if end < 0 {
		return "", false
	}
	return rest[1 : 1+end], true
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '-' || c == '.' || c == ':'
}

// isQName reports whether name is a qualified name of XML Namespaces: a
// name, or a prefix and a name joined by one colon.
func isQName(name string) bool {
	prefix, local, qualified := strings.Cut(name, ":")
	if !qualified {
		return name != "" && isNameStart(name[0])
	}
	return prefix != "" && local != "" && isNameStart(prefix[0]) && isNameStart(local[0]) &&
		prefix[0] != ':' && local[0] != ':' && !strings.Contains(local, ":")
}

func isNameStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':'
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// startTag reads "<Name" and enters the tag.
func (b *builder) startTag(s string, i, off int) int {
	j := i + 1
	if j >= len(s) {
		b.fail(CodeTagPlacement, off+i, "\"<\" must be followed by an element name in the same text; a {{tag}} cannot name an element. Write a literal < as &lt;")
		return len(s)
	}
	if !isNameStart(s[j]) {
		b.fail(CodeParseFailure, off+i, "\"<\" must start an element name; write a literal < as &lt;")
		return len(s)
	}
	for j < len(s) && isNameByte(s[j]) {
		j++
	}
	name := s[i+1 : j]
	if j == len(s) {
		b.fail(CodeTagPlacement, off+i, fmt.Sprintf("the name of <%s must end in the same text; a {{tag}} cannot extend an element name", name))
		return len(s)
	}
	if !isSpace(s[j]) && s[j] != '>' && s[j] != '/' {
		b.fail(CodeParseFailure, off+j, fmt.Sprintf("unexpected %q after <%s", s[j], name))
		return len(s)
	}
	if !isQName(name) {
		b.fail(CodeParseFailure, off+i, fmt.Sprintf("<%s is not an element name: a name is letters, digits, - _ . and at most one : between two names", name))
		return len(s)
	}
	b.flushRun()
	if b.failed {
		return len(s)
	}
	parent := b.currentElem()
	e := b.elems.new(xElem{name: name, off: off + i, parent: parent})
	if parent == nil {
		switch {
		case b.root != nil:
			b.fail(CodeParseFailure, off+i, fmt.Sprintf("<%s> is a second root element: everything must be inside the one <Response>", name))
			return len(s)
		case b.inSection():
			b.fail(CodeSectionBoundary, off+i, "the root element is inside a section, so some branch would have no <Response>; move the section inside it")
			return len(s)
		}
		b.root = e
	}
	b.tags[name] = true
	b.addNode(e)
	b.tag = e
	b.lead = ""
	b.tagBoundary = false
	b.state = stInTag
	// The tag's attributes go into its item list until '>'.
	b.push(b.containers.new(container{kind: cTagSection, children: &e.tagItems, off: off + i}))
	return j
}

// inTag reads between attributes: whitespace, an attribute, or the end of
// the start tag.
func (b *builder) inTag(s string, i, off int) int {
	c := s[i]
	switch {
	case isSpace(c):
		j := i
		for j < len(s) && isSpace(s[j]) {
			j++
		}
		if b.lead == "" {
			b.lead = s[i:j]
		} else {
			b.lead += s[i:j]
		}
		return j
	case c == '>' || (c == '/' && i+1 < len(s) && s[i+1] == '>'):
		top := b.top()
		if top.kind != cTagSection || top.sec != nil {
			b.fail(CodeSectionBoundary, off+i, fmt.Sprintf(
				"the start tag <%s> ends inside the section that began at line %d; close the section before >", b.tag.name, b.line(top.off)))
			return len(s)
		}
		e := b.tag
		b.stack = b.stack[:len(b.stack)-1]
		b.tag = nil
		b.state = stContent
		if c == '>' {
			e.tagTail = b.lead
			b.push(b.containers.new(container{kind: cElem, elem: e, children: &e.children, off: e.off}))
			b.lead = ""
			return i + 1
		}
		e.tagTail = b.lead + "/"
		e.empty = true
		b.lead = ""
		return i + 2
	case isNameStart(c):
		j := i
		for j < len(s) && isNameByte(s[j]) {
			j++
		}
		name := s[i:j]
		if !isQName(name) {
			b.fail(CodeParseFailure, off+i, fmt.Sprintf("%s is not an attribute name: a name is letters, digits, - _ . and at most one : between two names", name))
			return len(s)
		}
		k := j
		for k < len(s) && isSpace(s[k]) {
			k++
		}
		if k >= len(s) || s[k] != '=' {
			b.fail(CodeTagPlacement, off+i, fmt.Sprintf(
				"attribute %s needs a quoted value written right after it, such as %s=\"…\"; a {{tag}} must be inside the quotes", name, name))
			return len(s)
		}
		k++
		for k < len(s) && isSpace(s[k]) {
			k++
		}
		if k >= len(s) || (s[k] != '"' && s[k] != '\'') {
			b.fail(CodeTagPlacement, off+i, fmt.Sprintf(
				"the value of %s must be in quotes, such as %s=\"{{value}}\"", name, name))
			return len(s)
		}
		if b.lead == "" && b.tagBoundary {
			b.lead = " " // a section tag stood between this attribute and what precedes it
		}
		if b.lead == "" {
			b.fail(CodeParseFailure, off+i, fmt.Sprintf(
				"attribute %s must be separated from what comes before it by a space (in every branch of a section)", name))
			return len(s)
		}
		a := b.attrs.new(xAttr{lead: b.lead, name: name, quote: s[k], off: off + i})
		a.val.off = off + k + 1
		b.lead = ""
		b.tagBoundary = false
		b.attr = a
		b.attrRaw.Reset()
		b.attrParts = &a.val.parts
		b.state = stAttrValue
		b.push(b.containers.new(container{kind: cParts, part: attrValueMark, off: off + i}))
		return k + 1
	}
	b.fail(CodeParseFailure, off+i, fmt.Sprintf("unexpected %q in the start tag <%s>", c, b.tag.name))
	return len(s)
}

// byteOrderMark may open a UTF-8 document, before the XML declaration.
const byteOrderMark = "\uFEFF"

// attrValueMark marks the container of an attribute value on the stack: a
// section that is still open when the value ends is not it.
var attrValueMark = &part{kind: partText}

// attrValue reads an attribute value up to its closing quote.
func (b *builder) attrValue(s string, i, off int) int {
	a := b.attr
	start := i
	for i < len(s) {
		c := s[i]
		switch {
		case c == a.quote:
			if i > start {
				b.attrRaw.WriteString(s[start:i])
				b.appendText(b.attrParts, normalizeAttrSpace(s[start:i]), off+start)
			}
			top := b.top()
			if top.part != attrValueMark {
				b.fail(CodeSectionBoundary, off+i, fmt.Sprintf(
					"the value of %s ends inside the section that began at line %d; close the section before the quote", a.name, b.line(top.off)))
				return len(s)
			}
			b.stack = b.stack[:len(b.stack)-1]
			a.raw = b.attrRaw.String()
			b.attr = nil
			b.state = stInTag
			*b.top().children = append(*b.top().children, a)
			return i + 1
		case c == '<':
			b.fail(CodeParseFailure, off+i, fmt.Sprintf("\"<\" is not allowed in the value of %s; write it as &lt;", a.name))
			return len(s)
		case c == '&':
			if i > start {
				b.attrRaw.WriteString(s[start:i])
				b.appendText(b.attrParts, normalizeAttrSpace(s[start:i]), off+start)
			}
			dec, n, ok := decodeEntity(s[i:])
			if !ok {
				b.fail(CodeParseFailure, off+i, entityError(s[i:]))
				return len(s)
			}
			b.attrRaw.WriteString(s[i : i+n])
			b.appendText(b.attrParts, dec, off+i)
			i += n
			start = i
			continue
		}
		i++
	}
	if i > start {
		b.attrRaw.WriteString(s[start:i])
		b.appendText(b.attrParts, normalizeAttrSpace(s[start:i]), off+start)
	}
	return i
}

// normalizeAttrSpace applies XML attribute-value normalization: literal tabs
// and line breaks read as spaces.
func normalizeAttrSpace(s string) string {
	if !strings.ContainsAny(s, "\t\n\r") {
		return s
	}
	return strings.NewReplacer("\r\n", " ", "\t", " ", "\n", " ", "\r", " ").Replace(s)
}

// endTag reads "</Name>".
func (b *builder) endTag(s string, i, off int) int {
	j := i + 2
	for j < len(s) && isNameByte(s[j]) {
		j++
	}
	name := s[i+2 : j]
	k := j
	for k < len(s) && isSpace(s[k]) {
		k++
	}
	if name == "" || k >= len(s) || s[k] != '>' {
		b.fail(CodeParseFailure, off+i, "an end tag must be written whole, as </Name>, without {{tags}} in it")
		return len(s)
	}
	b.flushRun()
	if b.failed {
		return len(s)
	}
	top := b.top()
	switch top.kind {
	case cElem:
		if top.elem.name != name {
			b.fail(CodeParseFailure, off+i, fmt.Sprintf(
				"</%s> does not match <%s> (line %d); close <%s> first", name, top.elem.name, b.line(top.elem.off), top.elem.name))
			return len(s)
		}
		top.elem.endRaw = s[i : k+1]
		b.stack = b.stack[:len(b.stack)-1]
		if top.elem == b.root {
			b.rootClosed = true
		}
		return k + 1
	case cSection:
		if e := b.currentElem(); e != nil && e.name == name {
			b.fail(CodeSectionBoundary, off+i, fmt.Sprintf(
				"</%s> closes <%s> (line %d) inside the section that began at line %d; some branch would leave it open or close it twice. Put the whole element inside the section, or the section inside the element",
				name, name, b.line(e.off), b.line(top.off)))
			return len(s)
		}
	}
	b.fail(CodeParseFailure, off+i, fmt.Sprintf("</%s> has no matching start tag", name))
	return len(s)
}

// decodeEntity decodes the entity or character reference at the start of s
// and returns its text and length.
func decodeEntity(s string) (string, int, bool) {
	end := strings.IndexByte(s, ';')
	if end < 0 || end > 12 {
		return "", 0, false
	}
	name := s[1:end]
	switch name {
	case "lt":
		return "<", end + 1, true
	case "gt":
		return ">", end + 1, true
	case "amp":
		return "&", end + 1, true
	case "quot":
		return "\"", end + 1, true
	case "apos":
		return "'", end + 1, true
	}
	if len(name) < 2 || name[0] != '#' {
		return "", 0, false
	}
	var n uint64
	var err error
	if name[1] == 'x' {
		n, err = strconv.ParseUint(name[2:], 16, 32)
	} else {
		n, err = strconv.ParseUint(name[1:], 10, 32)
	}
	if err != nil || !isXMLChar(rune(n)) {
		return "", 0, false
	}
	return string(rune(n)), end + 1, true
}

func entityError(s string) string {
	if end := strings.IndexByte(s, ';'); end > 0 && end <= 12 {
		return fmt.Sprintf("unknown entity %s: XML knows &lt; &gt; &amp; &quot; &apos; and &#…; only. To write a literal &, write &amp;", s[:end+1])
	}
	return "a literal & must be written &amp; (in URLs too: ?a=1&amp;b=2)"
}

// isXMLChar reports whether r may appear in an XML 1.0 document.
func isXMLChar(r rune) bool {
	switch {
	case r == 0x9 || r == 0xA || r == 0xD:
		return true
	case r >= 0x20 && r <= 0xD7FF:
		return true
	case r >= 0xE000 && r <= 0xFFFD:
		return true
	case r >= 0x10000 && r <= 0x10FFFF:
		return true
	}
	return false
}

// checkChars reports the first bytes of src that are not UTF-8 or not XML
// characters. Such a template cannot be well-formed.
func checkChars(src string, d *diagList) bool {
	for i := 0; i < len(src); {
		r, size := utf8.DecodeRuneInString(src[i:])
		if r == utf8.RuneError && size == 1 {
			d.add(SeverityError, CodeParseFailure, i, "the template is not valid UTF-8 here; save it as UTF-8")
			return false
		}
		if !isXMLChar(r) {
			d.add(SeverityError, CodeParseFailure, i, fmt.Sprintf("character U+%04X is not allowed in XML; remove it", r))
			return false
		}
		i += size
	}
	return true
}
