package api

import (
	"net/url"
	"strings"
	"sync"
)

// varSet holds the parameter names a template reads, in the order of
// engine.Template.Variables: a request's values are gathered into a slot
// per name, which the template renders from (AppendRenderSlots).
type varSet struct {
	names []string
	index map[string]int // a name's position in names
	// lengths has bit n set when a name read, or that name with "[]", is
	// n bytes long (bit 63: 63 or more). Twilio sends a dozen parameters
	// and a template reads a few: most are skipped on their length alone,
	// without hashing them (BenchmarkBinParams).
	lengths uint64
}

func newVarSet(names []string) varSet {
	s := varSet{names: names, index: make(map[string]int, len(names))}
	for i, n := range names {
		s.index[n] = i
		s.lengths |= lengthBit(len(n)) | lengthBit(len(n)+len("[]"))
	}
	return s
}

func lengthBit(n int) uint64 { return 1 << min(n, 63) }

// The slots of a request's values: for each source, the query string's
// and the form body's, and each spelling of a name, X and X[], one slot
// per name of the varSet, in this order; then the resolved ones, which
// the template gets.
const (
	fromQuery = 0 // slots of the query string's X, then its X[]
	fromBody  = 2 // the body's
	resolved  = 4
	regions   = 5 // of len(names) slots each
)

// wanted returns the positions of the names that a parameter name fills:
// the name itself as X (x >= 0), and as X[] the name without "[]" (b >=
// 0); -1 for neither. A template may read both X and X[], so that a
// parameter "X[]" fills two slots.
func (s varSet) wanted(name string) (x, b int) {
	x, b = -1, -1
	if s.lengths&lengthBit(len(name)) == 0 {
		return x, b
	}
	if i, ok := s.index[name]; ok {
		x = i
	}
	if base, ok := strings.CutSuffix(name, "[]"); ok {
		if i, ok := s.index[base]; ok {
			b = i
		}
	}
	return x, b
}

// appendParams adds to p's slots of source (fromQuery or fromBody) the
// parameters of a query string or form body that the template reads,
// decoded as url.ParseQuery decodes them, skipping the rest without
// decoding them: Twilio sends a dozen parameters and a template reads a
// few. A pair url.ParseQuery would refuse is skipped, as url.URL.Query
// does.
func (s varSet) appendParams(p *requestParams, raw string, source int) {
	n := len(s.names)
	semicolons := strings.IndexByte(raw, ';') >= 0 // looked for once: Twilio sends none
	for i := 0; i < len(raw); {
		// The key, read a byte at a time: most keys are skipped on their
		// length once read, with no call for each to look into them.
		start, keyClass := i, byte(0)
		for ; i < len(raw); i++ {
			c := keyBytes[raw[i]]
			if c == keyEnds {
				break
			}
			keyClass |= c
		}
		keyEscaped := keyClass != 0
		key, value := raw[start:i], ""
		end := len(raw)
		if next := strings.IndexByte(raw[i:], '&'); next >= 0 {
			end = i + next
		}
		if i < end { // raw[i] is '='
			value = raw[i+1 : end]
		}
		pair := raw[start:end]
		i = end + 1
		if pair == "" || !keyEscaped && s.lengths&lengthBit(len(key)) == 0 {
			continue
		}
		if semicolons && strings.IndexByte(pair, ';') >= 0 {
			continue // as url.ParseQuery
		}
		if keyEscaped {
			k, err := url.QueryUnescape(key)
			if err != nil {
				continue
			}
			key = k
		}
		x, b := s.wanted(key)
		if x < 0 && b < 0 {
			continue
		}
		if escaped(value) {
			v, err := url.QueryUnescape(value)
			if err != nil {
				continue
			}
			value = v
		}
		if x >= 0 {
			p.add(source*n+x, value)
		}
		if b >= 0 {
			p.add((source+1)*n+b, value)
		}
	}
}

// keyBytes classes the bytes of a query string's key: keyEnds for the
// bytes that end it, '=' and '&'; keyEscapes for those that need decoding,
// '%' and '+'; 0 for the rest.
var keyBytes = func() (class [256]byte) {
	class['='], class['&'] = keyEnds, keyEnds
	class['%'], class['+'] = keyEscapes, keyEscapes
	return class
}()

const (
	keyEscapes = 1
	keyEnds    = 2
)

// escaped reports whether a query string's key or value needs decoding.
// (strings.ContainsAny builds a set of its characters on every call: on
// a dozen pairs a request, that was a fifth of the time spent here.)
func escaped(s string) bool {
	return strings.IndexByte(s, '%') >= 0 || strings.IndexByte(s, '+') >= 0
}

// requestParams holds the parameters of one request while its bin
// renders. The bin URL recycles them (getParams, putParams): their slots
// and the backing store of single values would otherwise be allocated
// anew per request.
type requestParams struct {
	slots [][]string // regions of len(varSet.names) slots
	store []string   // the first value of each slot, which holds it with capacity 1
}

var paramsPool = sync.Pool{New: func() any { return new(requestParams) }}

func getParams() *requestParams { return paramsPool.Get().(*requestParams) }

// putParams recycles p, unless a request with many values or a template
// with many names grew it.
func putParams(p *requestParams) {
	if cap(p.store) > 64 || cap(p.slots) > 64*regions {
		return
	}
	clear(p.slots) // no strings kept alive in the pool
	clear(p.store)
	p.store = p.store[:0]
	paramsPool.Put(p)
}

// add appends value to the slot at pos.
func (p *requestParams) add(pos int, value string) {
	if old := p.slots[pos]; old != nil {
		p.slots[pos] = append(old, value)
		return
	}
	// Capacity 1: a second value copies rather than overwrite the next
	// slot's.
	p.store = append(p.store, value)
	n := len(p.store)
	p.slots[pos] = p.store[n-1 : n : n]
}

// binParams returns the values of each name a bin's template reads from a
// request, by position in s.names: the form body's replace the query
// string's for a name in both (Twilio sends its own parameters in the
// body), and a name X with no values takes those of X[], as the engine
// reads a map of values. form is the parsed body when the caller has
// parsed it (to check a signature), else rawForm is the body, or "". The
// slots returned are p's, valid until p is recycled.
func (s varSet) binParams(rawQuery string, form url.Values, rawForm string, p *requestParams) [][]string {
	n := len(s.names)
	if cap(p.slots) < regions*n {
		p.slots = make([][]string, regions*n)
	}
	p.slots = p.slots[:regions*n]
	s.appendParams(p, rawQuery, fromQuery)
	if form != nil {
		for name, values := range form {
			x, b := s.wanted(name)
			if x >= 0 {
				p.slots[fromBody*n+x] = values
			}
			if b >= 0 {
				p.slots[(fromBody+1)*n+b] = values
			}
		}
	} else if rawForm != "" {
		s.appendParams(p, rawForm, fromBody)
	}
	out := p.slots[resolved*n:]
	for i := range out {
		switch {
		case p.slots[fromBody*n+i] != nil:
			out[i] = p.slots[fromBody*n+i]
		case p.slots[fromQuery*n+i] != nil:
			out[i] = p.slots[fromQuery*n+i]
		case p.slots[(fromBody+1)*n+i] != nil:
			out[i] = p.slots[(fromBody+1)*n+i]
		default:
			out[i] = p.slots[(fromQuery+1)*n+i]
		}
	}
	return out
}
