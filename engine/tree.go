package engine

// The template as XML with holes: elements, attributes and text whose values
// may hold variables and sections. Built by build.go from the Mustache tree,
// checked against the schema by validate.go, turned into a program by
// program.go.

// partKind is the kind of a piece of a value.
type partKind int

const (
	partText    partKind = iota // static text, entities decoded
	partVar                     // {{name}} or {{.}}
	partSection                 // {{#name}}…{{/name}} or {{^name}}…{{/name}} holding parts
	partE164                    // {{#e164}}…{{/e164}}
)

// part is a piece of an attribute value or of a text run.
type part struct {
	kind     partKind
	text     string   // partText: decoded text
	name     string   // partVar, partSection: parameter name
	slot     int      // partVar, partSection: where the values of name are (bindSlots)
	inverted bool     // partSection
	encode   encoding // partVar: set by validation for URL and SIP URI slots
	parts    []*part
	off      int // source offset
}

// value is the content of an attribute or a text run.
type value struct {
	parts []*part
	off   int // where the value starts in the source
}

// dynamic reports whether the value depends on the request.
func (v *value) dynamic() bool {
	for _, p := range v.parts {
		if p.kind != partText {
			return true
		}
	}
	return false
}

// static returns the text of a value that does not depend on the request.
func (v *value) static() string {
	if len(v.parts) == 1 {
		return v.parts[0].text
	}
	var s string
	for _, p := range v.parts {
		s += p.text
	}
	return s
}

// minLen returns the number of bytes the value has whatever the request
// holds: its text outside sections.
func (v *value) minLen() int {
	n := 0
	for _, p := range v.parts {
		if p.kind == partText {
			n += len(p.text)
		}
	}
	return n
}

// xnode is a node of the tree: *xElem, *xText, *xSection, *xAttr or *xRaw.
type xnode interface{ offset() int }

// xElem is an element. Its start tag holds attributes and, for attributes
// that depend on a section, *xSection nodes holding attributes.
type xElem struct {
	name     string
	off      int
	tagItems []xnode // *xAttr and *xSection (holding *xAttr) in source order
	tagTail  string  // whitespace and "/" before ">" as written
	empty    bool    // written as <X/>
	children []xnode
	endRaw   string // the end tag as written, "</X>" with its whitespace
	parent   *xElem
	class    *schemaClass // set by validation; nil when unknown

	// Set by validation for render-time counting (see countRule).
	counted       []countRef // counters this element adds one to
	scopeCounters []int      // counters this element starts afresh
	paramCounter  int        // counter of its custom parameters' bytes; 0 when none
	droppable     bool       // its text may make the lenient policy drop it
	textMark      markState  // URL and SIP URI text: what its runs so far hold
	// A <Dial> whose nouns all depend on the request counts the nouns it
	// renders in nounCounter; each such noun adds one to countsNoun.
	nounCounter int
	countsNoun  int
}

// countRef ties a counted element to a counter of its scope.
type countRef struct {
	counter int
	rule    *countRule
}

func (e *xElem) offset() int { return e.off }

// xAttr is an attribute of a start tag.
type xAttr struct {
	lead  string // whitespace before the name, as written
	name  string
	quote byte
	raw   string // the value as written, for attributes without holes
	val   value
	off   int
	// Set by validation: the rule a dynamic value is checked with at render,
	// and the counter its bytes add to (custom parameters), 0 when none.
	rule         *slotRule
	paramCounter int
}

func (a *xAttr) offset() int { return a.off }

// xText is a run of character data between markup. raw is the text as
// written when it has no holes.
type xText struct {
	raw string
	val value
	off int
	// Set by validation.
	rule *slotRule
}

func (t *xText) offset() int { return t.off }

// blank reports whether the run can only ever render whitespace: its text,
// in every branch, is whitespace and it holds no variable.
func (t *xText) blank() bool { return blankParts(t.val.parts) }

func blankParts(ps []*part) bool {
	for _, p := range ps {
		switch p.kind {
		case partText:
			for _, c := range []byte(p.text) {
				if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
					return false
				}
			}
		case partSection:
			if !blankParts(p.parts) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// xSection is a section whose body holds markup (in element content) or
// whole attributes (in a start tag).
type xSection struct {
	name     string
	inverted bool
	off      int
	children []xnode
}

func (s *xSection) offset() int { return s.off }

// xRaw is markup copied as written: the XML declaration, comments,
// processing instructions, CDATA sections.
type xRaw struct {
	raw string
	off int
}

func (r *xRaw) offset() int { return r.off }
