package backendtest

import (
	"context"
	"log/slog"
	"testing"

	"github.com/twimlbin/twimlbin/internal/etcdtest"
	"github.com/twimlbin/twimlbin/store"
	"github.com/twimlbin/twimlbin/store/etcdstore"
)

// etcdStorage is New on etcd: a prefix of the test's own in the member
// that the test binary shares (etcdtest.Shared). A TestMain calls
// etcdtest.StopShared after the tests to stop it and remove its data.
func etcdStorage(t testing.TB) Storage {
	t.Helper()
	endpoints, prefix := etcdtest.Shared(t).Endpoints, etcdtest.Prefix(t)
	return Storage{Open: func(opts store.Options) (store.Store, error) {
		return etcdstore.Open(context.Background(), etcdstore.Config{
			Endpoints: endpoints,
			Prefix:    prefix,
			Options:   opts,
			Logger:    slog.New(slog.DiscardHandler),
		})
	}}
}
