package engine

// The rules Twilio documents beyond the vocabulary in schema/twiml.json:
// value ranges, lengths, counts and special formats. Each rule names where
// the fact comes from; ../shared/twiml/facts.md in the project's reference
// material gathers them.

// valueKind is a format a value must follow beyond its schema type.
type valueKind int

const (
	kindNone           valueKind = iota
	kindSIPURI                   // a SIP URI with Twilio's limits
	kindCallerIDSIP              // <Dial callerId> when the Dial holds a <Sip>
	kindOneKey                   // empty, or one of 0-9 # *
	kindKeys                     // any of 0-9 # *
	kindPosIntOrAuto             // a positive integer or "auto"
	kindNonEmpty                 // anything but empty
	kindBreakTime                // SSML <break time>: [number]s or [number]ms
	kindDigitsToPlay             // DTMF digits: 0-9 # * and w
	kindPhoneOrClient            // <Dial callerId> outside SIP: a number or client:id
	kindMessageSender            // <Message from>: a number or a 1-11 character sender ID
	kindSpaceSeparated           // space-separated list of the enumeration
	kindPhoneNumber              // a phone number, E.164 or formatted
	kindURL                      // an element's text that is a URL
)

// attrRule refines one attribute of one element class.
type attrRule struct {
	class, attr string
	min, max    int64 // integer range; zero max means none
	hasMin      bool
	maxBytes    int
	kind        valueKind
	closed      bool // the enumeration is fixed: a value outside it breaks the rule
	code        Code // code for a broken rule; CodeValueType when zero
	source      string
}

// textRule refines the text content of one element class.
type textRule struct {
	class    string
	maxChars int
	kind     valueKind
	required bool   // Twilio reports an element without text, though the libraries allow it
	unless   string // required: an attribute that stands in for the text
	code     Code
	source   string
}

const (
	srcParams = "https://support.twilio.com/hc/en-us/articles/115011213347"
	srcSIP    = "https://www.twilio.com/docs/voice/twiml/sip"
	srcNumber = "https://www.twilio.com/docs/voice/twiml/number"
	srcGather = "https://www.twilio.com/docs/voice/twiml/gather"
	srcMsg    = "https://www.twilio.com/docs/messaging/twiml/message"
)

var attrRules = []attrRule{
	{class: "Parameter", attr: "name", maxBytes: 32, code: CodeParamNameTooLong, source: srcParams},
	{class: "Parameter", attr: "value", maxBytes: 128, code: CodeParamValueLong, source: srcParams},
	{class: "Dial", attr: "callerId", kind: kindPhoneOrClient, code: CodeDialCallerID, source: "https://www.twilio.com/docs/api/errors/13214"},
	{class: "Dial", attr: "timeout", min: 1, hasMin: true, source: "https://www.twilio.com/docs/api/errors/13212"},
	{class: "Dial", attr: "timeLimit", min: 1, hasMin: true, source: "https://www.twilio.com/docs/api/errors/13216"},
	{class: "Gather", attr: "timeout", min: 1, hasMin: true, source: "https://www.twilio.com/docs/api/errors/13313"},
	{class: "Gather", attr: "numDigits", min: 1, hasMin: true, source: "https://www.twilio.com/docs/api/errors/13314"},
	{class: "Gather", attr: "finishOnKey", kind: kindOneKey, source: "https://www.twilio.com/docs/api/errors/13310"},
	{class: "Gather", attr: "speechTimeout", kind: kindPosIntOrAuto, source: srcGather},
	{class: "Gather", attr: "input", kind: kindSpaceSeparated, closed: true, source: srcGather},
	{class: "Record", attr: "finishOnKey", kind: kindKeys, source: "https://www.twilio.com/docs/api/errors/13613"},
	{class: "Record", attr: "maxLength", min: 1, hasMin: true, source: "https://www.twilio.com/docs/api/errors/13612"},
	{class: "Record", attr: "timeout", min: 0, hasMin: true, source: "https://www.twilio.com/docs/api/errors/13611"},
	{class: "Pause", attr: "length", min: 1, hasMin: true, source: "https://www.twilio.com/docs/voice/twiml/pause"},
	{class: "Say", attr: "loop", min: 0, hasMin: true, source: "https://www.twilio.com/docs/voice/twiml/say"},
	{class: "Play", attr: "loop", min: 0, hasMin: true, source: "https://www.twilio.com/docs/voice/twiml/play"},
	{class: "Play", attr: "digits", kind: kindDigitsToPlay, source: "https://www.twilio.com/docs/voice/twiml/play"},
	{class: "Number", attr: "sendDigits", kind: kindDigitsToPlay, source: "https://www.twilio.com/docs/api/errors/13222"},
	{class: "Conference", attr: "maxParticipants", min: 2, hasMin: true, max: 250, source: "https://www.twilio.com/docs/voice/twiml/conference"},
	{class: "Number", attr: "machineDetectionTimeout", min: 3, hasMin: true, max: 60, source: srcNumber},
	{class: "Number", attr: "machineDetectionSpeechThreshold", min: 1000, hasMin: true, max: 6000, source: srcNumber},
	{class: "Number", attr: "machineDetectionSpeechEndThreshold", min: 500, hasMin: true, max: 5000, source: srcNumber},
	{class: "Number", attr: "machineDetectionSilenceTimeout", min: 2000, hasMin: true, max: 10000, source: srcNumber},
	{class: "Sip", attr: "machineDetectionTimeout", min: 3, hasMin: true, max: 60, source: srcNumber},
	{class: "Sip", attr: "machineDetectionSpeechThreshold", min: 1000, hasMin: true, max: 6000, source: srcNumber},
	{class: "Sip", attr: "machineDetectionSpeechEndThreshold", min: 500, hasMin: true, max: 5000, source: srcNumber},
	{class: "Sip", attr: "machineDetectionSilenceTimeout", min: 2000, hasMin: true, max: 10000, source: srcNumber},
	{class: "SsmlBreak", attr: "time", kind: kindBreakTime, source: "https://www.twilio.com/docs/voice/twiml/say/text-speech"},
	{class: "Message", attr: "from", kind: kindMessageSender, source: srcMsg},
	{class: "Reject", attr: "reason", closed: true, source: "https://www.twilio.com/docs/voice/twiml/reject"},
	{class: "Number", attr: "statusCallbackEvent", closed: true, source: srcNumber},
	{class: "Client", attr: "statusCallbackEvent", closed: true, source: "https://www.twilio.com/docs/voice/twiml/client"},
	{class: "Sip", attr: "statusCallbackEvent", closed: true, source: srcSIP},
	{class: "Application", attr: "statusCallbackEvent", closed: true, source: "https://www.twilio.com/docs/voice/twiml/application"},
	{class: "WhatsApp", attr: "statusCallbackEvent", closed: true, source: "https://www.twilio.com/docs/voice/twiml/whatsapp"},
	{class: "Conference", attr: "statusCallbackEvent", closed: true, source: "https://www.twilio.com/docs/voice/twiml/conference"},
	{class: "Conference", attr: "region", closed: true, source: "https://www.twilio.com/docs/voice/twiml/conference"},
}

var textRules = []textRule{
	{class: "Sip", kind: kindSIPURI, code: CodeSipURI, source: srcSIP},
	{class: "SipUri", kind: kindSIPURI, code: CodeSipURI, source: srcSIP},
	{class: "ReferSip", kind: kindSIPURI, code: CodeSipURI, source: "https://www.twilio.com/docs/voice/twiml/refer"},
	{class: "Say", maxChars: 4096, required: true, code: CodeSayTooLong, source: "https://www.twilio.com/docs/api/errors/13521"},
	{class: "Message", maxChars: 1600, required: true, code: CodeMessageBody, source: "https://www.twilio.com/docs/api/errors/14103"},
	{class: "Body", maxChars: 1600, code: CodeMessageBody, source: "https://www.twilio.com/docs/api/errors/14103"},
	{class: "Client", maxChars: 256, required: true, code: CodeTooLong, source: "https://www.twilio.com/docs/voice/twiml/client"},
	{class: "Identity", maxChars: 256, code: CodeTooLong, source: "https://www.twilio.com/docs/voice/twiml/client"},
	{class: "Enqueue", maxChars: 64, required: true, unless: "workflowSid", code: CodeTooLong, source: "https://www.twilio.com/docs/voice/twiml/enqueue"},
	{class: "Play", kind: kindURL, required: true, unless: "digits", code: CodeValueType, source: "https://www.twilio.com/docs/voice/twiml/play"},
	{class: "Redirect", kind: kindURL, code: CodeValueType, source: "https://www.twilio.com/docs/voice/twiml/redirect"},
	{class: "Media", kind: kindURL, code: CodeValueType, source: "https://www.twilio.com/docs/messaging/twiml/media"},
	{class: "Dial", required: true, source: "https://www.twilio.com/docs/voice/twiml/dial"},
	{class: "Number", kind: kindPhoneNumber, required: true, code: CodeValueType, source: srcNumber},
	{class: "WhatsApp", kind: kindPhoneNumber, required: true, code: CodeValueType, source: "https://www.twilio.com/docs/voice/twiml/whatsapp"},
}

// countRule limits how many elements of some classes one scope element
// holds, at any depth.
type countRule struct {
	scope   string   // class of the scope element
	counted []string // classes counted
	max     int
	code    Code
	what    string // for messages
	source  string
	// advisory rules depend on an account feature: a warning, never a failure.
	advisory bool
}

// dialNouns are the nouns a <Dial> dials.
var dialNouns = []string{"Number", "Client", "Sip", "Conference", "Queue", "Sim", "Application", "WhatsApp"}

var countRules = []countRule{
	{scope: "Dial", counted: dialNouns, max: 10, code: CodeTooManyNouns, what: "nouns", source: srcNumber},
	{scope: "Dial", counted: []string{"Sip"}, max: 1, code: CodeTooManySip, what: "<Sip> nouns", source: srcSIP, advisory: true},
	{scope: "Dial", counted: []string{"Parameter"}, max: 8, code: CodeTooManyParams, what: "custom <Parameter>s", source: srcParams},
	{scope: "Message", counted: []string{"Media"}, max: 10, code: CodeTooManyMedia, what: "<Media>", source: "https://www.twilio.com/docs/api/errors/21623"},
	{scope: "Sip", counted: []string{"SipUri"}, max: 5, code: CodeSipTooManyURIs, what: "<Uri>", source: "https://www.twilio.com/docs/api/errors/13250"},
}

// paramBudget is the combined size of one <Dial>'s custom parameters that
// Twilio's contextual-calling guide advises not to exceed (a warning: some
// channels cut longer ones).
const paramBudget = 800

// maxResponseSize is the largest TwiML response Twilio accepts (11750).
const maxResponseSize = 64 * 1024

// sipRegions are the values of a SIP URI's region parameter (sip page).
var sipRegions = map[string]bool{"us1": true, "us2": true, "ie1": true, "de1": true, "sg1": true, "jp1": true, "br1": true, "au1": true}

// sipTransports are the values of a SIP URI's transport parameter.
var sipTransports = map[string]bool{"udp": true, "tcp": true, "tls": true}

// urlStrings are the attributes that hold a URL though the helper libraries
// type them as strings: a value in them is encoded as in any URL.
var urlStrings = map[string]bool{
	"ConversationRelay@url": true, "Stream@url": true, "Stream@statusCallback": true,
	"Number@amdStatusCallback": true, "Sip@amdStatusCallback": true, "Recording@recordingStatusCallback": true,
	"Siprec@statusCallback": true, "Transcription@statusCallbackUrl": true, "VirtualAgent@statusCallback": true,
}

// openEnums are the enumerations known to lag Twilio's documentation: a
// value outside them is only a warning, at render time too.
var openEnums = map[string]bool{
	"Say@voice": true, "Say@language": true, "Gather@language": true, "SsmlLang@xml:lang": true,
	"Dial@ringTone": true, "SsmlSayAs@interpret-as": true, "SsmlSayAs@format": true,
	"Pay@language": true, "Prompt@errorType": true, "Prompt@cardType": true, "Pay@validCardTypes": true,
}

// languageEnums are the enumerations of BCP 47 language tags, which compare
// without regard to case (RFC 5646, section 2.1.1): en-gb is en-GB.
var languageEnums = map[string]bool{"Say@language": true, "Gather@language": true, "SsmlLang@xml:lang": true, "Pay@language": true}

// legacyEnumValues are values Twilio documents that the helper libraries'
// enumerations lack: the languages of the legacy man and woman voices
// (https://www.twilio.com/docs/voice/twiml/say, older page).
var legacyEnumValues = map[string][]string{"Say@language": {"en", "en-gb", "es", "fr", "de", "it"}}

// ruleIndex finds the rules of a class quickly.
type ruleIndex struct {
	attrs map[string]*attrRule // "Class@attr"
	texts map[string]*textRule // class
}

var rules = func() ruleIndex {
	ri := ruleIndex{attrs: map[string]*attrRule{}, texts: map[string]*textRule{}}
	for i := range attrRules {
		r := &attrRules[i]
		ri.attrs[r.class+"@"+r.attr] = r
	}
	for i := range textRules {
		r := &textRules[i]
		ri.texts[r.class] = r
	}
	return ri
}()
