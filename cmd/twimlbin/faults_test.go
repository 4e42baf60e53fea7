package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/twimlbin/twimlbin/internal/faultfs"
	"github.com/twimlbin/twimlbin/store"
)

// requireBinServed requires the bin URL of sid to answer 200 with TwiML
// that says tag.
func requireBinServed(t *testing.T, c *faultClient, sid, tag string) {
	t.Helper()
	resp, err := c.serveBinURL(t.Context(), sid)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	require.Equal(t, "text/xml; charset=utf-8", resp.ctype)
	require.Contains(t, string(resp.body), "<Say>"+tag+"</Say>")
}

// TestFaultDiskFull runs the server on a small tmpfs and fills it. A write
// that needs space is answered at once with an error in the API's JSON
// shape and a 5xx status, and changes nothing; the bin URL keeps serving
// every bin, those served before and those read from the file for the
// first time; when space returns, writes succeed again without a restart,
// the server stops cleanly, and every acknowledged write is in the file.
func TestFaultDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := faultfs.Mount(t, 8<<20)
	bin := buildBinary(t)
	db := filepath.Join(dir, "twimlbin.db")
	sid, token := createFaultAccount(t, bin, db)
	srv := startFaultServer(t, bin, db, "warn")
	c := newFaultClient(srv.base, sid, token)

	served := c.createBin(t, faultTemplate("served before", 100))
	requireBinServed(t, c, served.SID, "served before")
	unread := c.createBin(t, faultTemplate("not served before", 100))
	acked := map[string]faultBin{served.SID: served, unread.SID: unread}

	filler := faultfs.Fill(t, dir)

	// Writes go on while freed pages in the file last, then fail.
	var failed *faultResponse
	for i := 0; i < 200 && failed == nil; i++ {
		resp, err := c.do(t.Context(), http.MethodPost, "/api/v1/bins", map[string]string{"template": faultTemplate(fmt.Sprintf("full %d", i), 16<<10)}, 0)
		require.NoError(t, err, "a write on a full disk must be answered")
		if resp.status == http.StatusCreated {
			var b faultBin
			require.NoError(t, json.Unmarshal(resp.body, &b))
			acked[b.SID] = b
			continue
		}
		failed = &resp
	}
	require.NotNil(t, failed, "200 writes of 16 kB fitted in a full 8 MB file system")
	e := requireAPIError(t, *failed)
	assert.Equal(t, http.StatusInsufficientStorage, e.Status, "%s", failed.body)
	t.Logf("a create on a full disk: %d %s", failed.status, failed.body)

	resp, err := c.do(t.Context(), http.MethodPost, "/api/v1/bins/"+served.SID, map[string]string{"template": faultTemplate("updated while full", 60<<10)}, served.Revision)
	require.NoError(t, err, "a write on a full disk must be answered")
	if resp.status != http.StatusOK {
		e := requireAPIError(t, resp)
		assert.GreaterOrEqual(t, e.Status, 500, "%s", resp.body)
	} else {
		t.Log("an update on a full disk fitted in freed pages")
		require.NoError(t, json.Unmarshal(resp.body, &served))
		acked[served.SID] = served
	}

	// Reads go on: the bin URL, from memory and from the file, and the API.
	requireBinServed(t, c, unread.SID, "not served before")
	for _, b := range acked {
		got := c.fetchBin(t, b.SID)
		assert.Equal(t, b.Revision, got.Revision)
		assert.Equal(t, b.Template, got.Template)
		requireBinServed(t, c, b.SID, sayTag(b.Template))
	}

	// A restart on the full disk. Stopping flushes the buffered usage
	// counters, which may not fit: serve must then exit saying so (the
	// counters of the last second are lost, as after a crash). Either way
	// the log says why the writes failed. Starting commits an empty
	// transaction, which fits in the pages the last commit freed: the
	// server must start, since it can serve every bin.
	if err := srv.stop(t); err != nil {
		t.Logf("stopping on a full disk: %v", err)
	}
	assert.Contains(t, srv.stderr.String(), "no space left on device", "the log should say why the writes failed")
	srv = startFaultServer(t, bin, db, "warn")
	c = newFaultClient(srv.base, sid, token)
	for _, b := range acked {
		requireBinServed(t, c, b.SID, sayTag(b.Template))
	}

	// Space returns: writes succeed again, without a restart.
	require.NoError(t, os.Remove(filler))
	after := c.createBin(t, faultTemplate("after the disk emptied", 16<<10))
	acked[after.SID] = after
	requireBinServed(t, c, after.SID, "after the disk emptied")
	resp, err = c.do(t.Context(), http.MethodPost, "/api/v1/bins/"+served.SID, map[string]string{"template": faultTemplate("updated after", 100)}, served.Revision)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	require.NoError(t, json.Unmarshal(resp.body, &served))
	acked[served.SID] = served
	requireBinServed(t, c, served.SID, "updated after")

	require.NoError(t, srv.stop(t), "serve should exit 0 after SIGTERM; stderr:\n%s", srv.stderr.String())
	sdb, err := store.Open(db, store.Options{})
	require.NoError(t, err)
	defer sdb.Close()
	require.NoError(t, sdb.Check())
	for _, b := range acked {
		got, err := sdb.Bin(sid, b.SID)
		require.NoError(t, err)
		assert.Equal(t, b.Revision, got.Revision)
		assert.Equal(t, b.Template, got.Template)
	}
}

// sayTag returns the tag of a faultTemplate.
func sayTag(tmpl string) string {
	return strings.TrimPrefix(strings.SplitN(tmpl, "</Say>", 2)[0], "<Response><Say>")
}

// TestFaultReadOnlyDatabase starts the server on a database file it cannot
// write: as root, on a tmpfs remounted read-only (root writes through file
// modes); otherwise, a file of mode 0400. The store has no read-only mode
// and opens the file for writing, so serve cannot serve from it: it must
// exit at once, non-zero, with one line that names the file and the
// reason, without listening; and once the file is writable again it
// serves the bins that were saved.
func TestFaultReadOnlyDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	root := runtime.GOOS == "linux" && os.Geteuid() == 0
	var dir string
	if root {
		dir = faultfs.Mount(t, 8<<20)
	} else {
		dir = t.TempDir()
	}
	bin := buildBinary(t)
	db := filepath.Join(dir, "twimlbin.db")
	sid, token := createFaultAccount(t, bin, db)
	srv := startFaultServer(t, bin, db, "warn")
	saved := newFaultClient(srv.base, sid, token).createBin(t, faultTemplate("saved before", 100))
	require.NoError(t, srv.stop(t))

	reason := "permission denied"
	if root {
		require.NoError(t, syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""))
		reason = "read-only file system"
	} else {
		require.NoError(t, os.Chmod(db, 0o400))
	}
	failed, err := tryStartFaultServer(bin, db, "warn")
	require.Error(t, err, "serve started on a read-only database")
	require.NotNil(t, failed, "%v", err)
	var exit *exec.ExitError
	require.ErrorAs(t, failed.err, &exit)
	assert.NotZero(t, exit.ExitCode())
	msg := failed.stderr.String()
	assert.Equal(t, 1, strings.Count(msg, "\n"), "one line: %q", msg)
	assert.True(t, strings.HasPrefix(msg, "twimlbin serve: "), msg)
	assert.Contains(t, msg, db)
	assert.Contains(t, msg, reason)
	assert.NotContains(t, msg, "in use by another process", "a read-only file is not a locked one")

	if root {
		require.NoError(t, syscall.Mount("", dir, "", syscall.MS_REMOUNT, ""))
	} else {
		require.NoError(t, os.Chmod(db, 0o600))
	}
	srv = startFaultServer(t, bin, db, "warn")
	requireBinServed(t, newFaultClient(srv.base, sid, token), saved.SID, "saved before")
	require.NoError(t, srv.stop(t))
}
