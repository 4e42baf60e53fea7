package main

// Several `twimlbin serve` processes over one etcd cluster, as users run
// them behind a load balancer: every node answers the same.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twimlbin/twimlbin/internal/etcdtest"
)

// visibleWithin bounds how long a write may take to show on another node.
// The promise is 100 ms (measured by the load tool); this is only the
// bound past which a test calls it lost.
const visibleWithin = 10 * time.Second

// clusterNodes are serve processes over one etcd cluster and prefix, and
// a client of each, signed in as one account.
type clusterNodes struct {
	etcd    *etcdtest.Cluster
	bin     string
	flags   []string // the flags that name the cluster
	nodes   []*faultServer
	clients []*faultClient
	sid     string
	token   string
}

// startClusterNodes starts an etcd cluster of members, creates an account
// in it, and starts n serve processes over it.
func startClusterNodes(t *testing.T, members, n int, extra ...string) *clusterNodes {
	t.Helper()
	c := &clusterNodes{etcd: etcdtest.Start(t, members), bin: buildBinary(t)}
	c.flags = []string{"--etcd-endpoints", strings.Join(c.etcd.Endpoints, ","), "--etcd-prefix", etcdtest.Prefix(t)}
	out, err := exec.Command(c.bin, append([]string{"account", "create", "--name", "nodes"}, c.flags...)...).Output()
	require.NoError(t, err, "account create: %s", out)
	var acct struct {
		SID       string `json:"sid"`
		AuthToken string `json:"auth_token"`
	}
	require.NoError(t, json.Unmarshal(out, &acct))
	c.sid, c.token = acct.SID, acct.AuthToken
	for range n {
		c.startNode(t, extra...)
	}
	return c
}

// startNode starts one more serve process over the cluster.
func (c *clusterNodes) startNode(t *testing.T, extra ...string) *faultServer {
	t.Helper()
	s := startFaultServer(t, c.bin, "unused.db", "warn", append(append([]string{}, c.flags...), extra...)...)
	c.nodes = append(c.nodes, s)
	c.clients = append(c.clients, newFaultClient(s.base, c.sid, c.token))
	return s
}

// eventually polls check every few milliseconds until it returns "", and
// fails the test with its last answer after visibleWithin.
func eventually(t *testing.T, what string, check func() string) {
	t.Helper()
	deadline := time.Now().Add(visibleWithin)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not so after %s: %s", what, visibleWithin, msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// serves reports "" when the node's bin URL answers status with a body
// holding want.
func serves(t *testing.T, c *faultClient, sid string, status int, want string) string {
	resp, err := c.serveBinURL(t.Context(), sid)
	switch {
	case err != nil:
		return err.Error()
	case resp.status != status || !strings.Contains(string(resp.body), want):
		return fmt.Sprintf("%s answers %d %s, want %d with %q", c.base, resp.status, resp.body, status, want)
	}
	return ""
}

// TestNodesServeEachOthersWrites: an update made on any node is served by
// every node, each in turn writing; a deletion and a rotated auth token
// take effect on every node; requests counted on every node add up.
func TestNodesServeEachOthersWrites(t *testing.T) {
	c := startClusterNodes(t, 3, 3)
	b := c.clients[0].createBin(t, "<Response><Say>v1</Say></Response>")
	for _, node := range c.clients {
		eventually(t, "a new bin is served by every node", func() string { return serves(t, node, b.SID, http.StatusOK, "v1") })
	}

	rev := b.Revision
	for i := range 30 {
		writer := c.clients[i%len(c.clients)]
		marker := fmt.Sprintf("update %d", i)
		resp, err := writer.do(t.Context(), http.MethodPost, "/api/v1/bins/"+b.SID,
			map[string]string{"template": "<Response><Say>" + marker + "</Say></Response>"}, rev)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.status, "update on %s: %s", writer.base, resp.body)
		rev++
		// The writer serves its own write on the very next request.
		require.Empty(t, serves(t, writer, b.SID, http.StatusOK, marker))
		for _, node := range c.clients {
			eventually(t, marker+" is served by every node", func() string { return serves(t, node, b.SID, http.StatusOK, marker) })
		}
	}

	// Requests counted on every node add up exactly, whichever node
	// reads them. The bin is awaited through the API, which counts
	// nothing, so that only the requests below are counted.
	counted := c.clients[0].createBin(t, "<Response><Say>counted</Say></Response>")
	for _, node := range c.clients {
		eventually(t, "a new bin is known to every node", func() string {
			resp, err := node.do(t.Context(), http.MethodGet, "/api/v1/bins/"+counted.SID, nil, 0)
			if err != nil {
				return err.Error()
			}
			if resp.status != http.StatusOK {
				return fmt.Sprintf("%s answers %d", node.base, resp.status)
			}
			return ""
		})
	}
	const perNode = 25
	for _, node := range c.clients {
		for range perNode {
			require.Empty(t, serves(t, node, counted.SID, http.StatusOK, "counted"))
		}
	}
	want := int64(perNode * len(c.clients))
	for _, node := range c.clients {
		eventually(t, "every node's counts are flushed and add up", func() string {
			var got struct {
				NumRequests int64 `json:"num_requests"`
			}
			resp, err := node.do(t.Context(), http.MethodGet, "/api/v1/bins/"+counted.SID, nil, 0)
			if err != nil {
				return err.Error()
			}
			if err := json.Unmarshal(resp.body, &got); err != nil {
				return err.Error()
			}
			if got.NumRequests != want {
				return fmt.Sprintf("%s: num_requests %d, want %d", node.base, got.NumRequests, want)
			}
			return ""
		})
	}

	// A deleted bin is gone from every node.
	resp, err := c.clients[1].do(t.Context(), http.MethodDelete, "/api/v1/bins/"+b.SID, nil, 0)
	require.NoError(t, err)
	require.Equal(t, http.StatusNoContent, resp.status, "%s", resp.body)
	for _, node := range c.clients {
		eventually(t, "a deleted bin is gone from every node", func() string { return serves(t, node, b.SID, http.StatusNotFound, "") })
	}

	// A rotated auth token is refused by every node, the new one taken.
	resp, err = c.clients[2].do(t.Context(), http.MethodPost, "/api/v1/account/auth-token", nil, 0)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	var rotated struct {
		AuthToken string `json:"auth_token"`
	}
	require.NoError(t, json.Unmarshal(resp.body, &rotated))
	for i, node := range c.clients {
		eventually(t, "the old auth token is refused by every node", func() string {
			resp, err := node.do(t.Context(), http.MethodGet, "/api/v1/bins", nil, 0)
			if err != nil {
				return err.Error()
			}
			if resp.status != http.StatusUnauthorized {
				return fmt.Sprintf("%s answers the old token %d", node.base, resp.status)
			}
			return ""
		})
		fresh := newFaultClient(c.nodes[i].base, c.sid, rotated.AuthToken)
		eventually(t, "the new auth token is taken by every node", func() string {
			resp, err := fresh.do(t.Context(), http.MethodGet, "/api/v1/bins", nil, 0)
			if err != nil {
				return err.Error()
			}
			if resp.status != http.StatusOK {
				return fmt.Sprintf("%s answers the new token %d", fresh.base, resp.status)
			}
			return ""
		})
	}
}
