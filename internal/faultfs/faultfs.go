// Package faultfs gives tests a small file system they can fill or make
// read-only without touching anything else on the machine.
package faultfs

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// Mount mounts a tmpfs of size bytes on a new temporary directory and
// unmounts it when the test ends. Mounting needs root on Linux; elsewhere
// the test is skipped. Cleanups run last registered first: the unmount runs
// after those the test registers later (closing a database, killing a
// server that holds files open) and before the directory is removed.
func Mount(t *testing.T, size int) string {
	t.Helper()
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root on Linux")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
			_ = syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dir
}

// Fill writes a file in dir until the file system is full, and returns its
// path: removing it gives the space back.
func Fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	require.NoError(t, err)
	defer f.Close()
	chunk := make([]byte, 4<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			require.ErrorIs(t, err, syscall.ENOSPC)
			return path
		}
	}
}

// ReadOnlyDir is a directory whose files a test can make unwritable and
// writable again: as root on Linux, a tmpfs it remounts read-only, since
// root writes through file modes; otherwise a temporary directory whose
// files it gives mode 0400.
type ReadOnlyDir struct {
	Dir  string
	t    *testing.T
	root bool
}

// NewReadOnlyDir makes a ReadOnlyDir with room for size bytes.
func NewReadOnlyDir(t *testing.T, size int) *ReadOnlyDir {
	t.Helper()
	d := &ReadOnlyDir{t: t, root: runtime.GOOS == "linux" && os.Geteuid() == 0}
	if d.root {
		d.Dir = Mount(t, size)
	} else {
		d.Dir = t.TempDir()
	}
	return d
}

// Freeze makes the file at path, in d.Dir, unwritable, and returns the
// error that opening it for writing now fails with.
func (d *ReadOnlyDir) Freeze(path string) syscall.Errno {
	d.t.Helper()
	if d.root {
		require.NoError(d.t, syscall.Mount("", d.Dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""))
		return syscall.EROFS
	}
	require.NoError(d.t, os.Chmod(path, 0o400))
	return syscall.EACCES
}

// Thaw makes the file at path writable again.
func (d *ReadOnlyDir) Thaw(path string) {
	d.t.Helper()
	if d.root {
		require.NoError(d.t, syscall.Mount("", d.Dir, "", syscall.MS_REMOUNT, ""))
		return
	}
	require.NoError(d.t, os.Chmod(path, 0o600))
}
