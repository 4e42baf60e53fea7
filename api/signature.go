package api

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"hash"
	"net"
	"slices"
	"strings"
)

// TwilioSignature computes the X-Twilio-Signature Twilio sends with a
// request, by Twilio's algorithm: the full URL the request was made to
// (query string included), followed, for a form-encoded POST, by the name
// and value of each body parameter in the order of their names (the values
// of a repeated name in their own sorted order), signed with HMAC-SHA1 keyed
// by the Twilio account's auth token, in standard base64. For a GET, or a
// POST of another content type, form is nil.
func TwilioSignature(authToken, url string, form map[string][]string) string {
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(url))
	writeParams(mac, form)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// validSignature reports whether sig is the request's signature by
// authToken. Like Twilio's own libraries it accepts the URL as given and
// with its port changed: without the port when it has one, with the
// scheme's default port (443, 80) when it has none, since the URL Twilio
// signed may differ from the one the server rebuilt in just that way. The
// comparison takes constant time.
func validSignature(authToken, sig, url string, form map[string][]string) bool {
	// Strict: a signature has one encoding, as Twilio's libraries compare it.
	want, err := base64.StdEncoding.Strict().DecodeString(sig)
	if err != nil || len(want) != sha1.Size || authToken == "" {
		return false
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	ok := false
	for _, u := range []string{url, otherPort(url)} {
		if u == "" {
			continue
		}
		mac.Reset()
		mac.Write([]byte(u))
		writeParams(mac, form)
		// Both variants are always computed when the first fails, so the
		// time taken does not depend on which one matched.
		if hmac.Equal(mac.Sum(nil), want) {
			ok = true
		}
	}
	return ok
}

// writeParams writes each parameter's name and value, sorted by name and
// then by value.
func writeParams(h hash.Hash, form map[string][]string) {
	if len(form) == 0 {
		return
	}
	names := make([]string, 0, len(form))
	for name := range form {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		values := form[name]
		if len(values) > 1 {
			values = slices.Sorted(slices.Values(values))
		}
		for _, v := range values {
			h.Write([]byte(name))
			h.Write([]byte(v))
		}
	}
}

// otherPort returns url with its port removed when it has one, or with the
// scheme's default port added when it has none; "" when url is not an
// http or https URL.
func otherPort(url string) string {
	scheme, rest, ok := strings.Cut(url, "://")
	var defaultPort string
	switch strings.ToLower(scheme) {
	case "https":
		defaultPort = "443"
	case "http":
		defaultPort = "80"
	}
	if !ok || defaultPort == "" {
		return ""
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	userinfo := ""
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		userinfo, authority = authority[:at+1], authority[at+1:]
	}
	host, _, err := net.SplitHostPort(authority)
	if err == nil {
		// It has a port: take it off.
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		return scheme + "://" + userinfo + host + tail
	}
	return scheme + "://" + userinfo + net.JoinHostPort(strings.Trim(authority, "[]"), defaultPort) + tail
}
