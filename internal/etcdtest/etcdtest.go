// Package etcdtest starts real etcd servers for tests and the load tool:
// a cluster of one or more members on loopback, on free ports, with data
// in a temporary directory, stopped when the test ends. It runs the etcd
// binary named by $TWIMLBIN_ETCD or found on PATH (Debian's etcd-server
// package puts it there), or else one it builds from etcd's Go module
// (Build); the members die with the process that started them.
//
// Tests that only need some etcd share one member per test binary
// (Shared), each under a key prefix of its own (Prefix); tests that kill
// and restart members, or that need members run with flags of their own
// (a small --quota-backend-bytes, say), start a cluster of their own
// (Start). StartTLS starts a cluster secured as a production one is: its
// members serve clients over TLS and require a client certificate.
package etcdtest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds how long a cluster may take to become healthy.
const startTimeout = 30 * time.Second

// Binary returns the path of the etcd server binary: $TWIMLBIN_ETCD, or
// etcd on PATH, or else one built by Build into the user's cache directory
// (built once per machine and module version). $TWIMLBIN_ETCD set to
// "build" skips PATH and uses the built one. The error says what to
// install when none can be had.
func Binary() (string, error) {
	switch env := os.Getenv("TWIMLBIN_ETCD"); env {
	case "build":
	case "":
		if p, err := exec.LookPath("etcd"); err == nil {
			return p, nil
		}
	default:
		return env, nil
	}
	return builtInUserCache()
}

// builtInUserCache builds the etcd server into the user's cache directory,
// once per process: a failed build is not tried again by every test.
var builtInUserCache = sync.OnceValues(func() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no etcd on PATH, and no cache directory to build one into (%w): install Debian's etcd-server package (apt-get install etcd-server), or set TWIMLBIN_ETCD to the path of an etcd binary", err)
	}
	return Build(filepath.Join(cache, "twimlbin"))
})

// Cluster is a set of etcd members started for tests.
type Cluster struct {
	// Endpoints are the members' client URLs, in member order: https://
	// ones for a cluster started by StartTLS.
	Endpoints []string
	// TLS are the files a client needs to reach a cluster started by
	// StartTLS; nil for a cluster that serves plain http.
	TLS *TLSFiles

	members []*member
	dir     string
	logs    *os.File
	http    *http.Client // for the health checks and the metrics
}

type member struct {
	name      string
	args      []string
	clientURL string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Start starts a cluster of n members, each run with the etcd flags
// given after n (such as "--quota-backend-bytes", "1048576") besides
// those that make the cluster, and waits until every member is healthy;
// the test fails when they do not become healthy in time. The cluster is
// stopped when the test ends.
func Start(t testing.TB, n int, flags ...string) *Cluster {
	t.Helper()
	c, err := StartCluster(t.TempDir(), n, flags...)
	if err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// StartTLS is Start for a secured cluster, run as the README tells users
// to run one: a certificate authority, a server certificate for 127.0.0.1
// and a client certificate are made for it and written in the test's
// temporary directory (Cluster.TLS names the client's files), and the
// members serve clients on https:// URLs and refuse a client without a
// certificate signed by that authority (--client-cert-auth). The members
// talk among themselves over plain http, on loopback.
func StartTLS(t testing.TB, n int, flags ...string) *Cluster {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	c, err := startCluster(bin, t.TempDir(), n, true, flags...)
	if err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

var shared struct {
	once    sync.Once
	cluster *Cluster
	err     error
}

// Shared returns a one-member cluster started once per test binary and
// left running until the process exits, when the member dies with it.
// Tests keep apart by key prefix (Prefix).
func Shared(t testing.TB) *Cluster {
	t.Helper()
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "etcdtest-")
		if err != nil {
			shared.err = err
			return
		}
		shared.cluster, shared.err = StartCluster(dir, 1)
	})
	if shared.err != nil {
		t.Fatalf("etcdtest: %v", shared.err)
	}
	return shared.cluster
}

// StopShared stops the shared member, if one was started, and removes its
// data. A TestMain calls it after m.Run.
func StopShared() {
	if shared.cluster != nil {
		shared.cluster.Close()
		_ = os.RemoveAll(shared.cluster.dir)
	}
}

var prefixes atomic.Uint64

// Prefix returns a key prefix no other test of this process uses.
func Prefix(t testing.TB) string {
	return fmt.Sprintf("/test-%d-%d/", os.Getpid(), prefixes.Add(1))
}

// StartCluster starts a cluster of n members with their data under dir,
// each run with flags besides those that make the cluster, and waits
// until every member is healthy, for a program that is not a test (the
// load tool); the caller closes it. Restart runs a member with the same
// flags.
func StartCluster(dir string, n int, flags ...string) (*Cluster, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	return startCluster(bin, dir, n, false, flags...)
}

// startCluster starts a cluster of n members of the etcd binary bin,
// each run with flags besides those that make the cluster; secure, with
// certificates made under dir, the members serve clients over TLS and
// require a client certificate.
func startCluster(bin, dir string, n int, secure bool, flags ...string) (*Cluster, error) {
	scheme := "http"
	var memberTLS []string
	c := &Cluster{dir: dir, http: &http.Client{Timeout: time.Second}}
	if secure {
		client, server, err := writeTLSFiles(dir)
		if err != nil {
			return nil, err
		}
		cfg, err := client.Config()
		if err != nil {
			return nil, err
		}
		scheme = "https"
		memberTLS = []string{"--client-cert-auth", "--trusted-ca-file", server.CA, "--cert-file", server.Cert, "--key-file", server.Key}
		c.TLS = &client
		c.http.Transport = &http.Transport{TLSClientConfig: cfg}
	}
	logs, err := os.Create(filepath.Join(dir, "etcd.log"))
	if err != nil {
		return nil, err
	}
	c.logs = logs
	peers := make([]string, n)
	var initial []string
	for i := range n {
		clientPort, err := freePort()
		if err != nil {
			return nil, err
		}
		peerPort, err := freePort()
		if err != nil {
			return nil, err
		}
		peers[i] = fmt.Sprintf("http://127.0.0.1:%d", peerPort)
		m := &member{name: fmt.Sprintf("m%d", i), clientURL: fmt.Sprintf("%s://127.0.0.1:%d", scheme, clientPort)}
		initial = append(initial, m.name+"="+peers[i])
		c.members = append(c.members, m)
		c.Endpoints = append(c.Endpoints, m.clientURL)
	}
	token := fmt.Sprintf("etcdtest-%d-%d", os.Getpid(), time.Now().UnixNano())
	for i, m := range c.members {
		m.args = []string{bin,
			"--name", m.name,
			"--data-dir", filepath.Join(dir, m.name),
			"--listen-client-urls", m.clientURL,
			"--advertise-client-urls", m.clientURL,
			"--listen-peer-urls", peers[i],
			"--initial-advertise-peer-urls", peers[i],
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-state", "new",
			"--initial-cluster-token", token,
			"--log-level", "warn",
		}
		m.args = append(m.args, memberTLS...)
		m.args = append(m.args, flags...)
		if err := m.start(logs); err != nil {
			c.Close()
			return nil, err
		}
	}
	for i := range c.members {
		if err := c.WaitHealthy(i, startTimeout); err != nil {
			c.Close()
			return nil, fmt.Errorf("%w (its log: %s)", err, logs.Name())
		}
	}
	return c, nil
}

func (m *member) start(logs *os.File) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cmd := exec.Command(m.args[0], m.args[1:]...)
	cmd.Stdout, cmd.Stderr = logs, logs
	// The member dies with the test process, however that ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start etcd member %s: %w", m.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	m.cmd, m.done = cmd, done
	return nil
}

// signal sends sig to the member's process, if it runs, and waits for it
// to exit.
func (m *member) signal(sig os.Signal) {
	m.mu.Lock()
	cmd, done := m.cmd, m.done
	m.cmd = nil
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Kill stops member i with SIGKILL, as a crash would.
func (c *Cluster) Kill(i int) { c.members[i].signal(syscall.SIGKILL) }

// Stop stops member i with SIGTERM, as an operator would.
func (c *Cluster) Stop(i int) { c.members[i].signal(syscall.SIGTERM) }

// Restart starts member i again over its data, after Kill or Stop. It
// does not wait for it to be healthy: see WaitHealthy.
func (c *Cluster) Restart(i int) error {
	m := c.members[i]
	args := append([]string(nil), m.args...)
	for j := range args {
		if args[j] == "--initial-cluster-state" {
			args[j+1] = "existing"
		}
	}
	m.args = args
	return m.start(c.logs)
}

// WaitHealthy waits until member i answers its health check, up to
// timeout (over TLS, with the client certificate, for a secured cluster).
func (c *Cluster) WaitHealthy(i int, timeout time.Duration) error {
	url := c.members[i].clientURL + "/health"
	deadline := time.Now().Add(timeout)
	for {
		resp, err := c.http.Get(url)
		last := err // what the member last answered, for the error
		if err == nil {
			var buf [256]byte
			n, _ := resp.Body.Read(buf[:])
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(string(buf[:n]), `"true"`) {
				return nil
			}
			last = fmt.Errorf("status %d: %q", resp.StatusCode, buf[:n])
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("etcd member %s at %s not healthy after %s (last answer: %v)", c.members[i].name, c.members[i].clientURL, timeout, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Leader returns the index of the member that leads the cluster, as the
// members' metrics say (etcd_server_is_leader), so that a test can kill
// the leader and make the others elect a new one. It is an error when no
// member that answers says it leads: during an election, or without
// quorum.
func (c *Cluster) Leader() (int, error) {
	for i, m := range c.members {
		resp, err := c.http.Get(m.clientURL + "/metrics")
		if err != nil {
			continue
		}
		leads := false
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			leads = leads || sc.Text() == "etcd_server_is_leader 1"
		}
		resp.Body.Close()
		if leads {
			return i, nil
		}
	}
	return 0, errors.New("etcdtest: no member says it leads the cluster: an election is under way, or most members are down")
}

// Close stops every member.
func (c *Cluster) Close() {
	for _, m := range c.members {
		m.signal(syscall.SIGTERM)
	}
	c.http.CloseIdleConnections()
	_ = c.logs.Close()
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
