package etcdstore

import (
	"context"
	"log/slog"
	"testing"

	"github.com/twimlbin/twimlbin/internal/etcdtest"
	"github.com/twimlbin/twimlbin/store"
	"github.com/twimlbin/twimlbin/store/storetest"
)

// TestConformance runs the suite every backend passes against etcd: a key
// prefix of its own per test on the shared member, a new Store on the same
// prefix for a restart or a second node.
func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Backend{
		NewStorage: func(t *testing.T) storetest.Opener {
			endpoints, prefix := etcdtest.Shared(t).Endpoints, etcdtest.Prefix(t)
			return func(opts store.Options) (store.Store, error) {
				return Open(context.Background(), Config{
					Endpoints: endpoints,
					Prefix:    prefix,
					Options:   opts,
					Logger:    slog.New(slog.DiscardHandler),
				})
			}
		},
		Shared: true,
	})
}
