package api

import (
	"net/url"
	"testing"
)

// Twilio's published example of its request signature.
var (
	twilioExampleURL    = "https://mycompany.com/myapp.php?foo=1&bar=2"
	twilioExampleParams = url.Values{
		"CallSid": {"CA1234567890ABCDE"},
		"Caller":  {"+12349013030"},
		"Digits":  {"1234"},
		"From":    {"+12349013030"},
		"To":      {"+18005551212"},
	}
	twilioExampleToken     = "12345"
	twilioExampleSignature = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
)

func TestTwilioSignatureExample(t *testing.T) {
	if got := TwilioSignature(twilioExampleToken, twilioExampleURL, twilioExampleParams); got != twilioExampleSignature {
		t.Errorf("TwilioSignature = %s, want %s", got, twilioExampleSignature)
	}
}

func TestValidSignature(t *testing.T) {
	tests := []struct {
		name   string
		token  string
		sig    string
		url    string
		params url.Values
		want   bool
	}{
		{"example", twilioExampleToken, twilioExampleSignature, twilioExampleURL, twilioExampleParams, true},
		{"example with :443", twilioExampleToken, twilioExampleSignature, "https://mycompany.com:443/myapp.php?foo=1&bar=2", twilioExampleParams, true},
		{"example with another port", twilioExampleToken, twilioExampleSignature, "https://mycompany.com:8443/myapp.php?foo=1&bar=2", twilioExampleParams, true},
		{"example over http", twilioExampleToken, twilioExampleSignature, "http://mycompany.com/myapp.php?foo=1&bar=2", twilioExampleParams, false},
		{"wrong token", "54321", twilioExampleSignature, twilioExampleURL, twilioExampleParams, false},
		{"empty token", "", twilioExampleSignature, twilioExampleURL, twilioExampleParams, false},
		{"missing signature", twilioExampleToken, "", twilioExampleURL, twilioExampleParams, false},
		{"not base64", twilioExampleToken, "0/KCTR6DLpKmkAf8muzZqo1nDgQ", twilioExampleURL, twilioExampleParams, false},
		{"truncated", twilioExampleToken, "0/KCTR6DLpKmkAf8", twilioExampleURL, twilioExampleParams, false},
		{"changed parameter", twilioExampleToken, twilioExampleSignature, twilioExampleURL, with(twilioExampleParams, "Digits", "1235"), false},
		{"added parameter", twilioExampleToken, twilioExampleSignature, twilioExampleURL, with(twilioExampleParams, "Extra", ""), false},
		{"changed query", twilioExampleToken, twilioExampleSignature, "https://mycompany.com/myapp.php?foo=1&bar=3", twilioExampleParams, false},
		{"no parameters", twilioExampleToken, twilioExampleSignature, twilioExampleURL, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := validSignature(tt.token, tt.sig, tt.url, tt.params); got != tt.want {
				t.Errorf("validSignature = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSignatureParamOrder: parameters are signed sorted by name, the values
// of a repeated name sorted too, whatever order they came in.
func TestSignatureParamOrder(t *testing.T) {
	a := TwilioSignature("t", "https://x/", url.Values{"b": {"2", "1"}, "a": {"z"}})
	b := TwilioSignature("t", "https://x/", url.Values{"a": {"z"}, "b": {"1", "2"}})
	c := TwilioSignature("t", "https://x/a"+"z"+"b1b2", nil)
	if a != b {
		t.Errorf("order of values changes the signature: %s %s", a, b)
	}
	if TwilioSignature("t", "https://x/", nil) == a {
		t.Error("parameters are not signed")
	}
	if c != a {
		t.Errorf("signature over https://x/azb1b2 = %s, want %s (the URL followed by name+value pairs)", c, a)
	}
}

func TestOtherPort(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://example.com/a?b=1", "https://example.com:443/a?b=1"},
		{"https://example.com:443/a?b=1", "https://example.com/a?b=1"},
		{"https://example.com:8443/a", "https://example.com/a"},
		{"http://example.com/a", "http://example.com:80/a"},
		{"http://example.com:80", "http://example.com"},
		{"http://example.com?x=a:1", "http://example.com:80?x=a:1"},
		{"https://user:pw@example.com/a", "https://user:pw@example.com:443/a"},
		{"https://[::1]:443/a", "https://[::1]/a"},
		{"https://[::1]/a", "https://[::1]:443/a"},
		{"ftp://example.com/a", ""},
		{"example.com/a", ""},
	}
	for _, tt := range tests {
		if got := otherPort(tt.in); got != tt.want {
			t.Errorf("otherPort(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
