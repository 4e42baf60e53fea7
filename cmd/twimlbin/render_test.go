package main

import (
	"strings"
	"testing"
)

// Templates for render.
const (
	helloTemplate = "<Response><Say>Hello {{Name}}</Say></Response>\n"
	// A list section: one <Number> per value of Dest.
	dialTemplate = "<Response>\n" +
		"  <Dial>\n" +
		"    {{#Dest}}\n" +
		"    <Number>{{.}}</Number>\n" +
		"    {{/Dest}}\n" +
		"  </Dial>\n" +
		"</Response>\n"
	// A <Parameter value> holds at most 128 bytes (TB304).
	paramTemplate = `<Response><Dial><Client><Identity>a</Identity>` +
		`<Parameter name="x" value="{{v}}"/></Client></Dial></Response>` + "\n"
)

var renderFiles = map[string]string{
	"hello.xml": helloTemplate,
	"dial.xml":  dialTemplate,
	"param.xml": paramTemplate,
	"warn.xml":  warnTemplate,
	"error.xml": errorTemplate,
}

func TestRender(t *testing.T) {
	long := strings.Repeat("a", 130)
	tests := []struct {
		name       string
		args       []string
		stdin      string
		wantCode   int
		wantStdout string   // exact
		wantStderr []string // exact lines
		stderrHas  string   // substring, for usage and I/O errors
	}{
		{
			name:       "a value, escaped",
			args:       []string{"hello.xml", "Name=A & <B>"},
			wantCode:   exitOK,
			wantStdout: "<Response><Say>Hello A &amp; &lt;B&gt;</Say></Response>\n",
		},
		{
			name:       "a value holding '='",
			args:       []string{"hello.xml", "Name=a=b"},
			wantCode:   exitOK,
			wantStdout: "<Response><Say>Hello a=b</Say></Response>\n",
		},
		{
			name:       "a missing value renders empty",
			args:       []string{"hello.xml"},
			wantCode:   exitOK,
			wantStdout: "<Response><Say>Hello </Say></Response>\n",
		},
		{
			name:     "a repeated NAME makes a list",
			args:     []string{"dial.xml", "Dest=+15551230001", "Dest=+15551230002", "Dest=+15551230003"},
			wantCode: exitOK,
			wantStdout: "<Response>\n" +
				"  <Dial>\n" +
				"    <Number>+15551230001</Number>\n" +
				"    <Number>+15551230002</Number>\n" +
				"    <Number>+15551230003</Number>\n" +
				"  </Dial>\n" +
				"</Response>\n",
		},
		{
			name:       "stdin",
			args:       []string{"-", "Name=Ada"},
			stdin:      helloTemplate,
			wantCode:   exitOK,
			wantStdout: "<Response><Say>Hello Ada</Say></Response>\n",
		},
		{
			name:       "compile warnings go to stderr",
			args:       []string{"warn.xml"},
			wantCode:   exitOK,
			wantStdout: "<Response><Say loud=\"yes\">Hello</Say></Response>\n",
			wantStderr: []string{warnLine},
		},
		{
			name:     "lenient: a value over the limit is cut, with a warning",
			args:     []string{"param.xml", "v=" + long},
			wantCode: exitOK,
			wantStdout: `<Response><Dial><Client><Identity>a</Identity>` +
				`<Parameter name="x" value="` + long[:128] + `"/></Client></Dial></Response>` + "\n",
			wantStderr: []string{"param.xml:1:74: warning TB304: Parameter@value is 130 bytes; the limit is 128 bytes " +
				"(https://support.twilio.com/hc/en-us/articles/115011213347); cut to 128 bytes"},
		},
		{
			name:     "strict: a value over the limit fails",
			args:     []string{"--strict", "param.xml", "v=" + long},
			wantCode: exitInvalid,
			wantStderr: []string{"param.xml:1:74: error TB304: Parameter@value is 130 bytes; the limit is 128 bytes " +
				"(https://support.twilio.com/hc/en-us/articles/115011213347)"},
		},
		{
			name:       "strict: values within the limits",
			args:       []string{"--strict", "param.xml", "v=" + long[:128]},
			wantCode:   exitOK,
			wantStdout: strings.Replace(paramTemplate, "{{v}}", long[:128], 1),
		},
		{
			name:       "invalid template",
			args:       []string{"error.xml"},
			wantCode:   exitInvalid,
			wantStderr: []string{errorLineFoo, errorLineTB},
		},
		{
			name:      "no FILE",
			args:      nil,
			wantCode:  exitUsage,
			stderrHas: "no FILE given",
		},
		{
			name:      "an argument without '='",
			args:      []string{"hello.xml", "Name"},
			wantCode:  exitUsage,
			stderrHas: `argument "Name" is not NAME=VALUE`,
		},
		{
			name:      "an empty NAME",
			args:      []string{"hello.xml", "=x"},
			wantCode:  exitUsage,
			stderrHas: `argument "=x" is not NAME=VALUE`,
		},
		{
			name:      "a flag after FILE",
			args:      []string{"hello.xml", "--strict"},
			wantCode:  exitUsage,
			stderrHas: "flags go before FILE",
		},
		{
			name:      "unreadable file",
			args:      []string{"missing.xml"},
			wantCode:  exitUsage,
			stderrHas: "missing.xml",
		},
		{
			name:      "unknown flag",
			args:      []string{"--policy=strict", "hello.xml"},
			wantCode:  exitUsage,
			stderrHas: "flag provided but not defined: -policy",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inTempDir(t, renderFiles)
			got := runCommand(t, tt.stdin, append([]string{"render"}, tt.args...)...)
			if got.code != tt.wantCode {
				t.Errorf("exit code = %d, want %d\nstderr:\n%s", got.code, tt.wantCode, got.stderr)
			}
			if got.stdout != tt.wantStdout {
				t.Errorf("stdout:\n%s\nwant:\n%s", got.stdout, tt.wantStdout)
			}
			if tt.stderrHas != "" {
				checkOutput(t, "stderr", got.stderr, tt.stderrHas)
			} else if want := joinLines(tt.wantStderr); got.stderr != want {
				t.Errorf("stderr:\n%s\nwant:\n%s", got.stderr, want)
			}
		})
	}
}
