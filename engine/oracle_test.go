package engine_test

import (
	"encoding/xml"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/cbroglie/mustache"
	"github.com/stretchr/testify/require"

	"github.com/twimlbin/twimlbin/engine"
)

// oracleTemplates are rendered both by the engine and by
// github.com/cbroglie/mustache, which defines the template language. Their
// variables sit where the engine writes values as they are (no URL or SIP
// slots, which the engine percent-encodes).
var oracleTemplates = []string{
	contextualCalling,
	`<Response>{{#vip}}<Say>Hello {{name}}, VIP {{.}}</Say>{{/vip}}{{^vip}}<Say>Hi {{name}}</Say>{{/vip}}</Response>`,
	"<Response>\n  <Dial>\n    {{#Dest}}\n    <Number>{{.}}</Number>\n    {{/Dest}}\n  </Dial>\n  {{^Dest}}\n  <Hangup/>\n  {{/Dest}}\n</Response>\n",
	`<Response><Say voice="alice">{{#a}}A{{#b}}B{{name}}{{/b}}{{^b}}!B{{/b}}{{/a}}{{^a}}!A{{/a}} &amp; {{name}}</Say></Response>`,
	`<Response><Dial {{#t}}timeout="20"{{/t}}{{^t}}timeout="30"{{/t}}><Client><Identity>{{agent}}</Identity><Parameter name="p" value="{{#a}}x{{.}}y{{/a}}{{name}}"/></Client></Dial></Response>`,
	"<Response>\r\n{{! note }}\r\n  <Message>{{Body}}</Message>\r\n</Response>",
}

// oracleValue returns a random value: blank, plain, or with characters XML
// must escape (the library cannot replace the ones XML forbids).
func oracleValue(rng *rand.Rand) string {
	pool := []string{"", " ", "alice", "+14155551212", `<b>&"'`, "Zoë ✓", "a\tb", "x y", "]]>", "&amp;"}
	return pool[rng.IntN(len(pool))]
}

func TestAgainstLibrary(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"From", "agent", "customerID", "selectedProductID", "SipHeader_X-CustomerID", "vip", "name", "Dest", "a", "b", "t", "Body"}
	compared := 0
	for ti, src := range oracleTemplates {
		tmpl, err := engine.Compile(src)
		require.NoError(t, err, "template %d", ti)
		lib, err := mustache.ParseString(src)
		require.NoError(t, err)
		for round := 0; round < 300; round++ {
			values := map[string][]string{}
			data := map[string]any{}
			for _, n := range names {
				switch rng.IntN(4) {
				case 0: // absent
				case 1, 2:
					v := oracleValue(rng)
					values[n] = []string{v}
					data[n] = v
				case 3:
					if n != "Dest" && n != "vip" && n != "a" && n != "b" {
						continue // lists only where the template iterates
					}
					list := []string{oracleValue(rng), oracleValue(rng)}
					values[n] = list
					data[n] = list
				}
			}
			got, diags, err := tmpl.Render(values, engine.Lenient)
			if err != nil || len(diags) > 0 {
				continue // a repaired render differs from the library by design
			}
			want, err := lib.Render(data)
			require.NoError(t, err)
			require.Equal(t, canonical(t, want), canonical(t, string(got)), "template %d, values %v", ti, values)
			compared++
		}
	}
	require.Greater(t, compared, len(oracleTemplates)*150, "too few renders were compared")
}

// canonical reads a document and writes its elements, attributes (sorted)
// and text, so that equivalent escapings compare equal.
func canonical(t *testing.T, doc string) string {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(doc))
	var b strings.Builder
	for {
		tok, err := dec.Token()
		if err != nil {
			require.Equal(t, "EOF", err.Error(), "document:\n%s", doc)
			return b.String()
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			attrs := make([]string, 0, len(tok.Attr))
			for _, a := range tok.Attr {
				attrs = append(attrs, fmt.Sprintf("%s=%q", a.Name.Local, a.Value))
			}
			sort.Strings(attrs)
			fmt.Fprintf(&b, "<%s %s>", tok.Name.Local, strings.Join(attrs, " "))
		case xml.EndElement:
			fmt.Fprintf(&b, "</%s>", tok.Name.Local)
		case xml.CharData:
			fmt.Fprintf(&b, "%q", string(tok))
		}
	}
}
