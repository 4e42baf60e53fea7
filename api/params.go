package api

import (
	"net/url"
	"strings"
)

// varSet is the set of parameter names a template reads.
type varSet map[string]struct{}

func newVarSet(names []string) varSet {
	s := make(varSet, len(names))
	for _, n := range names {
		s[n] = struct{}{}
	}
	return s
}

// wants reports whether the template reads the parameter name; "X[]" is
// read as X, as the engine does.
func (s varSet) wants(name string) bool {
	if _, ok := s[name]; ok {
		return true
	}
	if base, ok := strings.CutSuffix(name, "[]"); ok {
		_, ok = s[base]
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
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		if strings.Contains(pair, ";") {
			continue // as url.ParseQuery
		}
		key, value, _ := strings.Cut(pair, "=")
		if strings.ContainsAny(key, "%+") {
			k, err := url.QueryUnescape(key)
			if err != nil {
				continue
			}
			key = k
		}
		if !s.wants(key) {
			continue
		}
		if strings.ContainsAny(value, "%+") {
			v, err := url.QueryUnescape(value)
			if err != nil {
				continue
			}
			value = v
		}
		dst[key] = append(dst[key], value)
	}
}

// binParams returns the parameters a bin's template reads from a request:
// the query string's, then the form body's, whose values replace the
// query's for a name in both (Twilio sends its own parameters in the body).
// form is the parsed body when the caller has parsed it (to check a
// signature), else rawForm is the body, or "".
func (s varSet) binParams(rawQuery string, form url.Values, rawForm string) map[string][]string {
	params := make(map[string][]string, len(s))
	s.addParams(params, rawQuery)
	if form != nil {
		for name, values := range form {
			if s.wants(name) {
				params[name] = values
			}
		}
		return params
	}
	if rawForm != "" {
		fromForm := make(map[string][]string, len(s))
		s.addParams(fromForm, rawForm)
		for name, values := range fromForm {
			params[name] = values
		}
	}
	return params
}
