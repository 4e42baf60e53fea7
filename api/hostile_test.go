package api

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/twimlbin/twimlbin/internal/backendtest"
	"github.com/twimlbin/twimlbin/internal/namecases"
	"github.com/twimlbin/twimlbin/internal/ratelimit"
	"github.com/twimlbin/twimlbin/store"
)

// The promises of the service about hostile requests, as the README states
// them. Every case below names the one it guards: an attacker holds an
// account of their own and sends any request to any URL.
const (
	promiseIsolation   = "each account sees only its own bins: another account's bin is the same 404 as one that does not exist"
	promiseEnumeration = "an unknown, malformed, deleted or other account's SID gets the same 404"
	promiseSignature   = "a bin of an account holding a Twilio auth token answers only requests carrying its valid X-Twilio-Signature"
	promiseBodyWins    = "a name in the query and the form body takes the body's values; other bodies add no value"
	promiseParams      = "request parameters are decoded as url.ParseQuery decodes them; their values are inert text"
	promiseErrorShape  = "every error is a clear 4xx with the JSON shape {code, message, more_info, status}"
	promiseLimit       = "every size a client controls has a limit, enforced with a clear error"
	promiseInert       = "every answer of the bin URL and the API is inert in a browser: Content-Security-Policy default-src 'none' with sandbox, and nosniff"
	promiseNoBrowsers  = "a browser on another site cannot change anything through the API: cross-origin writes are refused with 403"
	promiseNoPrompt    = "a 401 from the API never invites a browser to ask for and keep credentials"
)

// hostileHeaderBytes is http.Server.MaxHeaderBytes of `twimlbin serve`
// (maxHeaderBytes in cmd/twimlbin/serve.go). net/http reads up to 4096
// bytes more than it before refusing a request head with 431.
const (
	hostileHeaderBytes = 64 << 10
	hostileHeaderSlop  = 4096
)

// withoutRequestID returns a response's headers without X-Request-Id, the
// one header that differs between two otherwise identical answers.
func withoutRequestID(rec *httptest.ResponseRecorder) http.Header {
	h := rec.Header().Clone()
	h.Del(echo.HeaderXRequestID)
	return h
}

// sameAnswer fails unless two answers have the same status, body and
// headers but for the request ID.
func sameAnswer(t *testing.T, what string, got, want *httptest.ResponseRecorder) {
	t.Helper()
	if got.Code != want.Code || got.Body.String() != want.Body.String() {
		t.Errorf("%s: %d %s\nwant %d %s", what, got.Code, got.Body, want.Code, want.Body)
	}
	if g, w := withoutRequestID(got), withoutRequestID(want); !maps.EqualFunc(g, w, slices.Equal) {
		t.Errorf("%s: headers %v\nwant %v", what, g, w)
	}
}

// TestHostileCrossAccount: a tenant with bins of their own reads, updates,
// deletes, previews, restores and lists another account's bins, with and
// without If-Match, and gets exactly what a bin that never existed gets.
func TestHostileCrossAccount(t *testing.T) {
	e := newEnv(t, Config{})
	alice := e.newUser("alice")
	mallory := e.newUser("mallory")
	theirs := e.createBin(alice, helloTemplate, "")
	e.ok(req{method: "POST", path: "/api/v1/bins/" + theirs.SID, user: &alice, json: map[string]any{"friendly_name": "v2"}}, http.StatusOK, nil)
	mine := e.createBin(mallory, dialTemplate, "")
	deleted := e.createBin(alice, helloTemplate, "")
	e.ok(req{method: "DELETE", path: "/api/v1/bins/" + deleted.SID, user: &alice}, http.StatusNoContent, nil)

	unknown := "EH" + strings.Repeat("0", 32)
	type route struct {
		method, suffix string
		json           any
		ifMatch        string
	}
	routes := []route{
		{"GET", "", nil, ""},
		{"POST", "", map[string]any{"friendly_name": "mine now"}, ""},
		{"POST", "", map[string]any{"template": dialTemplate}, `"2"`},
		{"POST", "", map[string]any{"friendly_name": "stale"}, `"1"`},
		{"PATCH", "", map[string]any{"render_policy": "strict"}, "*"},
		{"DELETE", "", nil, ""},
		{"DELETE", "", nil, `"2"`},
		{"DELETE", "", nil, `"99"`},
		{"GET", "/revisions", nil, ""},
		{"GET", "/revisions/1", nil, ""},
		{"GET", "/revisions/2", nil, ""},
		{"POST", "/revisions/1/restore", nil, ""},
		{"POST", "/revisions/1/restore", nil, `"99"`},
		{"POST", "/preview", map[string]any{"params": map[string]any{"name": "x"}}, ""},
		{"POST", "/preview", map[string]any{"render_policy": "strict"}, ""},
		{"GET", "/events", nil, ""},
		{"GET", "/events?limit=1", nil, ""},
		{"GET", "/usage", nil, ""},
	}
	for _, r := range routes {
		name := r.method + " " + r.suffix + " If-Match " + r.ifMatch
		t.Run(name, func(t *testing.T) {
			e.t = t
			do := func(sid string) *httptest.ResponseRecorder {
				rr := req{method: r.method, path: "/api/v1/bins/" + sid + r.suffix, user: &mallory, json: r.json}
				if r.ifMatch != "" {
					rr.header = http.Header{"If-Match": {r.ifMatch}}
				}
				return e.do(rr)
			}
			want := do(unknown)
			checkError(t, promiseIsolation+": unknown", want, 404, codeNotFound)
			sameAnswer(t, promiseIsolation+": another account's bin", do(theirs.SID), want)
			sameAnswer(t, promiseEnumeration+": a deleted bin", do(deleted.SID), want)
			sameAnswer(t, promiseEnumeration+": a malformed SID", do("EH123"), want)
		})
	}
	e.t = t

	// Nothing of alice's changed, and mallory's own bin works.
	var got binResource
	e.ok(req{method: "GET", path: "/api/v1/bins/" + theirs.SID, user: &alice}, http.StatusOK, &got)
	if got.Revision != 2 || got.FriendlyName != "v2" || got.Template != helloTemplate || got.RenderPolicy != "lenient" {
		t.Errorf("%s: alice's bin changed: %+v", promiseIsolation, got)
	}
	var counted usage
	e.ok(req{method: "GET", path: "/api/v1/bins/" + theirs.SID + "/usage", user: &alice}, http.StatusOK, &counted)
	if counted.NumRequests != 0 {
		t.Errorf("%s: mallory's previews counted %d requests", promiseIsolation, counted.NumRequests)
	}
	e.ok(req{method: "GET", path: "/api/v1/bins/" + mine.SID, user: &mallory}, http.StatusOK, nil)

	// A page token is a position in one's own list only.
	for range 3 {
		e.createBin(alice, helloTemplate, "")
	}
	var page binList
	e.ok(req{method: "GET", path: "/api/v1/bins?page_size=1", user: &alice}, http.StatusOK, &page)
	if page.Meta.NextPageURI == nil {
		t.Fatal("no next page")
	}
	var stolen binList
	e.ok(req{method: "GET", path: *page.Meta.NextPageURI, user: &mallory}, http.StatusOK, &stolen)
	for _, b := range stolen.Bins {
		if b.AccountSID != mallory.sid {
			t.Errorf("%s: alice's page token lists %s of %s to mallory", promiseIsolation, b.SID, b.AccountSID)
		}
	}

	// Alice's credentials with mallory's SID, and the other way round.
	for _, u := range []user{{mallory.sid, alice.token}, {alice.sid, mallory.token}, {strings.ToUpper(alice.sid), alice.token}, {alice.sid + " ", alice.token}} {
		e.fail(req{method: "GET", path: "/api/v1/bins/" + theirs.SID, user: &u}, 401, codeUnauthorized)
	}
}

// TestHostileSIDEnumeration: at the bin URL, every SID that names no
// servable bin answers byte for byte the same 404, headers included.
func TestHostileSIDEnumeration(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.newUser("alice")
	signed := e.newUser("signed")
	live := e.createBin(u, helloTemplate, "")
	deleted := e.createBin(u, helloTemplate, "")
	deletedSigned := e.createBin(signed, helloTemplate, "")
	if _, err := e.db.SetTwilioAuthToken(signed.sid, "0123456789abcdef0123456789abcdef"); err != nil {
		t.Fatal(err)
	}
	e.ok(req{method: "GET", path: "/twiml/" + deleted.SID}, http.StatusOK, nil) // cached, then deleted
	e.ok(req{method: "DELETE", path: "/api/v1/bins/" + deleted.SID, user: &u}, http.StatusNoContent, nil)
	e.ok(req{method: "DELETE", path: "/api/v1/bins/" + deletedSigned.SID, user: &signed}, http.StatusNoContent, nil)

	sids := []struct{ name, path string }{
		{"unknown", "EH" + strings.Repeat("0", 32)},
		{"deleted", deleted.SID},
		{"deleted, of an account checking signatures", deletedSigned.SID},
		{"an account SID", u.sid},
		{"an account SID with the bin prefix", "EH" + u.sid[2:]},
		{"upper case", strings.ToUpper(live.SID)},
		{"upper-case hex", "EH" + strings.ToUpper(live.SID[2:])},
		{"one digit short", live.SID[:33]},
		{"one digit long", live.SID + "0"},
		{"not hex", "EH" + strings.Repeat("g", 32)},
		{"percent-encoded", "%45%48" + live.SID[2:]},
		{"NUL", live.SID[:33] + "%00"},
		{"encoded slash", live.SID[:33] + "%2F"},
		{"dot segment", "..%2F" + live.SID},
		{"unicode", "EH" + strings.Repeat("é", 16)},
		{"10 kB", "EH" + strings.Repeat("a", 10<<10)},
		{"empty", ""},
		{"extra segment", live.SID + "/x"},
		{"trailing slash", live.SID + "/"},
	}
	for _, method := range []string{"GET", "POST"} {
		want := e.do(req{method: method, path: "/twiml/" + sids[0].path})
		checkError(t, promiseEnumeration, want, 404, codeNotFound)
		for _, s := range sids[1:] {
			t.Run(method+" "+s.name, func(t *testing.T) {
				got := e.do(req{method: method, path: "/twiml/" + s.path + "?name=x", form: url.Values{"From": {"+14155551212"}}})
				sameAnswer(t, promiseEnumeration, got, want)
				if strings.Contains(got.Body.String(), live.SID[2:10]) {
					t.Errorf("the 404 echoes the SID: %s", got.Body)
				}
			})
		}
	}
	e.ok(req{method: "GET", path: "/twiml/" + live.SID}, http.StatusOK, nil)
}

// TestHostileCrossAccountCost: another account's bin must not answer its
// 404 measurably later than an unknown SID, or its existence leaks through
// timing. Time is too noisy to test; the work is not: fetching another
// account's bin with a 64 KiB template allocates no more than fetching an
// unknown SID (BenchmarkBinLookupMiss in store times the two).
func TestHostileCrossAccountCost(t *testing.T) {
	e := newEnv(t, Config{})
	alice := e.newUser("alice")
	bob := e.newUser("bob")
	big, err := e.db.CreateBin(alice.sid, storeInput("big", "<Response>"+strings.Repeat("<Say>"+strings.Repeat("a", 1000)+"</Say>", 60)+"</Response>", "lenient"))
	if err != nil {
		t.Fatal(err)
	}
	unknown := "EH" + strings.Repeat("0", 31) + "1"

	allocated := func(sid string) uint64 {
		const n = 20
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range n {
			e.fail(req{method: "GET", path: "/api/v1/bins/" + sid, user: &bob}, http.StatusNotFound, codeNotFound)
		}
		runtime.ReadMemStats(&after)
		return (after.TotalAlloc - before.TotalAlloc) / n
	}
	missing, other := allocated(unknown), allocated(big.SID)
	if other > missing+8<<10 {
		t.Errorf("%s: bytes allocated per 404: another account's 64 KiB bin %d, an unknown SID %d", promiseEnumeration, other, missing)
	}
}

// TestHostileSignatures tries to get a bin that checks signatures to answer
// without its own valid signature.
func TestHostileSignatures(t *testing.T) {
	const (
		base       = "https://bins.example.com"
		aliceToken = "0123456789abcdef0123456789abcdef"
		bobToken   = "fedcba9876543210fedcba9876543210"
	)
	e := newEnv(t, Config{PublicURL: base})
	alice := e.newUser("alice")
	bob := e.newUser("bob")
	b := e.createBin(alice, helloTemplate, "")
	sibling := e.createBin(alice, helloTemplate, "")
	bobBin := e.createBin(bob, helloTemplate, "")
	for u, token := range map[*user]string{&alice: aliceToken, &bob: bobToken} {
		if _, err := e.db.SetTwilioAuthToken(u.sid, token); err != nil {
			t.Fatal(err)
		}
	}

	path := "/twiml/" + b.SID + "?name=Ada&x=1"
	full := base + path
	const body = "From=%2B14155551212&CallSid=CA1&name=Form&Multi=b&Multi=a"
	form, err := url.ParseQuery(body)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(token, u string, f url.Values) []string { return []string{TwilioSignature(token, u, f)} }
	good := sign(aliceToken, full, nil)[0]
	raw, _ := base64.StdEncoding.DecodeString(good)
	flipped := append([]byte(nil), raw...)
	flipped[0] ^= 1
	const formType = "application/x-www-form-urlencoded"

	tests := []struct {
		name, promise string
		method        string
		path          string
		contentType   string
		body          string
		sig           []string // X-Twilio-Signature values; nil: none
		status        int
		say           string // for a 200, the <Say> rendered
	}{
		{"GET signed", promiseSignature, "GET", path, "", "", sign(aliceToken, full, nil), 200, "Hello Ada"},
		{"GET replayed", promiseSignature, "GET", path, "", "", sign(aliceToken, full, nil), 200, "Hello Ada"},
		{"GET signed with :443", promiseSignature, "GET", path, "", "", sign(aliceToken, base+":443"+path, nil), 200, "Hello Ada"},
		{"missing", promiseSignature, "GET", path, "", "", nil, 403, ""},
		{"empty", promiseSignature, "GET", path, "", "", []string{""}, 403, ""},
		{"one bit of the MAC changed", promiseSignature, "GET", path, "", "", []string{base64.StdEncoding.EncodeToString(flipped)}, 403, ""},
		{"the MAC without padding", promiseSignature, "GET", path, "", "", []string{strings.TrimRight(good, "=")}, 403, ""},
		{"the MAC in the URL alphabet", promiseSignature, "GET", path, "", "", []string{base64.URLEncoding.EncodeToString(raw)}, urlAlphabetStatus(raw), "Hello Ada"},
		{"the MAC twice", promiseSignature, "GET", path, "", "", []string{good + good}, 403, ""},
		{"the MAC in hex", promiseSignature, "GET", path, "", "", []string{fmt.Sprintf("%x", raw)}, 403, ""},
		{"the MAC's case changed", promiseSignature, "GET", path, "", "", []string{swapCase(good)}, 403, ""},
		{"another account's token", promiseSignature, "GET", path, "", "", sign(bobToken, full, nil), 403, ""},
		{"the account's own auth token", promiseSignature, "GET", path, "", "", sign(alice.token, full, nil), 403, ""},
		{"for another bin of the account", promiseSignature, "GET", path, "", "", sign(aliceToken, base+"/twiml/"+sibling.SID+"?name=Ada&x=1", nil), 403, ""},
		{"bob's valid signature on alice's bin", promiseSignature, "GET", path, "", "", sign(bobToken, base+"/twiml/"+bobBin.SID+"?name=Ada&x=1", nil), 403, ""},
		{"without the query", promiseSignature, "GET", path, "", "", sign(aliceToken, base+"/twiml/"+b.SID, nil), 403, ""},
		{"query parameter added after signing", promiseSignature, "GET", path + "&name=Eve", "", "", sign(aliceToken, full, nil), 403, ""},
		{"query parameter removed", promiseSignature, "GET", "/twiml/" + b.SID + "?name=Ada", "", "", sign(aliceToken, full, nil), 403, ""},
		{"query parameters reordered", promiseSignature, "GET", "/twiml/" + b.SID + "?x=1&name=Ada", "", "", sign(aliceToken, full, nil), 403, ""},
		{"query re-encoded", promiseSignature, "GET", "/twiml/" + b.SID + "?name=%41da&x=1", "", "", sign(aliceToken, full, nil), 403, ""},
		{"trailing slash", promiseSignature, "GET", "/twiml/" + b.SID + "/?name=Ada&x=1", "", "", sign(aliceToken, full, nil), 404, ""},
		{"signed for http", promiseSignature, "GET", path, "", "", sign(aliceToken, "http://bins.example.com"+path, nil), 403, ""},
		{"signed with :80", promiseSignature, "GET", path, "", "", sign(aliceToken, "https://bins.example.com:80"+path, nil), 403, ""},
		{"signed with :8443", promiseSignature, "GET", path, "", "", sign(aliceToken, "https://bins.example.com:8443"+path, nil), 403, ""},
		{"signed for another host", promiseSignature, "GET", path, "", "", sign(aliceToken, "https://evil.example.com"+path, nil), 403, ""},
		{"signed with the host's case changed", promiseSignature, "GET", path, "", "", sign(aliceToken, "https://BINS.example.com"+path, nil), 403, ""},
		{"first of two headers wrong", promiseSignature, "GET", path, "", "", []string{"AAAAAAAAAAAAAAAAAAAAAAAAAAA=", good}, 403, ""},

		{"POST signed", promiseSignature, "POST", path, formType, body, sign(aliceToken, full, form), 200, "Hello Form"},
		{"POST with the body reordered", promiseSignature, "POST", path, formType, "Multi=a&name=Form&CallSid=CA1&Multi=b&From=%2B14155551212", sign(aliceToken, full, form), 200, "Hello Form"},
		{"POST with the Content-Type in another case", promiseSignature, "POST", path, "Application/X-WWW-Form-URLEncoded; charset=UTF-8", body, sign(aliceToken, full, form), 200, "Hello Form"},
		{"POST with a body parameter added", promiseSignature, "POST", path, formType, body + "&Digits=1", sign(aliceToken, full, form), 403, ""},
		{"POST with a body parameter removed", promiseSignature, "POST", path, formType, "From=%2B14155551212&CallSid=CA1&name=Form&Multi=b", sign(aliceToken, full, form), 403, ""},
		{"POST with a body value changed", promiseSignature, "POST", path, formType, strings.Replace(body, "name=Form", "name=Eve", 1), sign(aliceToken, full, form), 403, ""},
		{"POST with a parameter moved to the query", promiseSignature, "POST", path + "&CallSid=CA1", formType, "From=%2B14155551212&name=Form&Multi=b&Multi=a", sign(aliceToken, full, form), 403, ""},
		{"POST signed without its body", promiseSignature, "POST", path, formType, body, sign(aliceToken, full, nil), 403, ""},
		{"POST signed as a form, sent as text", promiseSignature, "POST", path, "text/plain", body, sign(aliceToken, full, form), 403, ""},
		{"POST of text signed without a body", promiseBodyWins, "POST", path, "text/plain", "name=Eve", sign(aliceToken, full, nil), 200, "Hello Ada"},
		{"POST of JSON signed without a body", promiseBodyWins, "POST", path, "application/json", `{"name":"Eve"}`, sign(aliceToken, full, nil), 200, "Hello Ada"},
		{"GET with a form body", promiseBodyWins, "GET", path, formType, "name=Eve", sign(aliceToken, full, nil), 200, "Hello Ada"},
		{"POST with a malformed body", promiseErrorShape, "POST", path, formType, "name=Eve;x=1", sign(aliceToken, full, nil), 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hr := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			if tt.contentType != "" {
				hr.Header.Set("Content-Type", tt.contentType)
			}
			if tt.sig != nil {
				hr.Header["X-Twilio-Signature"] = tt.sig
			}
			rec := httptest.NewRecorder()
			e.srv.Handler().ServeHTTP(rec, hr)
			switch tt.status {
			case 200:
				if rec.Code != 200 {
					t.Fatalf("%s: status %d, want 200: %s", tt.promise, rec.Code, rec.Body)
				}
				if want := "<Response><Say>" + tt.say + "</Say></Response>"; rec.Body.String() != want {
					t.Errorf("%s: %s, want %s", tt.promise, rec.Body, want)
				}
			case 403:
				checkError(t, tt.promise, rec, 403, codeBadSignature)
				if strings.Contains(rec.Body.String(), "Say") || strings.Contains(rec.Body.String(), b.SID) {
					t.Errorf("the 403 reveals the bin: %s", rec.Body)
				}
			case 400:
				checkError(t, tt.promise, rec, 400, codeBadBody)
			case 404:
				checkError(t, tt.promise, rec, 404, codeNotFound)
			}
		})
	}

	// Over a real connection the header name's case does not matter, and
	// spaces around the value are dropped as HTTP says.
	srv := httptest.NewServer(e.srv.Handler())
	defer srv.Close()
	for _, tt := range []struct {
		name, header, value string
	}{
		{"lower-case header name", "x-twilio-signature", good},
		{"upper-case header name", "X-TWILIO-SIGNATURE", good},
		{"spaces around the value", "X-Twilio-Signature", "  " + good + "\t"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hr, err := http.NewRequest("GET", srv.URL+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			hr.Header[tt.header] = []string{tt.value}
			res, err := srv.Client().Do(hr)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || string(b) != "<Response><Say>Hello Ada</Say></Response>" {
				t.Errorf("%s: %d %s", promiseSignature, res.StatusCode, b)
			}
		})
	}
}

// urlAlphabetStatus is what the bin URL answers to a MAC encoded with
// base64's URL alphabet: the same text as the standard one when the MAC
// has no + or /, else a signature that does not decode.
func urlAlphabetStatus(mac []byte) int {
	if base64.URLEncoding.EncodeToString(mac) == base64.StdEncoding.EncodeToString(mac) {
		return 200
	}
	return 403
}

func swapCase(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z':
			return r - 'A' + 'a'
		}
		return r
	}, s)
}

// TestSignatureNonCanonicalBase64: the last character of a signature holds
// two bits that encode nothing; a signature whose unused bits are set is
// another text for the same MAC. Twilio's libraries compare the text.
func TestSignatureNonCanonicalBase64(t *testing.T) {
	sig := TwilioSignature(twilioExampleToken, twilioExampleURL, twilioExampleParams)
	for _, variant := range nonCanonical(sig) {
		if validSignature(twilioExampleToken, variant, twilioExampleURL, twilioExampleParams) {
			t.Errorf("%s: %q validates; only %q should", promiseSignature, variant, sig)
		}
	}
}

// nonCanonical returns the other base64 texts of a signature's MAC: its
// last character with the unused low bits set.
func nonCanonical(sig string) []string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	if len(sig) != 28 || sig[27] != '=' {
		return nil
	}
	last := strings.IndexByte(alphabet, sig[26])
	var out []string
	for bits := 1; bits < 4; bits++ {
		out = append(out, sig[:26]+string(alphabet[last&^3|bits])+"=")
	}
	return out
}

// TestHostileRefusalsBoundTheEventLog: a request refused for its signature
// is logged with the URL it was signed for, and anyone can send one with
// the longest URL the server takes: the log keeps a bounded part of each,
// so anonymous requests cannot grow the database.
func TestHostileRefusalsBoundTheEventLog(t *testing.T) {
	const base = "https://bins.example.com"
	e := newEnv(t, Config{PublicURL: base})
	alice := e.newUser("alice")
	b := e.createBin(alice, helloTemplate, "")
	if _, err := e.db.SetTwilioAuthToken(alice.sid, "0123456789abcdef0123456789abcdef"); err != nil {
		t.Fatal(err)
	}
	if err := e.db.Flush(); err != nil {
		t.Fatal(err)
	}
	var before int64
	if backendtest.IsBolt() {
		before = fileSize(t, e.storage.Path)
	}

	query := "?name=" + strings.Repeat("A", hostileHeaderBytes-200)
	for range 150 {
		e.fail(req{method: "GET", path: "/twiml/" + b.SID + query}, http.StatusForbidden, codeBadSignature)
	}
	if err := e.db.Flush(); err != nil {
		t.Fatal(err)
	}
	var events eventList
	e.ok(req{method: "GET", path: "/api/v1/bins/" + b.SID + "/events", user: &alice}, http.StatusOK, &events)
	if len(events.Events) == 0 {
		t.Fatal("no event logged for the refused requests")
	}
	for _, ev := range events.Events {
		if len(ev.Message) > store.MaxEventMessageBytes || !strings.Contains(ev.Message, base+"/twiml/"+b.SID+"?name=AAA") {
			t.Fatalf("event message of %d bytes (at most %d, beginning with the URL): %.200s", len(ev.Message), store.MaxEventMessageBytes, ev.Message)
		}
	}
	// The newest 100 events of about 1 KiB each, in bbolt's pages.
	if !backendtest.IsBolt() {
		return
	}
	if grown := fileSize(t, e.storage.Path) - before; grown > 1<<20 {
		t.Errorf("150 refused requests grew the database by %d bytes, want under 1 MiB", grown)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestHostileBinURLParams sends parameter names and values with odd bytes.
func TestHostileBinURLParams(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.newUser("alice")
	b := e.createBin(u, helloTemplate, "")
	tests := []struct {
		name, query, say string
	}{
		{"encoded name", "na%6De=Ada", "Hello Ada"},
		{"name with NUL", "name%00=Ada", "Hello "},
		{"name in another case", "NAME=Ada", "Hello "},
		{"name with brackets", "name[]=A&name[]=B", "Hello A,B"},
		{"name with encoded brackets", "name%5B%5D=A", "Hello A"},
		{"plain name wins over brackets", "name[]=A&name=B", "Hello B"},
		{"bad escape in another name", "%zz=1&name=Ada", "Hello Ada"},
		{"bad escape in the value", "name=%zz", "Hello "},
		{"semicolon pair skipped", "name;x=1&name=Ada", "Hello Ada"},
		{"plus is a space", "name=A+B", "Hello A B"},
		{"repeated", "name=1&name=2&name=3", "Hello 1,2,3"},
		{"markup", "name=%3C%2FSay%3E%3CHangup%2F%3E", "Hello &lt;/Say&gt;&lt;Hangup/&gt;"},
		{"NUL and bytes that are not UTF-8", "name=a%00%FF%FE", "Hello a\uFFFD\uFFFD\uFFFD"},
		{"CDATA end", "name=%5D%5D%3E", "Hello ]]&gt;"},
		{"CRLF", "name=a%0D%0Ab", "Hello a&#13;\nb"},
		{"10 kB name", strings.Repeat("n", 10<<10) + "=1&name=Ada", "Hello Ada"},
		{"empty name", "=1&name=Ada", "Hello Ada"},
		{"only separators", "&&&=&=&", "Hello "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			for _, r := range []req{
				{method: "GET", path: "/twiml/" + b.SID + "?" + tt.query},
				{method: "POST", path: "/twiml/" + b.SID, body: tt.query, contentType: "application/x-www-form-urlencoded"},
			} {
				rec := e.ok(r, 200, nil)
				if want := "<Response><Say>" + tt.say + "</Say></Response>"; rec.Body.String() != want {
					t.Errorf("%s: %s %s: %q, want %q", promiseParams, r.method, tt.query, rec.Body, want)
				}
			}
		})
	}
}

// TestHostileBinURLSizes: bodies, query strings, headers and parameter
// counts at the bin URL, at their limits and over them.
func TestHostileBinURLSizes(t *testing.T) {
	const token = "0123456789abcdef0123456789abcdef"
	e := newEnv(t, Config{})
	u := e.newUser("alice")
	b := e.createBin(u, helloTemplate, "")
	signedUser := e.newUser("signed")
	sb := e.createBin(signedUser, helloTemplate, "")
	if _, err := e.db.SetTwilioAuthToken(signedUser.sid, token); err != nil {
		t.Fatal(err)
	}
	path := "/twiml/" + b.SID

	// The body: DefaultMaxBodyBytes is accepted, one byte more is a 413,
	// whether the length is declared or not.
	atLimit := "name=" + strings.Repeat("a", DefaultMaxBodyBytes-len("name="))
	rec := e.do(req{method: "POST", path: path, body: atLimit, contentType: "application/x-www-form-urlencoded"})
	if rec.Code != 200 || !strings.HasPrefix(rec.Body.String(), "<Response><Say>Hello aaa") {
		t.Errorf("%s: a body of DefaultMaxBodyBytes: %d %.80s", promiseLimit, rec.Code, rec.Body)
	}
	e.fail(req{method: "POST", path: path, body: atLimit + "a", contentType: "application/x-www-form-urlencoded"}, 413, codeBodyTooLarge)
	chunked := httptest.NewRequest("POST", path, strings.NewReader(atLimit+"a"))
	chunked.ContentLength = -1
	chunked.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec = httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, chunked)
	checkError(t, promiseLimit+": chunked", rec, 413, codeBodyTooLarge)
	short := httptest.NewRequest("POST", path, strings.NewReader("name=a"))
	short.ContentLength = 100 // the client went away before sending the rest
	short.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec = httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, short)
	checkError(t, "a body shorter than its Content-Length", rec, 400, codeBadBody)
	// A body that is not a form is not read, but is bounded all the same.
	e.fail(req{method: "POST", path: path, body: strings.Repeat("x", DefaultMaxBodyBytes+1), contentType: "text/plain"}, 413, codeBodyTooLarge)

	// Parameters: the bin URL sets no count of its own. A body holds as
	// many as fit in DefaultMaxBodyBytes; the query as many as fit in the
	// request head.
	many := strings.Repeat("a=1&", 60000) + "name=Ada"
	rec = e.ok(req{method: "POST", path: path, body: many, contentType: "application/x-www-form-urlencoded"}, 200, nil)
	if rec.Body.String() != "<Response><Say>Hello Ada</Say></Response>" {
		t.Errorf("60001 parameters: %s", rec.Body)
	}
	e.ok(req{method: "GET", path: path + "?" + many}, 200, nil)
	// With signatures the body is parsed by url.ParseQuery, which refuses
	// more than 10000 parameters: a clear 400.
	signedPost := func(n int) *httptest.ResponseRecorder {
		body := strings.Repeat("a=1&", n-1) + "name=Ada"
		form, _ := url.ParseQuery(body)
		hr := httptest.NewRequest("POST", "/twiml/"+sb.SID, strings.NewReader(body))
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		hr.Header.Set("X-Twilio-Signature", TwilioSignature(token, "http://example.com/twiml/"+sb.SID, form))
		rec := httptest.NewRecorder()
		e.srv.Handler().ServeHTTP(rec, hr)
		return rec
	}
	if rec := signedPost(10000); rec.Code != 200 || rec.Body.String() != "<Response><Say>Hello Ada</Say></Response>" {
		t.Errorf("%s: 10000 signed parameters: %d %s", promiseLimit, rec.Code, rec.Body)
	}
	checkError(t, promiseLimit+": 10001 signed parameters", signedPost(10001), 400, codeBadBody)

	// Through a server with the MaxHeaderBytes of `twimlbin serve`: the
	// request head (request line, query string and headers) may hold
	// MaxHeaderBytes plus net/http's 4096 bytes of slack; one byte more is
	// refused with 431 before the handler runs.
	srv := httptest.NewUnstartedServer(e.srv.Handler())
	srv.Config.MaxHeaderBytes = hostileHeaderBytes
	srv.Start()
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	const limit = hostileHeaderBytes + hostileHeaderSlop
	for _, tt := range []struct {
		name   string
		head   func(size int) string
		size   int
		status int
	}{
		{"headers of 64 KiB", headWithHeader(path), hostileHeaderBytes, 200},
		{"head at the limit", headWithHeader(path), limit, 200},
		{"head one byte over", headWithHeader(path), limit + 1, 431},
		{"query string at the limit", headWithQuery(path), limit, 200},
		{"query string one byte over", headWithQuery(path), limit + 1, 431},
		{"256 KiB of headers", headWithHeader(path), 256 << 10, 431},
	} {
		t.Run(tt.name, func(t *testing.T) {
			head := tt.head(tt.size)
			if len(head) != tt.size {
				t.Fatalf("head of %d bytes, want %d", len(head), tt.size)
			}
			status, body := rawRequest(t, addr, head)
			if status != tt.status {
				t.Errorf("%s: a head of %d bytes: %d %.200s, want %d", promiseLimit, len(head), status, body, tt.status)
			}
			if status == 431 && !strings.Contains(body, "Request Header Fields Too Large") {
				t.Errorf("431 without a clear message: %q", body)
			}
		})
	}
}

// headWithHeader returns a function making a GET request head of exactly
// size bytes, padded with one long header.
func headWithHeader(path string) func(int) string {
	return func(size int) string {
		const start, host, pad, end = "GET ", " HTTP/1.1\r\nHost: bins.example.com\r\n", "X-Pad: ", "\r\n\r\n"
		n := size - len(start) - len(path) - len(host) - len(pad) - len(end)
		return start + path + host + pad + strings.Repeat("p", n) + end
	}
}

// headWithQuery returns a function making a GET request head of exactly
// size bytes, padded with a query parameter.
func headWithQuery(path string) func(int) string {
	return func(size int) string {
		const start, query, rest = "GET ", "?pad=", " HTTP/1.1\r\nHost: bins.example.com\r\n\r\n"
		n := size - len(start) - len(path) - len(query) - len(rest)
		return start + path + query + strings.Repeat("p", n) + rest
	}
}

// rawRequest writes a request head as it is and reads the answer's status
// and body.
func rawRequest(t *testing.T, addr, head string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go func() { _, _ = io.WriteString(conn, head) }()
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// TestHostileAPIRequests sends the management API bodies, query parameters
// and headers it must refuse with a clear 4xx in its error shape.
func TestHostileAPIRequests(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.newUser("alice")
	b := e.createBin(u, helloTemplate, "")
	binPath := "/api/v1/bins/" + b.SID
	const (
		jsonType = "application/json"
		formType = "application/x-www-form-urlencoded"
	)
	deep := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		header      http.Header
		status      int
		code        int
		bug         string // a known breach: the case is skipped with this text
	}{
		// Bodies.
		{"unknown JSON field", "POST", "/api/v1/bins", jsonType, `{"template":"<Response/>","voice_url":"x"}`, nil, 400, codeUnknownField, ""},
		{"unknown JSON field in another case", "POST", "/api/v1/bins", jsonType, `{"Template":"<Response/>"}`, nil, 400, codeUnknownField, ""},
		{"unknown form field", "POST", "/api/v1/bins", formType, `template=%3CResponse%2F%3E&VoiceUrl=x`, nil, 400, codeUnknownField, ""},
		{"unknown field of a rotation", "POST", "/api/v1/account/auth-token", jsonType, `{"auth_token":"mine"}`, nil, 400, codeUnknownField, ""},
		{"template of the wrong type", "POST", "/api/v1/bins", jsonType, `{"template":3}`, nil, 400, codeInvalidParameter, ""},
		{"template of a huge number", "POST", "/api/v1/bins", jsonType, `{"template":1e400}`, nil, 400, codeInvalidParameter, ""},
		{"template null", "POST", "/api/v1/bins", jsonType, `{"template":null}`, nil, 400, codeInvalidParameter, ""},
		{"friendly_name of the wrong type", "POST", "/api/v1/bins", jsonType, `{"template":"<Response/>","friendly_name":true}`, nil, 400, codeInvalidParameter, ""},
		{"render_policy of the wrong type", "POST", "/api/v1/bins", jsonType, `{"template":"<Response/>","render_policy":["strict"]}`, nil, 400, codeInvalidParameter, ""},
		{"params of the wrong type", "POST", "/api/v1/preview", jsonType, `{"template":"<Response/>","params":"a=1"}`, nil, 400, codeInvalidParameter, ""},
		{"param value of the wrong type", "POST", "/api/v1/preview", jsonType, `{"template":"<Response/>","params":{"a":{"b":1}}}`, nil, 400, codeInvalidParameter, ""},
		{"params in a form, malformed", "POST", "/api/v1/preview", formType, `template=%3CResponse%2F%3E&params=a%3D%25zz`, nil, 400, codeInvalidParameter, ""},
		{"twilio_auth_token of the wrong type", "POST", "/api/v1/account", jsonType, `{"twilio_auth_token":12345}`, nil, 400, codeInvalidParameter, ""},
		{"friendly_name not UTF-8, in a form", "POST", "/api/v1/bins", formType, `template=%3CResponse%2F%3E&friendly_name=%FF`, nil, 400, codeInvalidParameter, ""},
		{"form field twice", "POST", "/api/v1/bins", formType, `template=%3CResponse%2F%3E&template=%3CResponse%2F%3E`, nil, 400, codeInvalidParameter, ""},
		{"bad form escape", "POST", "/api/v1/bins", formType, `template=%zz`, nil, 400, codeBadBody, ""},
		{"form with a semicolon", "POST", "/api/v1/bins", formType, `template=x;y=1`, nil, 400, codeBadBody, ""},
		{"form of 10001 fields", "POST", "/api/v1/bins", formType, strings.Repeat("a=1&", 10000) + "template=x", nil, 400, codeBadBody, ""},
		{"JSON null", "POST", "/api/v1/bins", jsonType, `null`, nil, 400, codeInvalidParameter, ""},
		{"JSON string", "POST", "/api/v1/bins", jsonType, `"<Response/>"`, nil, 400, codeBadBody, ""},
		{"JSON array", "POST", "/api/v1/bins", jsonType, `[{"template":"<Response/>"}]`, nil, 400, codeBadBody, ""},
		{"two JSON objects", "POST", "/api/v1/bins", jsonType, `{"template":"<Response/>"}{"template":"<Response/>"}`, nil, 400, codeBadBody, ""},
		{"JSON nested 20000 deep", "POST", "/api/v1/bins", jsonType, deep, nil, 400, codeBadBody, ""},
		{"JSON nested 20000 deep in a field", "POST", "/api/v1/preview", jsonType, `{"params":` + deep + `}`, nil, 400, codeBadBody, ""},
		{"JSON with a byte order mark", "POST", "/api/v1/bins", jsonType, "\uFEFF" + `{"template":"<Response/>"}`, nil, 400, codeBadBody, ""},
		{"JSON cut short", "POST", "/api/v1/bins", jsonType, `{"template":"<Resp`, nil, 400, codeBadBody, ""},
		{"empty body", "POST", "/api/v1/bins", jsonType, ``, nil, 400, codeInvalidParameter, ""},
		{"whitespace body", "POST", "/api/v1/bins", jsonType, " \r\n\t ", nil, 400, codeInvalidParameter, ""},
		{"no Content-Type", "POST", "/api/v1/bins", "", `{"template":"<Response/>"}`, nil, 415, codeUnsupportedMedia, ""},
		{"XML body", "POST", "/api/v1/bins", "text/xml", `<Response/>`, nil, 415, codeUnsupportedMedia, ""},
		{"multipart body", "POST", "/api/v1/bins", "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"template\"\r\n\r\n<Response/>\r\n--x--\r\n", nil, 415, codeUnsupportedMedia, ""},
		{"two Content-Types", "POST", "/api/v1/bins", "application/json, text/plain", `{"template":"<Response/>"}`, nil, 415, codeUnsupportedMedia, ""},
		{"JSON-like Content-Type", "POST", "/api/v1/bins", "application/jsonx", `{"template":"<Response/>"}`, nil, 415, codeUnsupportedMedia, ""},
		{"template with errors", "POST", "/api/v1/bins", jsonType, `{"template":"<Response><Say>{{{x}}}</Say></Response>"}`, nil, 422, codeTemplateInvalid, ""},
		{"template over 64 KiB", "POST", "/api/v1/bins", jsonType, `{"template":"` + strings.Repeat(" ", MaxTemplateBytes+1) + `"}`, nil, 422, codeTemplateTooLarge, ""},
		{"body over the limit", "POST", "/api/v1/bins", jsonType, `{"template":"` + strings.Repeat(" ", DefaultMaxBodyBytes) + `"}`, nil, 413, codeBodyTooLarge, ""},

		// Query parameters.
		{"page_size 0", "GET", "/api/v1/bins?page_size=0", "", "", nil, 400, codeInvalidParameter, ""},
		{"page_size -1", "GET", "/api/v1/bins?page_size=-1", "", "", nil, 400, codeInvalidParameter, ""},
		{"page_size 1001", "GET", "/api/v1/bins?page_size=1001", "", "", nil, 400, codeInvalidParameter, ""},
		{"page_size abc", "GET", "/api/v1/bins?page_size=abc", "", "", nil, 400, codeInvalidParameter, ""},
		{"page_size 1e3", "GET", "/api/v1/bins?page_size=1e3", "", "", nil, 400, codeInvalidParameter, ""},
		{"page_size with a space", "GET", "/api/v1/bins?page_size=%205", "", "", nil, 400, codeInvalidParameter, ""},
		{"page_size past int64", "GET", "/api/v1/bins?page_size=99999999999999999999", "", "", nil, 400, codeInvalidParameter, ""},
		{"page_token garbage", "GET", "/api/v1/bins?page_token=%21%21", "", "", nil, 400, codeBadPageToken, ""},
		{"page_token of 7 bytes", "GET", "/api/v1/bins?page_token=" + base64.RawURLEncoding.EncodeToString(make([]byte, 7)), "", "", nil, 400, codeBadPageToken, ""},
		{"page_token of 9 bytes", "GET", "/api/v1/bins?page_token=" + base64.RawURLEncoding.EncodeToString(make([]byte, 9)), "", "", nil, 400, codeBadPageToken, ""},
		{"page_token of the last position", "GET", "/api/v1/bins?page_token=" + base64.RawURLEncoding.EncodeToString([]byte{255, 255, 255, 255, 255, 255, 255, 255}), "", "", nil, 400, codeBadPageToken, ""},
		{"page_token padded", "GET", "/api/v1/bins?page_token=" + base64.URLEncoding.EncodeToString(make([]byte, 8)), "", "", nil, 400, codeBadPageToken, ""},
		{"page_token of 10 kB", "GET", "/api/v1/bins?page_token=" + strings.Repeat("A", 10<<10), "", "", nil, 400, codeBadPageToken, ""},
		{"events limit 0", "GET", binPath + "/events?limit=0", "", "", nil, 400, codeInvalidParameter, ""},
		{"events limit 1001", "GET", binPath + "/events?limit=1001", "", "", nil, 400, codeInvalidParameter, ""},
		{"events limit abc", "GET", binPath + "/events?limit=abc", "", "", nil, 400, codeInvalidParameter, ""},
		{"revision 0", "GET", binPath + "/revisions/0", "", "", nil, 404, codeNotFound, ""},
		{"revision past int64", "GET", binPath + "/revisions/99999999999999999999", "", "", nil, 404, codeNotFound, ""},
		{"revision abc", "POST", binPath + "/revisions/abc/restore", "", "", nil, 404, codeNotFound, ""},

		// If-Match.
		{"If-Match a word", "POST", binPath, jsonType, `{"friendly_name":"x"}`, http.Header{"If-Match": {`"abc"`}}, 400, codeBadIfMatch, ""},
		{"If-Match 0", "POST", binPath, jsonType, `{"friendly_name":"x"}`, http.Header{"If-Match": {`"0"`}}, 400, codeBadIfMatch, ""},
		{"If-Match -1", "PATCH", binPath, jsonType, `{"friendly_name":"x"}`, http.Header{"If-Match": {`"-1"`}}, 400, codeBadIfMatch, ""},
		{"If-Match empty quotes", "POST", binPath, jsonType, `{"friendly_name":"x"}`, http.Header{"If-Match": {`""`}}, 400, codeBadIfMatch, ""},
		{"If-Match a list", "POST", binPath, jsonType, `{"friendly_name":"x"}`, http.Header{"If-Match": {`"1", "2"`}}, 400, codeBadIfMatch, ""},
		{"If-Match past int64", "DELETE", binPath, "", "", http.Header{"If-Match": {`"99999999999999999999"`}}, 400, codeBadIfMatch, ""},
		{"If-Match weak garbage", "DELETE", binPath, "", "", http.Header{"If-Match": {`W/"x"`}}, 400, codeBadIfMatch, ""},
		{"If-Match with control bytes", "DELETE", binPath, "", "", http.Header{"If-Match": {"\"1\x00\""}}, 400, codeBadIfMatch, ""},
		{"If-Match on a restore", "POST", binPath + "/revisions/1/restore", "", "", http.Header{"If-Match": {"one"}}, 400, codeBadIfMatch, ""},
		{"If-Match stale", "DELETE", binPath, "", "", http.Header{"If-Match": {`"7"`}}, 412, codePreconditionFailed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.bug != "" {
				t.Skip(tt.bug)
			}
			e.t = t
			e.fail(req{method: tt.method, path: tt.path, user: &u, body: tt.body, contentType: tt.contentType, header: tt.header}, tt.status, tt.code)
		})
	}
	e.t = t
	// Nothing was saved, and the bin is as it was.
	var list binList
	e.ok(req{method: "GET", path: "/api/v1/bins", user: &u}, http.StatusOK, &list)
	if len(list.Bins) != 1 || list.Bins[0].Revision != 1 {
		t.Errorf("refused requests changed the bins: %+v", list.Bins)
	}
	// A JSON body's bytes that are not UTF-8 become U+FFFD, as encoding/json
	// decodes them: saved, and still valid UTF-8.
	var got binResource
	e.ok(req{method: "POST", path: binPath, user: &u, body: "{\"friendly_name\":\"a\xffb\"}", contentType: jsonType}, http.StatusOK, &got)
	if got.FriendlyName != "a\uFFFDb" {
		t.Errorf("friendly_name %q", got.FriendlyName)
	}
	// Accepted forms of If-Match.
	for i, v := range []string{`W/"2"`, "3", " \"4\" ", "*"} {
		e.ok(req{method: "POST", path: binPath, user: &u, json: map[string]any{"friendly_name": "n" + strconv.Itoa(i)},
			header: http.Header{"If-Match": {v}}}, http.StatusOK, nil)
	}
}

// TestAPILimitsAtTheirEdge: each limit of the management API at the limit
// and one over.
func TestAPILimitsAtTheirEdge(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.newUser("alice")
	padded := func(n int) string { // a valid template of exactly n bytes
		return "<Response>" + strings.Repeat(" ", n-len("<Response></Response>")) + "</Response>"
	}

	t.Run("template", func(t *testing.T) {
		e.t = t
		b := e.createBin(u, padded(MaxTemplateBytes), "")
		if len(b.Template) != MaxTemplateBytes {
			t.Errorf("saved %d bytes", len(b.Template))
		}
		e.fail(req{method: "POST", path: "/api/v1/bins", user: &u, json: map[string]any{"template": padded(MaxTemplateBytes + 1)}}, 422, codeTemplateTooLarge)
		form := url.Values{"template": {padded(MaxTemplateBytes)}}
		e.ok(req{method: "POST", path: "/api/v1/bins/" + b.SID, user: &u, form: form}, http.StatusOK, nil)
		form.Set("template", padded(MaxTemplateBytes+1))
		e.fail(req{method: "POST", path: "/api/v1/bins/" + b.SID, user: &u, form: form}, 422, codeTemplateTooLarge)

		var got previewResult
		e.ok(req{method: "POST", path: "/api/v1/preview", user: &u, json: map[string]any{"template": padded(MaxTemplateBytes)}}, http.StatusOK, &got)
		if got.Status != 200 {
			t.Errorf("preview at the limit: %+v", got.Status)
		}
		e.fail(req{method: "POST", path: "/api/v1/preview", user: &u, json: map[string]any{"template": padded(MaxTemplateBytes + 1)}}, 422, codeTemplateTooLarge)

		var v validation
		e.ok(req{method: "POST", path: "/api/v1/validate", user: &u, json: map[string]any{"template": padded(MaxTemplateBytes)}}, http.StatusOK, &v)
		if !v.Valid {
			t.Errorf("validate at the limit: %+v", v.Diagnostics)
		}
		e.ok(req{method: "POST", path: "/api/v1/validate", user: &u, json: map[string]any{"template": padded(MaxTemplateBytes + 1)}}, http.StatusOK, &v)
		if v.Valid || len(v.Diagnostics) != 1 || v.Diagnostics[0].Code != "TB111" {
			t.Errorf("validate one byte over: %+v", v)
		}
	})

	t.Run("body", func(t *testing.T) {
		e.t = t
		// A JSON body of exactly DefaultMaxBodyBytes is read (its template is
		// then too large); one byte more is refused before it is read.
		pad := DefaultMaxBodyBytes - len(`{"template":""}`)
		atLimit := `{"template":"` + strings.Repeat(" ", pad) + `"}`
		if len(atLimit) != DefaultMaxBodyBytes {
			t.Fatalf("body of %d bytes", len(atLimit))
		}
		e.fail(req{method: "POST", path: "/api/v1/bins", user: &u, body: atLimit, contentType: "application/json"}, 422, codeTemplateTooLarge)
		over := `{"template":"` + strings.Repeat(" ", pad+1) + `"}`
		e.fail(req{method: "POST", path: "/api/v1/bins", user: &u, body: over, contentType: "application/json"}, 413, codeBodyTooLarge)
	})

	t.Run("page_size", func(t *testing.T) {
		e.t = t
		for _, tt := range []struct {
			q      string
			status int
		}{{"1", 200}, {"1000", 200}, {"%2B5", 200}, {"", 200}, {"0", 400}, {"1001", 400}} {
			rec := e.do(req{method: "GET", path: "/api/v1/bins?page_size=" + tt.q, user: &u})
			if rec.Code != tt.status {
				t.Errorf("%s: page_size=%q: %d, want %d", promiseLimit, tt.q, rec.Code, tt.status)
			}
			if rec.Code == 200 {
				var list binList
				if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
					t.Fatal(err)
				}
				want, _ := strconv.Atoi(strings.TrimPrefix(tt.q, "%2B"))
				if tt.q == "" {
					want = 50
				}
				if list.Meta.PageSize != want {
					t.Errorf("page_size=%q: meta %+v", tt.q, list.Meta)
				}
			}
		}
	})

	t.Run("friendly_name", func(t *testing.T) {
		e.t = t
		e.ok(req{method: "POST", path: "/api/v1/bins", user: &u, json: map[string]any{"template": helloTemplate, "friendly_name": strings.Repeat("é", store.MaxFriendlyName)}}, http.StatusCreated, nil)
		e.fail(req{method: "POST", path: "/api/v1/bins", user: &u, json: map[string]any{"template": helloTemplate, "friendly_name": strings.Repeat("é", store.MaxFriendlyName+1)}}, 400, codeInvalidParameter)
		e.ok(req{method: "POST", path: "/api/v1/account", user: &u, json: map[string]any{"friendly_name": strings.Repeat("a", store.MaxFriendlyName)}}, http.StatusOK, nil)
		e.fail(req{method: "POST", path: "/api/v1/account", user: &u, json: map[string]any{"friendly_name": strings.Repeat("a", store.MaxFriendlyName+1)}}, 400, codeInvalidParameter)
	})

	t.Run("twilio_auth_token", func(t *testing.T) {
		e.t = t
		e.ok(req{method: "POST", path: "/api/v1/account", user: &u, json: map[string]any{"twilio_auth_token": strings.Repeat("t", maxTwilioAuthToken)}}, http.StatusOK, nil)
		e.fail(req{method: "POST", path: "/api/v1/account", user: &u, json: map[string]any{"twilio_auth_token": strings.Repeat("t", maxTwilioAuthToken+1)}}, 400, codeInvalidParameter)
		e.ok(req{method: "POST", path: "/api/v1/account", user: &u, json: map[string]any{"twilio_auth_token": ""}}, http.StatusOK, nil)
	})

	t.Run("events limit", func(t *testing.T) {
		e.t = t
		b := e.createBin(u, helloTemplate, "")
		e.ok(req{method: "GET", path: "/api/v1/bins/" + b.SID + "/events?limit=" + strconv.Itoa(maxEvents), user: &u}, http.StatusOK, nil)
		e.fail(req{method: "GET", path: "/api/v1/bins/" + b.SID + "/events?limit=" + strconv.Itoa(maxEvents+1), user: &u}, 400, codeInvalidParameter)
	})
}

// TestHostileRenderLimitsAtTheBinURL: the engine's limits at render, at
// their edge, through the bin URL with values from the query string.
func TestHostileRenderLimitsAtTheBinURL(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.newUser("alice")
	const (
		nameTmpl  = `<Response><Dial><Client><Identity>a</Identity><Parameter name="{{n}}" value="v"/></Client></Dial></Response>`
		valueTmpl = `<Response><Dial><Client><Identity>a</Identity><Parameter name="n" value="{{v}}"/></Client></Dial></Response>`
		listTmpl  = `<Response><Dial><Client><Identity>a</Identity>{{#p}}<Parameter name="p" value="{{.}}"/>{{/p}}</Client></Dial></Response>`
		nounTmpl  = `<Response><Dial>{{#Dest}}<Number>{{.}}</Number>{{/Dest}}</Dial></Response>`
	)
	repeat := func(name string, n int, value func(int) string) string {
		q := url.Values{}
		for i := range n {
			q.Add(name, value(i))
		}
		return q.Encode()
	}
	number := func(i int) string { return fmt.Sprintf("+1202555%04d", i) }
	digit := func(i int) string { return strconv.Itoa(i) }
	tests := []struct {
		name, tmpl, query string
		strictOK          bool
		lenientCount      string // a substring the lenient answer holds
		lenientTimes      int    // how many times
	}{
		{"Parameter name of 32 bytes", nameTmpl, "n=" + strings.Repeat("n", 32), true, `name="` + strings.Repeat("n", 32) + `"`, 1},
		{"Parameter name of 33 bytes", nameTmpl, "n=" + strings.Repeat("n", 33), false, `name="` + strings.Repeat("n", 32) + `"`, 1},
		{"Parameter value of 128 bytes", valueTmpl, "v=" + strings.Repeat("v", 128), true, `value="` + strings.Repeat("v", 128) + `"`, 1},
		{"Parameter value of 129 bytes", valueTmpl, "v=" + strings.Repeat("v", 129), false, `value="` + strings.Repeat("v", 128) + `"`, 1},
		{"8 parameters", listTmpl, repeat("p", 8, digit), true, "<Parameter ", 8},
		{"9 parameters", listTmpl, repeat("p", 9, digit), false, "<Parameter ", 8},
		{"10 nouns", nounTmpl, repeat("Dest", 10, number), true, "<Number>", 10},
		{"11 nouns", nounTmpl, repeat("Dest[]", 11, number), false, "<Number>", 10},
	}
	bins := map[string][2]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			pair, ok := bins[tt.tmpl]
			if !ok {
				pair = [2]string{e.createBin(u, tt.tmpl, "strict").SID, e.createBin(u, tt.tmpl, "lenient").SID}
				bins[tt.tmpl] = pair
			}
			strict := e.do(req{method: "GET", path: "/twiml/" + pair[0] + "?" + tt.query})
			if tt.strictOK && strict.Code != 200 {
				t.Errorf("%s: strict at the limit: %d %s", promiseLimit, strict.Code, strict.Body)
			}
			if !tt.strictOK {
				checkError(t, promiseLimit+": strict one over", strict, 500, codeRenderFailed)
			}
			lenient := e.ok(req{method: "GET", path: "/twiml/" + pair[1] + "?" + tt.query}, 200, nil)
			if got := strings.Count(lenient.Body.String(), tt.lenientCount); got != tt.lenientTimes {
				t.Errorf("%s: lenient: %d × %q in %s, want %d", promiseLimit, got, tt.lenientCount, lenient.Body, tt.lenientTimes)
			}
		})
	}
}

// TestHostileFriendlyNames: a bin's or an account's friendly_name holding
// a control character, or too long, is a 400 naming the field, on every
// route that sets it; nothing is saved.
func TestHostileFriendlyNames(t *testing.T) {
	e := newEnv(t, Config{OpenSignup: true})
	u := e.newUser("alice")
	b := e.createBin(u, helloTemplate, "")
	for what, tt := range namecases.Bad {
		t.Run(what, func(t *testing.T) {
			e.t = t
			for _, r := range []req{
				{method: "POST", path: "/api/v1/bins", user: &u, json: map[string]any{"friendly_name": tt.Name, "template": helloTemplate}},
				{method: "POST", path: "/api/v1/bins", user: &u, form: url.Values{"friendly_name": {tt.Name}, "template": {helloTemplate}}},
				{method: "POST", path: "/api/v1/bins/" + b.SID, user: &u, json: map[string]any{"friendly_name": tt.Name}},
				{method: "PATCH", path: "/api/v1/bins/" + b.SID, user: &u, form: url.Values{"friendly_name": {tt.Name}}},
				{method: "POST", path: "/api/v1/account", user: &u, json: map[string]any{"friendly_name": tt.Name}},
				{method: "POST", path: "/api/v1/accounts", json: map[string]any{"friendly_name": tt.Name}},
			} {
				if strings.Contains(what, "UTF-8") && r.json != nil {
					continue // encoding/json turns invalid UTF-8 into U+FFFD
				}
				got := e.fail(r, 400, codeInvalidParameter)
				if !strings.HasPrefix(got.Message, "friendly_name ") || !strings.Contains(got.Message, tt.Says) {
					t.Errorf("%s %s: message %q, want it to name friendly_name and say %q", r.method, r.path, got.Message, tt.Says)
				}
			}
		})
	}
	e.t = t
	var acct accountResource
	e.ok(req{method: "GET", path: "/api/v1/account", user: &u}, http.StatusOK, &acct)
	if acct.FriendlyName != "alice" {
		t.Errorf("account renamed to %q", acct.FriendlyName)
	}
	var bin binResource
	e.ok(req{method: "GET", path: "/api/v1/bins/" + b.SID, user: &u}, http.StatusOK, &bin)
	if bin.Revision != 1 {
		t.Errorf("bin at revision %d", bin.Revision)
	}
	if n, _ := e.db.CountAccounts(); n != 1 {
		t.Errorf("%d accounts", n)
	}

	for _, name := range namecases.Good {
		t.Run("accepted "+name, func(t *testing.T) {
			e.t = t
			var got binResource
			e.ok(req{method: "POST", path: "/api/v1/bins", user: &u, json: map[string]any{"friendly_name": name, "template": helloTemplate}}, http.StatusCreated, &got)
			if got.FriendlyName != name {
				t.Errorf("saved %q", got.FriendlyName)
			}
			e.ok(req{method: "POST", path: "/api/v1/account", user: &u, form: url.Values{"friendly_name": {name}}}, http.StatusOK, nil)
			e.ok(req{method: "POST", path: "/api/v1/accounts", json: map[string]any{"friendly_name": name}}, http.StatusCreated, nil)
		})
	}
}

// testClock is a time tests move by hand.
type testClock struct{ t time.Time }

func (c *testClock) now() time.Time { return c.t }

// TestHostileAuthRateLimits: failed authentications are limited per
// client address and per account, with a 429 saying when to retry; sign-ups
// per address. Successes are never counted.
func TestHostileAuthRateLimits(t *testing.T) {
	burst := ratelimit.DefaultFailures.Burst
	clock := &testClock{t: time.Unix(1_700_000_000, 0)}
	e := newEnv(t, Config{OpenSignup: true, Now: clock.now})
	u := e.newUser("alice")
	wrong := func(sid, remote string) req {
		return req{method: "GET", path: "/api/v1/account", user: &user{sid, strings.Repeat("0", 32)}, remote: remote}
	}
	right := func(remote string) req {
		return req{method: "GET", path: "/api/v1/account", user: &u, remote: remote}
	}
	limited := func(t *testing.T, r req, retryAfter string) {
		t.Helper()
		rec := e.do(r)
		if rec.Code != http.StatusTooManyRequests {
			t.Fatalf("status %d, want 429; body %s", rec.Code, rec.Body)
		}
		if got := rec.Header().Get("Retry-After"); got != retryAfter {
			t.Errorf("Retry-After %q, want %q", got, retryAfter)
		}
		var body Error
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Code != codeRateLimited || body.Status != 429 ||
			!strings.Contains(body.Message, "Try again in "+retryAfter+" seconds") {
			t.Errorf("body %s", rec.Body)
		}
	}
	unknownSID := func(i int) string { return fmt.Sprintf("AC%032x", i+1) }

	t.Run("per address", func(t *testing.T) {
		e.t = t
		for i := range burst {
			e.fail(wrong(unknownSID(i), "198.51.100.1:1000"), 401, codeUnauthorized)
		}
		limited(t, wrong(unknownSID(burst), "198.51.100.1:1000"), "6")
		limited(t, right("198.51.100.1:2000"), "6") // no answer tells a right guess from a wrong one
		e.ok(right("198.51.100.2:1000"), http.StatusOK, nil)
		e.fail(wrong(unknownSID(0), "198.51.100.2:1000"), 401, codeUnauthorized)
		e.ok(req{method: "GET", path: "/api/v1/openapi.json", remote: "198.51.100.1:1000"}, http.StatusOK, nil)
		clock.t = clock.t.Add(6 * time.Second)
		e.fail(wrong(unknownSID(0), "198.51.100.1:1000"), 401, codeUnauthorized)
		limited(t, wrong(unknownSID(0), "198.51.100.1:1000"), "6")
		clock.t = clock.t.Add(time.Hour)
	})
	t.Run("per account, over many addresses", func(t *testing.T) {
		e.t = t
		for i := range burst {
			e.fail(wrong(u.sid, fmt.Sprintf("203.0.113.%d:1000", i)), 401, codeUnauthorized)
			if i == burst/2 {
				e.ok(right("192.0.2.50:1000"), http.StatusOK, nil) // a success resets no count
			}
		}
		limited(t, wrong(u.sid, "203.0.113.200:1000"), "6")
		limited(t, right("192.0.2.50:1000"), "6")
		e.ok(req{method: "GET", path: "/api/v1/account", user: &user{"AC" + strings.Repeat("f", 32), "x"}, remote: "203.0.113.201:1000"}, http.StatusUnauthorized, nil)
		clock.t = clock.t.Add(ratelimit.DefaultFailures.Per * time.Duration(burst) / time.Duration(ratelimit.DefaultFailures.Events))
		e.ok(right("203.0.113.200:1000"), http.StatusOK, nil)
	})
	t.Run("successes are not counted", func(t *testing.T) {
		e.t = t
		for range 10 * burst {
			e.ok(right("192.0.2.60:1000"), http.StatusOK, nil)
		}
	})
	t.Run("sign-up per address", func(t *testing.T) {
		e.t = t
		signup := func(remote string) req {
			return req{method: "POST", path: "/api/v1/accounts", json: map[string]any{"friendly_name": "new"}, remote: remote}
		}
		for range ratelimit.DefaultSignups.Burst {
			e.ok(signup("198.51.100.9:1000"), http.StatusCreated, nil)
		}
		e.fail(req{method: "POST", path: "/api/v1/accounts", json: map[string]any{"friendly_name": "a\nb"}, remote: "198.51.100.9:1000"}, 400, codeInvalidParameter)
		limited(t, signup("198.51.100.9:1000"), "720")
		e.ok(signup("198.51.100.10:1000"), http.StatusCreated, nil)
		clock.t = clock.t.Add(12 * time.Minute)
		e.ok(signup("198.51.100.9:1000"), http.StatusCreated, nil)
	})
}

// The promises about what one tenant can take of the server's memory and
// disk, as the README states them.
const (
	promiseCacheBytes = "the compiled-template cache stays within its byte budget, whatever templates tenants save"
	promiseListBytes  = "a list of bins answers at most 1 MiB, and leaves templates out unless asked"
	promiseQuota      = "an account's bins and template bytes stay within its quotas, refused with 403 quota_exceeded"
	promisePruned     = "a bin keeps its newest revisions; a pruned one is a 404 that says so"
)

// padded64K is a valid template of MaxTemplateBytes bytes naming tag.
func padded64K(tag string) string {
	head, tail := "<Response><Say>"+tag+"</Say>", "</Response>"
	return head + strings.Repeat(" ", MaxTemplateBytes-len(head)-len(tail)) + tail
}

// TestHostileCacheByteBudget: a tenant updating a bin with distinct
// 64 KiB templates, each served once so that it is compiled, keeps the
// cache within its byte budget, by its own account and by the heap.
func TestHostileCacheByteBudget(t *testing.T) {
	const budget = 8 << 20
	e := newEnv(t, Config{CacheBytes: budget})
	u := e.newUser("alice")
	b := e.createBin(u, helloTemplate, "")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 250 {
		e.ok(req{method: "POST", path: "/api/v1/bins/" + b.SID, user: &u, json: map[string]any{"template": padded64K(strconv.Itoa(i))}}, http.StatusOK, nil)
		e.ok(req{method: "GET", path: "/twiml/" + b.SID}, http.StatusOK, nil)
		tc := e.srv.cache
		tc.mu.Lock()
		n := tc.bytes
		tc.mu.Unlock()
		if n > budget {
			t.Fatalf("%s: the cache holds %d bytes after %d templates, over its budget of %d", promiseCacheBytes, n, i+1, budget)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	// The budget, the heap the cache's estimate leaves out, and slack for
	// the server and the store.
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap grew by %d bytes over 250 updates of distinct 64 KiB templates, each served once; cache budget %d bytes", grown, budget)
	if grown > 3*budget {
		t.Errorf("%s: the heap grew by %d bytes over 250 templates of 64 KiB, over 3 × the budget of %d", promiseCacheBytes, grown, budget)
	}
}

// TestHostileListBytes: listing many 64 KiB bins answers at most 1 MiB a
// page with their templates, paging through all of them, and leaves the
// templates out when they are not asked for.
func TestHostileListBytes(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.newUser("alice")
	const n = 40
	want := map[string]string{}
	for i := range n {
		tmpl := padded64K(strconv.Itoa(i))
		want[e.createBin(u, tmpl, "").SID] = tmpl
	}

	rec := e.ok(req{method: "GET", path: "/api/v1/bins?page_size=1000", user: &u}, http.StatusOK, nil)
	t.Logf("a list of %d bins of 64 KiB without templates: %d bytes", n, rec.Body.Len())
	if rec.Body.Len() > maxListBytes {
		t.Errorf("%s: the list without templates is %d bytes", promiseListBytes, rec.Body.Len())
	}
	var raw struct {
		Bins []map[string]any `json:"bins"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw.Bins) != n {
		t.Fatalf("%d bins listed, want %d", len(raw.Bins), n)
	}
	for _, b := range raw.Bins {
		if _, ok := b["template"]; ok {
			t.Fatalf("%s: a bin listed without include=template has its template", promiseListBytes)
		}
	}

	got := map[string]string{}
	path, pages := "/api/v1/bins?page_size=1000&include=template", 0
	for path != "" {
		rec := e.ok(req{method: "GET", path: path, user: &u}, http.StatusOK, nil)
		t.Logf("page %d with templates: %d bytes", pages+1, rec.Body.Len())
		if rec.Body.Len() > maxListBytes {
			t.Fatalf("%s: page %d is %d bytes", promiseListBytes, pages+1, rec.Body.Len())
		}
		var list binList
		if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Bins) == 0 {
			t.Fatalf("page %d is empty", pages+1)
		}
		for _, b := range list.Bins {
			got[b.SID] = b.Template
		}
		path = ""
		if list.Meta.NextPageURI != nil {
			path = *list.Meta.NextPageURI
		}
		if pages++; pages > n {
			t.Fatal("paging does not end")
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("paging with templates gave %d bins, want %d with their templates", len(got), len(want))
	}
	if pages < 3 {
		t.Errorf("%d pages for %d bins of 64 KiB", pages, n)
	}
	e.fail(req{method: "GET", path: "/api/v1/bins?include=everything", user: &u}, http.StatusBadRequest, codeInvalidParameter)
}

// TestHostileQuotas: the last bin and the last byte within an account's
// quotas are saved, the next are refused with 403 and a message naming the
// quota, and deleting a bin frees its share.
func TestHostileQuotas(t *testing.T) {
	t.Run("bins", func(t *testing.T) {
		e := newEnvWith(t, Config{}, store.Options{MaxBinsPerAccount: 2})
		u := e.newUser("alice")
		first := e.createBin(u, helloTemplate, "")
		e.createBin(u, helloTemplate, "")
		got := e.fail(req{method: "POST", path: "/api/v1/bins", user: &u, json: map[string]any{"template": helloTemplate}}, http.StatusForbidden, codeQuotaExceeded)
		for _, s := range []string{"2 bins", "--max-bins-per-account"} {
			if !strings.Contains(got.Message, s) {
				t.Errorf("%s: message %q does not say %q", promiseQuota, got.Message, s)
			}
		}
		e.ok(req{method: "DELETE", path: "/api/v1/bins/" + first.SID, user: &u}, http.StatusNoContent, nil)
		e.createBin(u, helloTemplate, "")
	})
	t.Run("bytes", func(t *testing.T) {
		const limit = 3 * 1000
		e := newEnvWith(t, Config{}, store.Options{MaxBytesPerAccount: limit})
		u := e.newUser("alice")
		sized := func(tag string, n int) string {
			head, tail := "<Response><Say>"+tag+"</Say>", "</Response>"
			return head + strings.Repeat(" ", n-len(head)-len(tail)) + tail
		}
		a := e.createBin(u, sized("a", 1000), "")
		e.ok(req{method: "POST", path: "/api/v1/bins/" + a.SID, user: &u, json: map[string]any{"template": sized("a2", 1000)}}, http.StatusOK, nil)
		e.fail(req{method: "POST", path: "/api/v1/bins", user: &u, json: map[string]any{"template": sized("b", 1001)}}, http.StatusForbidden, codeQuotaExceeded)
		b := e.createBin(u, sized("b", 1000), "")
		got := e.fail(req{method: "POST", path: "/api/v1/bins/" + b.SID, user: &u, json: map[string]any{"template": sized("b2", 100)}}, http.StatusForbidden, codeQuotaExceeded)
		for _, s := range []string{"3100", "3000", "--max-bytes-per-account", "every kept revision"} {
			if !strings.Contains(got.Message, s) {
				t.Errorf("%s: message %q does not say %q", promiseQuota, got.Message, s)
			}
		}
		e.fail(req{method: "POST", path: "/api/v1/bins/" + a.SID + "/revisions/1/restore", user: &u}, http.StatusForbidden, codeQuotaExceeded)
		e.ok(req{method: "DELETE", path: "/api/v1/bins/" + a.SID, user: &u}, http.StatusNoContent, nil)
		e.ok(req{method: "POST", path: "/api/v1/bins/" + b.SID, user: &u, json: map[string]any{"template": sized("b2", 2000)}}, http.StatusOK, nil)
	})
}

// TestHostileRevisionsPruned: a bin updated past RevisionsKept lists only
// the kept revisions, and fetching or restoring a pruned one is a 404 that
// says it was pruned.
func TestHostileRevisionsPruned(t *testing.T) {
	e := newEnvWith(t, Config{}, store.Options{RevisionsKept: 2})
	u := e.newUser("alice")
	b := e.createBin(u, helloTemplate, "")
	for _, name := range []string{"v2", "v3"} {
		e.ok(req{method: "POST", path: "/api/v1/bins/" + b.SID, user: &u, json: map[string]any{"friendly_name": name}}, http.StatusOK, nil)
	}
	var list revisionList
	e.ok(req{method: "GET", path: "/api/v1/bins/" + b.SID + "/revisions", user: &u}, http.StatusOK, &list)
	if len(list.Revisions) != 2 || list.Revisions[0].Revision != 3 || list.Revisions[1].Revision != 2 {
		t.Errorf("%s: revisions %+v, want 3 and 2", promisePruned, list.Revisions)
	}
	for _, r := range []req{
		{method: "GET", path: "/api/v1/bins/" + b.SID + "/revisions/1", user: &u},
		{method: "POST", path: "/api/v1/bins/" + b.SID + "/revisions/1/restore", user: &u},
	} {
		got := e.fail(r, http.StatusNotFound, codeRevisionPruned)
		if !strings.Contains(got.Message, "pruned") {
			t.Errorf("%s: %s %s: message %q", promisePruned, r.method, r.path, got.Message)
		}
	}
	e.fail(req{method: "GET", path: "/api/v1/bins/" + b.SID + "/revisions/4", user: &u}, http.StatusNotFound, codeNotFound)
	e.ok(req{method: "GET", path: "/api/v1/bins/" + b.SID + "/revisions/2", user: &u}, http.StatusOK, nil)
}

// scriptTemplate, served as XML, would be a page of XHTML that runs its
// script as soon as it loads: the attribute focuses the verb, and focusing
// it runs onfocus.
const scriptTemplate = `<Response xmlns="http://www.w3.org/1999/xhtml"><Say autofocus="" tabindex="0" onfocus="document.title='pwned'">hi</Say></Response>`

// checkInert fails unless an answer carries the headers that keep a
// browser from running anything in it or sniffing it into something else.
func checkInert(t *testing.T, what string, rec *httptest.ResponseRecorder) {
	t.Helper()
	if got := rec.Header().Values("Content-Security-Policy"); len(got) != 1 || got[0] != "default-src 'none'; sandbox" {
		t.Errorf("%s: %s (status %d): Content-Security-Policy %q", promiseInert, what, rec.Code, got)
	}
	if got := rec.Header().Values("X-Content-Type-Options"); len(got) != 1 || got[0] != "nosniff" {
		t.Errorf("%s: %s (status %d): X-Content-Type-Options %q", promiseInert, what, rec.Code, got)
	}
}

// TestHostileBinURLHeaders: a bin whose template, saved before the engine
// refused it, is a page of script when a browser opens it. Every answer of
// the bin URL, and of the API, tells the browser to run nothing.
func TestHostileBinURLHeaders(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.newUser("mallory")
	// In the store directly, as a template saved under an older engine.
	hostile, err := e.db.CreateBin(u.sid, storeInput("page", scriptTemplate, "lenient"))
	if err != nil {
		t.Fatal(err)
	}
	strict, err := e.db.CreateBin(u.sid, storeInput("strict", paramTemplate, "strict"))
	if err != nil {
		t.Fatal(err)
	}
	broken, err := e.db.CreateBin(u.sid, storeInput("broken", "<Response><Say>{{{x}}}</Say></Response>", "lenient"))
	if err != nil {
		t.Fatal(err)
	}
	signer := e.newUser("signer")
	signed, err := e.db.CreateBin(signer.sid, storeInput("signed", helloTemplate, "lenient"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.SetTwilioAuthToken(signer.sid, strings.Repeat("a", 32)); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		r      req
		status int
	}{
		{"the hostile bin", req{method: "GET", path: "/twiml/" + hostile.SID}, 500},
		{"the hostile bin, posted to", req{method: "POST", path: "/twiml/" + hostile.SID, form: url.Values{"a": {"b"}}}, 500},
		{"an unknown bin", req{method: "GET", path: "/twiml/EH" + strings.Repeat("0", 32)}, 404},
		{"a malformed SID", req{method: "GET", path: "/twiml/<script>"}, 404},
		{"no SID", req{method: "GET", path: "/twiml/"}, 404},
		{"a strict render that fails", req{method: "GET", path: "/twiml/" + strict.SID + "?crm=" + strings.Repeat("x", 129)}, 500},
		{"a template that no longer compiles", req{method: "GET", path: "/twiml/" + broken.SID}, 500},
		{"an unsigned request", req{method: "POST", path: "/twiml/" + signed.SID}, 403},
		{"a method the bin URL does not take", req{method: "PUT", path: "/twiml/" + hostile.SID}, 405},
		{"a body over the limit", req{method: "POST", path: "/twiml/" + hostile.SID, body: strings.Repeat("a", DefaultMaxBodyBytes+1), contentType: "application/x-www-form-urlencoded"}, 413},
		{"the API", req{method: "GET", path: "/api/v1/bins", user: &u}, 200},
		{"the API's 401", req{method: "GET", path: "/api/v1/bins"}, 401},
		{"the API's 404", req{method: "GET", path: "/api/v1/nothing", user: &u}, 404},
		{"a write to the API", req{method: "POST", path: "/api/v1/bins", user: &u, json: map[string]any{"template": helloTemplate}}, 201},
		{"the OpenAPI document", req{method: "GET", path: "/api/v1/openapi.json"}, 200},
		{"the health check", req{method: "GET", path: "/healthz"}, 200},
		{"the metrics", req{method: "GET", path: "/metrics"}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			rec := e.do(tt.r)
			if rec.Code != tt.status {
				t.Fatalf("%s %s: status %d, want %d; body: %s", tt.r.method, tt.r.path, rec.Code, tt.status, rec.Body)
			}
			checkInert(t, tt.name, rec)
		})
	}
	e.t = t
	// The engine refuses the template today, so the bin answers an error
	// that holds none of it; the headers are there for what it may miss.
	rec := e.do(req{method: "GET", path: "/twiml/" + hostile.SID})
	if strings.Contains(rec.Body.String(), `onfocus=`) {
		t.Errorf("the hostile bin answered %s", rec.Body)
	}
}

// TestBinURLHeadersPrepared: the bin URL's security headers are values
// made once, not per request.
func TestBinURLHeadersPrepared(t *testing.T) {
	h := http.Header{}
	allocs := testing.AllocsPerRun(100, func() { setInertHeaders(h) })
	if allocs != 0 {
		t.Errorf("setting the headers allocates %.0f times per request", allocs)
	}
	rec := httptest.NewRecorder()
	setInertHeaders(rec.Header())
	checkInert(t, "setInertHeaders", rec)
}

// TestHostileCrossOriginAPI: a browser that holds an account's credentials
// (cached after a Basic prompt, say) is made to send a write to the API
// from another site. Every write is refused before it is read; reads,
// requests without browser headers and the bin URL are not.
func TestHostileCrossOriginAPI(t *testing.T) {
	e := newEnv(t, Config{OpenSignup: true})
	u := e.newUser("victim")
	if _, err := e.db.SetTwilioAuthToken(u.sid, strings.Repeat("t", 32)); err != nil {
		t.Fatal(err)
	}
	b := e.createBin(u, helloTemplate, "")

	// The page a data: URL or another site shows posts a form.
	dataPage := http.Header{"Origin": {"null"}, "Sec-Fetch-Site": {"cross-site"}, "Sec-Fetch-Mode": {"navigate"}}
	rec := e.do(req{method: "POST", path: "/api/v1/account", user: &u, form: url.Values{"twilio_auth_token": {""}}, header: dataPage})
	got := checkError(t, "the data: page's form", rec, http.StatusForbidden, codeCrossOrigin)
	if !strings.Contains(got.Message, "other sites") || !strings.Contains(got.Message, "curl") {
		t.Errorf("%s: message %q does not say what was refused and who is unaffected", promiseNoBrowsers, got.Message)
	}
	if tok, err := e.db.TwilioAuthToken(u.sid); err != nil || tok == "" {
		t.Errorf("%s: the Twilio auth token was cleared (%q, %v)", promiseNoBrowsers, tok, err)
	}

	refused := []struct {
		name   string
		header http.Header
	}{
		{"Sec-Fetch-Site cross-site", http.Header{"Sec-Fetch-Site": {"cross-site"}}},
		{"Sec-Fetch-Site same-site", http.Header{"Sec-Fetch-Site": {"same-site"}}},
		{"Sec-Fetch-Site cross-site with a matching Origin", http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"http://example.com"}}},
		{"Origin null", http.Header{"Origin": {"null"}}},
		{"Origin of another site", http.Header{"Origin": {"https://evil.example"}}},
		{"Origin of another port", http.Header{"Origin": {"http://example.com:8081"}}},
		{"Origin of a subdomain", http.Header{"Origin": {"http://bins.example.com"}}},
	}
	// Every route that is not a read, so that a route added later is
	// covered too.
	writes := 0
	for _, r := range e.srv.echo.Routes() {
		if !strings.HasPrefix(r.Path, "/api/") || r.Method == http.MethodGet {
			continue
		}
		writes++
		path := strings.NewReplacer(":sid", b.SID, ":rev", "1").Replace(r.Path)
		for _, tt := range refused {
			t.Run(r.Method+" "+r.Path+" "+tt.name, func(t *testing.T) {
				e.t = t
				rec := e.do(req{method: r.Method, path: path, user: &u, json: map[string]any{"friendly_name": "pwned"}, header: tt.header})
				checkError(t, promiseNoBrowsers, rec, http.StatusForbidden, codeCrossOrigin)
			})
		}
	}
	e.t = t
	if writes < 10 {
		t.Fatalf("found %d write routes under /api/", writes)
	}
	var list binList
	e.ok(req{method: "GET", path: "/api/v1/bins", user: &u}, http.StatusOK, &list)
	if len(list.Bins) != 1 || list.Bins[0].Revision != 1 || list.Bins[0].FriendlyName != "test bin" {
		t.Errorf("%s: refused requests changed the bins: %+v", promiseNoBrowsers, list.Bins)
	}
	if n, err := e.db.CountAccounts(); err != nil || n != 1 {
		t.Errorf("%s: refused sign-ups made accounts: %d, %v", promiseNoBrowsers, n, err)
	}

	// Allowed: clients that send no browser header, the browser on the
	// API's own origin, reads, and the bin URL, which Twilio posts to.
	allowed := []struct {
		name   string
		r      req
		status int
	}{
		{"no browser headers (curl, Twilio's SDKs)", req{method: "POST", path: "/api/v1/bins/" + b.SID, user: &u, json: map[string]any{"friendly_name": "a"}}, 200},
		{"Sec-Fetch-Site same-origin", req{method: "POST", path: "/api/v1/bins/" + b.SID, user: &u, json: map[string]any{"friendly_name": "b"}, header: http.Header{"Sec-Fetch-Site": {"same-origin"}}}, 200},
		{"Sec-Fetch-Site none (typed by the user)", req{method: "PATCH", path: "/api/v1/bins/" + b.SID, user: &u, json: map[string]any{"friendly_name": "c"}, header: http.Header{"Sec-Fetch-Site": {"none"}}}, 200},
		{"the API's own Origin", req{method: "POST", path: "/api/v1/validate", user: &u, json: map[string]any{"template": helloTemplate}, header: http.Header{"Origin": {"http://example.com"}}}, 200},
		{"a read from another site", req{method: "GET", path: "/api/v1/bins", user: &u, header: http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"null"}}}, 200},
	}
	for _, tt := range allowed {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			e.ok(tt.r, tt.status, nil)
		})
	}
	e.t = t
	// The bin URL answers a cross-site POST as any other.
	if _, err := e.db.SetTwilioAuthToken(u.sid, ""); err != nil {
		t.Fatal(err)
	}
	e.ok(req{method: "POST", path: "/twiml/" + b.SID, form: url.Values{"name": {"x"}}, header: http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"null"}}}, 200, nil)
}

// TestHostileCrossOriginBehindProxy: behind a proxy that rewrites Host, the
// public URL's origin is the API's own.
func TestHostileCrossOriginBehindProxy(t *testing.T) {
	e := newEnv(t, Config{PublicURL: "https://bins.example.net/base"})
	u := e.newUser("alice")
	own := http.Header{"Origin": {"https://bins.example.net"}}
	e.ok(req{method: "POST", path: "/api/v1/validate", user: &u, json: map[string]any{"template": helloTemplate}, header: own}, http.StatusOK, nil)
	other := http.Header{"Origin": {"https://evil.example.net"}}
	e.fail(req{method: "POST", path: "/api/v1/validate", user: &u, json: map[string]any{"template": helloTemplate}, header: other}, http.StatusForbidden, codeCrossOrigin)
}

// TestHostileNoBasicPrompt: a 401 names no scheme a browser answers with
// a credentials prompt, whose answer it would then send to the API from
// any page. Credentials sent up front still work.
func TestHostileNoBasicPrompt(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.newUser("alice")
	wrong := user{u.sid, strings.Repeat("0", 32)}
	for _, r := range []req{
		{method: "GET", path: "/api/v1/bins"},
		{method: "GET", path: "/api/v1/account", user: &wrong},
		{method: "POST", path: "/api/v1/bins", json: map[string]any{"template": helloTemplate}},
	} {
		rec := e.do(r)
		checkError(t, promiseNoPrompt, rec, http.StatusUnauthorized, codeUnauthorized)
		for _, v := range rec.Header().Values("WWW-Authenticate") {
			scheme, _, _ := strings.Cut(strings.TrimSpace(v), " ")
			for _, prompting := range []string{"Basic", "Digest", "NTLM", "Negotiate"} {
				if strings.EqualFold(scheme, prompting) {
					t.Errorf("%s: %s %s: WWW-Authenticate %q", promiseNoPrompt, r.method, r.path, v)
				}
			}
		}
	}
	e.ok(req{method: "GET", path: "/api/v1/bins", user: &u}, http.StatusOK, nil)
}
