package backendtest

import (
	"context"
	"log/slog"
	"testing"

	"github.com/twimlbin/twimlbin/internal/etcdtest"
	"github.com/twimlbin/twimlbin/store"
	"github.com/twimlbin/twimlbin/store/etcdstore"
)

func init() {
	etcdStorage = func(t testing.TB) Storage {
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
}
