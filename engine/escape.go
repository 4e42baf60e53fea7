package engine

import "unicode/utf8"

// Request values are inert text: they are sanitized (bytes that are not
// UTF-8, and characters XML 1.0 forbids, become U+FFFD) and escaped for the
// place they land, so no value can start, end or alter markup.

// appendSanitized appends v to dst, replacing what XML cannot hold.
func appendSanitized(dst []byte, v string) []byte {
	start := 0
	for i := 0; i < len(v); {
		c := v[i]
		if c >= 0x20 && c < utf8.RuneSelf {
			i++
			continue
		}
		if c == '\t' || c == '\n' || c == '\r' {
			i++
			continue
		}
		r, size := rune(c), 1
		if c >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(v[i:])
		}
		if (r == utf8.RuneError && size == 1) || !isXMLChar(r) {
			dst = append(dst, v[start:i]...)
			dst = append(dst, "\uFFFD"...)
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, v[start:]...)
}

// escapeText appends v escaped for element content. A carriage return is
// written as a reference, since XML parsers turn a literal one into a line
// feed.
func escapeText(dst, v []byte) []byte { return appendEscaped(dst, v, &textEscapes) }

// escapeAttr appends v escaped for a quoted attribute value. Tabs and line
// breaks are written as references, since attribute-value normalization
// would turn literal ones into spaces.
func escapeAttr(dst, v []byte) []byte { return appendEscaped(dst, v, &attrEscapes) }

// textEscapes and attrEscapes give the reference written for each byte
// that needs one, "" for the rest: a table lookup a byte, where a switch
// took a quarter of a render (BenchmarkRenderContextual).
var textEscapes, attrEscapes = escapeTable("&<>\r"), escapeTable("&<>\"'\t\n\r")

func escapeTable(chars string) (t [256]string) {
	refs := map[byte]string{'&': "&amp;", '<': "&lt;", '>': "&gt;", '"': "&quot;", '\'': "&apos;",
		'\t': "&#9;", '\n': "&#10;", '\r': "&#13;"}
	for i := range len(chars) {
		t[chars[i]] = refs[chars[i]]
	}
	return t
}

func appendEscaped(dst, v []byte, refs *[256]string) []byte {
	start := 0
	for i, c := range v {
		if ref := refs[c]; ref != "" {
			dst = append(dst, v[start:i]...)
			dst = append(dst, ref...)
			start = i + 1
		}
	}
	return append(dst, v[start:]...)
}
