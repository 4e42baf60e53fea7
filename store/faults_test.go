package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/twimlbin/twimlbin/internal/faultfs"
)

// faultBinInput is the content of a bin of about size bytes, named tag.
func faultBinInput(tag string, size int) BinInput {
	return BinInput{
		FriendlyName: tag,
		Template:     "<Response><Say>" + tag + strings.Repeat(" padding", size/8) + "</Say></Response>",
		RenderPolicy: "lenient",
	}
}

// TestFaultDiskFull fills the file system under a database in use: a write
// that needs space fails with an error wrapping ENOSPC and changes nothing,
// reads go on, a failed flush of usage counters keeps them for the next,
// the file stays consistent, and once space returns writes succeed again
// and nothing acknowledged is missing after a reopen.
func TestFaultDiskFull(t *testing.T) {
	dir := faultfs.Mount(t, 4<<20)
	path := filepath.Join(dir, "twimlbin.db")
	db, err := Open(path, Options{FlushInterval: time.Hour})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	acct, _ := newAccount(t, db)
	first := newBin(t, db, acct, "before the disk filled")
	db.RecordRequest(first.SID, time.Now())
	require.NoError(t, db.Flush())

	filler := faultfs.Fill(t, dir)

	// Writes go on while freed pages last, then fail; every one that
	// returned without an error must survive.
	acked := []Bin{first}
	var werr error
	for i := 0; i < 200 && werr == nil; i++ {
		var b Bin
		b, werr = db.CreateBin(acct, faultBinInput(fmt.Sprintf("full %d", i), 16<<10))
		if werr == nil {
			acked = append(acked, b)
		}
	}
	require.Error(t, werr, "200 writes of 16 kB fitted in a full 4 MB file system")
	assert.ErrorIs(t, werr, syscall.ENOSPC)
	assert.Contains(t, werr.Error(), "create bin")
	_, err = db.UpdateBin(acct, first.SID, first.Revision, faultBinInput("too big to fit", 256<<10))
	assert.ErrorIs(t, err, syscall.ENOSPC)

	// Reads still work, and the failed writes left no trace.
	for _, want := range acked {
		got, err := db.BinBySID(want.SID)
		require.NoError(t, err)
		assert.Equal(t, want.Template, got.Template)
		assert.Equal(t, want.Revision, got.Revision)
	}
	page, err := db.ListBins(acct, MaxPageSize, "")
	require.NoError(t, err)
	assert.Len(t, page.Bins, len(acked))
	require.NoError(t, db.Check())

	// Usage counted while the disk is full is kept until a flush succeeds.
	for range 50 {
		db.RecordRequest(first.SID, time.Now())
		db.AddEvent(first.SID, Event{Time: time.Now(), Severity: "warning", Code: "TB403", Message: strings.Repeat("x", 1000)})
	}
	flushErr := db.Flush()
	if flushErr != nil {
		assert.ErrorIs(t, flushErr, syscall.ENOSPC)
	}
	t.Logf("flush on a full disk: %v", flushErr)

	// Space returns: writes and the flush succeed again.
	require.NoError(t, os.Remove(filler))
	b, err := db.CreateBin(acct, faultBinInput("after the disk emptied", 16<<10))
	require.NoError(t, err)
	acked = append(acked, b)
	updated, err := db.UpdateBin(acct, first.SID, first.Revision, faultBinInput("updated after", 1<<10))
	require.NoError(t, err)
	acked[0] = updated
	require.NoError(t, db.Flush())
	require.NoError(t, db.Close())

	db = openTestWith(t, path, Options{FlushInterval: time.Hour})
	for _, want := range acked {
		got, err := db.BinBySID(want.SID)
		require.NoError(t, err)
		assert.Equal(t, want.Template, got.Template)
		assert.Equal(t, want.Revision, got.Revision)
	}
	got, err := db.BinBySID(first.SID)
	require.NoError(t, err)
	assert.EqualValues(t, 51, got.NumRequests, "usage counted while the disk was full")
}

// TestFaultReadOnlyFile opens a database on a read-only file system (as
// root, a tmpfs remounted read-only, since root writes through file modes;
// otherwise a file of mode 0400). The store has no read-only mode: Open
// must refuse at once with an error that names the file and the reason,
// and leave the file as it was, so that it opens once writable again.
func TestFaultReadOnlyFile(t *testing.T) {
	var dir string
	root := runtime.GOOS == "linux" && os.Geteuid() == 0
	if root {
		dir = faultfs.Mount(t, 4<<20)
	} else {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, "twimlbin.db")
	db, err := Open(path, testOptions)
	require.NoError(t, err)
	acct, _ := newAccount(t, db)
	want := newBin(t, db, acct, "saved before")
	require.NoError(t, db.Close())

	var reason error = syscall.EACCES
	if root {
		require.NoError(t, syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""))
		reason = syscall.EROFS
	} else {
		require.NoError(t, os.Chmod(path, 0o400))
	}
	_, err = Open(path, testOptions)
	require.Error(t, err)
	assert.ErrorIs(t, err, reason)
	assert.Contains(t, err.Error(), path)
	assert.False(t, errors.Is(err, ErrLocked), "a read-only file is not a locked one: %v", err)

	if root {
		require.NoError(t, syscall.Mount("", dir, "", syscall.MS_REMOUNT, ""))
	} else {
		require.NoError(t, os.Chmod(path, 0o600))
	}
	db = openTestWith(t, path, testOptions)
	got, err := db.BinBySID(want.SID)
	require.NoError(t, err)
	assert.Equal(t, want.Template, got.Template)
}
