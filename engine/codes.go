package engine

// Code identifies a kind of diagnostic. Where Twilio has an error or warning
// code for the same problem, the code is Twilio's number (see
// https://www.twilio.com/docs/api/errors/<code>); where it has none, the code
// is one of twimlbin's own, prefixed "TB". Codes are stable: tools match on
// them.
type Code string

// Twilio's codes.
const (
	CodeResponseTooLarge  Code = "11750" // response body larger than 64 kB
	CodeParseFailure      Code = "12100" // document is not well-formed XML
	CodeRootNotResponse   Code = "12102" // root element is not <Response>
	CodeSchema            Code = "12200" // unknown attribute, unknown enum value, schema mismatch
	CodeDialNested        Code = "13215" // element not allowed inside <Dial>
	CodeDialCallerID      Code = "13214" // <Dial callerId> not usable
	CodeDialCallerIDChars Code = "13247" // <Dial callerId> has characters SIP does not allow
	CodeSipTooManyURIs    Code = "13250" // more than 5 <Uri> in a <Sip>
	CodeGatherNested      Code = "13320" // element not allowed inside <Gather>
	CodeSayEmpty          Code = "13520" // <Say> has nothing to say
	CodeSayTooLong        Code = "13521" // <Say> text longer than 4096 characters
	CodeMessageBody       Code = "14103" // message body missing or longer than 1600 characters
	CodeSipHeadersTooLong Code = "21227" // SIP URI headers part 1024 characters or more
	CodeTooManyMedia      Code = "21623" // more than 10 <Media> in a <Message>
	CodeSipHeaderName     Code = "32113" // SIP header name that Twilio does not pass on
)

// twimlbin's own codes, where Twilio has none.
const (
	// Template language.
	CodeUnclosedTag      Code = "TB101" // "{{" without "}}"
	CodeSectionMismatch  Code = "TB102" // section not closed, or closed without being opened
	CodeUnescapedTag     Code = "TB103" // {{{name}}} or {{&name}}
	CodePartial          Code = "TB104" // {{> name}}
	CodeDelimiter        Code = "TB105" // {{=<% %>=}}
	CodeTagName          Code = "TB106" // a tag name that is empty, dotted or has odd characters
	CodeNestingTooDeep   Code = "TB107" // sections nested deeper than maxSectionDepth
	CodeTagPlacement     Code = "TB108" // a tag where a value could change the XML structure
	CodeSectionBoundary  Code = "TB109" // a section that would leave some branch ill-formed
	CodeE164Content      Code = "TB110" // markup inside {{#e164}}
	CodeTemplateTooLarge Code = "TB111" // template source larger than MaxTemplateSize
	CodeDuplicateAttr    Code = "TB112" // an attribute that may be written twice
	CodeBuiltinName      Code = "TB113" // a variable named like a built-in section

	// Structure.
	CodeElementNotAllowed Code = "TB201" // element unknown or not allowed in its parent
	CodeTextNotAllowed    Code = "TB202" // text where the element takes none
	CodeTextRequired      Code = "TB203" // element without the text it needs
	CodeProviderSSML      Code = "TB204" // amazon:* SSML, only for Polly voices
	CodeNamespace         Code = "TB205" // a namespace declaration, xml:base, or an attribute of another vocabulary
	CodeEventHandler      Code = "TB206" // an on* attribute: a browser's event handler
	CodeProcessingInstr   Code = "TB207" // a processing instruction other than the XML declaration

	// Values and limits.
	CodeValueType        Code = "TB301" // value not of the attribute's type (boolean, integer, URL, method)
	CodeValueRange       Code = "TB302" // integer out of the documented range
	CodeParamNameTooLong Code = "TB303" // <Parameter name> longer than 32 bytes
	CodeParamValueLong   Code = "TB304" // <Parameter value> longer than 128 bytes
	CodeTooManyParams    Code = "TB305" // more than 8 custom parameters in a <Dial>
	CodeParamsTotal      Code = "TB306" // custom parameters of a <Dial> over ~800 bytes together
	CodeTooManyNouns     Code = "TB307" // more than 10 nouns in a <Dial>
	CodeTooManySip       Code = "TB308" // more than one <Sip> in a <Dial>
	CodeSipMixed         Code = "TB309" // <Sip> beside other nouns in one <Dial>
	CodeSipURI           Code = "TB310" // not a SIP URI, or 255 characters or more
	CodeSipTransport     Code = "TB311" // transport other than udp, tcp, tls
	CodeSipRegion        Code = "TB312" // region not one of Twilio's edge regions
	CodeTooLong          Code = "TB313" // value longer than the element or attribute allows
	CodeEnumValue        Code = "TB314" // value outside a closed list (statusCallbackEvent, Reject reason…)

	// Rendering.
	CodeRenderBudget  Code = "TB401" // the values make the template do too much work
	CodeNothingToDial Code = "TB402" // a <Dial> left with no noun to dial
	CodeE164Invalid   Code = "TB403" // {{#e164}} found no phone number in what it wraps
)

// CodeInfo describes a code for documentation and tools.
type CodeInfo struct {
	Code     Code
	Severity Severity // the usual severity; render-time findings follow the policy
	Title    string
}

// Codes lists every code the engine can report, in order. The README's
// table of codes is checked against it.
var Codes = []CodeInfo{
	{CodeResponseTooLarge, SeverityError, "TwiML response body larger than 64 kB"},
	{CodeParseFailure, SeverityError, "document parse failure: not well-formed XML"},
	{CodeRootNotResponse, SeverityError, "the root element must be <Response>"},
	{CodeSchema, SeverityWarning, "schema validation warning: unknown attribute or enum value"},
	{CodeDialCallerID, SeverityWarning, "<Dial callerId> is empty or not usable"},
	{CodeDialNested, SeverityError, "element not allowed inside <Dial>"},
	{CodeDialCallerIDChars, SeverityError, "<Dial callerId> for SIP may only hold letters, digits and +-_."},
	{CodeSipTooManyURIs, SeverityError, "more than 5 <Uri> in one <Sip>"},
	{CodeGatherNested, SeverityError, "element not allowed inside <Gather>"},
	{CodeSayEmpty, SeverityWarning, "<Say> has no text"},
	{CodeSayTooLong, SeverityError, "<Say> text longer than 4096 characters"},
	{CodeMessageBody, SeverityError, "message body longer than 1600 characters"},
	{CodeSipHeadersTooLong, SeverityError, "SIP URI headers part of 1024 characters or more"},
	{CodeTooManyMedia, SeverityError, "more than 10 <Media> in one <Message>"},
	{CodeSipHeaderName, SeverityError, "SIP header name must start with X- (not X-Twilio) or be User-to-User"},
	{CodeUnclosedTag, SeverityError, "Mustache tag opened with {{ but never closed"},
	{CodeSectionMismatch, SeverityError, "Mustache section not closed, or closed without being opened"},
	{CodeUnescapedTag, SeverityError, "unescaped tags {{{name}}} and {{&name}} are not allowed"},
	{CodePartial, SeverityError, "partials {{> name}} are not allowed"},
	{CodeDelimiter, SeverityError, "changing delimiters {{=<% %>=}} is not allowed"},
	{CodeTagName, SeverityError, "tag name is empty, dotted or uses characters a parameter name cannot have"},
	{CodeNestingTooDeep, SeverityError, "sections nested too deeply"},
	{CodeTagPlacement, SeverityError, "a tag where a value could change the XML structure"},
	{CodeSectionBoundary, SeverityError, "a section that leaves some branch ill-formed"},
	{CodeE164Content, SeverityError, "{{#e164}} may only wrap text and variables"},
	{CodeTemplateTooLarge, SeverityError, "template source too large"},
	{CodeDuplicateAttr, SeverityError, "an attribute that some branch writes twice"},
	{CodeBuiltinName, SeverityWarning, "a variable named like a built-in"},
	{CodeElementNotAllowed, SeverityError, "element unknown or not allowed in its parent"},
	{CodeTextNotAllowed, SeverityError, "text inside an element that takes none"},
	{CodeTextRequired, SeverityWarning, "element without the text it needs"},
	{CodeProviderSSML, SeverityWarning, "amazon:* SSML works only with Amazon Polly voices"},
	{CodeNamespace, SeverityError, "xmlns declarations, xml:base and prefixed attributes of other vocabularies are not TwiML"},
	{CodeEventHandler, SeverityError, "on* attributes are a browser's event handlers; no TwiML element has one"},
	{CodeProcessingInstr, SeverityError, "processing instructions other than the XML declaration are not TwiML"},
	{CodeValueType, SeverityWarning, "value is not of the attribute's type"},
	{CodeValueRange, SeverityWarning, "number outside the documented range"},
	{CodeParamNameTooLong, SeverityError, "<Parameter name> longer than 32 bytes"},
	{CodeParamValueLong, SeverityError, "<Parameter value> longer than 128 bytes"},
	{CodeTooManyParams, SeverityError, "more than 8 custom parameters in one <Dial>"},
	{CodeParamsTotal, SeverityWarning, "custom parameters of one <Dial> over 800 bytes together"},
	{CodeTooManyNouns, SeverityError, "more than 10 nouns in one <Dial>"},
	{CodeTooManySip, SeverityWarning, "more than one <Sip> in one <Dial>"},
	{CodeSipMixed, SeverityWarning, "<Sip> beside other nouns needs Enhanced Programmable SIP"},
	{CodeSipURI, SeverityError, "not a SIP URI, or a SIP URI of 255 characters or more"},
	{CodeSipTransport, SeverityError, "SIP transport must be udp, tcp or tls"},
	{CodeSipRegion, SeverityError, "SIP region must be us1, us2, ie1, de1, sg1, jp1, br1 or au1"},
	{CodeTooLong, SeverityError, "value longer than its element or attribute allows"},
	{CodeEnumValue, SeverityWarning, "value outside the attribute's fixed list"},
	{CodeRenderBudget, SeverityError, "the values make the template do too much work"},
	{CodeNothingToDial, SeverityError, "a <Dial> left with nothing to dial by the request's values"},
	{CodeE164Invalid, SeverityWarning, "{{#e164}} found no phone number in what it wraps"},
}
