package engine

import (
	"fmt"
	"strings"
)

// validator checks the templated-XML tree against the TwiML vocabulary and
// the rules in rules.go. What does not depend on a request value is decided
// here; for what does, it attaches the rule each slot is checked with at
// render time, and allocates the counters that render-time counting uses.
type validator struct {
	d        *diagList
	ctx      *schemaContext
	counters int // counters allocated; counter 0 is never used
	scopes   []*scopeState
	secDepth int // sections open around the current node
}

// scopeState counts, for one element that a countRule applies to, the
// elements it holds.
type scopeState struct {
	elem     *xElem
	secDepth int
	rules    []*countRule
	static   []int      // per rule: elements outside any section of the scope
	elems    [][]*xElem // per rule: every counted element
	dynamic  []bool     // per rule: some counted element sits in a section
	overrun  []*xElem   // per rule: the first element over the limit when static
	params   []*xAttr   // name and value attributes of its <Parameter>s
	paramDyn bool       // some parameter is dynamic or in a section
	paramLen int        // bytes of static parameters
	nouns    map[string]bool
}

func newValidator(d *diagList, ctx *schemaContext) *validator {
	return &validator{d: d, ctx: ctx}
}

func (v *validator) validate(root *xElem) {
	if root.name != "Response" {
		v.d.add(SeverityError, CodeRootNotResponse, root.off, fmt.Sprintf(
			"the root element must be <Response>, not <%s>; wrap the document in <Response>…</Response>", root.name))
		return
	}
	v.element(root, v.ctx.root)
}

// element checks an element whose class is known, then its content.
func (v *validator) element(e *xElem, cls *schemaClass) {
	e.class = cls
	v.count(e)
	if cls.anyAttrs {
		v.checkPollyOnly(e)
	}
	var scope *scopeState
	if rs := countRulesFor(cls.Class); len(rs) > 0 {
		scope = &scopeState{elem: e, secDepth: v.secDepth, rules: rs,
			static: make([]int, len(rs)), elems: make([][]*xElem, len(rs)),
			dynamic: make([]bool, len(rs)), overrun: make([]*xElem, len(rs)), nouns: map[string]bool{}}
		v.scopes = append(v.scopes, scope)
	}
	var seen []seenAttr
	v.attributes(e, cls, e.tagItems, &seen, "")
	hasContent := false
	v.content(e, cls, e.children, &hasContent)
	if lacksContent(e, cls, hasContent) {
		code, msg := CodeTextRequired, fmt.Sprintf("<%s> needs text content", e.name)
		switch cls.Class {
		case "Say":
			code, msg = CodeSayEmpty, "<Say> has nothing to say; write the text to speak between <Say> and </Say>"
		case "Number":
			msg = "<Number> needs the phone number to dial, such as <Number>+14155551212</Number>"
		case "Play":
			msg = "<Play> needs the URL of the audio to play, or a digits attribute"
		case "Message":
			code, msg = CodeMessageBody, "<Message> has no body and no <Media>; Twilio sends nothing (https://www.twilio.com/docs/api/errors/14103)"
		case "Dial":
			msg = "<Dial> has nothing to dial; write the number as its text or add a noun such as <Number> or <Client>"
		case "Client":
			msg = "<Client> needs the identity to call, as its text or in <Identity>"
		case "Enqueue":
			msg = "<Enqueue> needs the name of the queue, or a workflowSid to hand the call to TaskRouter"
		}
		v.d.add(SeverityWarning, code, e.off, msg)
	}
	if scope != nil {
		v.scopes = v.scopes[:len(v.scopes)-1]
		v.closeScope(scope)
	}
}

// content checks what an element holds: child elements, text, sections.
func (v *validator) content(e *xElem, cls *schemaClass, nodes []xnode, hasContent *bool) {
	for _, n := range nodes {
		switch n := n.(type) {
		case *xElem:
			*hasContent = true
			child := cls.childByTag[n.name]
			if child == nil && strings.HasPrefix(n.name, "amazon:") {
				child = v.pollyClass(e, n.name)
			}
			if child == nil {
				v.misplaced(n, e)
				continue
			}
			v.element(n, child)
		case *xText:
			if n.blank() {
				continue
			}
			*hasContent = true
			if !cls.textAllowed() {
				v.d.add(SeverityError, CodeTextNotAllowed, n.off, fmt.Sprintf(
					"<%s> takes no text; move the text into an element that does (such as <Say>) or remove it", e.name))
				continue
			}
			v.text(e, cls, n)
		case *xSection:
			v.secDepth++
			v.content(e, cls, n.children, hasContent)
			v.secDepth--
		}
	}
}

// text applies the text rule of cls to a run.
func (v *validator) text(e *xElem, cls *schemaClass, t *xText) {
	switch {
	case cls.Text != nil && *cls.Text == "url":
		markURLParts(t.val.parts, &e.textMark)
	case cls.Text != nil && *cls.Text == "sipUrl":
		markSIPParts(t.val.parts, &e.textMark)
	}
	if t.val.dynamic() {
		e.textMark.valued = true
	}
	tr := rules.texts[cls.Class]
	if tr == nil {
		return
	}
	rule := &slotRule{slot: e.name + "#text", text: tr}
	if !t.val.dynamic() {
		v.static(rule, t.val.static(), t.off)
		return
	}
	t.rule = rule
	if tr.kind == kindSIPURI || tr.kind == kindPhoneNumber || tr.kind == kindURL {
		e.droppable = true
	}
}

// static checks a value known at compile time: a broken limit is an error,
// a type slip a warning (Twilio ignores the value and uses the default).
func (v *validator) static(rule *slotRule, val string, off int) {
	viol := rule.check(val)
	if viol == nil {
		return
	}
	sev := SeverityWarning
	if viol.limit {
		sev = SeverityError
	}
	v.d.add(sev, viol.code, off, viol.msg)
}

// attributes checks the attributes of a start tag, including those inside
// sections. seen holds the attributes read so far, to catch an attribute
// some branch writes twice.
func (v *validator) attributes(e *xElem, cls *schemaClass, items []xnode, seen *[]seenAttr, section string) {
	for _, it := range items {
		switch it := it.(type) {
		case *xSection:
			key := sigil(it.inverted) + it.name
			if section != "" {
				key = section + "/" + key
			}
			v.attributes(e, cls, it.children, seen, key)
		case *xAttr:
			if prev, ok := seenIn(*seen, it.name); ok {
				if prev == "" && section == "" {
					v.d.add(SeverityError, CodeParseFailure, it.off, fmt.Sprintf(
						"attribute %s is written twice in <%s>; keep one", it.name, e.name))
				} else if !exclusive(prev, section) {
					v.d.add(SeverityError, CodeDuplicateAttr, it.off, fmt.Sprintf(
						"attribute %s of <%s> is also written elsewhere in the tag; some branch would write it twice. Use {{#name}} and {{^name}} of the same parameter, or one attribute with a value that depends on it",
						it.name, e.name))
				}
			}
			*seen = append(*seen, seenAttr{it.name, section})
			v.attribute(e, cls, it, section != "")
		}
	}
}

// seenAttr is an attribute already read in a start tag, with the section
// it sits in ("" outside any). Tags have few attributes: a slice is enough.
type seenAttr struct{ name, section string }

func seenIn(seen []seenAttr, name string) (string, bool) {
	for i := len(seen) - 1; i >= 0; i-- {
		if seen[i].name == name {
			return seen[i].section, true
		}
	}
	return "", false
}

// exclusive reports whether two sections can never both render: the same
// parameter, one inverted and one not, at the top of the tag.
func exclusive(a, b string) bool {
	if a == "" || b == "" || strings.Contains(a, "/") || strings.Contains(b, "/") {
		return false
	}
	return a[0] != b[0] && a[1:] == b[1:]
}

// attribute checks one attribute and attaches the rule for its value.
// Elements that take any attribute (Amazon Polly's SSML) get the checks of
// foreignAttr only.
func (v *validator) attribute(e *xElem, cls *schemaClass, a *xAttr, inSection bool) {
	if v.foreignAttr(e, a) || cls.anyAttrs {
		return
	}
	sa := cls.Attrs[a.name]
	if sa == nil {
		msg := fmt.Sprintf("<%s> has no attribute %s; Twilio ignores it", e.name, a.name)
		if sug := suggestName(a.name, cls.attrNames); sug != "" {
			msg = fmt.Sprintf("<%s> has no attribute %s; did you mean %s?", e.name, a.name, sug)
		} else if len(cls.attrNames) == 0 {
			msg += " (it takes no attributes)"
		}
		v.d.add(SeverityWarning, CodeSchema, a.off, msg)
		return
	}
	rule := slotRule{slot: sa.slot, key: sa.key, schema: sa, attr: sa.rule, open: sa.open}
	if cls.Class == "Dial" && a.name == "callerId" && holds(e, "Sip") {
		rule.sipCallerID = true
	}
	if cls.Class == "Parameter" && (a.name == "name" || a.name == "value") && len(v.scopes) > 0 {
		if s := v.innermostScope("Dial"); s != nil {
			s.params = append(s.params, a)
			if a.val.dynamic() || inSection || v.secDepth > s.secDepth {
				s.paramDyn = true
			} else {
				s.paramLen += len(a.val.static())
			}
		}
	}
	if !a.val.dynamic() {
		v.static(&rule, a.val.static(), a.val.off)
		return
	}
	if sa.Type == typeURL || urlStrings[sa.key] {
		markURLParts(a.val.parts, &markState{})
	}
	if rule.attr != nil && rule.attr.maxBytes > 0 && a.val.minLen() > rule.attr.maxBytes {
		v.d.add(SeverityError, rule.attr.code, a.val.off, fmt.Sprintf(
			"%s is at least %d bytes before any value is filled in; the limit is %d bytes", rule.slot, a.val.minLen(), rule.attr.maxBytes))
	}
	if rule.attr != nil || len(sa.Enum) > 0 || sa.Type != typeString {
		kept := rule
		a.rule = &kept
	}
}

// foreignAttr reports an attribute that no TwiML document needs and that a
// web browser acts on when someone opens the bin's URL: a namespace
// declaration (it would make the document XHTML or SVG), an event handler,
// xml:base, or an attribute of another vocabulary. It returns whether a is
// one of them, so that it gets no further check. Twilio reads TwiML without
// namespaces: the only prefixes a document uses are xml: in xml:lang and
// Amazon Polly's amazon:, which need no declaration.
func (v *validator) foreignAttr(e *xElem, a *xAttr) bool {
	prefix, local, prefixed := strings.Cut(a.name, ":")
	if !prefixed {
		prefix, local = "", a.name
	}
	var msg string
	switch {
	case a.name == "xmlns" || prefix == "xmlns":
		if a.val.dynamic() {
			v.d.add(SeverityError, CodeTagPlacement, a.val.off, fmt.Sprintf(
				"%s declares a namespace, which is part of the document's structure; write its value without {{tags}}", a.name))
			return true
		}
		if a.name == "xmlns" && a.val.static() == "" {
			return true // "no namespace": TwiML's own
		}
		if a.name == "xmlns" {
			msg = fmt.Sprintf("<%s> declares the namespace %q; TwiML has none (Twilio reads it without namespaces), and a browser opening the bin would read the document as that vocabulary: remove xmlns=%q",
				e.name, clip(a.val.static()), clip(a.val.static()))
		} else {
			msg = fmt.Sprintf("<%s> declares the prefix %s:; TwiML uses no namespace, and amazon: tags need no declaration: remove %s",
				e.name, local, a.name)
		}
		v.d.add(SeverityError, CodeNamespace, a.off, msg)
		return true
	case prefix == "xml" && local != "lang":
		v.d.add(SeverityError, CodeNamespace, a.off, fmt.Sprintf(
			"%s on <%s> is not TwiML: of the xml: attributes TwiML uses only xml:lang, on <lang>; remove %s", a.name, e.name, a.name))
		return true
	case prefix != "" && prefix != "xml" && prefix != "amazon":
		v.d.add(SeverityError, CodeNamespace, a.off, fmt.Sprintf(
			"%s on <%s> belongs to another vocabulary (prefix %s:); TwiML attributes have no prefix but xml: in xml:lang and Amazon Polly's amazon:; remove %s",
			a.name, e.name, prefix, a.name))
		return true
	case len(local) >= 2 && strings.EqualFold(local[:2], "on"):
		v.d.add(SeverityError, CodeEventHandler, a.off, fmt.Sprintf(
			"<%s> has an attribute %s: an attribute starting with \"on\" is a browser's event handler, and no TwiML element has one; remove %s",
			e.name, a.name, a.name))
		return true
	}
	return false
}

// foreignAttrs applies foreignAttr to the attributes of a start tag, those
// inside sections included.
func (v *validator) foreignAttrs(e *xElem, items []xnode) {
	for _, it := range items {
		switch it := it.(type) {
		case *xAttr:
			v.foreignAttr(e, it)
		case *xSection:
			v.foreignAttrs(e, it.children)
		}
	}
}

// instructions refuses processing instructions other than the XML
// declaration: TwiML uses none, and a browser opening the bin acts on some
// (<?xml-stylesheet?> loads a stylesheet, which may run script).
func (v *validator) instructions(pis []*xRaw) {
	for _, pi := range pis {
		target := piTarget(pi.raw)
		v.d.add(SeverityError, CodeProcessingInstr, pi.off, fmt.Sprintf(
			"<?%s …?> is a processing instruction, which TwiML does not use (the XML declaration <?xml version=\"1.0\" encoding=\"UTF-8\"?> is the only one a TwiML document holds): remove <?%s …?>",
			target, target))
	}
}

// lacksContent reports whether e is without the content Twilio needs: the
// text the libraries require, or what rules.go requires though the
// libraries do not. Where an attribute can stand in for the text, only the
// text or that attribute counts, not child elements.
func lacksContent(e *xElem, cls *schemaClass, hasContent bool) bool {
	tr := rules.texts[cls.Class]
	switch {
	case tr != nil && tr.unless != "":
		return !hasText(e.children) && !hasAttr(e.tagItems, tr.unless)
	case cls.textRequired() || tr != nil && tr.required:
		return !hasContent
	}
	return false
}

// hasText reports whether some branch of nodes holds text that is not
// blank.
func hasText(nodes []xnode) bool {
	for _, n := range nodes {
		switch n := n.(type) {
		case *xText:
			if !n.blank() {
				return true
			}
		case *xSection:
			if hasText(n.children) {
				return true
			}
		}
	}
	return false
}

// hasAttr reports whether a start tag writes the attribute name in some
// branch.
func hasAttr(items []xnode, name string) bool {
	for _, it := range items {
		switch it := it.(type) {
		case *xAttr:
			if it.name == name {
				return true
			}
		case *xSection:
			if hasAttr(it.children, name) {
				return true
			}
		}
	}
	return false
}

// holds reports whether e contains an element named tag, in any branch.
func holds(e *xElem, tag string) bool {
	var walk func([]xnode) bool
	walk = func(ns []xnode) bool {
		for _, n := range ns {
			switch n := n.(type) {
			case *xElem:
				if n.name == tag || walk(n.children) {
					return true
				}
			case *xSection:
				if walk(n.children) {
					return true
				}
			}
		}
		return false
	}
	return walk(e.children)
}

// misplaced reports an element that is unknown or not allowed in parent.
func (v *validator) misplaced(e, parent *xElem) {
	code := CodeElementNotAllowed
	switch parent.name {
	case "Dial":
		code = CodeDialNested
	case "Gather":
		code = CodeGatherNested
	}
	allowed := parent.class.childTags()
	msg := fmt.Sprintf("<%s> is not allowed inside <%s>", e.name, parent.name)
	if sug := suggestName(e.name, allowed); sug != "" {
		msg += fmt.Sprintf("; did you mean <%s>?", sug)
	} else if parents := v.ctx.parentsOf[e.name]; len(parents) > 0 {
		msg += fmt.Sprintf("; it goes inside <%s>", strings.Join(parents, ">, <"))
	} else if _, known := v.ctx.parentsOf[e.name]; !known {
		msg += fmt.Sprintf("; there is no <%s> in %s TwiML", e.name, v.ctx.name)
	}
	if len(allowed) == 0 {
		msg += fmt.Sprintf(" (<%s> holds no elements)", parent.name)
	} else if len(allowed) <= 12 {
		msg += fmt.Sprintf(" (<%s> holds %s)", parent.name, tagList(allowed))
	}
	v.d.add(SeverityError, code, e.off, msg)
	v.foreignAttrs(e, e.tagItems)
}

func tagList(tags []string) string {
	return "<" + strings.Join(tags, ">, <") + ">"
}

// countRulesFor returns the count rules whose scope is class.
func countRulesFor(class string) []*countRule {
	var out []*countRule
	for i := range countRules {
		if countRules[i].scope == class {
			out = append(out, &countRules[i])
		}
	}
	return out
}

func (v *validator) innermostScope(class string) *scopeState {
	for i := len(v.scopes) - 1; i >= 0; i-- {
		if v.scopes[i].elem.class.Class == class {
			return v.scopes[i]
		}
	}
	return nil
}

// count adds e to every open scope that counts its class.
func (v *validator) count(e *xElem) {
	for _, s := range v.scopes {
		if s.elem.class.Class == "Dial" {
			for _, noun := range dialNouns {
				if e.class.Class == noun && e.parent == s.elem {
					s.nouns[noun] = true
				}
			}
		}
		for i, r := range s.rules {
			if !contains(r.counted, e.class.Class) {
				continue
			}
			s.elems[i] = append(s.elems[i], e)
			if v.secDepth > s.secDepth {
				s.dynamic[i] = true
				continue
			}
			s.static[i]++
			if s.static[i] == r.max+1 {
				s.overrun[i] = e
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// closeScope decides the counts of a scope: a static excess is an error now;
// counts that depend on sections get a counter checked at render time.
func (v *validator) closeScope(s *scopeState) {
	for i, r := range s.rules {
		if e := s.overrun[i]; e != nil {
			sev := SeverityError
			if r.advisory {
				sev = SeverityWarning
			}
			v.d.add(sev, r.code, e.off, fmt.Sprintf(
				"<%s> holds %d %s; the limit is %d (%s). Remove some", s.elem.name, s.static[i], r.what, r.max, r.source))
			continue
		}
		if !s.dynamic[i] {
			continue
		}
		v.counters++
		s.elem.scopeCounters = append(s.elem.scopeCounters, v.counters)
		for _, e := range s.elems[i] {
			e.counted = append(e.counted, countRef{counter: v.counters, rule: r})
		}
	}
	if s.elem.class.Class != "Dial" {
		return
	}
	v.watchNouns(s)
	if s.nouns["Sip"] && len(s.nouns) > 1 {
		v.d.add(SeverityWarning, CodeSipMixed, s.elem.off,
			"<Sip> beside other nouns in one <Dial> works only with Enhanced Programmable SIP; dial the SIP endpoint in its own <Dial>")
	}
	switch {
	case s.paramDyn:
		v.counters++
		s.elem.paramCounter = v.counters
		s.elem.scopeCounters = append(s.elem.scopeCounters, v.counters)
		for _, a := range s.params {
			a.paramCounter = v.counters
		}
	case s.paramLen > paramBudget:
		v.d.add(SeverityWarning, CodeParamsTotal, s.elem.off, fmt.Sprintf(
			"the custom parameters of this <Dial> add up to %d bytes; keep them under about %d bytes, or pass a key and look the rest up", s.paramLen, paramBudget))
	}
}

// watchNouns gives a <Dial> whose nouns may all vanish at render time (in
// sections, or dropped for a bad value) a counter of the nouns it renders,
// so that rendering can tell when it is left with nothing to dial.
func (v *validator) watchNouns(s *scopeState) {
	if hasText(s.elem.children) {
		return
	}
	var nouns []*xElem
	vanishing := false
	for i, r := range s.rules {
		if r.code != CodeTooManyNouns {
			continue
		}
		for _, e := range s.elems[i] {
			if e.parent == s.elem {
				nouns = append(nouns, e)
				vanishing = vanishing || e.droppable
			}
		}
		vanishing = vanishing || s.dynamic[i]
	}
	if !vanishing {
		return
	}
	v.counters++
	s.elem.nounCounter = v.counters
	s.elem.scopeCounters = append(s.elem.scopeCounters, v.counters)
	for _, e := range nouns {
		e.countsNoun = v.counters
	}
}

// checkPollyOnly warns about amazon:* SSML inside a <Say> whose voice is not
// an Amazon Polly voice: Twilio ignores such tags for other voices.
func (v *validator) checkPollyOnly(e *xElem) {
	say := e.parent
	for say != nil && say.name != "Say" {
		say = say.parent
	}
	if say == nil {
		return
	}
	for _, it := range say.tagItems {
		if a, ok := it.(*xAttr); ok && a.name == "voice" {
			if a.val.dynamic() || strings.HasPrefix(a.val.static(), "Polly.") {
				return
			}
		}
	}
	v.d.add(SeverityWarning, CodeProviderSSML, e.off, fmt.Sprintf(
		"<%s> works only with Amazon Polly voices; set voice=\"Polly.…\" on the <Say> or remove it", e.name))
}

// pollyClass returns the class of an Amazon Polly SSML tag (amazon:effect,
// amazon:domain…) inside a <Say>: the helper libraries do not model them,
// so they take any attribute, text, and the SSML a <Say> takes. Outside a
// <Say> it returns nil.
func (v *validator) pollyClass(parent *xElem, tag string) *schemaClass {
	say := parent
	for say != nil && say.name != "Say" {
		say = say.parent
	}
	if say == nil || say.class == nil {
		return nil
	}
	words := "words"
	return &schemaClass{Tag: tag, Class: "AmazonSSML", Text: &words, childByTag: say.class.childByTag, anyAttrs: true}
}
