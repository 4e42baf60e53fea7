package engine

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"
)

// maxRenderSteps bounds the work one render may do: operations run plus
// section items visited. Sections over long lists, nested, could otherwise
// loop far more than the 64 kB output limit suggests.
const maxRenderSteps = 1 << 20

// renderer is the state of one render. Renderers are pooled; a render
// allocates little beyond its output.
type renderer struct {
	t        *Template
	slots    [][]string // the values of t.variables, by position
	policy   Policy
	out      []byte
	start    int    // where this render's output begins in out
	scratch  []byte // the raw value of the slot being filled
	items    []string
	counters []int
	steps    int
	diags    Diagnostics
	failed   bool
	drop     bool // the element being rendered must be dropped
}

var rendererPool = sync.Pool{New: func() any { return &renderer{} }}

// Render fills the template with values and returns the TwiML. Values map
// parameter names to their values, as url.Values does; a name given several
// times is a list. A name "X[]" is read as X.
//
// The returned diagnostics are render-time findings; under Lenient they are
// warnings about repairs made. Render returns a *RenderError when a value
// breaks its slot's rule under Strict, when the output would be larger than
// Twilio's 64 kB limit, or when the values make the template do too much
// work.
func (t *Template) Render(values map[string][]string, p Policy) ([]byte, Diagnostics, error) {
	return t.AppendRender(nil, values, p)
}

// AppendRender is Render appending to dst, so a caller can reuse a buffer.
// On error it returns dst unchanged.
func (t *Template) AppendRender(dst []byte, values map[string][]string, p Policy) ([]byte, Diagnostics, error) {
	buf := slotBuffers.Get().(*[][]string)
	slots := slices.Grow((*buf)[:0], len(t.variables))[:len(t.variables)]
	for i, name := range t.variables {
		if vs, ok := values[name]; ok {
			slots[i] = vs
		} else {
			slots[i] = values[name+"[]"]
		}
	}
	out, diags, err := t.AppendRenderSlots(dst, slots, p)
	clear(slots) // no values kept alive in the pool
	*buf = slots
	slotBuffers.Put(buf)
	return out, diags, err
}

// slotBuffers recycles the slots AppendRender gathers a map's values in.
var slotBuffers = sync.Pool{New: func() any { return new([][]string) }}

// AppendRenderSlots is AppendRender with the values given by position
// rather than by name: slots[i] holds those of Variables()[i], or when
// there are none under that name, those of the name with "[]". A server
// that gathers a request's values this way renders without hashing a
// name. A slot past the end of slots has no values.
func (t *Template) AppendRenderSlots(dst []byte, slots [][]string, p Policy) ([]byte, Diagnostics, error) {
	r := rendererPool.Get().(*renderer)
	r.t, r.slots, r.policy = t, slots, p
	r.out, r.start = dst, len(dst)
	r.items, r.steps, r.diags, r.failed, r.drop = r.items[:0], 0, nil, false, false
	if cap(r.counters) < t.counters+1 {
		r.counters = make([]int, t.counters+1)
	}
	r.counters = r.counters[:t.counters+1]

	r.run(t.prog)
	out, diags, failed := r.out, r.diags, r.failed
	r.t, r.slots, r.out, r.diags = nil, nil, nil, nil
	if cap(r.scratch) > maxResponseSize {
		r.scratch = nil
	}
	rendererPool.Put(r)

	if failed {
		return dst, diags, &RenderError{Diagnostics: diags}
	}
	return out, diags, nil
}

// report records a finding at a source offset.
func (r *renderer) report(sev Severity, code Code, off int, slot, msg string) {
	line, col := r.t.src.position(off)
	for _, d := range r.diags {
		if d.Line == line && d.Column == col && d.Code == code && d.Message == msg {
			return // the same finding in another item of a list
		}
	}
	r.diags = append(r.diags, Diagnostic{Severity: sev, Code: code, Line: line, Column: col, Message: msg, Slot: slot})
}

// fail stops the render with an error.
func (r *renderer) fail(code Code, off int, slot, msg string) {
	r.report(SeverityError, code, off, slot, msg)
	r.failed = true
}

// broken handles a value that breaks its rule and returns the repair to
// make: repairNone to keep the value as it is. Under Strict it fails the
// render.
func (r *renderer) broken(v *violation, off int, slot string) repair {
	if v.advisory {
		r.report(SeverityWarning, v.code, off, slot, v.msg)
		return repairNone
	}
	if r.policy == Strict {
		r.fail(v.code, off, slot, v.msg)
		return repairNone
	}
	var done string
	switch v.fix {
	case repairCut:
		if v.maxChars > 0 {
			done = fmt.Sprintf("cut to %d characters", v.maxChars)
		} else {
			done = fmt.Sprintf("cut to %d bytes", v.maxBytes)
		}
	case repairOmit:
		done = "left out"
	case repairDrop:
		done = "element dropped"
	}
	r.report(SeverityWarning, v.code, off, slot, v.msg+"; "+done)
	return v.fix
}

// step counts work and reports whether the render may go on.
func (r *renderer) step(off int) bool {
	r.steps++
	if r.steps > maxRenderSteps {
		if !r.failed {
			r.fail(CodeRenderBudget, off, "", fmt.Sprintf(
				"rendering with these values takes more than %d steps; a section iterates over too many items", maxRenderSteps))
		}
		return false
	}
	if len(r.out)-r.start > maxResponseSize {
		if !r.failed {
			r.fail(CodeResponseTooLarge, off, "", fmt.Sprintf(
				"the response would be larger than %d bytes, the most Twilio accepts (https://www.twilio.com/docs/api/errors/11750)", maxResponseSize))
		}
		return false
	}
	return !r.failed
}

func (r *renderer) run(prog []op) {
	for i := range prog {
		o := &prog[i]
		if !r.step(o.off) {
			return
		}
		switch o.kind {
		case opStatic:
			r.out = append(r.out, o.text...)
		case opText:
			r.textOp(o)
		case opAttr:
			r.attrOp(o)
		case opSection:
			r.section(o.slot, o.inverted, o.once, o.off, func() { r.run(o.body) })
		case opElem:
			r.elemOp(o)
		case opCount:
			r.counters[o.paramCounter] += o.count
		}
	}
	if len(r.out)-r.start > maxResponseSize {
		r.step(0)
	}
}

// fill renders the parts of a value into the scratch buffer, raw.
func (r *renderer) fill(o *op) []byte {
	r.scratch = r.scratch[:0]
	r.parts(o.parts)
	return r.scratch
}

func (r *renderer) textOp(o *op) {
	v := r.fill(o)
	if o.rule != nil {
		if viol := o.rule.check(view(v)); viol != nil {
			switch r.broken(viol, o.off, o.rule.slot) {
			case repairCut:
				v = cut(v, viol.maxChars, viol.maxBytes)
			case repairDrop:
				r.drop = true
				return
			case repairOmit:
				return
			}
		}
	}
	r.out = escapeText(r.out, v)
}

func (r *renderer) attrOp(o *op) {
	v := r.fill(o)
	if o.rule != nil {
		if viol := o.rule.check(view(v)); viol != nil {
			switch r.broken(viol, o.off, o.rule.slot) {
			case repairCut:
				v = cut(v, viol.maxChars, viol.maxBytes)
			case repairOmit, repairDrop:
				return
			}
		}
	}
	if o.paramCounter != 0 {
		r.counters[o.paramCounter] += len(v)
	}
	r.out = append(r.out, o.text...)
	r.out = escapeAttr(r.out, v)
	r.out = append(r.out, o.quote)
}

func (r *renderer) elemOp(o *op) {
	e := o.elem
	for _, c := range e.scopeCounters {
		r.counters[c] = 0
	}
	mark, outer := len(r.out), r.drop
	r.drop = false
	r.run(o.body)
	dropped := r.drop && e.droppable
	r.drop = outer
	if !dropped && !r.failed {
		dropped = r.overCount(e)
	}
	if dropped {
		r.out = r.out[:mark]
		return
	}
	if e.countsNoun != 0 {
		r.counters[e.countsNoun]++
	}
	if e.nounCounter != 0 && r.counters[e.nounCounter] == 0 && !r.failed {
		viol := &violation{code: CodeNothingToDial, limit: true, fix: repairDrop, msg: fmt.Sprintf(
			"this <%s> has nothing to dial with these values: every noun in it was left out", e.name)}
		if r.broken(viol, e.off, e.name) == repairDrop {
			r.out = r.out[:mark]
		}
		return
	}
	if e.paramCounter != 0 && r.counters[e.paramCounter] > paramBudget {
		r.report(SeverityWarning, CodeParamsTotal, e.off, e.name, fmt.Sprintf(
			"the custom parameters of this <%s> add up to %d bytes; keep them under about %d bytes",
			e.name, r.counters[e.paramCounter], paramBudget))
	}
}

// overCount counts a rendered element in its scope's counters and reports
// whether it is one too many and must be dropped. Only elements that stay
// in the output count.
func (r *renderer) overCount(e *xElem) bool {
	drop := false
	for _, c := range e.counted {
		r.counters[c.counter]++
		if r.counters[c.counter] <= c.rule.max {
			continue
		}
		viol := &violation{code: c.rule.code, limit: true, fix: repairDrop, advisory: c.rule.advisory, msg: fmt.Sprintf(
			"with these values <%s> holds more than %d %s, the limit (%s); this <%s> is one too many",
			c.rule.scope, c.rule.max, c.rule.what, c.rule.source, e.name)}
		if r.broken(viol, e.off, e.name) == repairDrop {
			drop = true
		}
	}
	if drop {
		for _, c := range e.counted {
			r.counters[c.counter]--
		}
	}
	return drop
}

// section renders body as the section's parameter, in slot, says: once
// per item of a list, once for a present scalar, once when an inverted
// section's parameter is missing or blank. once limits a list to its
// first item.
func (r *renderer) section(slot int, inverted, once bool, off int, body func()) {
	vals := r.lookup(slot)
	truthy := len(vals) > 1 || len(vals) == 1 && strings.TrimSpace(vals[0]) != ""
	if inverted {
		if !truthy {
			body()
		}
		return
	}
	if !truthy {
		return
	}
	if once {
		vals = vals[:1]
	}
	for _, item := range vals {
		if !r.step(off) {
			return
		}
		r.items = append(r.items, item)
		body()
		r.items = r.items[:len(r.items)-1]
	}
}

// lookup returns the values of the parameter in slot; currentItem is the
// item of the innermost section.
func (r *renderer) lookup(slot int) []string {
	if slot == currentItem {
		if n := len(r.items); n > 0 {
			return r.items[n-1 : n]
		}
		return nil
	}
	if slot < len(r.slots) {
		return r.slots[slot]
	}
	return nil
}

// parts renders pieces of a value into the scratch buffer.
func (r *renderer) parts(ps []*part) {
	for _, p := range ps {
		switch p.kind {
		case partText:
			r.scratch = append(r.scratch, p.text...)
			r.boundScratch()
		case partVar:
			for i, v := range r.lookup(p.slot) {
				if i > 0 {
					r.scratch = append(r.scratch, ',')
				}
				enc := p.encode
				if enc >= encURLStart { // may start a URL: decided by what precedes it
					enc = enc.after(r.scratch)
				}
				if enc != encNone {
					r.scratch = appendEncoded(r.scratch, v, enc)
				} else {
					r.scratch = appendSanitized(r.scratch, v)
				}
				r.boundScratch()
			}
		case partSection:
			r.section(p.slot, p.inverted, false, p.off, func() { r.parts(p.parts) })
		case partE164:
			start := len(r.scratch)
			r.parts(p.parts)
			wrapped := string(r.scratch[start:])
			r.scratch = r.scratch[:start]
			if n, ok := e164(wrapped); ok {
				r.scratch = append(r.scratch, n...)
			} else if strings.TrimSpace(wrapped) != "" {
				r.report(SeverityWarning, CodeE164Invalid, p.off, "e164", fmt.Sprintf(
					"{{#e164}} found no phone number in %q; it renders as nothing", clip(wrapped)))
			}
		}
	}
}

// boundScratch keeps a slot's value from growing past what a response may
// hold: past that, the render fails on its size anyway (or a lenient cut
// keeps less), so the rest is never needed. It bounds the memory a render
// takes, whatever the values and sections repeat.
func (r *renderer) boundScratch() {
	if len(r.scratch) > maxResponseSize+utf8.UTFMax {
		end := maxResponseSize + 1
		for end > 0 && !utf8.RuneStart(r.scratch[end]) {
			end--
		}
		r.scratch = r.scratch[:end]
	}
}

// view reads b as a string without copying; the string must not outlive
// the next change to b.
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// cut shortens v to maxChars characters or maxBytes bytes, at a character
// boundary.
func cut(v []byte, maxChars, maxBytes int) []byte {
	if maxChars > 0 {
		n := 0
		for i := range view(v) {
			if n == maxChars {
				return v[:i]
			}
			n++
		}
		return v
	}
	if len(v) <= maxBytes {
		return v
	}
	end := maxBytes
	for end > 0 && !utf8.RuneStart(v[end]) {
		end--
	}
	return v[:end]
}
