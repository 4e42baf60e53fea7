package main

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/twimlbin/twimlbin/store"
)

// corruptFile writes a database of 2000 bins to a temporary file, closed
// cleanly, and returns its path and one of its bins.
func corruptFile(t *testing.T) (string, store.Bin) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "twimlbin.db")
	db, err := store.Open(path, store.Options{NoSync: true})
	require.NoError(t, err)
	acct, _, err := db.CreateAccount("Owner")
	require.NoError(t, err)
	var bins []store.Bin
	for range 2000 {
		b, err := db.CreateBin(acct.SID, store.BinInput{
			Template:     "<Response><Say>" + strings.Repeat("x", 1000) + "</Say></Response>",
			RenderPolicy: "lenient",
		})
		require.NoError(t, err)
		bins = append(bins, b)
	}
	require.NoError(t, db.Close())
	return path, bins[1000]
}

// runCorruptServe runs `twimlbin serve` on db and returns its exit code,
// stdout and stderr. A server that starts is stopped by the timeout and
// fails the test.
func runCorruptServe(t *testing.T, bin, db string, env []string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"serve", "--db", db, "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "serve should fail: %v; stdout:\n%s", err, stdout.String())
	return exit.ExitCode(), stdout.String(), stderr.String()
}

// TestServeRefusesCorruptDatabase runs the real binary on damaged files:
// it must exit with exitCorrupt and say which file is damaged and what to
// do, without ever listening (so never reporting ready).
func TestServeRefusesCorruptDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)

	truncated, _ := corruptFile(t)
	info, err := os.Stat(truncated)
	require.NoError(t, err)
	require.NoError(t, os.Truncate(truncated, info.Size()/16))

	// A page of bin records scribbled over: Open reads none of them, so
	// only the consistency check finds it.
	scribbled, b := corruptFile(t)
	data, err := os.ReadFile(scribbled)
	require.NoError(t, err)
	pattern := []byte(b.SID + `{"sid":"` + b.SID)
	page, rnd, hit := os.Getpagesize(), rand.New(rand.NewPCG(1, 2)), false
	for off := 2 * page; off+page <= len(data); off += page {
		if bytes.Contains(data[off:off+page], pattern) {
			for i := range page {
				data[off+i] = byte(rnd.Uint32())
			}
			hit = true
		}
	}
	require.True(t, hit)
	require.NoError(t, os.WriteFile(scribbled, data, 0o600))

	empty := filepath.Join(t.TempDir(), "twimlbin.db")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))

	cases := []struct {
		name string
		db   string
		env  []string
		args []string
		want []string
	}{
		{"truncated", truncated, nil, nil, []string{"truncated"}},
		{"scribbled, --check-db", scribbled, nil, []string{"--check-db"}, []string{"consistency check"}},
		{"scribbled, TWIMLBIN_CHECK_DB", scribbled, []string{"TWIMLBIN_CHECK_DB=true"}, nil, []string{"consistency check"}},
		{"empty", empty, nil, nil, []string{"empty (0 bytes)", "delete it"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before, err := os.ReadFile(c.db)
			require.NoError(t, err)
			code, stdout, stderr := runCorruptServe(t, bin, c.db, c.env, c.args...)
			assert.Equal(t, exitCorrupt, code, "stderr:\n%s", stderr)
			assert.NotContains(t, stdout, "is serving", "it listened")
			for _, want := range append([]string{"corrupt database file " + c.db, "twimlbin backup"}, c.want...) {
				assert.Contains(t, stderr, want)
			}
			after, err := os.ReadFile(c.db)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(before, after), "serve changed the file")
		})
	}
}

// TestCommandsRefuseCorruptDatabase: the commands that open a database
// file themselves refuse a corrupt one as serve does, with exit code 3.
func TestCommandsRefuseCorruptDatabase(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "twimlbin.db")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	for _, args := range [][]string{
		{"account", "create", "--db", empty},
		{"backup", "--db", empty, "--out", filepath.Join(t.TempDir(), "backup.db")},
		{"migrate", "--from", "bolt:" + empty, "--to", "bolt:" + filepath.Join(t.TempDir(), "copy.db")},
	} {
		got := runCommand(t, "", args...)
		assert.Equal(t, exitCorrupt, got.code, "%v: stderr:\n%s", args, got.stderr)
		assert.Contains(t, got.stderr, "corrupt database file "+empty, "%v", args)
	}
}
