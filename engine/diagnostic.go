package engine

import (
	"fmt"
	"strings"
)

// Severity says whether a diagnostic stops a template (error) or only
// informs (warning).
type Severity int

// The two severities. A template with any error does not compile; warnings
// are returned beside a compiled template.
const (
	SeverityError Severity = iota + 1
	SeverityWarning
)

// String returns "error" or "warning".
func (s Severity) String() string {
	switch s {
	case SeverityError:
		return "error"
	case SeverityWarning:
		return "warning"
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

// MarshalText encodes the severity as "error" or "warning".
func (s Severity) MarshalText() ([]byte, error) {
	if s != SeverityError && s != SeverityWarning {
		return nil, fmt.Errorf("engine: invalid severity %d", int(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText decodes "error" or "warning".
func (s *Severity) UnmarshalText(b []byte) error {
	switch string(b) {
	case "error":
		*s = SeverityError
	case "warning":
		*s = SeverityWarning
	default:
		return fmt.Errorf("engine: unknown severity %q", b)
	}
	return nil
}

// Diagnostic is one finding about a template, at compile time or at render
// time. Line and Column are 1-based and point into the template source
// (columns count characters, not bytes). Slot names the place a render-time
// finding is about, such as "Dial@callerId" or "Number#text".
type Diagnostic struct {
	Severity Severity `json:"severity"`
	Code     Code     `json:"code"`
	Line     int      `json:"line"`
	Column   int      `json:"column"`
	Message  string   `json:"message"`
	Slot     string   `json:"slot,omitempty"`
}

// String formats the diagnostic as "LINE:COL: severity CODE: message".
func (d Diagnostic) String() string {
	return fmt.Sprintf("%d:%d: %s %s: %s", d.Line, d.Column, d.Severity, d.Code, d.Message)
}

// Diagnostics is a list of findings in source order.
type Diagnostics []Diagnostic

// HasErrors reports whether any diagnostic is an error.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == SeverityError {
			return true
		}
	}
	return false
}

// Errors returns only the diagnostics of severity error.
func (ds Diagnostics) Errors() Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Severity == SeverityError {
			out = append(out, d)
		}
	}
	return out
}

// CompileError is returned by Compile when the template has at least one
// error. Diagnostics holds every finding, warnings included, in source order.
type CompileError struct {
	Diagnostics Diagnostics
}

func (e *CompileError) Error() string {
	errs := e.Diagnostics.Errors()
	if len(errs) == 0 {
		return "engine: template is invalid"
	}
	if len(errs) == 1 {
		return "engine: invalid template: " + errs[0].String()
	}
	return fmt.Sprintf("engine: invalid template: %s (and %d more errors)", errs[0].String(), len(errs)-1)
}

// RenderError is returned by Render when a request value breaks a rule that
// the chosen policy does not repair, or when the response would exceed what
// Twilio accepts. Diagnostics holds every finding of the render.
type RenderError struct {
	Diagnostics Diagnostics
}

func (e *RenderError) Error() string {
	var b strings.Builder
	b.WriteString("engine: render failed")
	for _, d := range e.Diagnostics.Errors() {
		b.WriteString(": ")
		b.WriteString(d.String())
		break
	}
	return b.String()
}

// diagList collects diagnostics located by source offset.
type diagList struct {
	sm   *sourceMap
	list Diagnostics
}

func (d *diagList) add(sev Severity, code Code, off int, msg string) {
	line, col := d.sm.position(off)
	d.list = append(d.list, Diagnostic{Severity: sev, Code: code, Line: line, Column: col, Message: msg})
}
