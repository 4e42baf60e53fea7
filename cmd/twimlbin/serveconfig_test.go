package main

import (
	"bytes"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseServeConfig(t *testing.T) {
	env := map[string]string{
		"TWIMLBIN_ADDR":            ":9000",
		"TWIMLBIN_DB":              "/var/lib/twimlbin/db",
		"TWIMLBIN_PUBLIC_URL":      "https://bins.example.com",
		"TWIMLBIN_OPEN_SIGNUP":     "true",
		"TWIMLBIN_READ_ONLY":       "1",
		"TWIMLBIN_SHUTDOWN_DELAY":  "5s",
		"TWIMLBIN_LOG_LEVEL":       "debug",
		"TWIMLBIN_BACKUP_ACCOUNTS": "ACa, ACb",
		"TWIMLBIN_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7",

		"TWIMLBIN_REVISIONS_KEPT":        "7",
		"TWIMLBIN_MAX_BINS_PER_ACCOUNT":  "0",
		"TWIMLBIN_MAX_BYTES_PER_ACCOUNT": "1048576",
		"TWIMLBIN_WEB_ADDR":              ":9001",
		"TWIMLBIN_WEB_PUBLIC_URL":        "https://twimlbin.example.com",
		"TWIMLBIN_CHECK_DB":              "true",
		"TWIMLBIN_GC_HEAP_FLOOR":         "16",
	}
	getenv := func(k string) string { return env[k] }

	t.Run("defaults", func(t *testing.T) {
		cfg, _, ok := parseServeConfig(nil, func(string) string { return "" }, &bytes.Buffer{})
		require.True(t, ok)
		assert.Equal(t, serveConfig{Addr: "127.0.0.1:8080", DB: "data/twimlbin.db", LogLevel: slog.LevelInfo,
			RevisionsKept: 100, MaxBinsPerAccount: 10000, MaxBytesPerAccount: 256 << 20, GCHeapFloor: 32, Etcd: etcdFlags{Prefix: "/twimlbin/", CompactInterval: 5 * time.Minute}}, cfg)
	})
	t.Run("environment", func(t *testing.T) {
		cfg, _, ok := parseServeConfig(nil, getenv, &bytes.Buffer{})
		require.True(t, ok)
		assert.Equal(t, serveConfig{Addr: ":9000", DB: "/var/lib/twimlbin/db", PublicURL: "https://bins.example.com",
			WebAddr: ":9001", WebPublicURL: "https://twimlbin.example.com",
			OpenSignup: true, ReadOnly: true, ShutdownDelay: 5 * time.Second, LogLevel: slog.LevelDebug, BackupAccounts: []string{"ACa", "ACb"},
			TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32")},
			RevisionsKept:  7, MaxBinsPerAccount: 0, MaxBytesPerAccount: 1 << 20, CheckDB: true, GCHeapFloor: 16, Etcd: etcdFlags{Prefix: "/twimlbin/", CompactInterval: 5 * time.Minute}}, cfg)
	})
	t.Run("flags win", func(t *testing.T) {
		cfg, _, ok := parseServeConfig([]string{"--addr", "127.0.0.1:1", "--open-signup=false", "--read-only=false", "--log-level", "error",
			"--revisions-kept", "1", "--max-bins-per-account", "5", "--check-db=false", "--gc-heap-floor", "0"}, getenv, &bytes.Buffer{})
		require.True(t, ok)
		assert.Equal(t, "127.0.0.1:1", cfg.Addr)
		assert.False(t, cfg.OpenSignup)
		assert.False(t, cfg.ReadOnly)
		assert.False(t, cfg.CheckDB)
		assert.Equal(t, 5*time.Second, cfg.ShutdownDelay, "the variable stands when no flag is given")
		assert.Equal(t, slog.LevelError, cfg.LogLevel)
		assert.Equal(t, 1, cfg.RevisionsKept, "the least there is")
		assert.Equal(t, 5, cfg.MaxBinsPerAccount)
		assert.Equal(t, int64(1<<20), cfg.MaxBytesPerAccount)
		assert.Zero(t, cfg.GCHeapFloor)
	})
	t.Run("GOGC leaves the collector alone", func(t *testing.T) {
		cfg, _, ok := parseServeConfig([]string{"--gc-heap-floor", "64"}, func(k string) string {
			if k == "GOGC" {
				return "200"
			}
			return ""
		}, &bytes.Buffer{})
		require.True(t, ok)
		assert.Zero(t, cfg.GCHeapFloor)
	})
	for _, args := range [][]string{{"--log-level", "loud"}, {"extra"}, {"--nope"}, {"--shutdown-delay", "-1s"}, {"--shutdown-delay", "soon"},
		{"--trusted-proxies", "proxy.example.com"}, {"--trusted-proxies", "10.0.0.0/33"},
		{"--revisions-kept", "0"}, {"--max-bins-per-account", "-1"}, {"--max-bytes-per-account", "lots"}, {"--gc-heap-floor", "-1"}} {
		t.Run("bad "+args[0], func(t *testing.T) {
			var stderr bytes.Buffer
			_, code, ok := parseServeConfig(args, func(string) string { return "" }, &stderr)
			assert.False(t, ok)
			assert.Equal(t, exitUsage, code)
			assert.NotEmpty(t, stderr.String())
		})
	}
	t.Run("the web form's own address", func(t *testing.T) {
		cfg, _, ok := parseServeConfig([]string{"--web-addr", "127.0.0.1:8081", "--web-public-url", "https://twimlbin.example.com"}, func(string) string { return "" }, &bytes.Buffer{})
		require.True(t, ok)
		assert.Equal(t, "127.0.0.1:8081", cfg.WebAddr)
		assert.Equal(t, "https://twimlbin.example.com", cfg.WebPublicURL)
	})
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"--web-public-url without --web-addr", []string{"--web-public-url", "https://twimlbin.example.com"}, "--web-public-url needs --web-addr"},
		{"--web-addr equal to --addr", []string{"--addr", "127.0.0.1:8080", "--web-addr", "127.0.0.1:8080"}, "--web-addr 127.0.0.1:8080 is --addr too"},
		{"etcd endpoint", []string{"--etcd-endpoints", "10.0.0.1:2379"}, `etcd endpoint "10.0.0.1:2379": give a client URL such as http://10.0.0.1:2379`},
		{"empty etcd endpoints", []string{"--etcd-endpoints", " , "}, "--etcd-endpoints names no endpoint"},
		{"etcd prefix", []string{"--etcd-endpoints", "http://127.0.0.1:2379", "--etcd-prefix", "twimlbin"}, `--etcd-prefix "twimlbin": give a prefix that begins and ends with /`},
		{"etcd cert without key", []string{"--etcd-endpoints", "https://127.0.0.1:2379", "--etcd-cert", "c.pem"}, "--etcd-cert and --etcd-key go together"},
		{"etcd TLS without etcd", []string{"--etcd-ca", "ca.pem"}, "need --etcd-endpoints"},
		{"--read-only with etcd", []string{"--etcd-endpoints", "http://127.0.0.1:2379", "--read-only"}, "with --etcd-endpoints the data is in etcd"},
		{"etcd compact interval", []string{"--etcd-endpoints", "http://127.0.0.1:2379", "--etcd-compact-interval", "-1m"}, "--etcd-compact-interval -1m0s is negative: give a duration such as 5m, or 0"},
	} {
		t.Run("bad "+tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			_, code, ok := parseServeConfig(tt.args, func(string) string { return "" }, &stderr)
			assert.False(t, ok)
			assert.Equal(t, exitUsage, code)
			assert.Contains(t, stderr.String(), tt.want)
		})
	}
	t.Run("etcd", func(t *testing.T) {
		env := map[string]string{"TWIMLBIN_ETCD_ENDPOINTS": "http://10.0.0.1:2379, http://10.0.0.2:2379",
			"TWIMLBIN_ETCD_PREFIX": "/other/", "TWIMLBIN_ETCD_CERT": "c.pem", "TWIMLBIN_ETCD_KEY": "k.pem", "TWIMLBIN_ETCD_CA": "ca.pem",
			"TWIMLBIN_ETCD_COMPACT_INTERVAL": "1h"}
		cfg, _, ok := parseServeConfig([]string{"--etcd-prefix", "/bins/"}, func(k string) string { return env[k] }, &bytes.Buffer{})
		require.True(t, ok)
		assert.Equal(t, etcdFlags{Endpoints: "http://10.0.0.1:2379, http://10.0.0.2:2379", Prefix: "/bins/", Cert: "c.pem", Key: "k.pem", CA: "ca.pem",
			CompactInterval: time.Hour}, cfg.Etcd)
		endpoints, err := cfg.Etcd.endpoints()
		require.NoError(t, err)
		assert.Equal(t, []string{"http://10.0.0.1:2379", "http://10.0.0.2:2379"}, endpoints)
		_, err = cfg.Etcd.tlsConfig()
		assert.ErrorContains(t, err, "etcd client certificate c.pem and key k.pem", "files that do not exist")

		never, _, ok := parseServeConfig([]string{"--etcd-compact-interval", "0"}, func(k string) string { return env[k] }, &bytes.Buffer{})
		require.True(t, ok)
		assert.Zero(t, never.Etcd.CompactInterval, "the flag wins over its variable")
	})
	for _, name := range []string{"TWIMLBIN_OPEN_SIGNUP", "TWIMLBIN_READ_ONLY", "TWIMLBIN_SHUTDOWN_DELAY",
		"TWIMLBIN_REVISIONS_KEPT", "TWIMLBIN_MAX_BINS_PER_ACCOUNT", "TWIMLBIN_MAX_BYTES_PER_ACCOUNT", "TWIMLBIN_CHECK_DB", "TWIMLBIN_ETCD_COMPACT_INTERVAL", "TWIMLBIN_GC_HEAP_FLOOR"} {
		t.Run("bad "+name, func(t *testing.T) {
			var stderr bytes.Buffer
			_, code, ok := parseServeConfig(nil, func(k string) string {
				if k == name {
					return "maybe"
				}
				return ""
			}, &stderr)
			assert.False(t, ok)
			assert.Equal(t, exitUsage, code)
			assert.Contains(t, stderr.String(), name+`="maybe" is not`)
		})
	}
}
