package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
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
// write (see faultfs.ReadOnlyDir). It must start all the same, warn once
// with the file and the reason, serve the bins saved before, answer reads
// of the API, and answer every write at once with 503, code 10508 and a
// message that says bins are still served, while /readyz says read_only;
// once the file is writable again, a restart takes writes and everything
// saved before is there.
func TestFaultReadOnlyDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	ro := faultfs.NewReadOnlyDir(t, 8<<20)
	bin := buildBinary(t)
	db := filepath.Join(ro.Dir, "twimlbin.db")
	sid, token := createFaultAccount(t, bin, db)
	srv := startFaultServer(t, bin, db, "warn")
	saved := newFaultClient(srv.base, sid, token).createBin(t, faultTemplate("saved before", 100))
	require.NoError(t, srv.stop(t))

	reason := ro.Freeze(db)
	srv = startFaultServer(t, bin, db, "warn")
	c := newFaultClient(srv.base, sid, token)
	requireBinServed(t, c, saved.SID, "saved before")
	assert.Equal(t, saved.Template, c.fetchBin(t, saved.SID).Template)

	for _, w := range []struct {
		method, path string
		body         any
	}{
		{http.MethodPost, "/api/v1/bins", map[string]string{"template": faultTemplate("new", 10)}},
		{http.MethodPost, "/api/v1/bins/" + saved.SID, map[string]string{"template": faultTemplate("changed", 10)}},
		{http.MethodDelete, "/api/v1/bins/" + saved.SID, nil},
	} {
		resp, err := c.do(t.Context(), w.method, w.path, w.body, 0)
		require.NoError(t, err)
		e := requireAPIError(t, resp)
		assert.Equal(t, http.StatusServiceUnavailable, e.Status, "%s %s: %s", w.method, w.path, resp.body)
		assert.Equal(t, 10508, e.Code)
		assert.Contains(t, e.Message, "bins are still served")
	}
	resp, err := c.do(t.Context(), http.MethodGet, "/readyz", nil, 0)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.status)
	assert.JSONEq(t, `{"status":"ready","read_only":true}`, string(resp.body))
	require.NoError(t, srv.stop(t))
	logged := srv.stderr.String()
	assert.Equal(t, 1, strings.Count(logged, "cannot be written"), "one warning: %s", logged)
	assert.Contains(t, logged, db)
	assert.Contains(t, logged, reason.Error())

	ro.Thaw(db)
	srv = startFaultServer(t, bin, db, "warn")
	c = newFaultClient(srv.base, sid, token)
	requireBinServed(t, c, saved.SID, "saved before")
	c.createBin(t, faultTemplate("after", 10))
	require.NoError(t, srv.stop(t))
}
