package etcdtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// certLifetime is how long the certificates of a secured cluster are
// valid: longer than any test.
const certLifetime = time.Hour

// TLSFiles are the PEM files a client needs to reach a secured cluster:
// the certificate authority that signed the members' server certificates
// and the client's, and the client's certificate and key.
type TLSFiles struct {
	CA, Cert, Key string
}

// Config returns the client TLS configuration of the files, as a program
// of the secured cluster would build it: the CA as its only root, the
// client certificate presented to the members.
func (f TLSFiles) Config() (*tls.Config, error) {
	pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("etcdtest: client certificate: %w", err)
	}
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		return nil, fmt.Errorf("etcdtest: certificate authority: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("etcdtest: certificate authority %s holds no PEM certificate", f.CA)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: roots, MinVersion: tls.VersionTLS12}, nil
}

// WriteTLSFiles makes a certificate authority of its own and a client
// certificate signed by it, as StartTLS does for a cluster, and writes
// them under dir: files that no cluster trusts, for a test of a client
// that a secured cluster must refuse.
func WriteTLSFiles(dir string) (TLSFiles, error) {
	client, _, err := writeTLSFiles(dir)
	return client, err
}

// writeTLSFiles makes a certificate authority, a server certificate for
// 127.0.0.1 and a client certificate, all ECDSA P-256 and valid for
// certLifetime, and writes them as PEM files under dir/tls. It returns
// the files of the client and those of the members (the CA they trust
// for client certificates, their certificate and key).
func writeTLSFiles(dir string) (client, server TLSFiles, err error) {
	dir = filepath.Join(dir, "tls")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return TLSFiles{}, TLSFiles{}, fmt.Errorf("etcdtest: certificates: %w", err)
	}
	notBefore := time.Now().Add(-time.Minute) // a member's clock may be a little behind
	notAfter := notBefore.Add(certLifetime)

	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return TLSFiles{}, TLSFiles{}, fmt.Errorf("etcdtest: certificates: %w", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "etcdtest CA"},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return TLSFiles{}, TLSFiles{}, fmt.Errorf("etcdtest: certificates: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return TLSFiles{}, TLSFiles{}, fmt.Errorf("etcdtest: certificates: %w", err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := writePEM(caFile, "CERTIFICATE", caDER); err != nil {
		return TLSFiles{}, TLSFiles{}, err
	}

	// The server certificate serves clients, and is a client too: etcd's
	// JSON gateway reaches the member's own gRPC with it.
	serverCert, serverKey, err := issue(dir, "server", ca, caKey, &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "etcdtest member"},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	})
	if err != nil {
		return TLSFiles{}, TLSFiles{}, err
	}
	clientCert, clientKey, err := issue(dir, "client", ca, caKey, &x509.Certificate{
		SerialNumber: big.NewInt(3),
		Subject:      pkix.Name{CommonName: "twimlbin"},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return TLSFiles{}, TLSFiles{}, err
	}
	return TLSFiles{CA: caFile, Cert: clientCert, Key: clientKey},
		TLSFiles{CA: caFile, Cert: serverCert, Key: serverKey}, nil
}

// issue makes a key and the certificate of tmpl for it, signed by ca, and
// writes them to dir as name.pem and name-key.pem.
func issue(dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, tmpl *x509.Certificate) (certFile, keyFile string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("etcdtest: %s certificate: %w", name, err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return "", "", fmt.Errorf("etcdtest: %s certificate: %w", name, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", fmt.Errorf("etcdtest: %s key: %w", name, err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	if err := writePEM(certFile, "CERTIFICATE", der); err != nil {
		return "", "", err
	}
	if err := writePEM(keyFile, "EC PRIVATE KEY", keyDER); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// writePEM writes der as one PEM block of type typ, readable by its owner
// only.
func writePEM(path, typ string, der []byte) error {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("etcdtest: %w", err)
	}
	return nil
}
