package api

import (
	"net/url"
	"strings"
	"sync"
)

// varSet is the set of parameter names a template reads.
type varSet struct {
	names map[string]struct{}
	// lengths has bit n set when a name read, or that name with "[]", is
	// n bytes long (bit 63: 63 or more). Twilio sends a dozen parameters
	// and a template reads a few: most are skipped on their length alone,
	// without hashing them (BenchmarkBinParams).
	lengths uint64
}

func newVarSet(names []string) varSet {
	s := varSet{names: make(map[string]struct{}, len(names))}
	for _, n := range names {
		s.names[n] = struct{}{}
		s.lengths |= lengthBit(len(n)) | lengthBit(len(n)+len("[]"))
	}
	return s
}

func lengthBit(n int) uint64 { return 1 << min(n, 63) }

// wants reports whether the template reads the parameter name; "X[]" is
// read as X, as the engine does.
func (s varSet) wants(name string) bool {
	if s.lengths&lengthBit(len(name)) == 0 {
		return false
	}
	if _, ok := s.names[name]; ok {
		return true
	}
	if base, ok := strings.CutSuffix(name, "[]"); ok {
		_, ok = s.names[base]
		return ok
	}
	return false
}

// addParams adds to dst the parameters of a query string or form body that
// the template reads, decoded as url.ParseQuery decodes them, skipping the
// rest without decoding them: Twilio sends a dozen parameters and a
// template reads a few. A pair url.ParseQuery would refuse is skipped, as
// url.URL.Query does.
func (s varSet) addParams(dst map[string][]string, raw string) {
	s.appendParams(dst, raw, nil)
}

// appendParams is addParams keeping the first value of each name in
// *store, when store is not nil, rather than in a slice of its own: one
// allocation per request instead of one per parameter.
func (s varSet) appendParams(dst map[string][]string, raw string, store *[]string) {
	semicolons := strings.IndexByte(raw, ';') >= 0 // looked for once: Twilio sends none
	for i := 0; i < len(raw); {
		// The key, read a byte at a time: most keys are skipped on their
		// length once read, with no call for each to look into them.
		start, keyEscaped := i, false
		for ; i < len(raw) && raw[i] != '=' && raw[i] != '&'; i++ {
			keyEscaped = keyEscaped || raw[i] == '%' || raw[i] == '+'
		}
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
		if !s.wants(key) {
			continue
		}
		if escaped(value) {
			v, err := url.QueryUnescape(value)
			if err != nil {
				continue
			}
			value = v
		}
		if old, ok := dst[key]; ok || store == nil {
			dst[key] = append(old, value)
		} else {
			// Capacity 1: a second value copies rather than overwrite the
			// next name's.
			*store = append(*store, value)
			n := len(*store)
			dst[key] = (*store)[n-1 : n : n]
		}
	}
}

// escaped reports whether a query string's key or value needs decoding.
// (strings.ContainsAny builds a set of its characters on every call: on
// a dozen pairs a request, that was a fifth of the time spent here.)
func escaped(s string) bool {
	return strings.IndexByte(s, '%') >= 0 || strings.IndexByte(s, '+') >= 0
}

// requestParams holds the parameters of one request while its bin renders. The
// bin URL recycles them (getParams, putParams): their maps and the backing
// store of single values would otherwise be allocated anew per request.
type requestParams struct {
	values map[string][]string // what the template gets
	body   map[string][]string // the form body's, before they replace the query's
	store  []string
}

var paramsPool = sync.Pool{New: func() any {
	return &requestParams{values: map[string][]string{}, body: map[string][]string{}}
}}

func getParams() *requestParams { return paramsPool.Get().(*requestParams) }

// putParams recycles p, unless a request with many values grew it.
func putParams(p *requestParams) {
	if cap(p.store) > 64 {
		return
	}
	clear(p.values)
	clear(p.body)
	clear(p.store) // no strings kept alive in the pool
	p.store = p.store[:0]
	paramsPool.Put(p)
}

// binParams returns the parameters a bin's template reads from a request:
// the query string's, then the form body's, whose values replace the
// query's for a name in both (Twilio sends its own parameters in the body).
// form is the parsed body when the caller has parsed it (to check a
// signature), else rawForm is the body, or "". The map returned is
// p.values, valid until p is recycled.
func (s varSet) binParams(rawQuery string, form url.Values, rawForm string, p *requestParams) map[string][]string {
	s.appendParams(p.values, rawQuery, &p.store)
	if form != nil {
		for name, values := range form {
			if s.wants(name) {
				p.values[name] = values
			}
		}
		return p.values
	}
	if rawForm != "" {
		s.appendParams(p.body, rawForm, &p.store)
		for name, values := range p.body {
			p.values[name] = values
		}
	}
	return p.values
}
