package engine

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// slotRule is everything a value must satisfy where it lands: an attribute
// of an element class, or the text of one. Validation builds one per slot
// and checks static values with it; rendering checks filled-in values with
// the same rule.
type slotRule struct {
	slot   string      // "Dial@callerId", "Number#text"
	key    string      // attributes: "Class@attr", the key of the tables in rules.go
	schema *schemaAttr // attributes only
	attr   *attrRule
	text   *textRule
	open   bool // the enumeration lags Twilio's documentation
	// sipCallerID applies the stricter SIP caller ID characters.
	sipCallerID bool
}

// repair says how the lenient policy fixes a value that breaks its rule.
type repair int

const (
	repairNone repair = iota // the finding is advisory: the value stays as it is
	repairCut                // cut the value to limit characters (or bytes)
	repairOmit               // leave the attribute out
	repairDrop               // drop the element
)

// violation is a value breaking its slot's rule.
type violation struct {
	code     Code
	msg      string
	limit    bool // a hard limit (an error at compile time), not only a type slip
	advisory bool // a warning under every policy
	fix      repair
	maxBytes int // repairCut: cut to this many bytes…
	maxChars int // …or characters
}

// check returns the first rule v breaks, or nil. An empty value passes:
// a missing parameter renders as nothing, as on Twilio.
func (r *slotRule) check(v string) *violation {
	if v == "" || strings.TrimSpace(v) == "" {
		if r.text != nil && r.text.kind == kindPhoneNumber {
			return &violation{code: CodeTextRequired, fix: repairDrop, msg: fmt.Sprintf(
				"%s is empty: the request holds no number to dial", r.slot)}
		}
		return nil
	}
	if r.text != nil {
		return r.checkText(v)
	}
	if r.attr != nil {
		if viol := r.checkAttrRule(v); viol != nil {
			return viol
		}
	}
	if r.schema != nil {
		return r.checkSchema(v)
	}
	return nil
}

func (r *slotRule) checkText(v string) *violation {
	t := r.text
	code := t.code
	if n := utf8.RuneCountInString(v); t.maxChars > 0 && n > t.maxChars {
		return &violation{code: code, limit: true, fix: repairCut, maxChars: t.maxChars,
			msg: fmt.Sprintf("%s is %d characters; the limit is %d (%s)", r.slot, n, t.maxChars, t.source)}
	}
	switch t.kind {
	case kindSIPURI:
		return checkSIPURI(strings.TrimSpace(v), r.slot)
	case kindURL:
		if msg := checkType(typeURL, strings.TrimSpace(v)); msg != "" {
			return &violation{code: code, fix: repairDrop, msg: fmt.Sprintf("%s %s, not %q", r.slot, msg, clip(v))}
		}
	case kindPhoneNumber:
		if !isPhoneLike(strings.TrimSpace(v)) {
			return &violation{code: code, fix: repairDrop, msg: fmt.Sprintf(
				"%s must be a phone number, such as +14155551212, not %q", r.slot, clip(v))}
		}
	}
	return nil
}

func (r *slotRule) checkAttrRule(v string) *violation {
	a := r.attr
	code := a.code
	if code == "" {
		code = CodeValueType
	}
	if a.maxBytes > 0 && len(v) > a.maxBytes {
		return &violation{code: code, limit: true, fix: repairCut, maxBytes: a.maxBytes,
			msg: fmt.Sprintf("%s is %d bytes; the limit is %d bytes (%s)", r.slot, len(v), a.maxBytes, a.source)}
	}
	if a.hasMin || a.max > 0 {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return &violation{code: CodeValueType, fix: repairOmit,
				msg: fmt.Sprintf("%s must be a whole number, not %q", r.slot, clip(v))}
		}
		if (a.hasMin && n < a.min) || (a.max > 0 && n > a.max) {
			return &violation{code: CodeValueRange, fix: repairOmit,
				msg: fmt.Sprintf("%s must be %s, not %d (%s)", r.slot, rangeText(a), n, a.source)}
		}
		return nil
	}
	kind := a.kind
	if kind == kindPhoneOrClient && r.sipCallerID {
		kind = kindCallerIDSIP
	}
	if msg := checkKind(kind, v); msg != "" {
		c := code
		if kind == kindCallerIDSIP {
			c = CodeDialCallerIDChars
		}
		return &violation{code: c, fix: repairOmit, msg: fmt.Sprintf("%s %s, not %q (%s)", r.slot, msg, clip(v), a.source)}
	}
	return nil
}

func rangeText(a *attrRule) string {
	switch {
	case a.hasMin && a.max > 0:
		return fmt.Sprintf("between %d and %d", a.min, a.max)
	case a.hasMin:
		return fmt.Sprintf("at least %d", a.min)
	}
	return fmt.Sprintf("at most %d", a.max)
}

// checkKind checks the special formats; it returns what the value must be
// when it is not.
func checkKind(k valueKind, v string) string {
	switch k {
	case kindOneKey:
		if len(v) != 1 || !isKey(v[0]) {
			return "must be one key: 0-9, # or *"
		}
	case kindKeys:
		for i := 0; i < len(v); i++ {
			if !isKey(v[i]) {
				return "must be keys among 0-9, # and *"
			}
		}
	case kindDigitsToPlay:
		for i := 0; i < len(v); i++ {
			if !isKey(v[i]) && v[i] != 'w' && v[i] != 'W' {
				return "must be DTMF digits 0-9, #, * and w (a half-second pause)"
			}
		}
	case kindPosIntOrAuto:
		if v != "auto" {
			if n, err := strconv.Atoi(v); err != nil || n < 1 {
				return "must be a positive number of seconds or \"auto\""
			}
		}
	case kindBreakTime:
		num := strings.TrimSuffix(strings.TrimSuffix(v, "ms"), "s")
		if num == v || num == "" {
			return "must be a duration such as 500ms or 2s"
		}
		if _, err := strconv.ParseFloat(num, 64); err != nil {
			return "must be a duration such as 500ms or 2s"
		}
	case kindPhoneOrClient:
		if strings.HasPrefix(v, "client:") && len(v) > len("client:") {
			return ""
		}
		if !isPhoneLike(v) {
			return "must be a phone number (E.164, such as +14155551212) or client:identity"
		}
	case kindCallerIDSIP:
		for i := 0; i < len(v); i++ {
			c := v[i]
			if !(isAlnum(c) || c == '+' || c == '-' || c == '_' || c == '.') {
				return "may hold only letters, digits and + - _ . when the <Dial> calls a SIP endpoint"
			}
		}
	case kindMessageSender:
		if !isPhoneLike(v) && !isSenderID(v) && !strings.Contains(v, ":") {
			return "must be a phone number, a channel address (whatsapp:…) or an alphanumeric sender ID of 1 to 11 characters"
		}
	}
	return ""
}

func isKey(c byte) bool { return c >= '0' && c <= '9' || c == '#' || c == '*' }
func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// isPhoneLike accepts what Twilio reads as a phone number: digits with an
// optional leading +, and the usual separators.
func isPhoneLike(v string) bool {
	digits := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '+' && i == 0:
		case c == ' ' || c == '-' || c == '(' || c == ')' || c == '.':
		default:
			return false
		}
	}
	return digits >= 3 && digits <= 15
}

func isSenderID(v string) bool {
	if len(v) < 1 || len(v) > 11 {
		return false
	}
	letter := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !isAlnum(c) && c != ' ' {
			return false
		}
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			letter = true
		}
	}
	return letter
}

// checkSchema checks a value against its schema type and enumeration.
func (r *slotRule) checkSchema(v string) *violation {
	s := r.schema
	items := []string{v}
	if s.List {
		items = strings.Fields(v)
	}
	for _, item := range items {
		if s.enumSet != nil && !s.enumSet[item] && !r.enumAlias(item) {
			closed := r.attr != nil && r.attr.closed
			viol := &violation{code: CodeSchema, fix: repairOmit,
				msg: fmt.Sprintf("%s does not know %q; use one of %s", r.slot, clip(item), enumList(s.Enum))}
			if sug := suggestName(item, s.Enum); sug != "" && sug != item {
				viol.msg = fmt.Sprintf("%s does not know %q; did you mean %q? (one of %s)", r.slot, clip(item), sug, enumList(s.Enum))
			}
			switch {
			case closed:
				viol.code = CodeEnumValue
			case r.open:
				viol.advisory, viol.fix = true, repairNone
			}
			return viol
		}
		if msg := checkType(s.Type, item); msg != "" {
			return &violation{code: CodeValueType, fix: repairOmit, msg: fmt.Sprintf("%s %s, not %q", r.slot, msg, clip(item))}
		}
	}
	return nil
}

// enumAlias reports whether item, outside the enumeration, is a value
// Twilio accepts all the same: a language tag written in another case, or
// a documented legacy value.
func (r *slotRule) enumAlias(item string) bool {
	for _, v := range legacyEnumValues[r.key] {
		if strings.EqualFold(v, item) {
			return true
		}
	}
	if languageEnums[r.key] {
		for _, v := range r.schema.Enum {
			if strings.EqualFold(v, item) {
				return true
			}
		}
	}
	return false
}

// checkType checks one value against a schema type.
func checkType(typ, v string) string {
	switch typ {
	case typeInteger:
		if _, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err != nil {
			return "must be a whole number"
		}
	case typeBoolean:
		if v != "true" && v != "false" {
			return "must be true or false"
		}
	case typeURL:
		if strings.ContainsAny(v, " \t\r\n") {
			return "must be a URL without spaces (write a space as %20)"
		}
		if _, err := url.Parse(v); err != nil {
			return "must be a URL"
		}
	}
	return ""
}

func enumList(values []string) string {
	if len(values) > 12 {
		return strings.Join(values[:12], ", ") + ", …"
	}
	return strings.Join(values, ", ")
}

// clip shortens a value for a message.
func clip(v string) string {
	if len(v) <= 60 {
		return v
	}
	cut := 57
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return v[:cut] + "..."
}

// checkSIPURI checks a SIP URI against Twilio's rules for <Sip>: the sip:
// or sips: scheme, fewer than 255 characters, a headers part of fewer than
// 1024 characters whose names start with X- (not X-Twilio) or are
// User-to-User, and known transport and region parameters.
func checkSIPURI(v, slot string) *violation {
	drop := func(code Code, msg string) *violation {
		return &violation{code: code, limit: true, fix: repairDrop, msg: slot + ": " + msg}
	}
	lower := strings.ToLower(v)
	if !strings.HasPrefix(lower, "sip:") && !strings.HasPrefix(lower, "sips:") {
		return drop(CodeSipURI, fmt.Sprintf("%q is not a SIP URI; write sip:user@host", clip(v)))
	}
	if n := utf8.RuneCountInString(v); n >= 255 {
		return drop(CodeSipURI, fmt.Sprintf("the SIP URI is %d characters; Twilio requires fewer than 255 (%s)", n, srcSIP))
	}
	uri, headers, _ := strings.Cut(v, "?")
	if strings.ContainsAny(uri, " \t<>\"") {
		return drop(CodeSipURI, fmt.Sprintf("%q is not a SIP URI: it has spaces or < > \"", clip(uri)))
	}
	if len(headers) >= 1024 {
		return drop(CodeSipHeadersTooLong, fmt.Sprintf("the SIP headers part is %d characters; Twilio requires fewer than 1024 (https://www.twilio.com/docs/api/errors/21227)", len(headers)))
	}
	params := strings.Split(uri, ";")
	if host := params[0][strings.IndexByte(params[0], ':')+1:]; host == "" || strings.HasSuffix(host, "@") {
		return drop(CodeSipURI, fmt.Sprintf("%q has no host; write sip:user@host", clip(v)))
	}
	for _, p := range params[1:] {
		name, val, _ := strings.Cut(p, "=")
		switch strings.ToLower(name) {
		case "transport":
			if !sipTransports[strings.ToLower(val)] {
				return drop(CodeSipTransport, fmt.Sprintf("transport=%s is not one Twilio uses; write udp, tcp or tls", clip(val)))
			}
		case "region":
			if !sipRegions[strings.ToLower(val)] {
				return drop(CodeSipRegion, fmt.Sprintf("region=%s is not a Twilio edge; write one of us1, us2, ie1, de1, sg1, jp1, br1, au1", clip(val)))
			}
		}
	}
	if headers == "" {
		return nil
	}
	for _, h := range strings.Split(headers, "&") {
		name, _, _ := strings.Cut(h, "=")
		if msg := checkSIPHeaderName(name); msg != "" {
			return drop(CodeSipHeaderName, msg)
		}
	}
	return nil
}

// checkSIPHeaderName reports why Twilio would not pass a header on.
func checkSIPHeaderName(name string) string {
	lower := strings.ToLower(name)
	switch {
	case lower == "user-to-user":
		return ""
	case strings.HasPrefix(lower, "x-twilio"):
		return fmt.Sprintf("header %q: names starting with X-Twilio are reserved by Twilio; choose another X- name", clip(name))
	case !strings.HasPrefix(lower, "x-") || len(name) == 2:
		return fmt.Sprintf("header %q: custom SIP header names must start with X- (or be User-to-User); rename it X-%s", clip(name), clip(name))
	}
	return ""
}

// e164 turns an address into an E.164 number: the user part of a sip:,
// sips:, tel: or client: address, or a formatted number. Ten digits read as
// a North American number. It reports false when no number is found.
func e164(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if lt := strings.IndexByte(s, '<'); lt >= 0 { // "Alice" <sip:+1510…@host>
		if gt := strings.IndexByte(s[lt:], '>'); gt > 0 {
			s = s[lt+1 : lt+gt]
		}
	}
	for _, scheme := range []string{"sip:", "sips:", "tel:", "client:"} {
		if len(s) >= len(scheme) && strings.EqualFold(s[:len(scheme)], scheme) {
			s = s[len(scheme):]
			break
		}
	}
	if at := strings.IndexByte(s, '@'); at >= 0 {
		s = s[:at]
	}
	if cut := strings.IndexAny(s, ";?"); cut >= 0 {
		s = s[:cut]
	}
	s = strings.TrimSpace(s)
	plus := false
	switch {
	case strings.HasPrefix(s, "+"):
		plus, s = true, s[1:]
	case strings.HasPrefix(s, "00"):
		plus, s = true, s[2:]
	}
	var digits [16]byte
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if n == len(digits) {
				return "", false
			}
			digits[n] = c
			n++
		case c == ' ' || c == '-' || c == '(' || c == ')' || c == '.':
		default:
			return "", false
		}
	}
	d := string(digits[:n])
	switch {
	case plus && n >= 8 && n <= 15 && d[0] != '0':
		return "+" + d, true
	case !plus && n == 10 && d[0] >= '2':
		return "+1" + d, true
	case !plus && n == 11 && d[0] == '1':
		return "+" + d, true
	}
	return "", false
}
