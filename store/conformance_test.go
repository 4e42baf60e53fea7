package store_test

import (
	"path/filepath"
	"testing"

	"github.com/twimlbin/twimlbin/store"
	"github.com/twimlbin/twimlbin/store/storetest"
)

// TestConformance runs the suite every backend passes against the bbolt
// file: one file per test, reopened for a restart, checked for
// consistency before each close. The file takes one DB at a time.
func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Backend{
		NewStorage: func(t *testing.T) storetest.Opener {
			path := filepath.Join(t.TempDir(), "twimlbin.db")
			return func(opts store.Options) (store.Store, error) {
				return store.Open(path, opts)
			}
		},
		Check: func(s store.Store) error { return s.(*store.DB).Check() },
	})
}
