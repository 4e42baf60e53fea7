package main

import (
	"context"
	"fmt"
	"io"
)

const versionUsage = `usage: twimlbin version

Prints the version the binary was built with.
`

// runVersion prints the version the binary was built with.
func runVersion(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("version", versionUsage, stderr)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "twimlbin version: takes no arguments")
		return exitUsage
	}
	fmt.Fprintln(stdout, version)
	return exitOK
}
