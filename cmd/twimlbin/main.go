// Command twimlbin checks, renders and serves TwiML Bin templates.
//
// Each subcommand lives in its own file with its own flag set. Every
// subcommand exits 0 on success, 1 when a template is invalid or fails to
// render, and 2 for a bad invocation or an I/O error; serve, account create,
// backup and migrate exit 3 when the database file is corrupt.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes shared by every subcommand.
const (
	exitOK      = 0
	exitInvalid = 1 // a template has errors, or a render failed
	exitUsage   = 2 // bad arguments or flags, or an I/O error
	exitCorrupt = 3 // serve, account create, backup, migrate: the database file is corrupt (store.ErrCorrupt)
)

// command is a subcommand: its name, a one-line summary for the usage text,
// and the function that runs it with the arguments after its name.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

// commands lists the subcommands in the order the usage text shows them.
func commands() []command {
	return []command{
		{"lint", "check templates and report their diagnostics", runLint},
		{"render", "render a template with parameters given as NAME=VALUE", runRender},
		{"serve", "serve the bins, the JSON API and the web form", runServe},
		{"account", "create an account in a database file", runAccount},
		{"backup", "write a consistent copy of the database to a file", runBackup},
		{"migrate", "copy everything from one store to another, such as a file to etcd", runMigrate},
		{"version", "print the version", runVersion},
		{"help", "show help for a command", runHelp},
	}
}

// run dispatches args to a subcommand and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printUsage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help":
		printUsage(stdout)
		return exitOK
	}
	cmd, ok := lookup(args[0])
	if !ok {
		fmt.Fprintf(stderr, "twimlbin: unknown command %q\n\n", args[0])
		printUsage(stderr)
		return exitUsage
	}
	return cmd.run(ctx, args[1:], stdin, stdout, stderr)
}

func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, "twimlbin checks, renders and serves TwiML Bin templates.\n\n"+
		"Usage:\n\n\ttwimlbin <command> [arguments]\n\nCommands:\n\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "\t%-8s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nRun \"twimlbin help <command>\" for the flags and arguments of a command.\n")
}

// newFlagSet returns the flag set of a subcommand. Errors and help go to
// stderr; the help text is usage followed by the flags, if any.
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprint(fs.Output(), "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses args into fs. When ok is false the subcommand stops with
// code: 0 after -h, 2 after a bad flag (the flag package has printed why).
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	err := fs.Parse(args)
	switch {
	case err == nil:
		return exitOK, true
	case errors.Is(err, flag.ErrHelp):
		return exitOK, false
	default:
		return exitUsage, false
	}
}
