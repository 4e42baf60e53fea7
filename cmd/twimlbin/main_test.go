package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// result is what one run of the command produced.
type result struct {
	code           int
	stdout, stderr string
}

// runCommand runs twimlbin with args and stdin, as main would.
func runCommand(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), args, strings.NewReader(stdin), &stdout, &stderr)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// inTempDir makes a temporary directory the working directory for the rest
// of the test and writes files into it, so that the file names in the output
// are the short names the test gave.
func inTempDir(t *testing.T, files map[string]string) {
	t.Helper()
	t.Chdir(t.TempDir())
	for name, src := range files {
		if err := os.WriteFile(name, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRunDispatch(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string // substring; "" means stdout must be empty
		wantStderr string // substring; "" means stderr must be empty
	}{
		{"no arguments", nil, exitUsage, "", "Commands:"},
		{"unknown command", []string{"frobnicate"}, exitUsage, "", `unknown command "frobnicate"`},
		{"help", []string{"help"}, exitOK, "Commands:", ""},
		{"-h", []string{"-h"}, exitOK, "Commands:", ""},
		{"--help", []string{"--help"}, exitOK, "Commands:", ""},
		{"help lint", []string{"help", "lint"}, exitOK, "usage: twimlbin lint", ""},
		{"help render", []string{"help", "render"}, exitOK, "usage: twimlbin render", ""},
		{"help migrate", []string{"help", "migrate"}, exitOK, "usage: twimlbin migrate", ""},
		{"no load test in the product", []string{"loadtest"}, exitUsage, "", `unknown command "loadtest"`},
		{"help unknown", []string{"help", "frobnicate"}, exitUsage, "", `unknown command "frobnicate"`},
		{"lint -h", []string{"lint", "-h"}, exitOK, "", "usage: twimlbin lint"},
		{"render --help", []string{"render", "--help"}, exitOK, "", "usage: twimlbin render"},
		{"version", []string{"version"}, exitOK, "dev\n", ""},
		{"version with an argument", []string{"version", "x"}, exitUsage, "", "takes no arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runCommand(t, "", tt.args...)
			if got.code != tt.wantCode {
				t.Errorf("exit code = %d, want %d\nstderr:\n%s", got.code, tt.wantCode, got.stderr)
			}
			checkOutput(t, "stdout", got.stdout, tt.wantStdout)
			checkOutput(t, "stderr", got.stderr, tt.wantStderr)
		})
	}
}

func TestUsageListsEveryCommand(t *testing.T) {
	got := runCommand(t, "", "help")
	for _, c := range commands() {
		if !strings.Contains(got.stdout, "\t"+c.name+" ") {
			t.Errorf("usage does not list %q:\n%s", c.name, got.stdout)
		}
	}
}

// checkOutput fails unless got contains want, or is empty when want is.
func checkOutput(t *testing.T, stream, got, want string) {
	t.Helper()
	switch {
	case want == "" && got != "":
		t.Errorf("%s = %q, want it empty", stream, got)
	case !strings.Contains(got, want):
		t.Errorf("%s = %q, want it to contain %q", stream, got, want)
	}
}
