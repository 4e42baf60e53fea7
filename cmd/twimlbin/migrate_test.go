package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/twimlbin/twimlbin/store"
)

// migrateSource writes a database file holding two accounts, one with two
// bins, a revision past the first and counted requests, closed cleanly,
// and returns its path and the auth token of the account with bins.
func migrateSource(t *testing.T) (path, sid, token string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "src.db")
	db, err := store.Open(path, store.Options{NoSync: true})
	require.NoError(t, err)
	acct, token, err := db.CreateAccount("Owner")
	require.NoError(t, err)
	_, _, err = db.CreateAccount("Other")
	require.NoError(t, err)
	for _, name := range []string{"first", "second"} {
		b, err := db.CreateBin(acct.SID, store.BinInput{FriendlyName: name, Template: "<Response/>", RenderPolicy: "lenient"})
		require.NoError(t, err)
		_, err = db.UpdateBin(acct.SID, b.SID, 0, store.BinInput{FriendlyName: name, Template: "<Response><Hangup/></Response>", RenderPolicy: "strict"})
		require.NoError(t, err)
		db.RecordRequest(b.SID, time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))
	}
	require.NoError(t, db.Close())
	return path, acct.SID, token
}

func TestMigrateBoltToBolt(t *testing.T) {
	src, sid, token := migrateSource(t)
	before, err := os.ReadFile(src)
	require.NoError(t, err)
	dst := filepath.Join(t.TempDir(), "data", "dst.db")

	for _, run := range []string{"first", "again"} {
		got := runCommand(t, "", "migrate", "--from", "bolt:"+src, "--to", "bolt:"+dst)
		require.Equal(t, exitOK, got.code, "%s run: stderr:\n%s", run, got.stderr)
		assert.Contains(t, got.stdout, "copied the session key, 2 accounts, 2 bins, 4 revisions and 0 events from bolt:"+src+" to bolt:"+dst+"\n")
		assert.Contains(t, got.stdout, "verified: bolt:"+dst+" reads the same as bolt:"+src+"\n")
		assert.Empty(t, got.stderr)
	}
	after, err := os.ReadFile(src)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(before, after), "the source file was written")

	db, err := store.Open(dst, store.Options{ReadOnly: true})
	require.NoError(t, err)
	defer db.Close()
	acct, err := db.Authenticate(sid, token)
	require.NoError(t, err, "the auth token works on the copy")
	assert.Equal(t, 2, acct.Bins)
	page, err := db.ListBins(sid, store.ListQuery{})
	require.NoError(t, err)
	require.Len(t, page.Bins, 2)
	assert.Equal(t, []string{"first", "second"}, []string{page.Bins[0].FriendlyName, page.Bins[1].FriendlyName})
	assert.Equal(t, int64(1), page.Bins[0].NumRequests)
	assert.Equal(t, 2, page.Bins[0].Revision)
}

// TestMigrateRefuses: bad flags, and stores that must not be copied, give
// an error saying what to do, and leave the destination as it was.
func TestMigrateRefuses(t *testing.T) {
	src, _, _ := migrateSource(t)
	dir := t.TempDir()
	foreign := filepath.Join(dir, "foreign.db")
	db, err := store.Open(foreign, store.Options{NoSync: true})
	require.NoError(t, err)
	_, _, err = db.CreateAccount("Someone else")
	require.NoError(t, err)
	require.NoError(t, db.Close())
	// What it holds, to compare with after.
	data, err := os.ReadFile(foreign)
	require.NoError(t, err)
	foreignBefore := filepath.Join(t.TempDir(), "before.db")
	require.NoError(t, os.WriteFile(foreignBefore, data, 0o600))
	dst := "bolt:" + filepath.Join(dir, "dst.db")

	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no flags", nil, exitUsage, "--from is missing"},
		{"no --to", []string{"--from", "bolt:" + src}, exitUsage, "--to is missing"},
		{"unknown scheme", []string{"--from", "mysql:db", "--to", dst}, exitUsage, `--from "mysql:db": give bolt:PATH`},
		{"no scheme", []string{"--from", src, "--to", dst}, exitUsage, "give bolt:PATH for a database file or etcd:URLS"},
		{"empty path", []string{"--from", "bolt:", "--to", dst}, exitUsage, "names no file"},
		{"no endpoint", []string{"--from", "bolt:" + src, "--to", "etcd:"}, exitUsage, "names no endpoint"},
		{"endpoint not a URL", []string{"--from", "bolt:" + src, "--to", "etcd:10.0.0.1:2379"}, exitUsage, `etcd endpoint "10.0.0.1:2379": give a client URL`},
		{"bad prefix", []string{"--from", "bolt:" + src, "--to", "etcd:http://127.0.0.1:1", "--etcd-prefix", "twimlbin"}, exitUsage, "begins and ends with /"},
		{"cert without key", []string{"--from", "bolt:" + src, "--to", "etcd:http://127.0.0.1:1", "--etcd-cert", "c.pem"}, exitUsage, "--etcd-cert and --etcd-key go together"},
		{"etcd flags without etcd", []string{"--from", "bolt:" + src, "--to", dst, "--etcd-ca", "ca.pem"}, exitUsage, "--etcd-ca apply to an etcd: store"},
		{"same file", []string{"--from", "bolt:" + src, "--to", "bolt:" + filepath.Join(filepath.Dir(src), ".", filepath.Base(src))}, exitUsage, "the same file"},
		{"argument", []string{"--from", "bolt:" + src, "--to", dst, "extra"}, exitUsage, `unexpected argument "extra"`},
		{"missing source", []string{"--from", "bolt:" + filepath.Join(dir, "missing.db"), "--to", dst}, exitUsage, "no such file"},
		{"foreign destination", []string{"--from", "bolt:" + src, "--to", "bolt:" + foreign}, exitInvalid, "bolt:" + foreign + ": store: the destination holds other data: account AC"},
		{"unreachable etcd", []string{"--from", "bolt:" + src, "--to", "etcd:http://127.0.0.1:1"}, exitUsage, "etcd at http://127.0.0.1:1 did not answer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := runCommand(t, "", append([]string{"migrate"}, c.args...)...)
			assert.Equal(t, c.code, got.code, "stderr:\n%s", got.stderr)
			assert.Contains(t, got.stderr, c.want)
			assert.NotContains(t, got.stdout, "verified")
		})
	}
	before, err := store.Open(foreignBefore, store.Options{ReadOnly: true})
	require.NoError(t, err)
	defer before.Close()
	after, err := store.Open(foreign, store.Options{ReadOnly: true})
	require.NoError(t, err)
	defer after.Close()
	assert.NoError(t, store.Verify(before, after), "the foreign destination was written")
	_, err = os.Stat(filepath.Join(dir, "dst.db"))
	assert.ErrorIs(t, err, os.ErrNotExist, "a refused migration created its destination")
}

// TestMigrateInterrupted: a signal stops the copy between two records,
// and the message says how to finish it.
func TestMigrateInterrupted(t *testing.T) {
	src, _, _ := migrateSource(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"migrate", "--from", "bolt:" + src, "--to", "bolt:" + filepath.Join(t.TempDir(), "dst.db")}, nil, &stdout, &stderr)
	assert.Equal(t, exitInvalid, code)
	assert.Contains(t, stderr.String(), "interrupted")
	assert.Contains(t, stderr.String(), "run the same command again to finish it")
	assert.NotContains(t, stdout.String(), "verified")
}
