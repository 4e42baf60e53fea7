package engine_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cbroglie/mustache"

	"github.com/twimlbin/twimlbin/engine"
)

// contextualValues are the parameters Twilio and the backend send to the
// contextual-calling bin.
var contextualValues = map[string][]string{
	"AccountSid":             {"ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"},
	"CallSid":                {"CA1234567890ABCDE1234567890ABCDE"},
	"From":                   {"+15105555555"},
	"To":                     {"+14155551212"},
	"agent":                  {"alice"},
	"customerID":             {"375d1d60-083b-404d-9aa9-ba1c1c4a3f2a"},
	"selectedProductID":      {"876-5423"},
	"SipHeader_X-CustomerID": {"CRM-00042"},
}

// largeTemplate returns a valid template of about size bytes that uses every
// kind of slot: text and attribute variables, sections, lists and e164.
func largeTemplate(size int) string {
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response>\n")
	for i := 0; b.Len() < size-600; i++ {
		fmt.Fprintf(&b, `  <Gather input="dtmf speech" numDigits="{{digits}}" timeout="5" action="https://example.com/ivr/%d?customer={{customerID}}&amp;step=%d" method="POST">
    <Say voice="Polly.Joanna" language="en-US">Hello {{agent}}, press %d for {{selectedProductID}}.</Say>
  </Gather>
  {{#Dest}}<Dial callerId="{{#e164}}{{From}}{{/e164}}" timeout="{{timeout}}"><Number>{{.}}</Number></Dial>{{/Dest}}
`, i, i, i%10)
	}
	b.WriteString("  <Hangup/>\n</Response>\n")
	return b.String()
}

func BenchmarkCompileContextual(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := engine.Compile(contextualCalling); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRenderContextual(b *testing.B) {
	tmpl, err := engine.Compile(contextualCalling)
	if err != nil {
		b.Fatal(err)
	}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf, _, err = tmpl.AppendRender(buf[:0], contextualValues, engine.Strict)
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderContextualSlots renders with the values by position, as
// the bin URL does.
func BenchmarkRenderContextualSlots(b *testing.B) {
	tmpl, err := engine.Compile(contextualCalling)
	if err != nil {
		b.Fatal(err)
	}
	slots := make([][]string, len(tmpl.Variables()))
	for i, name := range tmpl.Variables() {
		slots[i] = contextualValues[name]
	}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf, _, err = tmpl.AppendRenderSlots(buf[:0], slots, engine.Strict)
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderContextualLibrary is the reference: the same template
// rendered by github.com/cbroglie/mustache alone, with no checks.
func BenchmarkRenderContextualLibrary(b *testing.B) {
	tmpl, err := mustache.ParseString(contextualCalling)
	if err != nil {
		b.Fatal(err)
	}
	data := map[string]any{}
	for k, v := range contextualValues {
		data[k] = v[0]
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tmpl.Render(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompile64K(b *testing.B) {
	src := largeTemplate(64 << 10)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := engine.Compile(src); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRender64K(b *testing.B) {
	tmpl, err := engine.Compile(largeTemplate(48 << 10))
	if err != nil {
		b.Fatal(err)
	}
	values := map[string][]string{"digits": {"4"}, "customerID": {"c-42"}, "agent": {"alice"},
		"selectedProductID": {"p-7"}, "From": {"sip:+15105555555@example.com"}, "timeout": {"20"}, "Dest": {"+12025550100"}}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf, _, err = tmpl.AppendRender(buf[:0], values, engine.Strict)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}
