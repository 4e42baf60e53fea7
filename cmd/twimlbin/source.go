package main

import (
	"fmt"
	"io"
	"os"

	"github.com/twimlbin/twimlbin/engine"
)

// stdinName is the FILE argument that stands for standard input.
const stdinName = "-"

// readSource returns the template named by a FILE argument: the file, or
// stdin when name is "-".
func readSource(name string, stdin io.Reader) (string, error) {
	if name == stdinName {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return "", fmt.Errorf("read standard input: %w", err)
		}
		return string(b), nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// printDiagnostics writes one line per diagnostic in the format other tools
// parse: "FILE:LINE:COL: severity CODE: message". The format is spelled out
// here rather than taken from Diagnostic.String, since it is this command's
// contract.
func printDiagnostics(w io.Writer, file string, ds engine.Diagnostics) {
	for _, d := range ds {
		fmt.Fprintf(w, "%s:%d:%d: %s %s: %s\n", file, d.Line, d.Column, d.Severity, d.Code, d.Message)
	}
}
