package engine

import "strings"

// Values that land inside a URL or a SIP URI are percent-encoded, so that a
// request value stays one query value, one path segment or one SIP user: it
// can add no query parameter to an action URL and no header to a SIP URI.
// Only the first value of a slot may start the URL: written first, with
// nothing before it, it is left as it is, so a whole URL can still be passed
// in a parameter (and is then checked as a URL). Every later value is
// encoded as what follows it.

// encoding is how a variable's value is written into its slot.
type encoding uint8

const (
	encNone     encoding = iota
	encQuery             // after "?", or after another value: everything but unreserved characters
	encPath              // in a URL before "?": one path segment; also keeps : and sub-delimiters other than & and ;
	encSIPUser           // in a SIP URI before "?": unreserved characters and +
	encURLStart          // may start a URL: as it is when nothing precedes it in the slot, else encQuery
	encSIPStart          // may start a SIP URI: as it is when nothing precedes it in the slot, else encSIPUser
)

// after returns the encoding of a value written after slot, what its slot
// holds so far: only a value with nothing but whitespace before it starts
// the URL. A value that follows a value ends where the first one ends,
// which may be anywhere up to the query, so it is encoded as a
// continuation of it.
func (e encoding) after(slot []byte) encoding {
	if e != encURLStart && e != encSIPStart {
		return e
	}
	for _, c := range slot {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			if e == encURLStart {
				return encQuery
			}
			return encSIPUser
		}
	}
	return encNone
}

// markState is what precedes the next part of a URL or SIP URI slot, in
// source order. An element's text may be split into runs by comments; the
// state goes from one run to the next.
type markState struct {
	started bool // static text
	query   bool // a "?" in static text
	valued  bool // a value, in an earlier run of the element's text
}

// markURLParts sets the encoding of the variables of a URL value.
func markURLParts(parts []*part, st *markState) { markParts(parts, false, st) }

// markSIPParts sets the encoding of the variables of a SIP URI value.
func markSIPParts(parts []*part, st *markState) { markParts(parts, true, st) }

// markParts walks parts in order. A variable after a "?" is a query value;
// after other static text, a path segment (a SIP user); after nothing, it may
// start the URL, which rendering decides by what the slot holds so far (the
// variables before it may be absent or in the other branch of a section).
// The text of {{#e164}} is left alone: its output is a phone number.
func markParts(parts []*part, sip bool, st *markState) {
	beforeQuery, follow, start := encPath, encQuery, encURLStart
	if sip {
		beforeQuery, follow, start = encSIPUser, encSIPUser, encSIPStart
	}
	for _, p := range parts {
		switch p.kind {
		case partText:
			if strings.Trim(p.text, " \t\r\n") != "" {
				st.started = true // whitespace around a URL is not part of it
			}
			for i := 0; i < len(p.text); i++ {
				if p.text[i] == '?' {
					st.query = true
				}
			}
		case partVar:
			switch {
			case st.query:
				p.encode = encQuery
			case st.started:
				p.encode = beforeQuery
			case st.valued:
				p.encode = follow
			default:
				p.encode = start
			}
		case partSection:
			markParts(p.parts, sip, st)
		case partE164:
			st.started = true
		}
	}
}

// appendEncoded appends v percent-encoded for its place in a URL.
func appendEncoded(dst []byte, v string, enc encoding) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(v); i++ {
		c := v[i]
		if keepInURL(c, enc) {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', hex[c>>4], hex[c&15])
	}
	return dst
}

func keepInURL(c byte, enc encoding) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
		return true
	}
	switch enc {
	case encPath:
		return c == ':' || c == '!' || c == '$' || c == '\'' || c == '(' || c == ')' || c == '*' || c == '+' || c == ',' || c == '='
	case encSIPUser:
		return c == '+'
	}
	return false
}
