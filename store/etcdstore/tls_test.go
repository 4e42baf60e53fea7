package etcdstore

import (
	"context"
	"crypto/tls"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/twimlbin/twimlbin/internal/etcdtest"
	"github.com/twimlbin/twimlbin/store"
)

// refusedOpenTimeout bounds an Open that the members refuse: short, so
// that the test shows Open gives up when its context ends.
const refusedOpenTimeout = 2 * time.Second

// TestOpenTLS: over a cluster that serves clients over TLS and requires a
// client certificate, a node with the cluster's authority and a client
// certificate writes, and a second node reads the write from etcd; a
// node whose certificates the members refuse fails to open, within its
// context, with an error that says which certificate is wrong.
func TestOpenTLS(t *testing.T) {
	c := etcdtest.StartTLS(t, 1)
	good, err := c.TLS.Config()
	require.NoError(t, err)
	otherFiles, err := etcdtest.WriteTLSFiles(t.TempDir())
	require.NoError(t, err)
	other, err := otherFiles.Config()
	require.NoError(t, err)
	prefix := etcdtest.Prefix(t)

	t.Run("client certificate", func(t *testing.T) {
		s := nodeWith(t, Config{Endpoints: c.Endpoints, Prefix: prefix, TLS: good, Options: testOptions})
		acct := newAccount(t, s)
		b := newBin(t, s, acct, "secured")

		reader := nodeWith(t, Config{Endpoints: c.Endpoints, Prefix: prefix, TLS: good, Options: testOptions})
		got, err := reader.Bin(acct, b.SID)
		require.NoError(t, err)
		assert.Equal(t, b.Template, got.Template)
	})

	refused := []struct {
		name string
		tls  *tls.Config
		want string
	}{
		{"no client certificate", &tls.Config{RootCAs: good.RootCAs}, "requires a client certificate"},
		{"no certificate authority", &tls.Config{Certificates: good.Certificates}, "no certificate authority was given"},
		{"another authority", &tls.Config{RootCAs: other.RootCAs, Certificates: good.Certificates}, "not signed by the certificate authority given"},
		{"client certificate of another authority", &tls.Config{RootCAs: good.RootCAs, Certificates: other.Certificates}, "refused the client certificate"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), refusedOpenTimeout)
			defer cancel()
			s, err := Open(ctx, Config{Endpoints: c.Endpoints, Prefix: prefix, TLS: tt.tls, Options: testOptions, Logger: slog.New(slog.DiscardHandler)})
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded with certificates the members refuse")
			}
			assert.ErrorIs(t, err, store.ErrUnavailable)
			assert.ErrorContains(t, err, "etcd at "+c.Endpoints[0])
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

func TestTLSAddress(t *testing.T) {
	tests := []struct {
		endpoint string
		hasTLS   bool
		want     string
		wantOK   bool
	}{
		{"https://127.0.0.1:2379", false, "127.0.0.1:2379", true},
		{"https://10.0.0.1:2379", true, "10.0.0.1:2379", true},
		{"http://127.0.0.1:2379", true, "", false},
		{"127.0.0.1:2379", true, "127.0.0.1:2379", true},
		{"127.0.0.1:2379", false, "127.0.0.1:2379", false},
		{"unix://etcd.sock", true, "", false},
	}
	for _, tt := range tests {
		got, ok := tlsAddress(tt.endpoint, tt.hasTLS)
		if ok != tt.wantOK || (ok && got != tt.want) {
			t.Errorf("tlsAddress(%q, %v) = %q, %v; want %q, %v", tt.endpoint, tt.hasTLS, got, ok, tt.want, tt.wantOK)
		}
	}
}
