package api

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/labstack/echo/v4"
	"github.com/twimlbin/twimlbin/engine"
	"github.com/twimlbin/twimlbin/store"
)

// xmlContentType is the Content-Type of TwiML responses.
const xmlContentType = "text/xml; charset=utf-8"

// renderBuffers recycles the buffers bins are rendered into.
var renderBuffers = sync.Pool{New: func() any {
	b := make([]byte, 0, 4<<10)
	return &b
}}

// serveBin answers GET and POST /twiml/{sid}, the URL Twilio requests: it
// renders the bin's template with the request's parameters.
//
// Parameters come from the query string and, for a form-encoded POST, from
// the body; a name in both takes the body's values. An unknown or malformed
// SID is a 404. When the bin's account holds a Twilio auth token, a request
// without its valid X-Twilio-Signature is a 403. A render that fails under
// the strict policy is a 500, which makes Twilio use the fallback URL. Each
// render diagnostic is written to the bin's event log, and the request is
// counted through the bin's usage Counter, both in the store's memory
// until its next flush. The request path
// reads the database only when the bin or its account has been written
// since the bin was last served (templateCache).
func (s *Server) serveBin(c echo.Context) error {
	bin, prog, err := s.lookupBin(c.Param("sid"))
	if err != nil {
		return err
	}
	req := c.Request()
	// The body's memory is recycled when the answer is written: the
	// parameters taken from it, which share it, are let go first.
	var body string
	if req.Method == http.MethodPost && isForm(req.Header[echo.HeaderContentType]) {
		buf := bodyBuffers.Get().(*[]byte)
		defer recycle(&bodyBuffers, buf, maxPooledBody)
		if body, err = readBody(req, buf); err != nil {
			return err
		}
	}
	form, err := s.checkSignature(c, &bin, body)
	if err != nil {
		return err
	}
	if bin.compileErr != nil {
		// Saved under an older engine, the template no longer compiles.
		now := time.Now()
		s.db.Count(bin.counter, now)
		var compErr *engine.CompileError
		if errors.As(bin.compileErr, &compErr) {
			s.logEvents(bin.sid, now, compErr.Diagnostics.Errors())
		}
		s.metrics.binRequests[outcomeFailed].Inc()
		return &Error{Status: errRenderFailed.Status, Code: errRenderFailed.Code, Message: errRenderFailed.Message, cause: bin.compileErr}
	}

	buf := renderBuffers.Get().(*[]byte)
	defer recycle(&renderBuffers, buf, 128<<10)
	p := getParams()
	defer putParams(p)
	now := time.Now()
	out, diags, err := prog.tmpl.AppendRenderSlots((*buf)[:0], prog.vars.binParams(req.URL.RawQuery, form, body, p), bin.policy)
	elapsed := time.Since(now)
	*buf = out[:0]

	s.db.Count(bin.counter, now)
	s.logEvents(bin.sid, now, diags)
	outcome := outcomeOK
	switch {
	case err != nil:
		outcome = outcomeFailed
	case len(diags) > 0:
		outcome = outcomeWarning
	}
	s.metrics.binRequests[outcome].Inc()
	s.metrics.renderTime[outcome].Observe(elapsed.Seconds())
	if err != nil {
		return errRenderFailed
	}
	res := c.Response()
	h := res.Header()
	h[echo.HeaderContentType] = xmlContentTypes
	h[echo.HeaderCacheControl] = noStore
	res.WriteHeader(http.StatusOK)
	_, err = res.Write(out)
	return err
}

// lookupBin finds the bin a bin URL names, with its compiled template (nil
// when it no longer compiles): from memory unless the bin or its account
// has been written since it was read. A malformed SID never reaches the
// table or the store (templateCache.serve turns it away), and every miss
// is the same 404.
func (s *Server) lookupBin(sid string) (servedBin, *program, error) {
	bin, prog, err := s.cache.serve(sid)
	if errors.Is(err, store.ErrNotFound) {
		s.metrics.binRequests[outcomeNotFound].Inc()
		return servedBin{}, nil, errNotFound
	}
	return bin, prog, err
}

// checkSignature refuses a request to a bin whose account holds a Twilio
// auth token unless it carries the token's X-Twilio-Signature. It returns
// the parsed form body, which the signature covers, when it had to parse it.
func (s *Server) checkSignature(c echo.Context, bin *servedBin, body string) (url.Values, error) {
	token := bin.twilioToken
	if token == "" {
		return nil, nil
	}
	var form url.Values
	if body != "" {
		var err error
		if form, err = url.ParseQuery(body); err != nil {
			return nil, newError(http.StatusBadRequest, codeBadBody, "The form-encoded body is malformed.")
		}
	}
	signedURL := s.requestURL(c)
	if validSignature(token, c.Request().Header.Get("X-Twilio-Signature"), signedURL, form) {
		return form, nil
	}
	s.metrics.binRequests[outcomeForbidden].Inc()
	s.db.AddEvent(bin.sid, store.Event{
		Time: time.Now(), Severity: engine.SeverityError.String(), Code: strconv.Itoa(codeBadSignature),
		Message: "request refused with 403: X-Twilio-Signature is missing or not signed with the account's Twilio auth token for " + signedURL,
	})
	return nil, errBadSignature
}

// logEvents writes render diagnostics to a bin's event log.
func (s *Server) logEvents(sid string, at time.Time, diags engine.Diagnostics) {
	for _, d := range diags {
		s.db.AddEvent(sid, store.Event{
			Time: at, Severity: d.Severity.String(), Code: string(d.Code), Message: d.Message,
			Slot: d.Slot, Line: d.Line, Column: d.Column,
		})
	}
}

// isForm reports whether a request's Content-Type values say form
// encoding. Twilio's say it exactly, and are compared before anything is
// cut or folded.
func isForm(contentType []string) bool {
	if len(contentType) == 0 {
		return false
	}
	if contentType[0] == echo.MIMEApplicationForm {
		return true
	}
	mediaType, _, _ := strings.Cut(contentType[0], ";")
	return strings.EqualFold(strings.TrimSpace(mediaType), echo.MIMEApplicationForm)
}

// bodyBuffers recycles the memory bin URL bodies are read into.
var bodyBuffers = sync.Pool{New: func() any { return new([]byte) }}

// recycle puts buf back in pool unless it grew past maxCap: a rare large
// buffer is let go rather than kept for every later use.
func recycle(pool *sync.Pool, buf *[]byte, maxCap int) {
	if cap(*buf) <= maxCap {
		pool.Put(buf)
	}
}

// readBody reads a request body into *buf, grown as needed, and returns it
// as a string sharing buf's memory: valid until buf is recycled, which
// nothing made from it may outlive. A body whose length the request
// states, as Twilio's do, is read in one call.
func readBody(req *http.Request, buf *[]byte) (string, error) {
	b := (*buf)[:0]
	if n := req.ContentLength; n > 0 {
		b = slices.Grow(b, int(n))[:n] // no larger than the body limit, checked first
		if _, err := io.ReadFull(req.Body, b); err != nil {
			return "", bodyError(err)
		}
	} else {
		for {
			if len(b) == cap(b) {
				b = slices.Grow(b, 512)
			}
			n, err := req.Body.Read(b[len(b):cap(b)])
			b = b[:len(b)+n]
			if err == io.EOF {
				break
			}
			if err != nil {
				return "", bodyError(err)
			}
		}
	}
	*buf = b
	if len(b) == 0 {
		return "", nil
	}
	return unsafe.String(&b[0], len(b)), nil
}

// bodyError is the error of a request whose body could not be read: the
// body limit's, which answers 413, or a 400.
func bodyError(err error) error {
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		return err
	}
	return newError(http.StatusBadRequest, codeBadBody, "The request body could not be read.")
}

// maxPooledBody is the largest body buffer kept for reuse.
const maxPooledBody = 64 << 10

// requestURL is the URL Twilio requested, for signatures: the public base
// URL followed by the request's path and query as received.
func (s *Server) requestURL(c echo.Context) string {
	uri := c.Request().RequestURI
	if uri == "" || !strings.HasPrefix(uri, "/") {
		uri = c.Request().URL.RequestURI()
	}
	return s.baseURL(c) + uri
}
