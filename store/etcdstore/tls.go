package etcdstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// checkTLS looks for what keeps the client from reaching the members
// over TLS, once Open has found them unreachable: the etcd client says no
// more than that its calls ran out of time. It connects to each TLS
// endpoint with cfg.TLS, as the client does, within DialTimeout, and
// returns the first problem a handshake shows, saying what to check: a
// member certificate that the certificate authority given (or, with
// none, the system's) did not sign, a member that asks for a client
// certificate when none was given, or one that closes the connection
// after the handshake, having refused the client certificate. It returns
// nil when it finds none: the members are down, say, or do not use TLS.
func checkTLS(ctx context.Context, cfg Config) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.DialTimeout)
	defer cancel()
	for _, endpoint := range cfg.Endpoints {
		addr, ok := tlsAddress(endpoint, cfg.TLS != nil)
		if !ok {
			continue
		}
		if err := checkTLSMember(ctx, addr, cfg.TLS); err != nil {
			return fmt.Errorf("etcd at %s: %w", endpoint, err)
		}
	}
	return nil
}

// tlsAddress returns the host:port of endpoint when the client reaches
// it over TLS: an https:// URL, or one without a scheme when the client
// has a TLS configuration.
func tlsAddress(endpoint string, hasTLS bool) (string, bool) {
	if !strings.Contains(endpoint, "://") {
		return endpoint, hasTLS
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "https" {
		return "", false
	}
	return u.Host, true
}

// checkTLSMember connects to the member at addr over TLS with base (nil
// for the system's roots and no client certificate) and asks for its
// health, returning what the member refused, if anything.
func checkTLSMember(ctx context.Context, addr string, base *tls.Config) error {
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil // the member cannot be reached at all: not a matter of TLS
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}

	cfg := &tls.Config{}
	if base != nil {
		cfg = base.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName, _, _ = net.SplitHostPort(addr)
	}
	// A client without a certificate answers a request for one with
	// none; note the request.
	asked := false
	if len(cfg.Certificates) == 0 && cfg.GetClientCertificate == nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			asked = true
			return &tls.Certificate{}, nil
		}
	}

	client := tls.Client(conn, cfg)
	if err := client.HandshakeContext(ctx); err != nil {
		if isTimeout(err) {
			return nil
		}
		var unknown x509.UnknownAuthorityError
		switch {
		case errors.As(err, &unknown) && cfg.RootCAs == nil:
			return fmt.Errorf("the member's certificate is not signed by an authority this system trusts, and no certificate authority was given (%v): give the authority that signed the members' certificates (their --cert-file)", err)
		case errors.As(err, &unknown):
			return fmt.Errorf("the member's certificate is not signed by the certificate authority given (%v): give the authority that signed the members' certificates (their --cert-file)", err)
		}
		return fmt.Errorf("the TLS handshake failed (%v): check the certificate authority, the client certificate and its key", err)
	}
	if asked {
		return errors.New("the member requires a client certificate (--client-cert-auth) and none was given: give a client certificate and its key, signed by the authority the members trust (their --trusted-ca-file)")
	}

	// Over TLS 1.3 the member checks the client certificate after the
	// client's side of the handshake is done, and closes the connection
	// when it refuses it: a request shows which.
	_, err = fmt.Fprintf(client, "GET /health HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", addr)
	if err == nil {
		_, err = client.Read(make([]byte, 1))
	}
	if err != nil && !isTimeout(err) {
		return fmt.Errorf("the member closed the connection after the TLS handshake (%v): it refused the client certificate: give one signed by the authority the members trust (their --trusted-ca-file), and not expired", err)
	}
	return nil
}

// isTimeout reports whether err is a deadline running out.
func isTimeout(err error) bool {
	var netErr net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout())
}
