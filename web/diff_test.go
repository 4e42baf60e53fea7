package web

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/twimlbin/twimlbin/engine"
)

func TestLineDiff(t *testing.T) {
	tests := []struct {
		name     string
		old, new string
		want     string // each line: marker, old number, new number, text
	}{
		{"same", "a\nb\n", "a\nb\n", " 1 1 a| 2 2 b"},
		{"both empty", "", "", ""},
		{"from empty", "", "a\n", "+0 1 a"},
		{"to empty", "a\n", "", "-1 0 a"},
		{"changed line", "a\nb\nc", "a\nB\nc", " 1 1 a|-2 0 b|+0 2 B| 3 3 c"},
		{"inserted", "a\nc", "a\nb\nc", " 1 1 a|+0 2 b| 2 3 c"},
		{"deleted", "a\nb\nc", "a\nc", " 1 1 a|-2 0 b| 3 2 c"},
		{"final newline only", "a", "a\n", " 1 1 a"},
		{"moved", "x\na\nb\ny", "x\nb\na\ny", " 1 1 x|-2 0 a| 3 2 b|+0 3 a| 4 4 y"},
		{"repeated lines", "a\na\nb", "a\nb\nb", " 1 1 a|-2 0 a|+0 2 b| 3 3 b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, formatDiff(lineDiff(tt.old, tt.new)))
		})
	}
}

func TestLineDiffKeepsEveryLine(t *testing.T) {
	old := strings.Repeat("line\n", 50) + "old\n" + strings.Repeat("tail\n", 50)
	new := strings.Repeat("line\n", 49) + "new\nnew2\n" + strings.Repeat("tail\n", 51)
	d := lineDiff(old, new)
	var olds, news []string
	for _, l := range d {
		if l.Op != diffAdd {
			olds = append(olds, l.Text)
		}
		if l.Op != diffDel {
			news = append(news, l.Text)
		}
	}
	assert.Equal(t, splitLines(old), olds)
	assert.Equal(t, splitLines(new), news)
}

func TestLineDiffTooLarge(t *testing.T) {
	var a, b strings.Builder
	for i := 0; i < 3000; i++ {
		a.WriteString("a" + strconv.Itoa(i) + "\n")
		b.WriteString("b" + strconv.Itoa(i) + "\n")
	}
	d := lineDiff(a.String(), b.String())
	assert.Len(t, d, 6000, "one replaced block")
	assert.Equal(t, diffDel, d[0].Op)
	assert.Equal(t, diffAdd, d[5999].Op)
}

func formatDiff(d []diffLine) string {
	var parts []string
	for _, l := range d {
		parts = append(parts, l.Marker()+strconv.Itoa(l.Old)+" "+strconv.Itoa(l.New)+" "+l.Text)
	}
	return strings.Join(parts, "|")
}

func BenchmarkLineDiff(b *testing.B) {
	old := strings.Repeat("<Say>line</Say>\n", 500)
	new := strings.Replace(old, "line", "changed", 100)
	for b.Loop() {
		lineDiff(old, new)
	}
}

func TestEditorLines(t *testing.T) {
	d := func(sev engine.Severity, line int, code engine.Code, msg string) engine.Diagnostic {
		return engine.Diagnostic{Severity: sev, Line: line, Column: 1, Code: code, Message: msg}
	}
	lines := editorLines("a\nb\nc\n", engine.Diagnostics{
		d(engine.SeverityWarning, 2, "W1", "first"),
		d(engine.SeverityError, 2, "E1", "second"),
		d(engine.SeverityWarning, 3, "W2", "third"),
		d(engine.SeverityError, 3, "E3", "fourth"),
		d(engine.SeverityError, 9, "E9", "out of range"),
	})
	assert.Equal(t, []editorLine{
		{Number: 1},
		{Number: 2, Severity: "error", Message: "E1 second"},
		{Number: 3, Severity: "error", Message: "E3 fourth"},
		{Number: 4},
	}, lines, "an error wins over a warning; a line past the end is not marked")
}
