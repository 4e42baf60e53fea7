package engine

// A compiled template is a flat list of operations. Everything that does not
// depend on the request is merged into static text, written as it appears
// in the template; only holes, sections and the elements that render-time
// counting or dropping applies to are operations of their own, with the
// counting of a static attribute's bytes (a custom parameter's name).

type opKind uint8

const (
	opStatic  opKind = iota // write text
	opText                  // a text run with holes
	opAttr                  // an attribute with holes, or whose bytes are counted
	opSection               // a section around markup or attributes
	opElem                  // an element that is counted, starts counters or may be dropped
	opCount                 // add count to a counter: the bytes of a static value that are counted
)

type op struct {
	kind   opKind
	text   string // opStatic: the text; opAttr: what precedes the value (` name="`)
	lo, hi int    // where text is in the generator's buffer, until finish
	quote  byte   // opAttr
	parts  []*part
	off    int
	rule   *slotRule
	// opAttr, opCount: counter the value's bytes add to, 0 when none.
	paramCounter int
	count        int // opCount
	// opSection.
	name     string
	slot     int // where the values of name are (bindSlots)
	inverted bool
	once     bool // attributes: a section renders at most once, so no attribute repeats
	body     []op
	elem     *xElem // opElem
}

// generator turns the tree into operations.
type generator struct {
	prog []op
	// text holds every piece of static output; operations refer to it by
	// offsets until finish turns it into one string they share.
	text    []byte
	pending int // where the static text not yet in an operation starts
}

func (g *generator) write(s string) { g.text = append(g.text, s...) }

func (g *generator) emit(o op) {
	g.flush()
	g.prog = append(g.prog, o)
}

// flush ends the static text collected so far.
func (g *generator) flush() {
	if len(g.text) > g.pending {
		g.prog = append(g.prog, op{kind: opStatic, lo: g.pending, hi: len(g.text)})
		g.pending = len(g.text)
	}
}

// prefix records s as the text an operation writes first.
func (g *generator) prefix(o *op, s string) {
	g.flush()
	o.lo = len(g.text)
	g.text = append(g.text, s...)
	o.hi = len(g.text)
	g.pending = o.hi
}

// finish ends generation and gives each operation its text.
func (g *generator) finish() []op {
	g.flush()
	text := string(g.text)
	var fix func([]op)
	fix = func(prog []op) {
		for i := range prog {
			o := &prog[i]
			o.text = text[o.lo:o.hi]
			fix(o.body)
		}
	}
	fix(g.prog)
	return g.prog
}

// begin starts the body of a section or element: its operations are
// appended after the parent's, and end moves them into a slice of their
// own, of exactly their size.
func (g *generator) begin() int {
	g.flush()
	return len(g.prog)
}

func (g *generator) end(start int) []op {
	g.flush()
	body := make([]op, len(g.prog)-start)
	copy(body, g.prog[start:])
	clear(g.prog[start:])
	g.prog = g.prog[:start]
	return body
}

func (g *generator) nodes(ns []xnode, inTag bool) {
	for _, n := range ns {
		g.node(n, inTag)
	}
}

func (g *generator) node(n xnode, inTag bool) {
	switch n := n.(type) {
	case *xRaw:
		g.write(n.raw)
	case *xText:
		if !n.val.dynamic() {
			g.write(n.raw)
			return
		}
		g.emit(op{kind: opText, parts: n.val.parts, off: n.val.off, rule: n.rule})
	case *xAttr:
		q := string(n.quote)
		if !n.val.dynamic() && n.paramCounter == 0 {
			g.write(n.lead)
			g.write(n.name)
			g.write("=")
			g.write(q)
			g.write(n.raw)
			g.write(q)
			return
		}
		if !n.val.dynamic() && n.rule == nil {
			// Counted but the same on every render: written as static
			// text, as the render would escape it, and its bytes added.
			var value []byte
			for _, p := range n.val.parts {
				value = append(value, p.text...)
			}
			g.write(n.lead)
			g.write(n.name)
			g.write("=")
			g.write(q)
			g.write(string(escapeAttr(nil, value)))
			g.write(q)
			g.emit(op{kind: opCount, paramCounter: n.paramCounter, count: len(value), off: n.val.off})
			return
		}
		o := op{kind: opAttr, quote: n.quote, parts: n.val.parts, off: n.val.off, rule: n.rule, paramCounter: n.paramCounter}
		g.prefix(&o, n.lead)
		g.write(n.name)
		g.write("=")
		g.write(q)
		o.hi = len(g.text)
		g.pending = o.hi
		g.prog = append(g.prog, o)
	case *xSection:
		start := g.begin()
		g.nodes(n.children, inTag)
		body := g.end(start)
		g.emit(op{kind: opSection, name: n.name, inverted: n.inverted, once: inTag, body: body, off: n.off})
	case *xElem:
		if len(n.counted) == 0 && len(n.scopeCounters) == 0 && !n.droppable && n.countsNoun == 0 {
			g.element(n)
			return
		}
		start := g.begin()
		g.element(n)
		body := g.end(start)
		g.emit(op{kind: opElem, body: body, elem: n, off: n.off})
	}
}

func (g *generator) element(e *xElem) {
	g.write("<")
	g.write(e.name)
	g.nodes(e.tagItems, true)
	g.write(e.tagTail)
	g.write(">")
	if e.empty {
		return
	}
	g.nodes(e.children, false)
	g.write(e.endRaw)
}

// currentItem is the slot of "{{.}}": the item of the innermost section.
const currentItem = -1

// bindSlots gives every variable and section of prog the position of its
// name in variables, where a render finds its values, and currentItem to
// ".". A render then reads a value by position rather than by name.
func bindSlots(prog []op, variables []string) {
	index := make(map[string]int, len(variables))
	for i, name := range variables {
		index[name] = i
	}
	slotOf := func(name string) int {
		if i, ok := index[name]; ok {
			return i
		}
		return currentItem // ".", the only name a template reads that is not a variable
	}
	var bindParts func([]*part)
	bindParts = func(ps []*part) {
		for _, p := range ps {
			if p.kind == partVar || p.kind == partSection {
				p.slot = slotOf(p.name)
			}
			bindParts(p.parts)
		}
	}
	var bindOps func([]op)
	bindOps = func(prog []op) {
		for i := range prog {
			o := &prog[i]
			if o.kind == opSection {
				o.slot = slotOf(o.name)
			}
			bindParts(o.parts)
			bindOps(o.body)
		}
	}
	bindOps(prog)
}
