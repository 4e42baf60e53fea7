package etcdtest

import (
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	code := m.Run()
	StopShared()
	os.Exit(code)
}

// put writes a key through etcd's JSON gateway and reports the status,
// retrying for a while: a member killed may have been the leader, and the
// others take a moment to elect a new one.
func put(t *testing.T, endpoint string) int {
	t.Helper()
	return putWith(t, http.DefaultClient, endpoint)
}

// putWith is put through client.
func putWith(t *testing.T, client *http.Client, endpoint string) int {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		// "a2V5" and "dmFsdWU=" are "key" and "value" in base64.
		resp, err := client.Post(endpoint+"/v3/kv/put", "application/json", strings.NewReader(`{"key":"a2V5","value":"dmFsdWU="}`))
		if err != nil {
			t.Fatalf("put through %s: %v", endpoint, err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK || time.Now().After(deadline) {
			return resp.StatusCode
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestClusterSurvivesAKilledMember: a 3-member cluster keeps taking writes
// with its leader killed, another member leads, and the member rejoins
// over its data.
func TestClusterSurvivesAKilledMember(t *testing.T) {
	c := Start(t, 3)
	if len(c.Endpoints) != 3 {
		t.Fatalf("%d endpoints, want 3", len(c.Endpoints))
	}
	leader, err := c.Leader()
	if err != nil {
		t.Fatal(err)
	}
	c.Kill(leader)
	other := (leader + 1) % 3
	if code := put(t, c.Endpoints[other]); code != http.StatusOK {
		t.Fatalf("put with the leader killed: status %d", code)
	}
	if next, err := c.Leader(); err != nil || next == leader {
		t.Fatalf("after the leader, member %d, was killed: Leader() = %d, %v; want another member", leader, next, err)
	}
	if err := c.Restart(leader); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitHealthy(leader, startTimeout); err != nil {
		t.Fatal(err)
	}
	if code := put(t, c.Endpoints[leader]); code != http.StatusOK {
		t.Fatalf("put through the restarted member: status %d", code)
	}
}

// TestClusterWithoutQuorum: with two of three members stopped, the last
// one is not healthy, and it is again once they are back.
func TestClusterWithoutQuorum(t *testing.T) {
	c := Start(t, 3)
	c.Stop(1)
	c.Stop(2)
	if err := c.WaitHealthy(0, 3*time.Second); err == nil {
		t.Fatal("a member without quorum reports healthy")
	}
	for _, i := range []int{1, 2} {
		if err := c.Restart(i); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.WaitHealthy(0, startTimeout); err != nil {
		t.Fatal(err)
	}
}

func TestShared(t *testing.T) {
	a, b := Shared(t), Shared(t)
	if a != b {
		t.Fatal("Shared started a second cluster")
	}
	if code := put(t, a.Endpoints[0]); code != http.StatusOK {
		t.Fatalf("put: status %d", code)
	}
	if p, q := Prefix(t), Prefix(t); p == q {
		t.Fatal("Prefix gave the same prefix twice")
	}
}

// TestStartWithFlags: the flags given to Start reach every member, and
// Restart runs the member with them again.
func TestStartWithFlags(t *testing.T) {
	c := Start(t, 1, "--quota-backend-bytes", "3145728")
	const want = "etcd_server_quota_backend_bytes 3.145728e+06"
	if got := metric(t, c.Endpoints[0], "etcd_server_quota_backend_bytes "); got != want {
		t.Fatalf("the member's quota: %q, want %q", got, want)
	}
	c.Stop(0)
	if err := c.Restart(0); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitHealthy(0, startTimeout); err != nil {
		t.Fatal(err)
	}
	if got := metric(t, c.Endpoints[0], "etcd_server_quota_backend_bytes "); got != want {
		t.Fatalf("the restarted member's quota: %q, want %q", got, want)
	}
}

// metric returns the line of the member's /metrics that begins with
// prefix.
func metric(t *testing.T, endpoint, prefix string) string {
	t.Helper()
	resp, err := http.Get(endpoint + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(body)) {
		if strings.HasPrefix(line, prefix) {
			return strings.TrimSpace(line)
		}
	}
	t.Fatalf("no %q in the metrics of %s", prefix, endpoint)
	return ""
}

// TestStartTLS: a secured cluster of three serves clients on https://
// URLs, answers a client with the certificate of Cluster.TLS (a write
// through etcd's JSON gateway, the members' health and metrics), and
// refuses one without a client certificate and one over plain http.
func TestStartTLS(t *testing.T) {
	c := StartTLS(t, 3)
	if c.TLS == nil {
		t.Fatal("a secured cluster without its TLS files")
	}
	for _, name := range []string{c.TLS.CA, c.TLS.Cert, c.TLS.Key} {
		if _, err := os.Stat(name); err != nil {
			t.Fatalf("TLS file: %v", err)
		}
	}
	cfg, err := c.TLS.Config()
	if err != nil {
		t.Fatal(err)
	}
	withCert := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	withoutCert := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cfg.RootCAs}}}
	for i, endpoint := range c.Endpoints {
		if !strings.HasPrefix(endpoint, "https://127.0.0.1:") {
			t.Fatalf("endpoint %d is %s, want https://127.0.0.1:…", i, endpoint)
		}
		if err := c.WaitHealthy(i, startTimeout); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Leader(); err != nil {
		t.Fatalf("Leader, from the members' metrics over TLS: %v", err)
	}
	if code := putWith(t, withCert, c.Endpoints[0]); code != http.StatusOK {
		t.Fatalf("put with the client certificate: status %d", code)
	}

	resp, err := withoutCert.Post(c.Endpoints[0]+"/v3/kv/put", "application/json", strings.NewReader(`{"key":"a2V5","value":"dmFsdWU="}`))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("put without a client certificate: status %d, want the connection refused", resp.StatusCode)
	}
	plain := "http://" + strings.TrimPrefix(c.Endpoints[0], "https://")
	resp, err = http.Post(plain+"/v3/kv/put", "application/json", strings.NewReader(`{"key":"a2V5","value":"dmFsdWU="}`))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("put over plain http: status 200, want it refused")
		}
	}
}
