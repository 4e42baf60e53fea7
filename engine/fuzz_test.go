package engine_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/twimlbin/twimlbin/engine"
)

var bothPolicies = []engine.Policy{engine.Lenient, engine.Strict}

// compileSeeds are templates that reach every stage of Compile: clean ones
// with variables, sections, lists, e164 and attributes in sections, and
// broken ones that each stage refuses.
var compileSeeds = []string{
	contextualCalling,
	`<Response>{{#vip}}<Say>Hello {{name}}</Say>{{/vip}}{{^vip}}<Play>https://example.com/hold.mp3</Play>{{/vip}}</Response>`,
	`<Response><Dial>{{#Dest}}<Number>{{.}}</Number>{{/Dest}}</Dial></Response>`,
	`<Response><Dial callerId="{{#e164}}{{From}}{{/e164}}"><Number>{{#e164}}{{To}}{{/e164}}</Number></Dial></Response>`,
	`<Response><Gather {{#lang}}language="{{lang}}"{{/lang}}{{^lang}}language="en-US"{{/lang}} numDigits="{{digits}}"><Say>{{prompt}}</Say></Gather></Response>`,
	`<Response><Dial><Sip>sip:{{user}}@example.com;transport={{transport}}?X-Id={{id}}</Sip></Dial></Response>`,
	`<?xml version="1.0" encoding="UTF-8"?><!-- note --><Response><Message to="{{To}}">{{Body}}{{#MediaUrl}}<Media>{{.}}</Media>{{/MediaUrl}}</Message></Response>`,
	"<Response>\n  {{#a}}\n  {{#b}}<Say><![CDATA[a < b]]> {{c}} &amp; {{d}}</Say>{{/b}}\n  {{/a}}\n</Response>\n",
	`<Response><Say>{{name</Say></Response>`,
	`<Response>{{#a}}<Say>{{/a}}</Say></Response>`,
	`<Response><Say>{{{x}}}</Say></Response>`,
	`<Response><Say>{{&x}}</Say>{{> footer}}</Response>`,
	`{{=<% %>=}}<Response><Say><% x %></Say></Response>`,
	`<Response><{{verb}}/><Say {{attr}}>hi</Say></Response>`,
	`<Response><Dial callerId="{{From}}" callerId="x"><Ninja/></Dial>text</Response>`,
}

// renderValueSets returns the values FuzzCompile renders a compiled
// template with: none, ordinary, hostile, blank, and lists under both the
// plain and the "[]" names.
func renderValueSets(vars []string) []map[string][]string {
	each := func(key func(string) string, vs ...string) map[string][]string {
		m := map[string][]string{}
		for _, v := range vars {
			m[key(v)] = vs
		}
		return m
	}
	same := func(s string) string { return s }
	brackets := func(s string) string { return s + "[]" }
	return []map[string][]string{
		nil,
		each(same, "+14155551212"),
		each(same, "<&\"'>]]>\x00\xff\uFFFE{{x}}\r\n\t</Response>"),
		each(same, " "),
		each(same, "alice", "sip:bob@example.com", " "),
		each(brackets, "1", "2"),
	}
}

func FuzzCompile(f *testing.F) {
	for _, s := range compileSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		ds := engine.Check(src)
		lines := strings.Count(src, "\n") + 1
		for _, d := range ds {
			if d.Line < 1 || d.Line > lines || d.Column < 1 {
				t.Fatalf("diagnostic outside the source (%d lines): %v", lines, d)
			}
		}
		tmpl, err := engine.Compile(src)
		if err != nil {
			var ce *engine.CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("Compile returned %T, want *engine.CompileError: %v", err, err)
			}
			if !ds.HasErrors() {
				t.Fatalf("Compile failed (%v) but Check found no error", err)
			}
			return
		}
		if ds.HasErrors() {
			t.Fatalf("Compile succeeded but Check found errors: %v", ds.Errors())
		}
		for _, vals := range renderValueSets(tmpl.Variables()) {
			for _, p := range bothPolicies {
				out, _, err := tmpl.Render(vals, p)
				if err != nil {
					var re *engine.RenderError
					if !errors.As(err, &re) {
						t.Fatalf("Render(%s) returned %T, want *engine.RenderError: %v", p, err, err)
					}
					continue
				}
				if _, err := decodeTwiML(out); err != nil {
					t.Fatalf("Render(%s) with %q is not well-formed TwiML: %v\noutput:\n%s", p, vals, err, out)
				}
			}
		}
	})
}

// startTag is a start tag of a rendered document: its name and the names
// of its attributes.
type startTag struct {
	name  string
	attrs []string
}

func (e startTag) String() string { return "<" + e.name + " " + strings.Join(e.attrs, " ") + ">" }

// decodeTwiML reads a whole document with encoding/xml in strict mode and
// returns its start tags in document order. It fails unless the document
// is well-formed with one <Response> root and no attribute written twice.
func decodeTwiML(out []byte) ([]startTag, error) {
	dec := xml.NewDecoder(bytes.NewReader(bytes.TrimPrefix(out, []byte("\uFEFF"))))
	dec.Strict = true
	var elems []startTag
	depth, roots := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
				if roots > 1 {
					return nil, fmt.Errorf("a second root element <%s>", tok.Name.Local)
				}
				if tok.Name.Space != "" || tok.Name.Local != "Response" {
					return nil, fmt.Errorf("the root is <%s:%s>, not <Response>", tok.Name.Space, tok.Name.Local)
				}
			}
			depth++
			e := startTag{name: qualified(tok.Name)}
			for _, a := range tok.Attr {
				name := qualified(a.Name)
				if slices.Contains(e.attrs, name) {
					return nil, fmt.Errorf("<%s> has attribute %s twice", e.name, name)
				}
				e.attrs = append(e.attrs, name)
			}
			elems = append(elems, e)
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(tok)) > 0 {
				return nil, fmt.Errorf("text outside the root: %q", tok)
			}
		}
	}
	if roots != 1 {
		return nil, errors.New("no root element")
	}
	return elems, nil
}

func qualified(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

// listOf is the request value of a parameter given n times: absent for 0,
// a scalar for 1, a list alternating v1 and v2 from 2.
func listOf(n int, v1, v2 string) []string {
	var vs []string
	for i := range n {
		if i%2 == 0 {
			vs = append(vs, v1)
		} else {
			vs = append(vs, v2)
		}
	}
	return vs
}

// phoneLike is the rule for the text of <Number>: digits, a + in front and
// the separators space - ( ) . only, with 3 to 15 digits (E.164 allows 15).
// The rule sees the value as the slot receives it: sanitized, then trimmed.
func phoneLike(v string) bool {
	v = strings.TrimSpace(sanitize(v))
	digits := 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '+' && i == 0, strings.IndexByte(" -().", c) >= 0:
		default:
			return false
		}
	}
	return digits >= 3 && digits <= 15
}

// sanitize replaces what XML 1.0 cannot hold, bytes that are not UTF-8
// included, with U+FFFD.
func sanitize(v string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r',
			r >= 0x20 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD, r >= 0x10000 && r <= 0x10FFFF:
			return r
		}
		return '\uFFFD'
	}, v)
}

// present reports whether a section over vs renders, and how many times.
func present(vs []string) int {
	switch {
	case len(vs) > 1:
		return len(vs)
	case len(vs) == 1 && strings.TrimSpace(vs[0]) != "":
		return 1
	}
	return 0
}

// renderCase is a compiled template and, independently of the engine, the
// elements a render must produce from given values.
type renderCase struct {
	name string
	src  string
	// build returns the values for the fuzzed inputs and the start tags
	// expected under Lenient, each with every attribute the template
	// writes in that branch. strictFails reports that the values break a
	// rule Lenient repairs by dropping an element, so Strict must fail.
	build func(v1, v2 string, n int, key func(string) string) (vals map[string][]string, want []startTag, strictFails bool)
}

var renderCases = []renderCase{
	{
		name: "contextual calling",
		src:  contextualCalling,
		build: func(v1, v2 string, n int, key func(string) string) (map[string][]string, []startTag, bool) {
			vals := map[string][]string{
				key("From"):              listOf(n, v1, v2),
				"agent":                  {v2},
				"customerID":             {v1},
				"selectedProductID":      {v2},
				"SipHeader_X-CustomerID": {v1 + v2},
				// Element and attribute names, not variables: they change nothing.
				"Parameter": {v1},
				"callerId":  {v2},
			}
			param := startTag{"Parameter", []string{"name", "value"}}
			return vals, []startTag{
				{"Response", nil}, {"Dial", []string{"callerId"}}, {"Client", nil}, {"Identity", nil},
				param, param, param,
			}, false
		},
	},
	{
		name: "list",
		src:  `<Response><Dial>{{#Dest}}<Number>{{.}}</Number>{{/Dest}}</Dial></Response>`,
		build: func(v1, v2 string, n int, key func(string) string) (map[string][]string, []startTag, bool) {
			dest := listOf(n, v1, v2)
			var items []string
			if present(dest) > 0 {
				items = dest
			}
			// Lenient drops the items that are not phone numbers and those
			// past the tenth phone number (10 nouns per <Dial>), then the
			// <Dial> itself when no <Number> is left; Strict fails instead.
			kept, strictFails := 0, false
			for _, item := range items {
				if kept == 10 || !phoneLike(item) {
					strictFails = true
					continue
				}
				kept++
			}
			want := []startTag{{"Response", nil}}
			if kept == 0 {
				strictFails = true
			} else {
				want = append(want, startTag{"Dial", nil})
				for range kept {
					want = append(want, startTag{"Number", nil})
				}
			}
			return map[string][]string{key("Dest"): dest}, want, strictFails
		},
	},
	{
		name: "e164 in an attribute",
		src:  `<Response><Dial callerId="{{#e164}}{{From}}{{/e164}}" timeout="{{timeout}}"><Number>{{To}}</Number></Dial></Response>`,
		build: func(v1, v2 string, n int, key func(string) string) (map[string][]string, []startTag, bool) {
			vals := map[string][]string{key("From"): listOf(n, v1, v2), "To": {v2}, "timeout": {v1}}
			if !phoneLike(v2) {
				// The only noun is dropped, and the <Dial> with it.
				return vals, []startTag{{"Response", nil}}, true
			}
			return vals, []startTag{{"Response", nil}, {"Dial", []string{"callerId", "timeout"}}, {"Number", nil}}, false
		},
	},
	{
		name: "conditional sections",
		src: `<Response>{{#vip}}<Say>{{name}}</Say>{{/vip}}` +
			`{{^vip}}<Play loop="{{loop}}">https://example.com/hold.mp3</Play>{{/vip}}</Response>`,
		build: func(v1, v2 string, n int, key func(string) string) (map[string][]string, []startTag, bool) {
			vip := listOf(n, v1, v2)
			want := []startTag{{"Response", nil}}
			if k := present(vip); k > 0 {
				for range k {
					want = append(want, startTag{"Say", nil})
				}
			} else {
				want = append(want, startTag{"Play", []string{"loop"}})
			}
			return map[string][]string{key("vip"): vip, "name": {v2}, "loop": {v1}}, want, false
		},
	},
	{
		name: "attributes in sections",
		src: `<Response><Gather {{#lang}}language="{{lang}}"{{/lang}}{{^lang}}language="en-US"{{/lang}} numDigits="{{digits}}"` +
			`{{#action}} action="{{action}}" method="{{method}}"{{/action}}><Say>{{prompt}}</Say></Gather></Response>`,
		build: func(v1, v2 string, n int, key func(string) string) (map[string][]string, []startTag, bool) {
			lang, action := listOf(n, v1, v2), listOf(n%3, v2, v1)
			gather := startTag{"Gather", []string{"language", "numDigits"}}
			if present(action) > 0 {
				gather.attrs = append(gather.attrs, "action", "method")
			}
			vals := map[string][]string{key("lang"): lang, key("action"): action, "digits": {v1}, "method": {v2}, "prompt": {v2}}
			return vals, []startTag{{"Response", nil}, gather, {"Say", nil}}, false
		},
	},
}

// checkRender checks one render against the expected start tags: the same
// elements in the same order, and attributes that are the template's. An
// attribute may be missing only under Lenient, with a warning about its
// slot.
func checkRender(t *testing.T, label string, p engine.Policy, out []byte, ds engine.Diagnostics, want []startTag) {
	t.Helper()
	got, err := decodeTwiML(out)
	if err != nil {
		t.Fatalf("%s: not well-formed TwiML: %v\noutput:\n%s", label, err, out)
	}
	names := func(es []startTag) []string {
		var ns []string
		for _, e := range es {
			ns = append(ns, e.name)
		}
		return ns
	}
	if !slices.Equal(names(got), names(want)) {
		t.Fatalf("%s: elements %v, want %v\noutput:\n%s\ndiagnostics:%s", label, names(got), names(want), out, listDiagnostics(ds))
	}
	for i, g := range got {
		w := want[i]
		for _, a := range g.attrs {
			if !slices.Contains(w.attrs, a) {
				t.Fatalf("%s: %v has attribute %s, which the template does not write there (want %v)\noutput:\n%s", label, g, a, w, out)
			}
		}
		for _, a := range w.attrs {
			if slices.Contains(g.attrs, a) {
				continue
			}
			slot := w.name + "@" + a
			warned := slices.ContainsFunc(ds, func(d engine.Diagnostic) bool {
				return d.Severity == engine.SeverityWarning && d.Slot == slot
			})
			if p != engine.Lenient || !warned {
				t.Fatalf("%s: %v lacks attribute %s without a warning about %s\noutput:\n%s\ndiagnostics:%s", label, g, a, slot, out, listDiagnostics(ds))
			}
		}
	}
	for _, d := range ds {
		if d.Severity != engine.SeverityWarning {
			t.Fatalf("%s: a render that succeeds reports an error: %v", label, d)
		}
	}
}

func FuzzRender(f *testing.F) {
	tmpls := make([]*engine.Template, len(renderCases))
	for i, rc := range renderCases {
		tmpl, err := engine.Compile(rc.src)
		if err != nil {
			f.Fatalf("%s: %v", rc.name, err)
		}
		tmpls[i] = tmpl
	}
	f.Add("+14155551212", "alice", uint8(1), false)
	f.Add("client:alice", "sip:bob@example.com", uint8(2), true)
	f.Add("4155551212", "en-GB", uint8(11), false)
	f.Add(" ", "", uint8(1), false)
	f.Add("", "\t\n", uint8(0), true)
	f.Add("<Say>&amp;\"'</Say>", "]]><![CDATA[", uint8(3), false)
	f.Add("\xff\xfe\x00\x1b", "\uFFFE\uFFFF\U0010FFFF", uint8(12), true)
	f.Add(strings.Repeat("9", 300), strings.Repeat("é", 300), uint8(255), false)
	f.Add("+1 (415) 555-1212", strings.Repeat("é", 4100), uint8(3), true)
	f.Fuzz(func(t *testing.T, v1, v2 string, n uint8, brackets bool) {
		if (int(n)+1)*(len(v1)+len(v2)) > 1<<18 {
			// Past the 64 kB response limit every render fails the same way;
			// bulk only slows the search for structure.
			t.Skip("values too large to matter")
		}
		key := func(name string) string {
			if brackets {
				return name + "[]"
			}
			return name
		}
		for i, rc := range renderCases {
			outs := map[engine.Policy][]byte{}
			lenientWarned := false
			for _, p := range bothPolicies {
				vals, want, strictFails := rc.build(v1, v2, int(n), key)
				out, ds, err := tmpls[i].Render(vals, p)
				if err != nil {
					var re *engine.RenderError
					if !errors.As(err, &re) {
						t.Fatalf("%s, %s: Render returned %T, want *engine.RenderError: %v", rc.name, p, err, err)
					}
					if p == engine.Lenient && !slices.ContainsFunc(re.Diagnostics, func(d engine.Diagnostic) bool {
						return d.Code == engine.CodeResponseTooLarge || d.Code == engine.CodeRenderBudget
					}) {
						t.Fatalf("%s: Lenient failed for a reason it should repair: %v", rc.name, err)
					}
					continue
				}
				if p == engine.Strict && strictFails {
					t.Fatalf("%s: Strict rendered values that break a rule:\n%s", rc.name, out)
				}
				if p == engine.Lenient {
					lenientWarned = len(ds) > 0
				}
				checkRender(t, rc.name+", "+p.String(), p, out, ds, want)
				outs[p] = out
			}
			// Where Strict succeeds there was nothing to repair, so Lenient
			// writes the same; where Lenient had nothing to say, Strict
			// succeeds.
			strict, strictOK := outs[engine.Strict]
			lenient, lenientOK := outs[engine.Lenient]
			if strictOK && lenientOK && !bytes.Equal(strict, lenient) {
				t.Fatalf("%s: Strict and Lenient differ without a repair:\nstrict:  %s\nlenient: %s", rc.name, strict, lenient)
			}
			if lenientOK && !lenientWarned && !strictOK {
				t.Fatalf("%s: Lenient found nothing to repair, but Strict failed", rc.name)
			}
		}
	})
}
