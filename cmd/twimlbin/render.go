package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/twimlbin/twimlbin/engine"
)

const renderUsage = `usage: twimlbin render [--strict] FILE [NAME=VALUE...]

Renders a template with the given parameters and prints the TwiML on stdout.
A NAME may repeat: its values make a list, for sections such as
{{#Dest}}…{{/Dest}}. FILE "-" reads standard input. Diagnostics go to
stderr as FILE:LINE:COL: severity CODE: message.

Exits 0 when the template renders, 1 when it is invalid or, with --strict,
when a value breaks a limit, 2 for bad arguments or an unreadable FILE.
`

// runRender renders one template with parameters from the command line.
func runRender(_ context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("render", renderUsage, stderr)
	strict := fs.Bool("strict", false, "fail when a value breaks a limit instead of repairing the output")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "twimlbin render: no FILE given")
		fs.Usage()
		return exitUsage
	}
	file := fs.Arg(0)
	values, err := parseValues(fs.Args()[1:])
	if err != nil {
		fmt.Fprintf(stderr, "twimlbin render: %v\n", err)
		return exitUsage
	}
	policy := engine.Lenient
	if *strict {
		policy = engine.Strict
	}

	src, err := readSource(file, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "twimlbin render: %v\n", err)
		return exitUsage
	}
	t, err := engine.Compile(src)
	if err != nil {
		if ce, ok := errors.AsType[*engine.CompileError](err); ok {
			printDiagnostics(stderr, file, ce.Diagnostics)
		} else {
			fmt.Fprintf(stderr, "twimlbin render: %s: %v\n", file, err)
		}
		return exitInvalid
	}
	printDiagnostics(stderr, file, t.Warnings())

	out, warnings, err := t.Render(values, policy)
	if err != nil {
		if re, ok := errors.AsType[*engine.RenderError](err); ok {
			printDiagnostics(stderr, file, re.Diagnostics)
		} else {
			fmt.Fprintf(stderr, "twimlbin render: %s: %v\n", file, err)
		}
		return exitInvalid
	}
	printDiagnostics(stderr, file, warnings)
	if _, err := stdout.Write(out); err != nil {
		fmt.Fprintf(stderr, "twimlbin render: %v\n", err)
		return exitUsage
	}
	return exitOK
}

// parseValues turns NAME=VALUE arguments into the parameters of a render.
// Values of a repeated NAME accumulate in order. The value is everything
// after the first '=', so it may itself hold '='.
func parseValues(args []string) (map[string][]string, error) {
	values := make(map[string][]string)
	for _, a := range args {
		name, value, ok := strings.Cut(a, "=")
		if !ok || name == "" {
			if strings.HasPrefix(a, "-") {
				return nil, fmt.Errorf("argument %q is not NAME=VALUE (flags go before FILE)", a)
			}
			return nil, fmt.Errorf("argument %q is not NAME=VALUE", a)
		}
		values[name] = append(values[name], value)
	}
	return values, nil
}
