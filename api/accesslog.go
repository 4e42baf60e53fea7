package api

import (
	"net/netip"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// accessLine is what the access log says of a request. The line is
// log/slog's text format, as the server's other log lines are, written by
// hand: slog's TextHandler takes several times as long, on every request.
type accessLine struct {
	at        time.Time
	requestID string
	method    string
	path      string // the path only: the query holds callers' numbers
	route     string
	status    int
	bytes     int64
	duration  time.Duration
	// remoteIP is the client's address as the rate limits take it
	// (ratelimit.ClientAddr), invalid when there is none.
	remoteIP netip.Addr
}

// accessLogTime is slog's text time format: RFC 3339 with milliseconds.
const accessLogTime = "2006-01-02T15:04:05.000Z07:00"

// accessBuffers recycles the buffers access lines are written into.
var accessBuffers = sync.Pool{New: func() any {
	b := make([]byte, 0, 256)
	return &b
}}

// appendTo appends the line to dst, ending it with a newline.
func (l *accessLine) appendTo(dst []byte) []byte {
	dst = append(dst, "time="...)
	dst = appendLogTime(dst, l.at)
	dst = append(dst, " level=INFO msg=request request_id="...)
	dst = appendLogValue(dst, l.requestID)
	dst = append(dst, " method="...)
	dst = appendLogValue(dst, l.method)
	dst = append(dst, " path="...)
	dst = appendLogValue(dst, l.path)
	dst = append(dst, " route="...)
	dst = appendLogValue(dst, l.route)
	dst = append(dst, " status="...)
	dst = strconv.AppendInt(dst, int64(l.status), 10)
	dst = append(dst, " bytes="...)
	dst = strconv.AppendInt(dst, l.bytes, 10)
	dst = append(dst, " duration="...)
	dst = append(dst, l.duration.String()...)
	dst = append(dst, " remote_ip="...)
	if l.remoteIP.IsValid() { // an address never needs quoting
		dst = l.remoteIP.AppendTo(dst)
	} else {
		dst = append(dst, `""`...)
	}
	return append(dst, '\n')
}

// appendLogValue appends s as slog's TextHandler writes a string value:
// as it is, or quoted when it is empty or holds a space, '=', '"', a
// control character or anything that is not printable UTF-8. A path is
// the client's to choose: quoted, it cannot forge a field or a line.
func appendLogValue(dst []byte, s string) []byte {
	if needsQuoting(s) {
		return strconv.AppendQuote(dst, s)
	}
	return append(dst, s...)
}

// plainLogBytes holds the ASCII bytes a value may hold unquoted: printable,
// neither a space, '=' nor '"'.
var plainLogBytes = func() (plain [utf8.RuneSelf]bool) {
	for b := byte('!'); b < 0x7f; b++ {
		plain[b] = b != '=' && b != '"'
	}
	return plain
}()

func needsQuoting(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if !plainLogBytes[b] {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}
