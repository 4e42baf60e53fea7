package main

import (
	"context"
	"fmt"
	"io"
)

// runHelp prints the usage text, or the help of one subcommand, on stdout.
func runHelp(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 0:
		printUsage(stdout)
		return exitOK
	case len(args) > 1:
		fmt.Fprintln(stderr, "usage: twimlbin help [command]")
		return exitUsage
	}
	cmd, ok := lookup(args[0])
	switch {
	case !ok:
		fmt.Fprintf(stderr, "twimlbin help: unknown command %q\n", args[0])
		return exitUsage
	case cmd.name == "help":
		printUsage(stdout)
		return exitOK
	}
	// Given -h, a subcommand prints its help to the writer it takes as
	// stderr, here stdout, and exits 0.
	return cmd.run(ctx, []string{"-h"}, stdin, stdout, stdout)
}
