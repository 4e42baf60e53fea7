package engine

// Values that land inside a URL or a SIP URI are percent-encoded, so that a
// request value stays one query value, one path segment or one SIP user: it
// can add no query parameter to an action URL and no header to a SIP URI.
// A value that starts the URL is left as it is, so a whole URL can still be
// passed in a parameter (and is then checked as a URL).

// encoding is how a variable's value is written into its slot.
type encoding uint8

const (
	encNone    encoding = iota
	encQuery            // after "?": everything but unreserved characters
	encPath             // in a URL before "?": one path segment; also keeps : and sub-delimiters other than & and ;
	encSIPUser          // in a SIP URI before "?": unreserved characters and +
)

// markURLParts sets the encoding of the variables of a URL value.
func markURLParts(parts []*part) { markParts(parts, encPath, new(bool), new(bool)) }

// markSIPParts sets the encoding of the variables of a SIP URI value.
func markSIPParts(parts []*part) { markParts(parts, encSIPUser, new(bool), new(bool)) }

// markParts walks parts in order; started is set once static text precedes
// the current part, query once a "?" does. The text of {{#e164}} is left
// alone: its output is a phone number.
func markParts(parts []*part, beforeQuery encoding, started, query *bool) {
	for _, p := range parts {
		switch p.kind {
		case partText:
			if p.text != "" {
				*started = true
			}
			for i := 0; i < len(p.text); i++ {
				if p.text[i] == '?' {
					*query = true
				}
			}
		case partVar:
			switch {
			case *query:
				p.encode = encQuery
			case *started:
				p.encode = beforeQuery
			}
		case partSection:
			markParts(p.parts, beforeQuery, started, query)
		case partE164:
			*started = true
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
