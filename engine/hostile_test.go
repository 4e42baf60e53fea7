package engine_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/twimlbin/twimlbin/engine"
)

// The promises the engine makes about hostile input, as the README states
// them. Every case of the tables below names the one it guards: an attacker
// writes templates in their own account and sends any values to any bin.
const (
	promiseNoFiles     = "a template never reads a file or the network"
	promiseEscaped     = "every value is escaped: no unescaped tag, no delimiter change"
	promiseStructure   = "tags stand only in text and quoted attribute values, so no value can change the markup"
	promiseSections    = "every section ends where it began, so every branch is well-formed"
	promiseNoDTD       = "no DOCTYPE, no entity but XML's five and character references"
	promiseBounded     = "a render's work is bounded: 8 nested sections, 2^20 steps, 64 kB of output"
	promiseSize        = "a template is at most engine.MaxTemplateSize bytes"
	promiseInert       = "a value is inert text: it cannot add, remove or alter an element or an attribute"
	promiseChars       = "invalid UTF-8 and characters XML 1.0 forbids in a value become U+FFFD"
	promiseURL         = "in a URL a value after ? is one query value, after other text one path segment"
	promiseSIP         = "in a SIP URI a value cannot add a header or a URI parameter"
	promiseLimits      = "Twilio's limits hold at render time: lenient repairs, strict fails"
	promiseWellFormed  = "the output is one well-formed document with a <Response> root"
	promiseTemplateXML = "the template is checked as XML 1.0 in UTF-8 before anything runs"
	promiseBrowser     = "a bin opened in a browser runs no script and loads nothing: no namespace, event handler, xml:base or stylesheet"
)

// hostileCompileTests are templates written to escape the engine's rules.
// refuse is the error code Compile must report (among its diagnostics);
// empty means the template compiles, and it is then rendered with hostile
// values and must give well-formed TwiML under both policies. bug, when
// set, describes a known breach: the case is skipped with that text.
var hostileCompileTests = []struct {
	name    string
	promise string
	src     string
	refuse  engine.Code
	bug     string
}{
	// Files and the network.
	{"partial of an absolute path", promiseNoFiles, `<Response><Say>{{> /etc/passwd}}</Say></Response>`, engine.CodePartial, ""},
	{"partial without a space", promiseNoFiles, `<Response><Say>{{>/etc/passwd}}</Say></Response>`, engine.CodePartial, ""},
	{"partial with spaces around", promiseNoFiles, `<Response><Say>{{ > secret }}</Say></Response>`, engine.CodePartial, ""},
	{"partial in an attribute value", promiseNoFiles, `<Response><Play loop="{{>secret}}">https://x.com/a.mp3</Play></Response>`, engine.CodePartial, ""},
	{"partial inside a section", promiseNoFiles, `<Response>{{#a}}<Say>{{>secret}}</Say>{{/a}}</Response>`, engine.CodePartial, ""},
	{"partial between elements", promiseNoFiles, `<Response>{{>secret}}</Response>`, engine.CodePartial, ""},
	{"parent tag", promiseNoFiles, `<Response><Say>{{<secret}}{{/secret}}</Say></Response>`, engine.CodeTagName, ""},
	{"block tag", promiseNoFiles, `<Response><Say>{{$secret}}{{/secret}}</Say></Response>`, engine.CodeTagName, ""},
	{"DOCTYPE with an external entity", promiseNoFiles, `<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><Response><Say>&x;</Say></Response>`, engine.CodeParseFailure, ""},
	{"DOCTYPE with an external DTD", promiseNoFiles, `<!DOCTYPE Response SYSTEM "http://169.254.169.254/latest/meta-data/"><Response/>`, engine.CodeParseFailure, ""},
	{"DOCTYPE with a parameter entity", promiseNoFiles, `<!DOCTYPE r [<!ENTITY % p SYSTEM "http://evil.example/x.dtd"> %p;]><Response/>`, engine.CodeParseFailure, ""},
	{"XInclude", promiseNoFiles, `<Response xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="file:///etc/passwd"/></Response>`, engine.CodeElementNotAllowed, ""},

	// A bin opened in a browser: served as XML on the service's origin, a
	// template must not make it XHTML, SVG or a styled document.
	{"XHTML namespace with an event handler", promiseBrowser, `<Response xmlns="http://www.w3.org/1999/xhtml"><Say autofocus="" onfocus="alert(document.cookie)">hi</Say></Response>`, engine.CodeNamespace, ""},
	{"XHTML namespace on a verb", promiseBrowser, `<Response><Say xmlns="http://www.w3.org/1999/xhtml">hi</Say></Response>`, engine.CodeNamespace, ""},
	{"TwiML namespace that is not TwiML's", promiseBrowser, `<Response xmlns="https://www.twilio.com/docs/api/twiml"><Hangup/></Response>`, engine.CodeNamespace, ""},
	{"empty default namespace", promiseBrowser, `<Response xmlns=""><Say>{{x}}</Say></Response>`, "", ""},
	{"event handler without a namespace", promiseBrowser, `<Response><Say autofocus="" onfocus="alert(1)">hi</Say></Response>`, engine.CodeEventHandler, ""},
	{"event handler in upper case", promiseBrowser, `<Response><Hangup ONLOAD="alert(1)"/></Response>`, engine.CodeEventHandler, ""},
	{"event handler with a value", promiseBrowser, `<Response><Play onerror="{{js}}">https://x.example/a.mp3</Play></Response>`, engine.CodeEventHandler, ""},
	{"event handler on Amazon SSML", promiseBrowser, `<Response><Say voice="Polly.Joanna"><amazon:effect name="whispered" onmouseover="alert(1)">hi</amazon:effect></Say></Response>`, engine.CodeEventHandler, ""},
	{"amazon prefix bound to XHTML", promiseBrowser, `<Response><Say voice="Polly.Joanna"><amazon:script xmlns:amazon="http://www.w3.org/1999/xhtml">alert(1)</amazon:script></Say></Response>`, engine.CodeNamespace, ""},
	{"amazon prefix declared on the root", promiseBrowser, `<Response xmlns:amazon="https://amazon.example/ssml"><Say voice="Polly.Joanna"><amazon:effect name="whispered">hi</amazon:effect></Say></Response>`, engine.CodeNamespace, ""},
	{"SVG element with onload", promiseBrowser, `<Response><Say><svg:svg xmlns:svg="http://www.w3.org/2000/svg" onload="alert(1)"/>hi</Say></Response>`, engine.CodeNamespace, ""},
	{"xml-stylesheet before the root", promiseBrowser, `<?xml version="1.0"?><?xml-stylesheet type="text/xsl" href="https://evil.example/x.xsl"?><Response><Hangup/></Response>`, engine.CodeProcessingInstr, ""},
	{"xml-stylesheet inside the root", promiseBrowser, `<Response><?xml-stylesheet href="https://evil.example/x.css"?><Hangup/></Response>`, engine.CodeProcessingInstr, ""},
	{"other processing instruction", promiseBrowser, `<Response><?php echo 1; ?><Hangup/></Response>`, engine.CodeProcessingInstr, ""},
	{"xml:base", promiseBrowser, `<Response xml:base="https://evil.example/"><Redirect>next</Redirect></Response>`, engine.CodeNamespace, ""},
	{"xlink:href", promiseBrowser, `<Response><Redirect xlink:href="javascript:alert(1)">https://x.example/</Redirect></Response>`, engine.CodeNamespace, ""},
	{"attribute of another prefix", promiseBrowser, `<Response><Say html:style="x">hi</Say></Response>`, engine.CodeNamespace, ""},
	{"xml:lang on lang", promiseBrowser, `<Response><Say><lang xml:lang="fr-FR">{{x}}</lang></Say></Response>`, "", ""},

	// Entities.
	{"billion laughs", promiseNoDTD, `<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><Response><Say>&c;</Say></Response>`, engine.CodeParseFailure, ""},
	{"lower-case doctype", promiseNoDTD, `<!doctype Response><Response/>`, engine.CodeParseFailure, ""},
	{"DOCTYPE after the root", promiseNoDTD, `<Response/><!DOCTYPE x>`, engine.CodeParseFailure, ""},
	{"ENTITY declaration inside the root", promiseNoDTD, `<Response><!ENTITY a "b"></Response>`, engine.CodeParseFailure, ""},
	{"undeclared entity", promiseNoDTD, `<Response><Say>&xxe;</Say></Response>`, engine.CodeParseFailure, ""},
	{"character reference to NUL", promiseNoDTD, `<Response><Say>&#0;</Say></Response>`, engine.CodeParseFailure, ""},
	{"character reference to a surrogate", promiseNoDTD, `<Response><Say>&#xD800;</Say></Response>`, engine.CodeParseFailure, ""},
	{"character reference to U+FFFE", promiseNoDTD, `<Response><Say>&#xFFFE;</Say></Response>`, engine.CodeParseFailure, ""},
	{"character reference past U+10FFFF", promiseNoDTD, `<Response><Say>&#1114112;</Say></Response>`, engine.CodeParseFailure, ""},
	{"character references that are allowed", promiseNoDTD, `<Response><Say>&#x1F600;&#9;&#10;&lt;&amp;</Say></Response>`, "", ""},

	// Escaping.
	{"triple mustache", promiseEscaped, `<Response><Say>{{{x}}}</Say></Response>`, engine.CodeUnescapedTag, ""},
	{"triple mustache with spaces", promiseEscaped, `<Response><Say>{{{ x }}}</Say></Response>`, engine.CodeUnescapedTag, ""},
	{"ampersand tag with spaces", promiseEscaped, `<Response><Say>{{ & x }}</Say></Response>`, engine.CodeUnescapedTag, ""},
	{"unescaped tag in an attribute", promiseEscaped, `<Response><Say loop="{{{x}}}">a</Say></Response>`, engine.CodeUnescapedTag, ""},
	{"unescaped tag in a URL", promiseEscaped, `<Response><Redirect>https://x.com/?a={{&x}}</Redirect></Response>`, engine.CodeUnescapedTag, ""},
	{"delimiter change", promiseEscaped, `<Response>{{=<% %>=}}<Say><%x%></Say></Response>`, engine.CodeDelimiter, ""},
	{"delimiter change to pipes", promiseEscaped, `<Response><Say>{{=| |=}}|x|</Say></Response>`, engine.CodeDelimiter, ""},
	{"delimiter change in an attribute", promiseEscaped, `<Response><Say loop="{{=[ ]=}}">a</Say></Response>`, engine.CodeDelimiter, ""},

	// Tags in markup.
	{"tag as an element name", promiseStructure, `<Response><{{verb}}/></Response>`, engine.CodeTagPlacement, ""},
	{"tag in an end tag", promiseStructure, `<Response><Say>a</{{v}}></Response>`, engine.CodeParseFailure, ""},
	{"tag as an attribute", promiseStructure, `<Response><Say {{attrs}}>a</Say></Response>`, engine.CodeTagPlacement, ""},
	{"tag after an attribute", promiseStructure, `<Response><Say loop="1"{{x}}>a</Say></Response>`, engine.CodeTagPlacement, ""},
	{"tag in an attribute name", promiseStructure, `<Response><Say a{{x}}="1">a</Say></Response>`, engine.CodeTagPlacement, ""},
	{"unquoted attribute value", promiseStructure, `<Response><Say loop={{x}}>a</Say></Response>`, engine.CodeTagPlacement, ""},
	{"tag before the root", promiseStructure, `{{x}}<Response/>`, engine.CodeTagPlacement, ""},
	{"tag after the root", promiseStructure, `<Response/>{{x}}`, engine.CodeTagPlacement, ""},
	{"tag after a byte order mark", promiseStructure, "\uFEFF {{x}}<Response/>", engine.CodeTagPlacement, ""},
	{"tag in an XML comment", promiseStructure, `<Response><!-- {{x}} --><Hangup/></Response>`, engine.CodeTagPlacement, ""},
	{"tag in CDATA", promiseStructure, `<Response><Say><![CDATA[{{x}}]]></Say></Response>`, engine.CodeTagPlacement, ""},
	{"tag in a processing instruction", promiseStructure, `<Response><?pi {{x}}?><Hangup/></Response>`, engine.CodeParseFailure, ""},
	{"tag in the XML declaration", promiseStructure, `<?xml version="{{v}}"?><Response/>`, engine.CodeParseFailure, ""},
	{"tag as a PI target", promiseStructure, `<?{{t}} x?><Response/>`, engine.CodeParseFailure, ""},
	{"attribute written twice by two sections", promiseStructure, `<Response><Say {{#a}}loop="2"{{/a}} {{#b}}loop="3"{{/b}}>a</Say></Response>`, engine.CodeDuplicateAttr, ""},
	{"Mustache comment between attributes", promiseStructure, `<Response><Say loop="{{x}}" {{! note }}>a</Say></Response>`, "", ""},
	{"Mustache comment holding markup", promiseStructure, `<Response><Say>{{! --> <Hangup/> <!-- }}hi</Say></Response>`, "", ""},
	{"default namespace from a value", promiseStructure, `<Response xmlns="{{ns}}"><Say>hi</Say></Response>`, engine.CodeTagPlacement, ""},
	{"prefix bound from a value", promiseStructure, `<Response xmlns:amazon="{{ns}}"><Say voice="Polly.Joanna"><amazon:effect name="whispered">hi</amazon:effect></Say></Response>`, engine.CodeTagPlacement, ""},

	// Sections.
	{"section opens an element only", promiseSections, `<Response>{{#a}}<Say>{{/a}}hi</Say></Response>`, engine.CodeSectionBoundary, ""},
	{"section across a quote", promiseSections, `<Response><Say loop="{{#a}}1"{{/a}}>x</Say></Response>`, engine.CodeSectionBoundary, ""},
	{"section ends in CDATA", promiseSections, `<Response><Say>{{#a}}<![CDATA[{{/a}}]]></Say></Response>`, engine.CodeTagPlacement, ""},
	{"section ends in a comment", promiseSections, `<Response><Say>{{#a}}<!--{{/a}}--></Say></Response>`, engine.CodeTagPlacement, ""},
	{"section closed by another name", promiseSections, `<Response><Say>{{#a}}x{{/b}}</Say></Response>`, engine.CodeSectionMismatch, ""},
	{"section never closed", promiseSections, `<Response><Say>{{#a}}x</Say></Response>`, engine.CodeSectionMismatch, ""},
	{"root inside a section", promiseSections, `{{#a}}<Response/>{{/a}}`, engine.CodeSectionBoundary, ""},

	// Work.
	{"sections nested 8 deep", promiseBounded, `<Response>` + strings.Repeat("{{#a}}", 8) + `<Hangup/>` + strings.Repeat("{{/a}}", 8) + `</Response>`, "", ""},
	{"sections nested 9 deep", promiseBounded, `<Response>` + strings.Repeat("{{#a}}", 9) + strings.Repeat("{{/a}}", 9) + `</Response>`, engine.CodeNestingTooDeep, ""},
	{"sections nested 5000 deep", promiseBounded, `<Response>` + strings.Repeat("{{^a}}", 5000) + strings.Repeat("{{/a}}", 5000) + `</Response>`, engine.CodeNestingTooDeep, ""},
	{"elements nested 5000 deep", promiseBounded, `<Response><Say>` + strings.Repeat("<prosody>", 5000) + "x" + strings.Repeat("</prosody>", 5000) + `</Say></Response>`, "", ""},
	{"20000 unclosed tags", promiseBounded, `<Response><Say>` + strings.Repeat("{{", 20000) + `</Say></Response>`, engine.CodeUnclosedTag, ""},
	{"13000 variables in one slot", promiseBounded, `<Response><Say>` + strings.Repeat("{{a}}", 13000) + `</Say></Response>`, "", ""},

	// Size.
	{"template at the engine's size limit", promiseSize, sized(engine.MaxTemplateSize), "", ""},
	{"template one byte over the engine's size limit", promiseSize, sized(engine.MaxTemplateSize + 1), engine.CodeTemplateTooLarge, ""},

	// The template's own bytes.
	{"invalid UTF-8", promiseTemplateXML, "<Response><Say>\xc3</Say></Response>", engine.CodeParseFailure, ""},
	{"overlong UTF-8 for /", promiseTemplateXML, "<Response><Say>\xc0\xaf</Say></Response>", engine.CodeParseFailure, ""},
	{"NUL", promiseTemplateXML, "<Response><Say>\x00</Say></Response>", engine.CodeParseFailure, ""},
	{"U+FFFE", promiseTemplateXML, "<Response><Say>\uFFFE</Say></Response>", engine.CodeParseFailure, ""},
	{"escape character", promiseTemplateXML, "<Response><Say>\x1b[2J</Say></Response>", engine.CodeParseFailure, ""},
	{"byte order mark", promiseTemplateXML, "\uFEFF<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say>{{x}}</Say></Response>", "", ""},
	{"two byte order marks", promiseTemplateXML, "\uFEFF\uFEFF<Response/>", engine.CodeParseFailure, ""},
	{"declared UTF-16", promiseTemplateXML, `<?xml version="1.0" encoding="UTF-16"?><Response/>`, engine.CodeParseFailure, ""},
	{"XML 1.1", promiseTemplateXML, `<?xml version="1.1"?><Response/>`, engine.CodeParseFailure, ""},
	{"CRLF line ends", promiseTemplateXML, "<Response>\r\n  {{#a}}\r\n  <Say>{{a}}</Say>\r\n  {{/a}}\r\n</Response>\r\n", "", ""},
	{"CR line ends", promiseTemplateXML, "<Response>\r  {{#a}}\r  <Say>{{a}}</Say>\r  {{/a}}\r</Response>\r", "", ""},
	{"CDATA that looks like markup", promiseTemplateXML, `<Response><Say><![CDATA[</Say><Hangup/>]]></Say></Response>`, "", ""},
	{"CDATA end split in two sections", promiseTemplateXML, `<Response><Say><![CDATA[x]]]]><![CDATA[>]]></Say></Response>`, "", ""},
	{"CDATA end in text", promiseTemplateXML, `<Response><Say>]]></Say></Response>`, engine.CodeParseFailure, ""},
	{"double hyphen in a comment", promiseTemplateXML, `<Response><!-- a -- b --><Hangup/></Response>`, engine.CodeParseFailure, ""},
	{"comment that looks like the end", promiseTemplateXML, `<Response><Say>a</Say><!--</Response>--></Response>`, "", ""},
	{"end tag never finished", promiseTemplateXML, `<Response><Say>a</Say></Response`, engine.CodeParseFailure, ""},
}

// sized returns a valid template of exactly n bytes: a <Response> padded
// with whitespace, which it takes.
func sized(n int) string {
	const head, tail = "<Response>", "</Response>"
	return head + strings.Repeat(" ", n-len(head)-len(tail)) + tail
}

// hostileValues are values an attacker sends to a bin: markup, quotes,
// CDATA and comment ends, bytes that are not UTF-8, characters XML forbids,
// URL and SIP delimiters, CRLF, a Mustache tag.
var hostileValues = []string{
	`</Say></Response><Response><Hangup/>`,
	`" loop="10`, `' loop='10`,
	"]]>", "<!--", "-->", "<![CDATA[", "<?xml version=\"1.0\"?>",
	"\x00\x01\x1b\x7f", "\xff\xfe", "\xc0\xaf", "\xed\xa0\x80", "\uFFFE\uFFFF", "\uFEFF",
	"a\r\nb\tc", "&amp;&lt;&#60;&x;",
	"1&X-Evil=1;transport=sctp?X-Twilio=1#frag",
	"{{x}}{{{x}}}{{> /etc/passwd}}",
	"+14155551212", " ", "",
}

func TestHostileTemplates(t *testing.T) {
	for _, tc := range hostileCompileTests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.bug != "" {
				t.Skip(tc.bug)
			}
			diags := engine.Check(tc.src)
			tmpl, err := engine.Compile(tc.src)
			if tc.refuse != "" {
				var ce *engine.CompileError
				if !errors.As(err, &ce) {
					t.Fatalf("%s\nCompile succeeded; want %s. Diagnostics: %v", tc.promise, tc.refuse, diags)
				}
				for _, d := range ce.Diagnostics.Errors() {
					if d.Code == tc.refuse {
						return
					}
				}
				t.Fatalf("%s\nCompile failed with %v; want %s among the errors", tc.promise, ce.Diagnostics.Errors(), tc.refuse)
			}
			if err != nil {
				t.Fatalf("%s\nCompile: %v", tc.promise, err)
			}
			for _, v := range hostileValues {
				values := map[string][]string{}
				for _, name := range tmpl.Variables() {
					values[name] = []string{v}
				}
				for _, p := range bothPolicies {
					out, _, err := tmpl.Render(values, p)
					if err != nil {
						var re *engine.RenderError
						if !errors.As(err, &re) {
							t.Fatalf("Render(%s, %q) returned %T: %v", p, v, err, err)
						}
						continue
					}
					if _, err := decodeTwiML(out); err != nil {
						t.Fatalf("%s\nRender(%s, %q): %v\n%s", promiseWellFormed, p, v, err, out)
					}
				}
			}
		})
	}
}

// TestHostileTemplatesReadNoFiles: with a file named like the partial in
// the working directory, in every form the Mustache library would look it
// up, the template is refused and nothing of the file is read.
func TestHostileTemplatesReadNoFiles(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"secret", "secret.mustache", "secret.stache"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("<Hangup/>LEAKED"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	for _, src := range []string{
		`<Response>{{>secret}}</Response>`,
		`<Response><Say>{{> secret}}</Say></Response>`,
		`<Response><Say>{{> ` + filepath.Join(dir, "secret") + `}}</Say></Response>`,
	} {
		ds := engine.Check(src)
		if !ds.HasErrors() {
			t.Fatalf("%s: %q compiles", promiseNoFiles, src)
		}
		for _, d := range ds {
			if strings.Contains(d.Message, "LEAKED") || strings.Contains(d.Message, "Hangup") {
				t.Errorf("%s: a diagnostic holds the file's content: %v", promiseNoFiles, d)
			}
		}
	}
}

// hostileRenderTests render templates with hostile values. want is the
// exact output; fails, when set, is the code of the error the render must
// fail with (want is then ignored).
var hostileRenderTests = []struct {
	name    string
	promise string
	src     string
	values  map[string][]string
	policy  engine.Policy
	want    string
	fails   engine.Code
	bug     string
}{
	// Text.
	{"end tags in text", promiseInert, `<Response><Say>{{x}}</Say></Response>`, vals{"x": {"</Say></Response><Response><Hangup/>"}}, engine.Strict,
		`<Response><Say>&lt;/Say&gt;&lt;/Response&gt;&lt;Response&gt;&lt;Hangup/&gt;</Say></Response>`, "", ""},
	{"CDATA end in text", promiseInert, `<Response><Say>{{x}}</Say></Response>`, vals{"x": {"]]>"}}, engine.Strict,
		`<Response><Say>]]&gt;</Say></Response>`, "", ""},
	{"CDATA start and comment in text", promiseInert, `<Response><Say>{{x}}</Say></Response>`, vals{"x": {"<![CDATA[<!--x-->"}}, engine.Strict,
		`<Response><Say>&lt;![CDATA[&lt;!--x--&gt;</Say></Response>`, "", ""},
	{"value next to template CDATA", promiseInert, `<Response><Say><![CDATA[a < b]]> {{x}}</Say></Response>`, vals{"x": {"]]><Hangup/>"}}, engine.Strict,
		`<Response><Say>a &lt; b ]]&gt;&lt;Hangup/&gt;</Say></Response>`, "", ""},
	{"entities are not decoded", promiseInert, `<Response><Say>{{x}}</Say></Response>`, vals{"x": {"&amp;&lt;&#60;&x;"}}, engine.Strict,
		`<Response><Say>&amp;amp;&amp;lt;&amp;#60;&amp;x;</Say></Response>`, "", ""},
	{"a value is not a template", promiseInert, `<Response><Say>{{x}}</Say></Response>`, vals{"x": {"{{y}}{{{y}}}{{> /etc/passwd}}"}, "y": {"<Hangup/>"}}, engine.Strict,
		`<Response><Say>{{y}}{{{y}}}{{&gt; /etc/passwd}}</Say></Response>`, "", ""},
	{"XML declaration in text", promiseInert, `<Response><Say>{{x}}</Say></Response>`, vals{"x": {`<?xml version="1.0"?>`}}, engine.Strict,
		`<Response><Say>&lt;?xml version="1.0"?&gt;</Say></Response>`, "", ""},
	{"carriage return in text", promiseInert, `<Response><Say>{{x}}</Say></Response>`, vals{"x": {"a\r\nb\tc"}}, engine.Strict,
		"<Response><Say>a&#13;\nb\tc</Say></Response>", "", ""},

	// Characters.
	{"NUL and controls", promiseChars, `<Response><Say>{{x}}</Say></Response>`, vals{"x": {"a\x00b\x01c\x1bd\x7fe"}}, engine.Strict,
		"<Response><Say>a\uFFFDb\uFFFDc\uFFFDd\x7fe</Say></Response>", "", ""},
	{"bytes that are not UTF-8", promiseChars, `<Response><Say>{{x}}</Say></Response>`, vals{"x": {"a\xffb\xc3c\xc0\xafd"}}, engine.Strict,
		"<Response><Say>a\uFFFDb\uFFFDc\uFFFD\uFFFDd</Say></Response>", "", ""},
	{"UTF-8 of a surrogate", promiseChars, `<Response><Say>{{x}}</Say></Response>`, vals{"x": {"a\xed\xa0\x80b"}}, engine.Strict,
		"<Response><Say>a\uFFFD\uFFFD\uFFFDb</Say></Response>", "", ""},
	{"noncharacters", promiseChars, `<Response><Say>{{x}}</Say></Response>`, vals{"x": {"\uFFFE\uFFFF\uFEFF"}}, engine.Strict,
		"<Response><Say>\uFFFD\uFFFD\uFEFF</Say></Response>", "", ""},
	{"NUL in an attribute", promiseChars, `<Response><Dial><Client><Identity>a</Identity><Parameter name="n" value="{{v}}"/></Client></Dial></Response>`,
		vals{"v": {"a\x00\xff"}}, engine.Strict,
		"<Response><Dial><Client><Identity>a</Identity><Parameter name=\"n\" value=\"a\uFFFD\uFFFD\"/></Client></Dial></Response>", "", ""},

	// Attributes.
	{"double quote adds no attribute", promiseInert, `<Response><Dial><Client><Identity>a</Identity><Parameter name="n" value="{{v}}"/></Client></Dial></Response>`,
		vals{"v": {`x" name="y`}}, engine.Strict,
		`<Response><Dial><Client><Identity>a</Identity><Parameter name="n" value="x&quot; name=&quot;y"/></Client></Dial></Response>`, "", ""},
	{"single quote adds no attribute", promiseInert, `<Response><Dial><Client><Identity>a</Identity><Parameter name='n' value='{{v}}'/></Client></Dial></Response>`,
		vals{"v": {`x' name='y`}}, engine.Strict,
		`<Response><Dial><Client><Identity>a</Identity><Parameter name='n' value='x&apos; name=&apos;y'/></Client></Dial></Response>`, "", ""},
	{"attribute value normalization", promiseInert, `<Response><Dial><Client><Identity>a</Identity><Parameter name="n" value="{{v}}"/></Client></Dial></Response>`,
		vals{"v": {"a\tb\nc\rd>e<f"}}, engine.Strict,
		`<Response><Dial><Client><Identity>a</Identity><Parameter name="n" value="a&#9;b&#10;c&#13;d&gt;e&lt;f"/></Client></Dial></Response>`, "", ""},
	{"value that tries an attribute of a typed slot", promiseInert, `<Response><Dial callerId="{{c}}" timeout="{{t}}"><Number>+14155551212</Number></Dial></Response>`,
		vals{"c": {`+14155551212" record="record-from-answer`}, "t": {`10" action="https://evil.example/`}}, engine.Lenient,
		`<Response><Dial><Number>+14155551212</Number></Dial></Response>`, "", ""},
	{"value in a section between attributes", promiseInert, `<Response><Dial {{#t}}timeout="{{t}}"{{/t}}><Number>+14155551212</Number></Dial></Response>`,
		vals{"t": {`5" record="true`}}, engine.Lenient,
		`<Response><Dial><Number>+14155551212</Number></Dial></Response>`, "", ""},

	// URLs.
	{"query value cannot add a parameter", promiseURL, `<Response><Dial action="https://example.com/after?id={{id}}&amp;step=2"><Number>+14155551212</Number></Dial></Response>`,
		vals{"id": {"1&DialCallStatus=completed&step=9#x"}}, engine.Strict,
		`<Response><Dial action="https://example.com/after?id=1%26DialCallStatus%3Dcompleted%26step%3D9%23x&amp;step=2"><Number>+14155551212</Number></Dial></Response>`, "", ""},
	{"path value cannot start a query", promiseURL, `<Response><Redirect>https://example.com/t/{{id}}/next</Redirect></Response>`,
		vals{"id": {"1?admin=1#x"}}, engine.Strict,
		`<Response><Redirect>https://example.com/t/1%3Fadmin=1%23x/next</Redirect></Response>`, "", ""},
	{"path value with CRLF and spaces", promiseURL, `<Response><Play>https://example.com/{{f}}.mp3</Play></Response>`,
		vals{"f": {"a b\r\nHost: evil"}}, engine.Strict,
		`<Response><Play>https://example.com/a%20b%0D%0AHost:%20evil.mp3</Play></Response>`, "", ""},
	{"path value with dot segments", promiseURL, `<Response><Redirect>https://example.com/tenants/{{t}}/next</Redirect></Response>`,
		vals{"t": {"../../admin"}}, engine.Strict,
		`<Response><Redirect>https://example.com/tenants/..%2F..%2Fadmin/next</Redirect></Response>`, "", ""},
	{"value in the host", promiseURL, `<Response><Redirect>https://{{sub}}.example.com/next</Redirect></Response>`,
		vals{"sub": {"evil.example/"}}, engine.Strict,
		"", engine.CodeValueType, ""}, // the encoded value leaves no valid host: strict refuses it
	{"value that starts a URL is checked", promiseURL, `<Response><Redirect>{{next}}</Redirect></Response>`,
		vals{"next": {"https://example.com/a b"}}, engine.Strict, "", engine.CodeValueType, ""},

	{"second value in an action URL cannot add a query", promiseURL, `<Response><Gather action="{{base}}{{Digits}}"><Say>hi</Say></Gather></Response>`,
		vals{"base": {"https://example.com/menu"}, "Digits": {"?admin=1&x=2#frag"}}, engine.Strict,
		`<Response><Gather action="https://example.com/menu%3Fadmin%3D1%26x%3D2%23frag"><Say>hi</Say></Gather></Response>`, "", ""},
	{"second value after a query cannot add a parameter", promiseURL, `<Response><Gather action="{{base}}{{Digits}}"><Say>hi</Say></Gather></Response>`,
		vals{"base": {"https://example.com/menu?step="}, "Digits": {"1&admin=1"}}, engine.Strict,
		`<Response><Gather action="https://example.com/menu?step=1%26admin%3D1"><Say>hi</Say></Gather></Response>`, "", ""},
	{"second value in Redirect", promiseURL, `<Response><Redirect>{{a}}{{b}}</Redirect></Response>`,
		vals{"a": {"https://example.com/t"}, "b": {"/../admin?x=1;y=2@evil.example:80"}}, engine.Strict,
		`<Response><Redirect>https://example.com/t%2F..%2Fadmin%3Fx%3D1%3By%3D2%40evil.example%3A80</Redirect></Response>`, "", ""},
	{"second value in Play", promiseURL, `<Response><Play>{{a}}{{b}}</Play></Response>`,
		vals{"a": {"https://example.com/a.mp3"}, "b": {"#t=30"}}, engine.Strict,
		`<Response><Play>https://example.com/a.mp3%23t%3D30</Play></Response>`, "", ""},
	{"second value in a section", promiseURL, `<Response><Redirect>{{a}}{{#b}}{{b}}{{/b}}</Redirect></Response>`,
		vals{"a": {"https://example.com/t"}, "b": {"?admin=1"}}, engine.Strict,
		`<Response><Redirect>https://example.com/t%3Fadmin%3D1</Redirect></Response>`, "", ""},
	{"second value after a comment", promiseURL, `<Response><Redirect>{{a}}<!-- next -->{{b}}</Redirect></Response>`,
		vals{"a": {"https://example.com/t"}, "b": {"?admin=1"}}, engine.Strict,
		`<Response><Redirect>https://example.com/t<!-- next -->%3Fadmin%3D1</Redirect></Response>`, "", ""},
	{"second item of a list", promiseURL, `<Response><Redirect>{{next}}</Redirect></Response>`,
		vals{"next": {"https://example.com/t", "?admin=1"}}, engine.Strict,
		`<Response><Redirect>https://example.com/t,%3Fadmin%3D1</Redirect></Response>`, "", ""},
	{"second item of a section over a list", promiseURL, `<Response><Redirect>{{#next}}{{.}}{{/next}}</Redirect></Response>`,
		vals{"next": {"https://example.com/t", "?admin=1"}}, engine.Strict,
		`<Response><Redirect>https://example.com/t%3Fadmin%3D1</Redirect></Response>`, "", ""},
	{"first value present starts the URL", promiseURL, `<Response><Redirect>{{a}}{{b}}</Redirect></Response>`,
		vals{"b": {"https://example.com/b?x=1"}}, engine.Strict,
		`<Response><Redirect>https://example.com/b?x=1</Redirect></Response>`, "", ""},
	{"value of the other branch starts the URL", promiseURL, `<Response><Redirect>{{#a}}{{a}}{{/a}}{{^a}}{{b}}{{/a}}</Redirect></Response>`,
		vals{"b": {"https://example.com/b?x=1"}}, engine.Strict,
		`<Response><Redirect>https://example.com/b?x=1</Redirect></Response>`, "", ""},
	{"value after the indentation of its line starts the URL", promiseURL, "<Response><Redirect>\n  {{next}}\n</Redirect></Response>",
		vals{"next": {"https://example.com/b?x=1"}}, engine.Strict,
		"<Response><Redirect>\n  https://example.com/b?x=1\n</Redirect></Response>", "", ""},
	{"second value after the indentation", promiseURL, "<Response><Redirect>\n  {{a}}{{b}}\n</Redirect></Response>",
		vals{"a": {"https://example.com/t"}, "b": {"?admin=1"}}, engine.Strict,
		"<Response><Redirect>\n  https://example.com/t%3Fadmin%3D1\n</Redirect></Response>", "", ""},
	{"value after a blank value starts the URL", promiseURL, `<Response><Redirect>{{a}}{{b}}</Redirect></Response>`,
		vals{"a": {"  "}, "b": {"https://example.com/b?x=1"}}, engine.Strict,
		`<Response><Redirect>  https://example.com/b?x=1</Redirect></Response>`, "", ""},
	{"value in a Stream URL", promiseURL, `<Response><Start><Stream url="wss://example.com/s/{{id}}" statusCallback="https://example.com/cb?id={{id}}"/></Start></Response>`,
		vals{"id": {"1?x=2&y=3"}}, engine.Strict,
		`<Response><Start><Stream url="wss://example.com/s/1%3Fx=2%26y=3" statusCallback="https://example.com/cb?id=1%3Fx%3D2%26y%3D3"/></Start></Response>`, "", ""},

	// SIP.
	{"second value in a SIP URI cannot add a parameter or header", promiseSIP, `<Response><Dial><Sip>{{uri}}{{cust}}</Sip></Dial></Response>`,
		vals{"uri": {"sip:agent@pbx.example.com"}, "cust": {";transport=tcp?X-Header=1&User-to-User=2"}}, engine.Strict,
		`<Response><Dial><Sip>sip:agent@pbx.example.com%3Btransport%3Dtcp%3FX-Header%3D1%26User-to-User%3D2</Sip></Dial></Response>`, "", ""},
	{"second item of a SIP URI list", promiseSIP, `<Response><Dial><Sip>{{uri}}</Sip></Dial></Response>`,
		vals{"uri": {"sip:agent@pbx.example.com", "x;transport=tcp?X-Evil=1"}}, engine.Strict,
		`<Response><Dial><Sip>sip:agent@pbx.example.com,x%3Btransport%3Dtcp%3FX-Evil%3D1</Sip></Dial></Response>`, "", ""},
	{"second value in a Uri", promiseSIP, `<Response><Dial><Sip><Uri>{{uri}}{{cust}}</Uri></Sip></Dial></Response>`,
		vals{"uri": {"sip:agent@pbx.example.com"}, "cust": {"?X-Evil=1"}}, engine.Strict,
		`<Response><Dial><Sip><Uri>sip:agent@pbx.example.com%3FX-Evil%3D1</Uri></Sip></Dial></Response>`, "", ""},
	{"SIP user cannot add a header", promiseSIP, `<Response><Dial><Sip>sip:{{u}}@pbx.example.com</Sip></Dial></Response>`,
		vals{"u": {"a@evil.example;transport=udp?X-Evil=1"}}, engine.Strict,
		`<Response><Dial><Sip>sip:a%40evil.example%3Btransport%3Dudp%3FX-Evil%3D1@pbx.example.com</Sip></Dial></Response>`, "", ""},
	{"SIP host cannot add a parameter", promiseSIP, `<Response><Dial><Sip>sip:agent@{{h}};transport=tls</Sip></Dial></Response>`,
		vals{"h": {"evil.example;transport=sctp"}}, engine.Strict,
		`<Response><Dial><Sip>sip:agent@evil.example%3Btransport%3Dsctp;transport=tls</Sip></Dial></Response>`, "", ""},
	{"SIP header value cannot add a header", promiseSIP, `<Response><Dial><Sip>sip:agent@pbx.example.com?X-Customer={{id}}</Sip></Dial></Response>`,
		vals{"id": {"1&X-Twilio-Evil=1&User-to-User=x"}}, engine.Strict,
		`<Response><Dial><Sip>sip:agent@pbx.example.com?X-Customer=1%26X-Twilio-Evil%3D1%26User-to-User%3Dx</Sip></Dial></Response>`, "", ""},
	{"SIP header value with CRLF", promiseSIP, `<Response><Dial><Sip>sip:agent@pbx.example.com?X-Customer={{id}}</Sip></Dial></Response>`,
		vals{"id": {"1\r\nX-Evil: 1"}}, engine.Strict,
		`<Response><Dial><Sip>sip:agent@pbx.example.com?X-Customer=1%0D%0AX-Evil%3A%201</Sip></Dial></Response>`, "", ""},
	{"whole SIP URI with a reserved header", promiseSIP, `<Response><Dial><Sip>{{uri}}</Sip></Dial></Response>`,
		vals{"uri": {"sip:a@b.example?X-Twilio-Evil=1"}}, engine.Strict, "", engine.CodeSipHeaderName, ""},
	{"whole SIP URI with a bad header dropped", promiseSIP, `<Response><Dial><Sip>{{uri}}</Sip></Dial><Hangup/></Response>`,
		vals{"uri": {"sip:a@b.example?Evil=1"}}, engine.Lenient, `<Response><Hangup/></Response>`, "", ""},

	// e164 and lists.
	{"e164 of markup", promiseInert, `<Response><Say>{{#e164}}{{From}}{{/e164}}</Say></Response>`, vals{"From": {"+1 (415) 555-1212</Say><Hangup/>"}}, engine.Strict,
		`<Response><Say></Say></Response>`, "", ""},
	{"e164 of a display name with markup", promiseInert, `<Response><Say>{{#e164}}{{From}}{{/e164}}</Say></Response>`, vals{"From": {`"<Hangup/>" <sip:+15105555555@example.com>`}}, engine.Strict,
		`<Response><Say></Say></Response>`, "", ""},
	{"list item with markup", promiseInert, `<Response><Dial>{{#Dest}}<Number>{{.}}</Number>{{/Dest}}</Dial></Response>`,
		vals{"Dest": {"+14155551212</Number><Number>+19005550100", "+14155551213"}}, engine.Lenient,
		`<Response><Dial><Number>+14155551213</Number></Dial></Response>`, "", ""},
	{"list item with markup, strict", promiseInert, `<Response><Dial>{{#Dest}}<Number>{{.}}</Number>{{/Dest}}</Dial></Response>`,
		vals{"Dest": {"+14155551212</Number><Number>+19005550100", "+14155551213"}}, engine.Strict, "", engine.CodeValueType, ""},
	{"plain name wins over brackets", promiseInert, `<Response><Say>{{a}}</Say></Response>`, vals{"a": {"plain"}, "a[]": {"<x/>"}}, engine.Strict,
		`<Response><Say>plain</Say></Response>`, "", ""},

	// Work.
	{"two nested sections over 2000 items", promiseBounded, `<Response>{{#a}}{{#a}}{{/a}}{{/a}}</Response>`, vals{"a": make([]string, 2000)}, engine.Lenient, "", engine.CodeRenderBudget, ""},
	{"two nested sections over 2000 items, strict", promiseBounded, `<Response>{{#a}}{{#a}}{{/a}}{{/a}}</Response>`, vals{"a": make([]string, 2000)}, engine.Strict, "", engine.CodeRenderBudget, ""},
	{"eight nested sections over 6 items", promiseBounded, `<Response>` + strings.Repeat("{{#a}}", 8) + strings.Repeat("{{/a}}", 8) + `</Response>`, vals{"a": make([]string, 6)}, engine.Lenient, "", engine.CodeRenderBudget, ""},
	{"two nested sections over 500 items", promiseBounded, `<Response>{{#a}}{{#a}}{{/a}}{{/a}}</Response>`, vals{"a": make([]string, 500)}, engine.Strict, `<Response></Response>`, "", ""},
	{"nested sections inside a slot", promiseBounded, `<Response><Say>{{#a}}{{#a}}{{#a}}x{{/a}}{{/a}}{{/a}}</Say></Response>`, vals{"a": make([]string, 200)}, engine.Lenient, "", engine.CodeRenderBudget, ""},
	{"output of 64 kB", promiseBounded, `<Response><Redirect>{{u}}</Redirect></Response>`, vals{"u": {urlOfLength(64<<10 - 42)}}, engine.Strict,
		`<Response><Redirect>` + urlOfLength(64<<10-42) + `</Redirect></Response>`, "", ""},
	{"output one byte over 64 kB", promiseBounded, `<Response><Redirect>{{u}}</Redirect></Response>`, vals{"u": {urlOfLength(64<<10 - 41)}}, engine.Lenient, "", engine.CodeResponseTooLarge, ""},
	{"output over 64 kB from a list", promiseBounded, `<Response>{{#a}}<Pause/>{{/a}}</Response>`, vals{"a": make([]string, 8192)}, engine.Lenient, "", engine.CodeResponseTooLarge, ""},
	{"output over 64 kB from escaping", promiseBounded, `<Response><Redirect>https://x.example/?q={{q}}</Redirect></Response>`, vals{"q": {strings.Repeat("&", 22000)}}, engine.Lenient, "", engine.CodeResponseTooLarge, ""},
}

// urlOfLength returns a URL of n bytes.
func urlOfLength(n int) string {
	const prefix = "https://example.com/"
	return prefix + strings.Repeat("a", n-len(prefix))
}

func TestHostileValues(t *testing.T) {
	for _, tc := range hostileRenderTests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.bug != "" {
				t.Skip(tc.bug)
			}
			tmpl, err := engine.Compile(tc.src)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			out, diags, err := tmpl.Render(tc.values, tc.policy)
			if tc.fails != "" {
				var re *engine.RenderError
				if !errors.As(err, &re) {
					t.Fatalf("%s\nRender(%s) = %q, %v; want a *RenderError with %s", tc.promise, tc.policy, clipOut(out), err, tc.fails)
				}
				for _, d := range re.Diagnostics.Errors() {
					if d.Code == tc.fails {
						return
					}
				}
				t.Fatalf("%s\nRender(%s) failed with %v; want %s", tc.promise, tc.policy, re.Diagnostics, tc.fails)
			}
			if err != nil {
				t.Fatalf("%s\nRender(%s): %v", tc.promise, tc.policy, err)
			}
			if got := string(out); got != tc.want {
				t.Errorf("%s\nRender(%s) = %q\nwant          %q\ndiagnostics: %v", tc.promise, tc.policy, clipOut(out), clipOut([]byte(tc.want)), diags)
			}
			if _, err := decodeTwiML(out); err != nil {
				t.Errorf("%s\n%v", promiseWellFormed, err)
			}
		})
	}
}

func clipOut(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// limitEdgeTests are Twilio's limits that depend on request values, each at
// the limit and one over, under both policies: lenient repairs the one over,
// strict fails with its code.
var limitEdgeTests = []struct {
	name    string
	src     string
	values  map[string][]string
	lenient string // the repaired output; "" when the value is within the limit
	code    engine.Code
}{
	{"Parameter name of 32 bytes", paramName, vals{"n": {strings.Repeat("n", 32)}}, "", ""},
	{"Parameter name of 33 bytes", paramName, vals{"n": {strings.Repeat("n", 33)}},
		`<Response><Dial><Client><Identity>a</Identity><Parameter name="` + strings.Repeat("n", 32) + `" value="v"/></Client></Dial></Response>`, engine.CodeParamNameTooLong},
	{"Parameter value of 128 bytes", paramValue, vals{"v": {strings.Repeat("v", 128)}}, "", ""},
	{"Parameter value of 129 bytes", paramValue, vals{"v": {strings.Repeat("v", 129)}},
		`<Response><Dial><Client><Identity>a</Identity><Parameter name="n" value="` + strings.Repeat("v", 128) + `"/></Client></Dial></Response>`, engine.CodeParamValueLong},
	{"Parameter value of 128 bytes in 2-byte characters", paramValue, vals{"v": {strings.Repeat("é", 64)}}, "", ""},
	{"Parameter value of 129 bytes cut at a character", paramValue, vals{"v": {"a" + strings.Repeat("é", 64)}},
		`<Response><Dial><Client><Identity>a</Identity><Parameter name="n" value="a` + strings.Repeat("é", 63) + `"/></Client></Dial></Response>`, engine.CodeParamValueLong},
	{"8 parameters", paramList, vals{"p": listOf(8, "1", "2")}, "", ""},
	{"9 parameters", paramList, vals{"p": listOf(9, "1", "2")},
		`<Response><Dial><Client><Identity>a</Identity>` + strings.Repeat(`<Parameter name="p" value="1"/><Parameter name="p" value="2"/>`, 4) + `</Client></Dial></Response>`, engine.CodeTooManyParams},
	{"10 nouns", nounList, vals{"Dest": phoneNumbers(10)}, "", ""},
	{"11 nouns", nounList, vals{"Dest": phoneNumbers(11)},
		`<Response><Dial><Number>` + strings.Join(phoneNumbers(10), "</Number><Number>") + `</Number></Dial></Response>`, engine.CodeTooManyNouns},
	{"1 static noun and 9 from a list", "<Response><Dial><Number>+14155551212</Number>{{#Dest}}<Number>{{.}}</Number>{{/Dest}}</Dial></Response>", vals{"Dest": phoneNumbers(9)}, "", ""},
	{"1 static noun and 10 from a list", "<Response><Dial><Number>+14155551212</Number>{{#Dest}}<Number>{{.}}</Number>{{/Dest}}</Dial></Response>", vals{"Dest": phoneNumbers(10)},
		`<Response><Dial><Number>+14155551212</Number><Number>` + strings.Join(phoneNumbers(9), "</Number><Number>") + `</Number></Dial></Response>`, engine.CodeTooManyNouns},
	{"Say of 4096 characters", sayValue, vals{"s": {strings.Repeat("é", 4096)}}, "", ""},
	{"Say of 4097 characters", sayValue, vals{"s": {strings.Repeat("é", 4097)}}, `<Response><Say>` + strings.Repeat("é", 4096) + `</Say></Response>`, engine.CodeSayTooLong},
}

const (
	paramName  = `<Response><Dial><Client><Identity>a</Identity><Parameter name="{{n}}" value="v"/></Client></Dial></Response>`
	paramValue = `<Response><Dial><Client><Identity>a</Identity><Parameter name="n" value="{{v}}"/></Client></Dial></Response>`
	paramList  = `<Response><Dial><Client><Identity>a</Identity>{{#p}}<Parameter name="p" value="{{.}}"/>{{/p}}</Client></Dial></Response>`
	nounList   = `<Response><Dial>{{#Dest}}<Number>{{.}}</Number>{{/Dest}}</Dial></Response>`
	sayValue   = `<Response><Say>{{s}}</Say></Response>`
)

func TestLimitsAtTheirEdge(t *testing.T) {
	for _, tc := range limitEdgeTests {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := engine.Compile(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			strictOut, strictDiags, strictErr := tmpl.Render(tc.values, engine.Strict)
			lenientOut, lenientDiags, lenientErr := tmpl.Render(tc.values, engine.Lenient)
			if lenientErr != nil {
				t.Fatalf("%s: lenient: %v", promiseLimits, lenientErr)
			}
			if tc.code == "" {
				if strictErr != nil || len(strictDiags) != 0 || len(lenientDiags) != 0 {
					t.Fatalf("%s: within the limit: strict %v %v, lenient %v", promiseLimits, strictErr, strictDiags, lenientDiags)
				}
				if string(strictOut) != string(lenientOut) {
					t.Errorf("the policies differ within the limit:\n%s\n%s", strictOut, lenientOut)
				}
				return
			}
			var re *engine.RenderError
			if !errors.As(strictErr, &re) || len(re.Diagnostics.Errors()) != 1 || re.Diagnostics.Errors()[0].Code != tc.code {
				t.Errorf("%s: strict: %v, want %s", promiseLimits, strictErr, tc.code)
			}
			if len(lenientDiags) != 1 || lenientDiags[0].Code != tc.code || lenientDiags[0].Severity != engine.SeverityWarning {
				t.Errorf("%s: lenient diagnostics %v, want one warning %s", promiseLimits, lenientDiags, tc.code)
			}
			if got := string(lenientOut); got != tc.lenient {
				t.Errorf("lenient output\n%s\nwant\n%s", clipOut(lenientOut), clipOut([]byte(tc.lenient)))
			}
		})
	}
}

// TestHostileRenderMemoryIsBounded guards promiseBounded against a slot
// whose value is gathered in full before the slot's limit or the 64 kB
// output limit applies: memory then grows with what the slot would hold,
// not with what it may output.
func TestHostileRenderMemoryIsBounded(t *testing.T) {
	tests := []struct {
		name, promise, src string
		values             map[string][]string
	}{
		{"13000 variables in a slot", promiseBounded, `<Response><Say>` + strings.Repeat("{{a}}", 13000) + `</Say></Response>`,
			vals{"a": {strings.Repeat("x", 2<<10)}}},
		{"8 nested sections in a slot", promiseBounded, `<Response><Say>` + strings.Repeat("{{#a}}", 8) + "{{.}}" + strings.Repeat("{{/a}}", 8) + `</Say></Response>`,
			vals{"a": listOf(4, strings.Repeat("x", 1<<10), strings.Repeat("y", 1<<10))}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := engine.Compile(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for _, p := range bothPolicies {
				_, _, _ = tmpl.Render(tc.values, p)
			}
			runtime.ReadMemStats(&after)
			const bound = 16 << 20
			if got := after.TotalAlloc - before.TotalAlloc; got > bound {
				t.Errorf("%s: two renders allocated %d MB; want at most %d MB whatever the values", tc.promise, got>>20, bound>>20)
			}
		})
	}
}

// TestHostileBrowserMarkupDiagnostics guards promiseBrowser's diagnostics:
// each is an error at the line and column of what to remove, and says so.
func TestHostileBrowserMarkupDiagnostics(t *testing.T) {
	src := `<?xml version="1.0" encoding="UTF-8"?>
<?xml-stylesheet href="https://evil.example/x.xsl"?>
<Response xmlns="http://www.w3.org/1999/xhtml">
  <Say autofocus="" onfocus="alert(1)">hi</Say>
  <Redirect xml:base="https://evil.example/">next</Redirect>
</Response>`
	want := []struct {
		code      engine.Code
		line, col int
		says      string
	}{
		{engine.CodeProcessingInstr, 2, 1, "remove <?xml-stylesheet"},
		{engine.CodeNamespace, 3, 11, "remove xmlns"},
		{engine.CodeEventHandler, 4, 21, "remove onfocus"},
		{engine.CodeNamespace, 5, 13, "remove xml:base"},
	}
	errs := engine.Check(src).Errors()
	if len(errs) != len(want) {
		t.Fatalf("%s: %d errors, want %d:%s", promiseBrowser, len(errs), len(want), listDiagnostics(errs))
	}
	for i, w := range want {
		d := errs[i]
		if d.Code != w.code || d.Line != w.line || d.Column != w.col || !strings.Contains(d.Message, w.says) {
			t.Errorf("%s: error %d is %v; want %s at %d:%d saying %q", promiseBrowser, i, d, w.code, w.line, w.col, w.says)
		}
	}
}
