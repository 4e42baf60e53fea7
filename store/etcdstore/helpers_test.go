package etcdstore

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/twimlbin/twimlbin/internal/etcdtest"
	"github.com/twimlbin/twimlbin/store"
)

func TestMain(m *testing.M) {
	code := m.Run()
	etcdtest.StopShared()
	os.Exit(code)
}

// testOptions never flush on their own during a test: tests flush when
// they mean to.
var testOptions = store.Options{FlushInterval: time.Hour}

// eventually is how long a test waits for one node to see another's
// write: generous, since the machine may be busy; it is a bound, not a
// measure.
const eventually = 10 * time.Second

// node opens a Store on the cluster's endpoints under prefix, closed when
// the test ends.
func node(t testing.TB, endpoints []string, prefix string, opts store.Options) *Store {
	t.Helper()
	return nodeWith(t, Config{Endpoints: endpoints, Prefix: prefix, Options: opts})
}

// nodeWith opens a Store with cfg, quiet unless it is told a logger,
// closed when the test ends.
func nodeWith(t testing.TB, cfg Config) *Store {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := Open(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// shared opens a Store on the shared etcd under a prefix of its own, and
// returns it with the endpoints and the prefix, for a second node.
func shared(t testing.TB, opts store.Options) (*Store, []string, string) {
	t.Helper()
	endpoints, prefix := etcdtest.Shared(t).Endpoints, etcdtest.Prefix(t)
	return node(t, endpoints, prefix, opts), endpoints, prefix
}

// client returns an etcd client of its own, closed when the test ends,
// to look at what the store wrote.
func client(t testing.TB, endpoints []string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

func newAccount(t testing.TB, s *Store) string {
	t.Helper()
	acct, _, err := s.CreateAccount("test")
	require.NoError(t, err)
	return acct.SID
}

func newBin(t testing.TB, s *Store, accountSID, name string) store.Bin {
	t.Helper()
	b, err := s.CreateBin(accountSID, store.BinInput{
		FriendlyName: name,
		Template:     "<Response><Say>" + name + "</Say></Response>",
		RenderPolicy: "lenient",
	})
	require.NoError(t, err)
	return b
}

// waitFor polls cond until it holds, failing the test after eventually.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(eventually)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", eventually, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ctx is a context for a test's own calls into etcd.
func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), eventually)
	t.Cleanup(cancel)
	return c
}
