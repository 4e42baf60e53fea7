package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/twimlbin/twimlbin/engine"
)

const lintUsage = `usage: twimlbin lint [--strict] [--json] FILE...

Checks templates and prints one line per diagnostic on stdout:

	FILE:LINE:COL: error|warning CODE: message

FILE "-" reads standard input. Exits 0 when no file has an error, 1 when
any has, 2 for bad arguments or a file that cannot be read (the other files
are still checked).
`

// lintFinding is one element of the --json output.
type lintFinding struct {
	File     string          `json:"file"`
	Line     int             `json:"line"`
	Column   int             `json:"column"`
	Severity engine.Severity `json:"severity"`
	Code     engine.Code     `json:"code"`
	Message  string          `json:"message"`
	Slot     string          `json:"slot,omitempty"`
}

// runLint checks every FILE and reports their diagnostics.
func runLint(_ context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("lint", lintUsage, stderr)
	strict := fs.Bool("strict", false, "report warnings as errors")
	asJSON := fs.Bool("json", false, "print the diagnostics of all files as one JSON array")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "twimlbin lint: no FILE given")
		fs.Usage()
		return exitUsage
	}

	code := exitOK
	findings := []lintFinding{} // "[]", not "null", when every file is clean
	for _, file := range fs.Args() {
		src, err := readSource(file, stdin)
		if err != nil {
			fmt.Fprintf(stderr, "twimlbin lint: %v\n", err)
			code = exitUsage
			continue
		}
		ds := engine.Check(src)
		if *strict {
			ds = warningsAsErrors(ds)
		}
		if ds.HasErrors() && code == exitOK {
			code = exitInvalid
		}
		if !*asJSON {
			printDiagnostics(stdout, file, ds)
			continue
		}
		for _, d := range ds {
			findings = append(findings, lintFinding{
				File: file, Line: d.Line, Column: d.Column,
				Severity: d.Severity, Code: d.Code, Message: d.Message, Slot: d.Slot,
			})
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false) // messages quote elements such as <Dial>
		enc.SetIndent("", "  ")
		if err := enc.Encode(findings); err != nil {
			fmt.Fprintf(stderr, "twimlbin lint: %v\n", err)
			return exitUsage
		}
	}
	return code
}

// warningsAsErrors returns a copy of ds with every warning made an error.
func warningsAsErrors(ds engine.Diagnostics) engine.Diagnostics {
	out := make(engine.Diagnostics, len(ds))
	for i, d := range ds {
		d.Severity = engine.SeverityError
		out[i] = d
	}
	return out
}
