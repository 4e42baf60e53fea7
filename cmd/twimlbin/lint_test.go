package main

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
)

// Templates whose diagnostics the tests rely on.
const (
	cleanTemplate = "<Response><Say>Hello</Say></Response>\n"
	// An attribute <Say> does not have: warning 12200.
	warnTemplate = `<Response><Say loud="yes">Hello</Say></Response>` + "\n"
	// An unknown attribute and an unknown element: warning 12200, error TB201.
	errorTemplate = "<Response>\n" +
		"  <Say voice=\"alice\" foo=\"x\">Hi</Say>\n" +
		"  <Foo/>\n" +
		"</Response>\n"
)

const (
	warnLine     = "warn.xml:1:16: warning 12200: <Say> has no attribute loud; Twilio ignores it"
	errorLineFoo = "error.xml:2:22: warning 12200: <Say> has no attribute foo; Twilio ignores it"
	errorLineTB  = "error.xml:3:3: error TB201: <Foo> is not allowed inside <Response>; there is no <Foo> in voice TwiML"
)

var lintFiles = map[string]string{
	"clean.xml": cleanTemplate,
	"warn.xml":  warnTemplate,
	"error.xml": errorTemplate,
}

func TestLint(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		stdin      string
		wantCode   int
		wantStdout []string // exact lines
		wantStderr string   // substring; "" means stderr must be empty
	}{
		{
			name:     "clean file",
			args:     []string{"clean.xml"},
			wantCode: exitOK,
		},
		{
			name:       "warning only",
			args:       []string{"warn.xml"},
			wantCode:   exitOK,
			wantStdout: []string{warnLine},
		},
		{
			name:       "error and warning",
			args:       []string{"error.xml"},
			wantCode:   exitInvalid,
			wantStdout: []string{errorLineFoo, errorLineTB},
		},
		{
			name:       "strict makes a warning an error",
			args:       []string{"--strict", "warn.xml"},
			wantCode:   exitInvalid,
			wantStdout: []string{strings.Replace(warnLine, "warning", "error", 1)},
		},
		{
			name:     "strict on a clean file",
			args:     []string{"-strict", "clean.xml"},
			wantCode: exitOK,
		},
		{
			name:       "several files, in the order given",
			args:       []string{"warn.xml", "clean.xml", "error.xml"},
			wantCode:   exitInvalid,
			wantStdout: []string{warnLine, errorLineFoo, errorLineTB},
		},
		{
			name:       "stdin",
			args:       []string{"-"},
			stdin:      warnTemplate,
			wantCode:   exitOK,
			wantStdout: []string{strings.Replace(warnLine, "warn.xml", "-", 1)},
		},
		{
			name:       "unreadable file; the others are still checked",
			args:       []string{"missing.xml", "warn.xml"},
			wantCode:   exitUsage,
			wantStdout: []string{warnLine},
			wantStderr: "missing.xml",
		},
		{
			name:       "an I/O error outranks an invalid file",
			args:       []string{"error.xml", "missing.xml"},
			wantCode:   exitUsage,
			wantStdout: []string{errorLineFoo, errorLineTB},
			wantStderr: "missing.xml",
		},
		{
			name:       "a directory is unreadable",
			args:       []string{"."},
			wantCode:   exitUsage,
			wantStderr: "twimlbin lint: ",
		},
		{
			name:       "no files",
			args:       nil,
			wantCode:   exitUsage,
			wantStderr: "no FILE given",
		},
		{
			name:       "unknown flag",
			args:       []string{"--fix", "clean.xml"},
			wantCode:   exitUsage,
			wantStderr: "flag provided but not defined: -fix",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inTempDir(t, lintFiles)
			got := runCommand(t, tt.stdin, append([]string{"lint"}, tt.args...)...)
			if got.code != tt.wantCode {
				t.Errorf("exit code = %d, want %d\nstderr:\n%s", got.code, tt.wantCode, got.stderr)
			}
			if want := joinLines(tt.wantStdout); got.stdout != want {
				t.Errorf("stdout:\n%s\nwant:\n%s", got.stdout, want)
			}
			checkOutput(t, "stderr", got.stderr, tt.wantStderr)
		})
	}
}

func TestLintJSON(t *testing.T) {
	type finding struct {
		File     string `json:"file"`
		Line     int    `json:"line"`
		Column   int    `json:"column"`
		Severity string `json:"severity"`
		Code     string `json:"code"`
		Message  string `json:"message"`
	}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     []finding
	}{
		{
			name:     "clean",
			args:     []string{"clean.xml"},
			wantCode: exitOK,
			want:     []finding{},
		},
		{
			name:     "every file in one array",
			args:     []string{"error.xml", "clean.xml", "warn.xml"},
			wantCode: exitInvalid,
			want: []finding{
				{"error.xml", 2, 22, "warning", "12200", "<Say> has no attribute foo; Twilio ignores it"},
				{"error.xml", 3, 3, "error", "TB201", "<Foo> is not allowed inside <Response>; there is no <Foo> in voice TwiML"},
				{"warn.xml", 1, 16, "warning", "12200", "<Say> has no attribute loud; Twilio ignores it"},
			},
		},
		{
			name:     "strict",
			args:     []string{"--strict", "warn.xml"},
			wantCode: exitInvalid,
			want: []finding{
				{"warn.xml", 1, 16, "error", "12200", "<Say> has no attribute loud; Twilio ignores it"},
			},
		},
		{
			name:     "unreadable file",
			args:     []string{"missing.xml", "warn.xml"},
			wantCode: exitUsage,
			want: []finding{
				{"warn.xml", 1, 16, "warning", "12200", "<Say> has no attribute loud; Twilio ignores it"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inTempDir(t, lintFiles)
			got := runCommand(t, "", append([]string{"lint", "--json"}, tt.args...)...)
			if got.code != tt.wantCode {
				t.Errorf("exit code = %d, want %d\nstderr:\n%s", got.code, tt.wantCode, got.stderr)
			}

			// The exact set of keys, with "slot" left out when empty.
			var raw []map[string]any
			if err := json.Unmarshal([]byte(got.stdout), &raw); err != nil {
				t.Fatalf("stdout is not a JSON array: %v\n%s", err, got.stdout)
			}
			if raw == nil {
				t.Fatalf("stdout = %q, want an array, not null", got.stdout)
			}
			for _, obj := range raw {
				if len(obj) != 6 {
					t.Errorf("object has keys %v, want file, line, column, severity, code, message", slices.Sorted(maps.Keys(obj)))
				}
			}

			var findings []finding
			if err := json.Unmarshal([]byte(got.stdout), &findings); err != nil {
				t.Fatal(err)
			}
			if len(findings) != len(tt.want) {
				t.Fatalf("got %d findings, want %d:\n%s", len(findings), len(tt.want), got.stdout)
			}
			for i := range findings {
				if findings[i] != tt.want[i] {
					t.Errorf("finding %d = %+v, want %+v", i, findings[i], tt.want[i])
				}
			}
		})
	}
}

// joinLines returns lines each ended by a newline.
func joinLines(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}
