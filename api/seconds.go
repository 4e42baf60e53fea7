package api

import (
	"net/http"
	"sync/atomic"
	"time"
)

// secondTexts are the texts of one second of the clock that every answer
// and access line of that second share: the access log's time up to the
// second and its zone, and the Date header. Made once a second rather than
// formatted on every request (BenchmarkAccessLog).
type secondTexts struct {
	unix int64
	loc  *time.Location
	// logDate and logZone surround the milliseconds in accessLogTime.
	logDate, logZone []byte
	// date is the Date header's values, which net/http would otherwise
	// format on every answer. Set in response headers: never changed.
	date []string
}

// currentSecond is the second most recently asked for.
var currentSecond atomic.Pointer[secondTexts]

// textsOf returns the texts of t's second.
func textsOf(t time.Time) *secondTexts {
	unix := t.Unix()
	if s := currentSecond.Load(); s != nil && s.unix == unix && s.loc == t.Location() {
		return s
	}
	whole := t.Truncate(time.Second)
	s := &secondTexts{
		unix:    unix,
		loc:     t.Location(),
		logDate: whole.AppendFormat(nil, "2006-01-02T15:04:05"),
		logZone: whole.AppendFormat(nil, "Z07:00"),
		date:    []string{whole.UTC().Format(http.TimeFormat)},
	}
	currentSecond.Store(s)
	return s
}

// appendLogTime appends t in accessLogTime's format.
func appendLogTime(dst []byte, t time.Time) []byte {
	s := textsOf(t)
	ms := t.Nanosecond() / int(time.Millisecond)
	dst = append(dst, s.logDate...)
	dst = append(dst, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
	return append(dst, s.logZone...)
}
