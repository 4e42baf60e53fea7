package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
	_, err = db.UpdateBin(acct, first.SID, first.Revision, faultBinInput("too big to fit", 60<<10))
	assert.ErrorIs(t, err, syscall.ENOSPC)

	// Reads still work, and the failed writes left no trace.
	for _, want := range acked {
		got, err := db.BinBySID(want.SID)
		require.NoError(t, err)
		assert.Equal(t, want.Template, got.Template)
		assert.Equal(t, want.Revision, got.Revision)
	}
	page, err := db.ListBins(acct, ListQuery{PageSize: MaxPageSize})
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

// TestFaultReadOnlyFile opens a database that cannot be written. Opening
// it for writing is refused at once with an error that names the file and
// the reason; opening it read-only serves every read, counts usage in
// memory, refuses each write with ErrReadOnly and changes nothing, so that
// the file opens for writing, as it was, once it is writable again.
func TestFaultReadOnlyFile(t *testing.T) {
	ro := faultfs.NewReadOnlyDir(t, 4<<20)
	path := filepath.Join(ro.Dir, "twimlbin.db")
	db, err := Open(path, testOptions)
	require.NoError(t, err)
	acct, _ := newAccount(t, db)
	want := newBin(t, db, acct, "saved before")
	db.RecordRequest(want.SID, time.Now())
	require.NoError(t, db.Close())

	reason := ro.Freeze(path)
	_, err = Open(path, testOptions)
	require.Error(t, err)
	assert.ErrorIs(t, err, reason)
	assert.Contains(t, err.Error(), path)
	assert.False(t, errors.Is(err, ErrLocked), "a read-only file is not a locked one: %v", err)

	db, err = Open(path, Options{ReadOnly: true})
	require.NoError(t, err)
	assert.True(t, db.ReadOnly())
	got, err := db.BinBySID(want.SID)
	require.NoError(t, err)
	assert.Equal(t, want.Template, got.Template)
	assert.EqualValues(t, 1, got.NumRequests)
	_, err = db.Authenticate(acct, "wrong")
	assert.ErrorIs(t, err, ErrUnauthorized, "sign-in checks still work")

	db.RecordRequest(want.SID, time.Now())
	db.AddEvent(want.SID, Event{Code: "TB403", Message: "counted in memory"})
	require.NoError(t, db.Flush(), "a read-only flush keeps usage in memory")
	got, err = db.Bin(acct, want.SID)
	require.NoError(t, err)
	assert.EqualValues(t, 2, got.NumRequests, "usage counted in memory")
	events, err := db.Events(acct, want.SID, 0)
	require.NoError(t, err)
	assert.Equal(t, []string{"TB403"}, codes(events))

	writes := map[string]func() error{
		"create account": func() error { _, _, err := db.CreateAccount("x"); return err },
		"create bin":     func() error { _, err := db.CreateBin(acct, faultBinInput("new", 10)); return err },
		"update bin":     func() error { _, err := db.UpdateBin(acct, want.SID, 0, faultBinInput("new", 10)); return err },
		"restore":        func() error { _, err := db.RestoreRevision(acct, want.SID, 1, 0); return err },
		"delete bin":     func() error { return db.DeleteBin(acct, want.SID, 0) },
		"rotate token":   func() error { _, err := db.RotateAuthToken(acct); return err },
	}
	for name, write := range writes {
		assert.ErrorIs(t, write(), ErrReadOnly, name)
	}
	require.NoError(t, db.Check())
	require.NoError(t, db.Close())

	ro.Thaw(path)
	db = openTestWith(t, path, testOptions)
	got, err = db.BinBySID(want.SID)
	require.NoError(t, err)
	assert.Equal(t, want.Template, got.Template)
	assert.Equal(t, want.Revision, got.Revision)
	assert.EqualValues(t, 1, got.NumRequests, "usage counted read-only is not written")
}
