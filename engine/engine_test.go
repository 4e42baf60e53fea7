package engine_test

import (
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/twimlbin/twimlbin/engine"
)

// contextualCalling is the bin of Twilio's contextual-calling guide.
const contextualCalling = `<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Dial callerId="{{From}}">
    <Client>
      <Identity>{{agent}}</Identity>
      <Parameter name="customerID" value="{{customerID}}"/>
      <Parameter name="selectedProductID" value="{{selectedProductID}}"/>
      <Parameter name="crmID" value="{{SipHeader_X-CustomerID}}"/>
    </Client>
  </Dial>
</Response>
`

type vals = map[string][]string

// compileTests are templates and the codes Check reports, in order. An
// empty list means the template is clean.
var compileTests = []struct {
	name  string
	src   string
	codes []engine.Code
}{
	{"contextual calling", contextualCalling, nil},
	{"empty response", `<Response/>`, nil},
	{"variable with dashes", `<Response><Say>{{SipHeader_X-Customer-ID}}</Say></Response>`, nil},
	{"comment tag", `<Response>{{! a note }}<Hangup/></Response>`, nil},
	{"xml declaration and comment", "<?xml version=\"1.0\"?><!-- hi --><Response><!-- there --></Response>", nil},
	{"byte order mark", "\uFEFF<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>", nil},
	{"CDATA text", `<Response><Say><![CDATA[a < b]]></Say></Response>`, nil},
	{"list of numbers", `<Response><Dial>{{#Dest}}<Number>{{.}}</Number>{{/Dest}}</Dial></Response>`, nil},
	{"conditional verbs", `<Response>{{#vip}}<Say>Hello {{name}}</Say>{{/vip}}{{^vip}}<Hangup/>{{/vip}}</Response>`, nil},
	{"conditional attribute", `<Response><Dial {{#t}}timeout="{{t}}"{{/t}}{{^t}}timeout="30"{{/t}}><Number>+14155551212</Number></Dial></Response>`, nil},
	{"section in attribute value", `<Response><Redirect method="POST">https://example.com/next{{#id}}?id={{id}}{{/id}}</Redirect></Response>`, nil},
	{"e164 in attribute", `<Response><Dial callerId="{{#e164}}{{From}}{{/e164}}"><Number>+14155551212</Number></Dial></Response>`, nil},
	{"e164 as a variable", `<Response><Say>{{e164}}</Say></Response>`, []engine.Code{engine.CodeBuiltinName}},
	{"amazon SSML without Polly", `<Response><Say voice="alice"><amazon:effect name="whispered">hi</amazon:effect></Say></Response>`, []engine.Code{engine.CodeProviderSSML}},
	{"amazon SSML with Polly", `<Response><Say voice="Polly.Joanna"><amazon:effect name="whispered">hi</amazon:effect></Say></Response>`, nil},
	{"messaging", `<Response><Message to="{{From}}">Thanks, {{Body}}</Message></Response>`, nil},

	// Template language.
	{"unclosed tag", `<Response><Say>{{name</Say></Response>`, []engine.Code{engine.CodeUnclosedTag}},
	{"unclosed section", `<Response>{{#a}}<Hangup/></Response>`, []engine.Code{engine.CodeSectionMismatch}},
	{"stray close", `<Response>{{/a}}</Response>`, []engine.Code{engine.CodeSectionMismatch}},
	{"triple mustache", `<Response><Say>{{{name}}}</Say></Response>`, []engine.Code{engine.CodeUnescapedTag}},
	{"ampersand tag", `<Response><Say>{{&name}}</Say></Response>`, []engine.Code{engine.CodeUnescapedTag}},
	{"partial", `<Response>{{> /etc/passwd}}</Response>`, []engine.Code{engine.CodePartial}},
	{"delimiters", `<Response>{{=<% %>=}}<%name%></Response>`, []engine.Code{engine.CodeDelimiter}},
	{"dotted name", `<Response><Say>{{a.b}}</Say></Response>`, []engine.Code{engine.CodeTagName}},
	{"brackets in name", `<Response>{{#Dest[]}}{{/Dest[]}}</Response>`, []engine.Code{engine.CodeTagName, engine.CodeTagName}},
	{"dot outside section", `<Response><Say>{{.}}</Say></Response>`, []engine.Code{engine.CodeTagName}},
	{"too deep", `<Response>` + strings.Repeat("{{#a}}", 9) + strings.Repeat("{{/a}}", 9) + `</Response>`, []engine.Code{engine.CodeNestingTooDeep}},
	{"tag as attribute", `<Response><Dial {{attrs}}></Dial></Response>`, []engine.Code{engine.CodeTagPlacement}},
	{"tag as element name", `<Response><{{verb}}/></Response>`, []engine.Code{engine.CodeTagPlacement}},
	{"tag outside root", `{{x}}<Response/>`, []engine.Code{engine.CodeTagPlacement}},
	{"unquoted attribute value", `<Response><Dial timeout={{t}}></Dial></Response>`, []engine.Code{engine.CodeTagPlacement}},
	{"section opens element only", `<Response>{{#a}}<Say>{{/a}}hi</Say></Response>`, []engine.Code{engine.CodeSectionBoundary}},
	{"section closes element only", `<Response><Say>hi{{#a}}</Say>{{/a}}</Response>`, []engine.Code{engine.CodeSectionBoundary}},
	{"section across attribute quote", `<Response><Dial timeout="{{#a}}1"{{/a}}></Dial></Response>`, []engine.Code{engine.CodeSectionBoundary}},
	{"root in section", `{{#a}}<Response/>{{/a}}`, []engine.Code{engine.CodeSectionBoundary}},
	{"e164 around markup", `<Response>{{#e164}}<Say>1</Say>{{/e164}}</Response>`, []engine.Code{engine.CodeE164Content}},
	{"inverted e164", `<Response><Say>{{^e164}}x{{/e164}}</Say></Response>`, []engine.Code{engine.CodeE164Content}},
	{"duplicate attribute in branches", `<Response><Dial timeout="5" {{#a}}timeout="6"{{/a}}>+14155551212</Dial></Response>`, []engine.Code{engine.CodeDuplicateAttr}},
	{"too large", `<Response>` + strings.Repeat(" ", engine.MaxTemplateSize) + `</Response>`, []engine.Code{engine.CodeTemplateTooLarge}},

	// XML.
	{"not xml", `hello`, []engine.Code{engine.CodeParseFailure}},
	{"mismatched end", `<Response><Say>hi</Play></Response>`, []engine.Code{engine.CodeParseFailure}},
	{"bare ampersand", `<Response><Redirect>https://x.com/?a=1&b=2</Redirect></Response>`, []engine.Code{engine.CodeParseFailure}},
	{"duplicate attribute", `<Response><Say loop="1" loop="2">x</Say></Response>`, []engine.Code{engine.CodeParseFailure}},
	{"doctype", `<!DOCTYPE x [<!ENTITY a "b">]><Response/>`, []engine.Code{engine.CodeParseFailure}},
	{"late declaration", ` <?xml version="1.0"?><Response/>`, []engine.Code{engine.CodeParseFailure}},
	{"processing instruction", "<?xml version=\"1.0\"?><Response><?pi x?></Response>", []engine.Code{engine.CodeProcessingInstr}},
	{"attribute twice in Amazon SSML", `<Response><Say voice="Polly.Joanna"><amazon:effect name="a" name="b">hi</amazon:effect></Say></Response>`, []engine.Code{engine.CodeParseFailure}},
	{"second root", `<Response/><Response/>`, []engine.Code{engine.CodeParseFailure}},
	{"invalid utf-8", "<Response><Say>\xff</Say></Response>", []engine.Code{engine.CodeParseFailure}},
	{"control character", "<Response><Say>\x01</Say></Response>", []engine.Code{engine.CodeParseFailure}},
	{"colon as an attribute name", `<Response><Dial ::=""></Dial></Response>`, []engine.Code{engine.CodeParseFailure}},
	{"two colons in an element name", `<Response><a:b:c/></Response>`, []engine.Code{engine.CodeParseFailure}},
	{"attributes without space", `<Response><Say voice="alice"loop="2">x</Say></Response>`, []engine.Code{engine.CodeParseFailure}},

	// Schema.
	{"root not Response", `<Dial/>`, []engine.Code{engine.CodeRootNotResponse}},
	{"unknown verb", `<Response><Foo/></Response>`, []engine.Code{engine.CodeElementNotAllowed}},
	{"verb inside Dial", `<Response><Dial><Say>x</Say></Dial></Response>`, []engine.Code{engine.CodeDialNested}},
	{"Dial inside Gather", `<Response><Gather><Dial>1</Dial></Gather></Response>`, []engine.Code{engine.CodeGatherNested}},
	{"text in Response", `<Response>hello</Response>`, []engine.Code{engine.CodeTextNotAllowed}},
	{"unknown attribute", `<Response><Say voise="alice">x</Say></Response>`, []engine.Code{engine.CodeSchema}},
	{"unknown enum value", `<Response><Say voice="Polly.Nobody">x</Say></Response>`, []engine.Code{engine.CodeSchema}},
	{"empty Say", `<Response><Say></Say></Response>`, []engine.Code{engine.CodeSayEmpty}},
	{"integer attribute", `<Response><Say loop="often">x</Say></Response>`, []engine.Code{engine.CodeValueType}},
	{"boolean attribute", `<Response><Gather bargeIn="yes"/></Response>`, []engine.Code{engine.CodeValueType}},
	{"closed enum", `<Response><Reject reason="nope"/></Response>`, []engine.Code{engine.CodeEnumValue}},
	{"statusCallbackEvent list", `<Response><Dial><Number statusCallbackEvent="initiated ringing answered completed">+14155551212</Number></Dial></Response>`, nil},
	{"statusCallbackEvent unknown", `<Response><Dial><Number statusCallbackEvent="initiated hungup">+14155551212</Number></Dial></Response>`, []engine.Code{engine.CodeEnumValue}},
	{"AMD range", `<Response><Dial><Number machineDetectionTimeout="90">+14155551212</Number></Dial></Response>`, []engine.Code{engine.CodeValueRange}},

	// Limits.
	{"parameter name too long", `<Response><Dial><Client><Identity>a</Identity><Parameter name="` + strings.Repeat("n", 33) + `" value="v"/></Client></Dial></Response>`, []engine.Code{engine.CodeParamNameTooLong}},
	{"parameter value too long", `<Response><Dial><Client><Identity>a</Identity><Parameter name="n" value="` + strings.Repeat("v", 129) + `"/></Client></Dial></Response>`, []engine.Code{engine.CodeParamValueLong}},
	{"parameter value static part too long", `<Response><Dial><Client><Identity>a</Identity><Parameter name="n" value="` + strings.Repeat("v", 129) + `{{x}}"/></Client></Dial></Response>`, []engine.Code{engine.CodeParamValueLong}},
	{"nine parameters", `<Response><Dial><Client><Identity>a</Identity>` + strings.Repeat(`<Parameter name="n" value="v"/>`, 9) + `</Client></Dial></Response>`, []engine.Code{engine.CodeTooManyParams}},
	{"parameters over 800 bytes", `<Response><Dial><Client><Identity>a</Identity>` + strings.Repeat(`<Parameter name="n" value="`+strings.Repeat("v", 120)+`"/>`, 7) + `</Client></Dial></Response>`, []engine.Code{engine.CodeParamsTotal}},
	{"eleven numbers", `<Response><Dial>` + strings.Repeat(`<Number>+14155551212</Number>`, 11) + `</Dial></Response>`, []engine.Code{engine.CodeTooManyNouns}},
	{"two Sip", `<Response><Dial><Sip>sip:a@b.com</Sip><Sip>sip:c@d.com</Sip></Dial></Response>`, []engine.Code{engine.CodeTooManySip}},
	{"number text", `<Response><Dial><Number>call me</Number></Dial></Response>`, []engine.Code{engine.CodeValueType}},
	{"Sip beside Number", `<Response><Dial><Sip>sip:a@b.com</Sip><Number>+14155551212</Number></Dial></Response>`, []engine.Code{engine.CodeSipMixed}},
	{"SIP URI with headers", `<Response><Dial><Sip>sip:agent@pbx.example.com;transport=tls?X-CustomerID={{id}}&amp;User-to-User=abc</Sip></Dial></Response>`, nil},
	{"not a SIP URI", `<Response><Dial><Sip>agent@pbx.example.com</Sip></Dial></Response>`, []engine.Code{engine.CodeSipURI}},
	{"SIP URI too long", `<Response><Dial><Sip>sip:` + strings.Repeat("a", 250) + `@b.com</Sip></Dial></Response>`, []engine.Code{engine.CodeSipURI}},
	{"SIP headers too long", `<Response><Dial><Sip>sip:a@b.com?X-A=` + strings.Repeat("h", 1024) + `</Sip></Dial></Response>`, []engine.Code{engine.CodeSipURI}},
	{"SIP header name", `<Response><Dial><Sip>sip:a@b.com?Customer=1</Sip></Dial></Response>`, []engine.Code{engine.CodeSipHeaderName}},
	{"SIP reserved header", `<Response><Dial><Sip>sip:a@b.com?X-Twilio-Foo=1</Sip></Dial></Response>`, []engine.Code{engine.CodeSipHeaderName}},
	{"SIP transport", `<Response><Dial><Sip>sip:a@b.com;transport=sctp</Sip></Dial></Response>`, []engine.Code{engine.CodeSipTransport}},
	{"SIP region", `<Response><Dial><Sip>sip:a@b.com;region=eu9</Sip></Dial></Response>`, []engine.Code{engine.CodeSipRegion}},
	{"SIP caller ID", `<Response><Dial callerId="Jane Doe"><Sip>sip:a@b.com</Sip></Dial></Response>`, []engine.Code{engine.CodeDialCallerIDChars}},
	{"six Uri", `<Response><Dial><Sip>` + strings.Repeat(`<Uri>sip:a@b.com</Uri>`, 6) + `</Sip></Dial></Response>`, []engine.Code{engine.CodeSipTooManyURIs}},
	{"Say too long", `<Response><Say>` + strings.Repeat("a", 4097) + `</Say></Response>`, []engine.Code{engine.CodeSayTooLong}},
	{"message body too long", `<Response><Message>` + strings.Repeat("é", 1601) + `</Message></Response>`, []engine.Code{engine.CodeMessageBody}},
	{"eleven media", `<Response><Message>` + strings.Repeat(`<Media>https://x.com/a.png</Media>`, 11) + `</Message></Response>`, []engine.Code{engine.CodeTooManyMedia}},
}

func TestCheck(t *testing.T) {
	for _, tc := range compileTests {
		t.Run(tc.name, func(t *testing.T) {
			diags := engine.Check(tc.src)
			var got []engine.Code
			for _, d := range diags {
				got = append(got, d.Code)
				assert.NotEmpty(t, d.Message)
				assert.Positive(t, d.Line)
				assert.Positive(t, d.Column)
			}
			assert.Equal(t, tc.codes, got, "diagnostics: %v", diags)

			tmpl, err := engine.Compile(tc.src)
			if diags.HasErrors() {
				var ce *engine.CompileError
				require.ErrorAs(t, err, &ce)
				assert.Equal(t, diags, ce.Diagnostics)
				assert.Nil(t, tmpl)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, diags, tmpl.Warnings())
		})
	}
}

func TestDiagnosticPosition(t *testing.T) {
	src := "<Response>\n  <Say>héllo</Say>\n  <Say loop=\"x\">a</Say>\n</Response>"
	diags := engine.Check(src)
	require.Len(t, diags, 1)
	assert.Equal(t, engine.Diagnostic{Severity: engine.SeverityWarning, Code: engine.CodeValueType, Line: 3, Column: 14,
		Message: `Say@loop must be a whole number, not "x"`}, diags[0])
}

// renderTests render templates with values under a policy.
var renderTests = []struct {
	name   string
	src    string
	values vals
	policy engine.Policy
	want   string
	codes  []engine.Code // render diagnostics
	fails  bool
}{
	{"missing variable renders nothing", `<Response><Say>Hi {{name}}.</Say></Response>`, nil, engine.Strict,
		`<Response><Say>Hi .</Say></Response>`, nil, false},
	{"text is escaped", `<Response><Say>{{x}}</Say></Response>`, vals{"x": {`</Say><Hangup/>&"'`}}, engine.Strict,
		`<Response><Say>&lt;/Say&gt;&lt;Hangup/&gt;&amp;"'</Say></Response>`, nil, false},
	{"attribute is escaped", `<Response><Redirect method="{{m}}">u</Redirect></Response>`, vals{"m": {`" onload="x`}}, engine.Lenient,
		`<Response><Redirect>u</Redirect></Response>`, []engine.Code{engine.CodeSchema}, false},
	{"attribute quotes", `<Response><Dial><Client><Identity>a</Identity><Parameter name="n" value="{{v}}"/></Client></Dial></Response>`,
		vals{"v": {"a\"b'c<d>&\te\nf\rg"}}, engine.Strict,
		`<Response><Dial><Client><Identity>a</Identity><Parameter name="n" value="a&quot;b&apos;c&lt;d&gt;&amp;&#9;e&#10;f&#13;g"/></Client></Dial></Response>`, nil, false},
	{"invalid bytes replaced", `<Response><Say>{{x}}</Say></Response>`, vals{"x": {"a\xffb\x00c\uFFFEd"}}, engine.Strict,
		"<Response><Say>a\uFFFDb\uFFFDc\uFFFDd</Say></Response>", nil, false},
	{"list iterates", `<Response><Dial>{{#Dest}}<Number>{{.}}</Number>{{/Dest}}</Dial></Response>`, vals{"Dest[]": {"+12025550100", "+17035550100"}}, engine.Strict,
		`<Response><Dial><Number>+12025550100</Number><Number>+17035550100</Number></Dial></Response>`, nil, false},
	{"scalar section", `<Response>{{#vip}}<Say>VIP {{.}}</Say>{{/vip}}{{^vip}}<Hangup/>{{/vip}}</Response>`, vals{"vip": {"gold"}}, engine.Strict,
		`<Response><Say>VIP gold</Say></Response>`, nil, false},
	{"blank is falsy", `<Response>{{#vip}}<Say>VIP</Say>{{/vip}}{{^vip}}<Hangup/>{{/vip}}</Response>`, vals{"vip": {"  "}}, engine.Strict,
		`<Response><Hangup/></Response>`, nil, false},
	{"list in variable joins", `<Response><Say>{{a}}</Say></Response>`, vals{"a": {"x", "y"}}, engine.Strict,
		`<Response><Say>x,y</Say></Response>`, nil, false},
	{"names resolve to the request inside a list", `<Response><Dial>{{#Dest}}<Number url="{{base}}/{{.}}">{{.}}</Number>{{/Dest}}</Dial></Response>`,
		vals{"Dest": {"+12025550101", "+12025550102"}, "base": {"https://x.com"}}, engine.Strict,
		`<Response><Dial><Number url="https://x.com/+12025550101">+12025550101</Number><Number url="https://x.com/+12025550102">+12025550102</Number></Dial></Response>`, nil, false},
	{"attribute section renders once", `<Response><Dial {{#t}}timeout="{{t}}"{{/t}}><Number>1</Number></Dial></Response>`, vals{"t": {"5", "6"}}, engine.Lenient,
		`<Response><Dial><Number>1</Number></Dial></Response>`, []engine.Code{engine.CodeValueType}, false},
	{"standalone lines removed", "<Response>\n  {{#a}}\n  <Hangup/>\n  {{/a}}\n</Response>", vals{"a": {"1"}}, engine.Strict,
		"<Response>\n  <Hangup/>\n</Response>", nil, false},
	{"e164 of a SIP URI", `<Response><Say>{{#e164}}{{From}}{{/e164}}</Say></Response>`, vals{"From": {"sip:+15105555555@example.com"}}, engine.Strict,
		`<Response><Say>+15105555555</Say></Response>`, nil, false},
	{"e164 of a formatted number", `<Response><Say>{{#e164}}{{From}}{{/e164}}</Say></Response>`, vals{"From": {"(415) 555-1212"}}, engine.Strict,
		`<Response><Say>+14155551212</Say></Response>`, nil, false},
	{"e164 of a client", `<Response><Say>{{#e164}}{{From}}{{/e164}}</Say></Response>`, vals{"From": {"client:+442071838750"}}, engine.Strict,
		`<Response><Say>+442071838750</Say></Response>`, nil, false},
	{"e164 of nothing", `<Response><Say>{{#e164}}{{From}}{{/e164}}</Say></Response>`, vals{"From": {"client:alice"}}, engine.Strict,
		`<Response><Say></Say></Response>`, []engine.Code{engine.CodeE164Invalid}, false},
	{"parameter cut when lenient", `<Response><Dial><Client><Identity>a</Identity><Parameter name="n" value="{{v}}"/></Client></Dial></Response>`,
		vals{"v": {strings.Repeat("é", 100)}}, engine.Lenient,
		`<Response><Dial><Client><Identity>a</Identity><Parameter name="n" value="` + strings.Repeat("é", 64) + `"/></Client></Dial></Response>`,
		[]engine.Code{engine.CodeParamValueLong}, false},
	{"parameter fails when strict", `<Response><Dial><Client><Identity>a</Identity><Parameter name="n" value="{{v}}"/></Client></Dial></Response>`,
		vals{"v": {strings.Repeat("v", 129)}}, engine.Strict, "", []engine.Code{engine.CodeParamValueLong}, true},
	{"integer attribute left out when lenient", `<Response><Dial timeout="{{t}}"><Number>1</Number></Dial></Response>`, vals{"t": {"soon"}}, engine.Lenient,
		`<Response><Dial><Number>1</Number></Dial></Response>`, []engine.Code{engine.CodeValueType}, false},
	{"open enum only warns", `<Response><Say voice="{{v}}">x</Say></Response>`, vals{"v": {"Polly.New-Neural"}}, engine.Strict,
		`<Response><Say voice="Polly.New-Neural">x</Say></Response>`, []engine.Code{engine.CodeSchema}, false},
	{"bad SIP URI dropped when lenient", `<Response><Dial><Sip>{{uri}}</Sip></Dial><Say>Sorry.</Say></Response>`, vals{"uri": {"sip:a@pbx.example.com?Bad=1"}}, engine.Lenient,
		`<Response><Say>Sorry.</Say></Response>`, []engine.Code{engine.CodeSipHeaderName, engine.CodeNothingToDial}, false},
	{"SIP user cannot add headers", `<Response><Dial><Sip>sip:{{agent}}@pbx.example.com?X-Customer={{id}}</Sip></Dial></Response>`,
		vals{"agent": {"a?X-Evil=1;transport=sctp"}, "id": {"Smith & Co&X-Evil=1"}}, engine.Strict,
		`<Response><Dial><Sip>sip:a%3FX-Evil%3D1%3Btransport%3Dsctp@pbx.example.com?X-Customer=Smith%20%26%20Co%26X-Evil%3D1</Sip></Dial></Response>`, nil, false},
	{"URL query value stays one value", `<Response><Dial action="https://example.com/after?customerID={{id}}&amp;step=2"><Number>+14155551212</Number></Dial></Response>`,
		vals{"id": {"abc&DialCallStatus=completed #x"}}, engine.Strict,
		`<Response><Dial action="https://example.com/after?customerID=abc%26DialCallStatus%3Dcompleted%20%23x&amp;step=2"><Number>+14155551212</Number></Dial></Response>`, nil, false},
	{"URL path value", `<Response><Redirect>https://example.com/{{tenant}}/next</Redirect></Response>`, vals{"tenant": {"a b/c?d"}}, engine.Strict,
		`<Response><Redirect>https://example.com/a%20b%2Fc%3Fd/next</Redirect></Response>`, nil, false},
	{"whole URL from a value", `<Response><Redirect>{{next}}</Redirect></Response>`, vals{"next": {"https://example.com/a?b=1&c=2"}}, engine.Strict,
		`<Response><Redirect>https://example.com/a?b=1&amp;c=2</Redirect></Response>`, nil, false},
	{"number that is not a number", `<Response><Dial>{{#Dest}}<Number>{{.}}</Number>{{/Dest}}</Dial></Response>`, vals{"Dest": {"hello"}}, engine.Strict,
		"", []engine.Code{engine.CodeValueType}, true},
	{"empty dial fails when strict", `<Response><Dial>{{#Dest}}<Number>{{.}}</Number>{{/Dest}}</Dial></Response>`, nil, engine.Strict,
		"", []engine.Code{engine.CodeNothingToDial}, true},
	{"empty dial dropped when lenient", `<Response><Dial>{{#Dest}}<Number>{{.}}</Number>{{/Dest}}</Dial><Hangup/></Response>`, vals{"Dest": {"+14155551212", "bad"}}, engine.Lenient,
		`<Response><Dial><Number>+14155551212</Number></Dial><Hangup/></Response>`, []engine.Code{engine.CodeValueType}, false},
	{"empty number", `<Response><Dial><Number>{{To}}</Number></Dial><Hangup/></Response>`, nil, engine.Lenient,
		`<Response><Hangup/></Response>`, []engine.Code{engine.CodeTextRequired, engine.CodeNothingToDial}, false},
	{"SIP header value", `<Response><Dial><Sip>sip:agent@pbx.example.com?X-Customer={{id}}</Sip></Dial></Response>`, vals{"id": {"42"}}, engine.Strict,
		`<Response><Dial><Sip>sip:agent@pbx.example.com?X-Customer=42</Sip></Dial></Response>`, nil, false},
	{"eleventh number dropped when lenient", `<Response><Dial>{{#Dest}}<Number>{{.}}</Number>{{/Dest}}</Dial></Response>`,
		vals{"Dest": phoneNumbers(11)}, engine.Lenient,
		`<Response><Dial><Number>` + strings.Join(phoneNumbers(10), "</Number><Number>") + `</Number></Dial></Response>`, []engine.Code{engine.CodeTooManyNouns}, false},
	{"eleventh number fails when strict", `<Response><Dial>{{#Dest}}<Number>{{.}}</Number>{{/Dest}}</Dial></Response>`,
		vals{"Dest": phoneNumbers(11)}, engine.Strict, "", []engine.Code{engine.CodeTooManyNouns}, true},
	{"ninth parameter", `<Response><Dial><Client><Identity>a</Identity>{{#p}}<Parameter name="p" value="{{.}}"/>{{/p}}</Client></Dial></Response>`,
		vals{"p": strings.Split("1,2,3,4,5,6,7,8,9", ",")}, engine.Strict, "", []engine.Code{engine.CodeTooManyParams}, true},
	{"parameters over 800 bytes warn", `<Response><Dial><Client><Identity>a</Identity>{{#p}}<Parameter name="p" value="{{.}}"/>{{/p}}</Client></Dial></Response>`,
		vals{"p": {strings.Repeat("a", 120), strings.Repeat("b", 120), strings.Repeat("c", 120), strings.Repeat("d", 120), strings.Repeat("e", 120), strings.Repeat("f", 120), strings.Repeat("g", 120)}},
		engine.Strict, "", []engine.Code{engine.CodeParamsTotal}, false},
	{"parameters over 800 bytes with their static names", `<Response><Dial><Client><Identity>a</Identity>{{#p}}<Parameter name="` + strings.Repeat("n", 30) + `" value="{{.}}"/>{{/p}}</Client></Dial></Response>`,
		vals{"p": {strings.Repeat("a", 110), strings.Repeat("b", 110), strings.Repeat("c", 110), strings.Repeat("d", 110), strings.Repeat("e", 110), strings.Repeat("f", 110)}},
		engine.Strict, "", []engine.Code{engine.CodeParamsTotal}, false},
	{"response over 64 kB", `<Response>{{#a}}<Say>{{b}}</Say>{{/a}}</Response>`,
		vals{"a": make([]string, 40), "b": {strings.Repeat("x", 4000)}}, engine.Lenient, "", []engine.Code{engine.CodeResponseTooLarge}, true},
	{"render budget", `<Response>` + strings.Repeat("{{#a}}", 8) + strings.Repeat("{{/a}}", 8) + `</Response>`,
		vals{"a": make([]string, 20)}, engine.Lenient, "", []engine.Code{engine.CodeRenderBudget}, true},
}

// phoneNumbers returns n distinct phone numbers.
func phoneNumbers(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("+1202555%04d", i)
	}
	return out
}

func TestRender(t *testing.T) {
	for _, tc := range renderTests {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := engine.Compile(tc.src)
			require.NoError(t, err)
			out, diags, err := tmpl.Render(tc.values, tc.policy)
			var got []engine.Code
			for _, d := range diags {
				got = append(got, d.Code)
				assert.NotEmpty(t, d.Message)
			}
			assert.Equal(t, tc.codes, got, "diagnostics: %v", diags)
			if tc.fails {
				var re *engine.RenderError
				require.ErrorAs(t, err, &re)
				assert.Equal(t, diags, re.Diagnostics)
				assert.Nil(t, out)
				return
			}
			require.NoError(t, err)
			if tc.want != "" {
				assert.Equal(t, tc.want, string(out))
			}
			assertWellFormed(t, out)
		})
	}
}

func TestRenderDiagnosticPointsAtSlot(t *testing.T) {
	tmpl, err := engine.Compile("<Response>\n<Dial timeout=\"{{t}}\"><Number>1</Number></Dial>\n</Response>")
	require.NoError(t, err)
	_, diags, err := tmpl.Render(vals{"t": {"x"}}, engine.Strict)
	require.Error(t, err)
	require.Len(t, diags, 1)
	assert.Equal(t, engine.SeverityError, diags[0].Severity)
	assert.Equal(t, 2, diags[0].Line)
	assert.Equal(t, 16, diags[0].Column)
	assert.Equal(t, "Dial@timeout", diags[0].Slot)
}

func TestAppendRenderKeepsDestination(t *testing.T) {
	tmpl, err := engine.Compile(`<Response><Say>{{x}}</Say></Response>`)
	require.NoError(t, err)
	dst := []byte("prefix:")
	out, _, err := tmpl.AppendRender(dst, vals{"x": {"y"}}, engine.Strict)
	require.NoError(t, err)
	assert.Equal(t, "prefix:<Response><Say>y</Say></Response>", string(out))
}

// TestRenderSlotsAsMap: values by position render as the same values by
// name, X[] standing in for an X with none.
func TestRenderSlotsAsMap(t *testing.T) {
	tmpl, err := engine.Compile(`<Response><Say>{{greeting}} {{#names}}[{{.}}]{{/names}}{{^names}}nobody{{/names}}</Say>` +
		`<Dial callerId="{{caller}}">{{#numbers}}<Number>{{.}}</Number>{{/numbers}}</Dial></Response>`)
	require.NoError(t, err)
	require.Equal(t, []string{"caller", "greeting", "names", "numbers"}, tmpl.Variables())
	for _, values := range []map[string][]string{
		nil,
		{"greeting": {"Hello"}, "names": {"Ada", "Grace"}, "caller": {"+15551234567"}, "numbers": {"+15557654321"}},
		{"names[]": {"Ada"}, "numbers[]": {"+15557654321", "+15550000000"}},
		{"names": {"Ada"}, "names[]": {"Grace"}, "greeting": {"a & b <c>"}},
		{"greeting": {}, "greeting[]": {"never read: greeting is given"}},
	} {
		want, wantDiags, err := tmpl.Render(values, engine.Lenient)
		require.NoError(t, err)
		slots := make([][]string, len(tmpl.Variables()))
		for i, name := range tmpl.Variables() {
			if vs, ok := values[name]; ok {
				slots[i] = vs
			} else {
				slots[i] = values[name+"[]"]
			}
		}
		got, diags, err := tmpl.AppendRenderSlots(nil, slots, engine.Lenient)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got), "%v", values)
		assert.Equal(t, wantDiags, diags)
	}
	short, _, err := tmpl.AppendRenderSlots(nil, [][]string{{"+15551234567"}, {"Hi"}}, engine.Lenient)
	require.NoError(t, err)
	assert.Equal(t, `<Response><Say>Hi nobody</Say></Response>`, string(short),
		"slots past the end have no values (the <Dial> with no number is dropped)")
}

func TestPolicy(t *testing.T) {
	for _, s := range []string{"strict", "lenient"} {
		p, err := engine.ParsePolicy(s)
		require.NoError(t, err)
		assert.Equal(t, s, p.String())
	}
	p, err := engine.ParsePolicy("")
	require.NoError(t, err)
	assert.Equal(t, engine.Lenient, p)
	_, err = engine.ParsePolicy("loose")
	assert.Error(t, err)
}

func TestTemplateMetadata(t *testing.T) {
	tmpl, err := engine.Compile(contextualCalling)
	require.NoError(t, err)
	assert.Equal(t, []string{"From", "SipHeader_X-CustomerID", "agent", "customerID", "selectedProductID"}, tmpl.Variables())
	assert.Equal(t, "voice", tmpl.Context())

	sms, err := engine.Compile(`<Response><Message>Hi</Message></Response>`)
	require.NoError(t, err)
	assert.Equal(t, "messaging", sms.Context())
}

func TestErrorsAreTyped(t *testing.T) {
	_, err := engine.Compile(`<Response>`)
	var ce *engine.CompileError
	require.True(t, errors.As(err, &ce))
	assert.Contains(t, err.Error(), "12100")
}

// assertWellFormed checks that out is one well-formed XML document with a
// <Response> root.
func assertWellFormed(t *testing.T, out []byte) {
	t.Helper()
	require.NoError(t, wellFormed(out), "output:\n%s", out)
}

func wellFormed(out []byte) error {
	dec := xml.NewDecoder(strings.NewReader(string(out)))
	depth, roots := 0, 0
	for {
		tok, err := dec.Token()
		if err != nil {
			if err.Error() == "EOF" && depth == 0 && roots == 1 {
				return nil
			}
			if err.Error() == "EOF" {
				return errors.New("document ends early or has no root")
			}
			return err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
				if tok.Name.Local != "Response" {
					return errors.New("root is " + tok.Name.Local)
				}
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && strings.TrimSpace(string(tok)) != "" {
				return errors.New("text outside the root")
			}
		}
	}
}
