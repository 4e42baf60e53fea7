package engine

// A compiled template is a flat list of operations. Everything that does not
// depend on the request is merged into static text, written as it appears
// in the template; only holes, sections and the elements that render-time
// counting or dropping applies to are operations of their own.

type opKind uint8

const (
	opStatic  opKind = iota // write text
	opText                  // a text run with holes
	opAttr                  // an attribute with holes, or whose bytes are counted
	opSection               // a section around markup or attributes
	opElem                  // an element that is counted, starts counters or may be dropped
)

type op struct {
	kind  opKind
	text  string // opStatic: the text; opAttr: what precedes the value (` name="`)
	quote byte   // opAttr
	parts []*part
	off   int
	rule  *slotRule
	// opAttr: counter the value's bytes add to, 0 when none.
	paramCounter int
	// opSection.
	name     string
	inverted bool
	once     bool // attributes: a section renders at most once, so no attribute repeats
	body     []op
	elem     *xElem // opElem
}

// generator turns the tree into operations.
type generator struct {
	prog   []op
	static []byte
}

func (g *generator) write(s string) { g.static = append(g.static, s...) }

func (g *generator) emit(o op) {
	g.flush()
	g.prog = append(g.prog, o)
}

// flush ends the static text collected so far.
func (g *generator) flush() {
	if len(g.static) > 0 {
		g.prog = append(g.prog, op{kind: opStatic, text: string(g.static)})
		g.static = g.static[:0]
	}
}

// sub generates the operations of nodes into a list of their own.
func (g *generator) sub(gen func()) []op {
	g.flush()
	saved := g.prog
	g.prog = nil
	gen()
	g.flush()
	body := g.prog
	g.prog = saved
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
			g.write(n.lead + n.name + "=" + q + n.raw + q)
			return
		}
		g.emit(op{kind: opAttr, text: n.lead + n.name + "=" + q, quote: n.quote, parts: n.val.parts,
			off: n.val.off, rule: n.rule, paramCounter: n.paramCounter})
	case *xSection:
		body := g.sub(func() { g.nodes(n.children, inTag) })
		g.emit(op{kind: opSection, name: n.name, inverted: n.inverted, once: inTag, body: body, off: n.off})
	case *xElem:
		if len(n.counted) == 0 && len(n.scopeCounters) == 0 && !n.droppable && n.countsNoun == 0 {
			g.element(n)
			return
		}
		body := g.sub(func() { g.element(n) })
		g.emit(op{kind: opElem, body: body, elem: n, off: n.off})
	}
}

func (g *generator) element(e *xElem) {
	g.write("<" + e.name)
	g.nodes(e.tagItems, true)
	g.write(e.tagTail + ">")
	if e.empty {
		return
	}
	g.nodes(e.children, false)
	g.write(e.endRaw)
}
