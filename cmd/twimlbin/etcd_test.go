package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/twimlbin/twimlbin/store"
)

// writeCert writes a self-signed certificate and its key as PEM files.
func writeCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "twimlbin"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	return certFile, keyFile
}

func TestEtcdTLSConfig(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeCert(t, dir)

	cfg, err := etcdFlags{Endpoints: "http://127.0.0.1:2379"}.tlsConfig()
	require.NoError(t, err)
	assert.Nil(t, cfg, "plain endpoints and no files: no TLS")

	cfg, err = etcdFlags{Endpoints: "https://127.0.0.1:2379"}.tlsConfig()
	require.NoError(t, err)
	require.NotNil(t, cfg, "an https endpoint: TLS with the system's roots")
	assert.Nil(t, cfg.RootCAs)

	cfg, err = etcdFlags{Endpoints: "https://127.0.0.1:2379", Cert: cert, Key: key, CA: cert}.tlsConfig()
	require.NoError(t, err)
	assert.Len(t, cfg.Certificates, 1)
	assert.NotNil(t, cfg.RootCAs)

	_, err = etcdFlags{Endpoints: "https://127.0.0.1:2379", CA: key}.tlsConfig()
	assert.ErrorContains(t, err, "holds no PEM certificate")
	_, err = etcdFlags{Endpoints: "https://127.0.0.1:2379", CA: filepath.Join(dir, "missing.pem")}.tlsConfig()
	assert.ErrorContains(t, err, "etcd certificate authority")
}

// TestEtcdCompactInterval: --etcd-compact-interval reaches the store, 0
// as never; the commands without the flag do not compact.
func TestEtcdCompactInterval(t *testing.T) {
	for flag, want := range map[time.Duration]time.Duration{time.Hour: time.Hour, 0: -1} {
		cfg, err := etcdFlags{Endpoints: "http://127.0.0.1:2379", CompactInterval: flag}.config(store.Options{}, nil)
		require.NoError(t, err)
		assert.Equal(t, want, cfg.CompactInterval, "--etcd-compact-interval %s", flag)
	}
}
