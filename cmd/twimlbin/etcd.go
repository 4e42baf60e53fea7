package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/twimlbin/twimlbin/store"
	"github.com/twimlbin/twimlbin/store/etcdstore"
)

// defaultEtcdPrefix is where twimlbin keeps its keys in etcd, unless
// --etcd-prefix says otherwise.
const defaultEtcdPrefix = "/twimlbin/"

// etcdOpenTimeout bounds connecting to the cluster and loading what it
// holds, at start.
const etcdOpenTimeout = time.Minute

// etcdFlags are the flags that put the data in an etcd cluster, shared by
// every command that opens a store.
type etcdFlags struct {
	Endpoints string // comma-separated client URLs; "" for the database file
	Prefix    string
	// Cert and Key are the client certificate and its key, CA the
	// certificate authority of the cluster's server certificates: the
	// files of a secured cluster, PEM-encoded.
	Cert, Key, CA string
	// CompactInterval is how often the store compacts etcd's history; 0
	// for never. Only serve has the flag: the other commands' stores do
	// not live long enough to compact.
	CompactInterval time.Duration
}

// define adds the flags to fs, with the environment as defaults.
func (f *etcdFlags) define(fs *flag.FlagSet, getenv func(string) string) {
	fs.StringVar(&f.Endpoints, "etcd-endpoints", getenv("TWIMLBIN_ETCD_ENDPOINTS"),
		"comma-separated client URLs of an etcd cluster to keep the data in, such as http://10.0.0.1:2379,http://10.0.0.2:2379 (default: the database file of --db)")
	f.defineConnection(fs, getenv)
}

// defineConnection adds the flags but --etcd-endpoints, for a command
// that names the cluster otherwise (migrate).
func (f *etcdFlags) defineConnection(fs *flag.FlagSet, getenv func(string) string) {
	f.Prefix = defaultEtcdPrefix
	if v := getenv("TWIMLBIN_ETCD_PREFIX"); v != "" {
		f.Prefix = v
	}
	fs.StringVar(&f.Prefix, "etcd-prefix", f.Prefix, "key prefix under which the data is kept in etcd")
	fs.StringVar(&f.Cert, "etcd-cert", getenv("TWIMLBIN_ETCD_CERT"), "client certificate file (PEM) for a cluster that requires one")
	fs.StringVar(&f.Key, "etcd-key", getenv("TWIMLBIN_ETCD_KEY"), "key file (PEM) of --etcd-cert")
	fs.StringVar(&f.CA, "etcd-ca", getenv("TWIMLBIN_ETCD_CA"), "certificate authority file (PEM) of the cluster's server certificates")
}

// defineCompaction adds --etcd-compact-interval, for serve, with the
// environment as default. A variable that is not a duration is an error.
func (f *etcdFlags) defineCompaction(fs *flag.FlagSet, getenv func(string) string) error {
	f.CompactInterval = etcdstore.DefaultCompactInterval
	if v := getenv("TWIMLBIN_ETCD_COMPACT_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("TWIMLBIN_ETCD_COMPACT_INTERVAL=%q is not a duration such as 5m (0 for never)", v)
		}
		f.CompactInterval = d
	}
	fs.DurationVar(&f.CompactInterval, "etcd-compact-interval", f.CompactInterval,
		"how often each node compacts etcd's history, keeping the history of the last interval (0: never, for a cluster run with --auto-compaction-retention)")
	return nil
}

func (f etcdFlags) enabled() bool { return f.Endpoints != "" }

// endpoints returns the client URLs, each checked.
func (f etcdFlags) endpoints() ([]string, error) {
	var out []string
	for _, e := range strings.Split(f.Endpoints, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("etcd endpoint %q: give a client URL such as http://10.0.0.1:2379 (https:// for a cluster with TLS)", e)
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil, errors.New("--etcd-endpoints names no endpoint: give client URLs such as http://10.0.0.1:2379, separated by commas")
	}
	return out, nil
}

// check reports flags that cannot work together, before anything opens.
func (f etcdFlags) check() error {
	if !f.enabled() {
		if f.Cert != "" || f.Key != "" || f.CA != "" {
			return errors.New("--etcd-cert, --etcd-key and --etcd-ca need --etcd-endpoints")
		}
		return nil
	}
	if _, err := f.endpoints(); err != nil {
		return err
	}
	if !strings.HasPrefix(f.Prefix, "/") || !strings.HasSuffix(f.Prefix, "/") {
		return fmt.Errorf("--etcd-prefix %q: give a prefix that begins and ends with /, such as /twimlbin/", f.Prefix)
	}
	if (f.Cert == "") != (f.Key == "") {
		return errors.New("--etcd-cert and --etcd-key go together: give both, or neither")
	}
	if f.CompactInterval < 0 {
		return fmt.Errorf("--etcd-compact-interval %s is negative: give a duration such as 5m, or 0 to leave compaction to etcd", f.CompactInterval)
	}
	return nil
}

// tlsConfig is the client TLS configuration of the flags, nil when they
// name no file and no endpoint is https.
func (f etcdFlags) tlsConfig() (*tls.Config, error) {
	if f.Cert == "" && f.CA == "" && !strings.Contains(f.Endpoints, "https://") {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.Cert != "" {
		pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, fmt.Errorf("etcd client certificate %s and key %s: %w", f.Cert, f.Key, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if f.CA != "" {
		pem, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, fmt.Errorf("etcd certificate authority: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcd certificate authority %s holds no PEM certificate", f.CA)
		}
	}
	return cfg, nil
}

// open opens the store in the cluster: it connects, reads every account
// and bin into memory and starts the watch that keeps them current.
func (f etcdFlags) open(opts store.Options, logger *slog.Logger) (store.Store, error) {
	cfg, err := f.config(opts, logger)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), etcdOpenTimeout)
	defer cancel()
	return etcdstore.Open(ctx, cfg)
}

// config is the store's configuration of the flags.
func (f etcdFlags) config(opts store.Options, logger *slog.Logger) (etcdstore.Config, error) {
	endpoints, err := f.endpoints()
	if err != nil {
		return etcdstore.Config{}, err
	}
	tlsCfg, err := f.tlsConfig()
	if err != nil {
		return etcdstore.Config{}, err
	}
	compact := f.CompactInterval
	if compact == 0 {
		compact = -1 // never, in etcdstore.Config's terms
	}
	return etcdstore.Config{Endpoints: endpoints, Prefix: f.Prefix, TLS: tlsCfg, CompactInterval: compact, Options: opts, Logger: logger}, nil
}

// storeName says where the data is, for the start-up line.
func (c serveConfig) storeName() string {
	if c.Etcd.enabled() {
		return "etcd " + c.Etcd.Endpoints + " under " + c.Etcd.Prefix
	}
	return c.DB
}
