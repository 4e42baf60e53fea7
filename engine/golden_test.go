package engine_test

import (
	"bufio"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/twimlbin/twimlbin/engine"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// TestGolden renders each case under testdata/golden/NAME: template.xml,
// values.txt (NAME=VALUE lines; a name may repeat) and an optional policy
// file, and compares the output and the diagnostics with want.xml and
// want.txt. Run with -update to rewrite them.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/golden/*")
	require.NoError(t, err)
	require.NotEmpty(t, dirs)
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			src := readFile(t, filepath.Join(dir, "template.xml"))
			values := readValues(t, filepath.Join(dir, "values.txt"))
			policy, err := engine.ParsePolicy(strings.TrimSpace(readOptional(t, filepath.Join(dir, "policy"))))
			require.NoError(t, err)

			var out []byte
			var report strings.Builder
			tmpl, err := engine.Compile(src)
			diags := engine.Check(src)
			if err == nil {
				var rdiags engine.Diagnostics
				out, rdiags, err = tmpl.Render(values, policy)
				diags = append(diags, rdiags...)
			}
			for _, d := range diags {
				report.WriteString(d.String() + "\n")
			}
			if err != nil {
				report.WriteString("error: " + err.Error() + "\n")
			} else {
				assertWellFormed(t, out)
			}
			compareGolden(t, filepath.Join(dir, "want.xml"), string(out))
			compareGolden(t, filepath.Join(dir, "want.txt"), report.String())
		})
	}
}

func compareGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	assert.Equal(t, readOptional(t, path), got, "%s differs; run go test -update if the change is intended", path)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

func readOptional(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return ""
	}
	require.NoError(t, err)
	return string(b)
}

func readValues(t *testing.T, path string) map[string][]string {
	t.Helper()
	values := map[string][]string{}
	sc := bufio.NewScanner(strings.NewReader(readOptional(t, path)))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		require.True(t, ok, "%s: %q is not NAME=VALUE", path, line)
		values[name] = append(values[name], value)
	}
	return values
}
