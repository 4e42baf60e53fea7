// Package namecases holds the friendly names that the API's and the web
// form's hostile tests send, so that both hold the one rule of
// store.CheckFriendlyName to the same cases. Only tests import it.
package namecases

import "strings"

// Bad are names every writer refuses, by what they try, each with what the
// refusal's message says of it.
var Bad = map[string]struct{ Name, Says string }{
	"NUL":                 {"a\x00b", "(U+0000) at character 2"},
	"tab":                 {"a\tb", "(U+0009) at character 2"},
	"line feed":           {"a\nb", "(U+000A) at character 2"},
	"carriage return":     {"a\rb", "(U+000D) at character 2"},
	"CRLF":                {"ab\r\nSet-Cookie: x", "(U+000D) at character 3"},
	"escape":              {"\x1b[31mred", "(U+001B) at character 1"},
	"DEL":                 {"a\x7f", "(U+007F) at character 2"},
	"C1 next line":        {"a\u0085b", "(U+0085) at character 2"},
	"line separator":      {"a\u2028b", "(U+2028) at character 2"},
	"paragraph separator": {"a\u2029b", "(U+2029) at character 2"},
	"not UTF-8":           {"a\xffb", "not UTF-8"},
	"65 characters":       {strings.Repeat("é", 65), "65 characters long; the limit is 64"},
}

// Good are names every writer takes as they are.
var Good = []string{"", "Main line", "Café ☎ 日本語 🎉", "<b>&amp;</b> \"quoted\" 'x'", strings.Repeat("é", 64)}
