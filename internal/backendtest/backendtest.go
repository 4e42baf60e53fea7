// Package backendtest opens, for the tests of the packages above the
// store (api, web), the store backend that the test run names:
// TWIMLBIN_TEST_BACKEND=bolt (the default) for a database file in the
// test's temporary directory, or etcd for a key prefix of the test's own
// in an etcd member shared by the test binary (internal/etcdtest).
// `make test` runs those packages once on each.
package backendtest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/twimlbin/twimlbin/store"
)

// Variable is the environment variable that names the backend.
const Variable = "TWIMLBIN_TEST_BACKEND"

// Backend names.
const (
	Bolt = "bolt"
	Etcd = "etcd"
)

// Name returns the backend of this test run.
func Name() string {
	if v := os.Getenv(Variable); v != "" {
		return v
	}
	return Bolt
}

// IsBolt reports whether this run is on the bbolt file, for a test of
// what only a file does (read-only files, their size, copies of them).
func IsBolt() bool { return Name() == Bolt }

// SkipUnlessBolt skips a test of what only the database file does.
func SkipUnlessBolt(t testing.TB, why string) {
	t.Helper()
	if !IsBolt() {
		t.Skipf("on the %s backend: %s", Name(), why)
	}
}

// Storage is the storage of one test.
type Storage struct {
	// Open opens a store on it; every call opens the same storage again
	// (after the last store on it was closed: a restart). The caller
	// closes what it opens.
	Open func(opts store.Options) (store.Store, error)
	// Path is the database file on the bolt backend, "" on etcd.
	Path string
}

// New makes empty storage for the test on this run's backend.
func New(t testing.TB) Storage {
	t.Helper()
	switch Name() {
	case Bolt:
		path := filepath.Join(t.TempDir(), "twimlbin.db")
		return Storage{Path: path, Open: func(opts store.Options) (store.Store, error) { return store.Open(path, opts) }}
	case Etcd:
		return etcdStorage(t)
	}
	t.Fatalf("%s=%q: use %s or %s", Variable, Name(), Bolt, Etcd)
	return Storage{}
}

// Check runs the backend's own consistency check on s, where it has one.
func Check(s store.Store) error {
	if c, ok := s.(interface{ Check() error }); ok {
		if err := c.Check(); err != nil {
			return fmt.Errorf("consistency check: %w", err)
		}
	}
	return nil
}

// OlderRevisions is a store holding a revision saved under older rules,
// which the store's writes no longer make: revision 1 of every bin reads
// as Edit changes it. Everything else is the Store's.
type OlderRevisions struct {
	store.Store
	Edit func(*store.Revision)
}

// Revision reads the revision, changed by Edit when it is revision 1.
func (o OlderRevisions) Revision(accountSID, sid string, rev int) (store.Revision, error) {
	r, err := o.Store.Revision(accountSID, sid, rev)
	if err == nil && rev == 1 {
		o.Edit(&r)
	}
	return r, err
}
