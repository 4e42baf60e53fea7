package main

// Several `twimlbin serve` processes over one etcd cluster, as users run
// them behind a load balancer: every node answers the same.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/twimlbin/twimlbin/api"
	"github.com/twimlbin/twimlbin/internal/etcdtest"
	"github.com/twimlbin/twimlbin/store"
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
	c.sid, c.token = c.createAccount(t, "nodes")
	for range n {
		c.startNode(t, extra...)
	}
	return c
}

// createAccount creates an account in the cluster with `twimlbin account
// create` and returns its SID and auth token.
func (c *clusterNodes) createAccount(t *testing.T, name string) (sid, token string) {
	t.Helper()
	out, err := exec.Command(c.bin, append([]string{"account", "create", "--name", name}, c.flags...)...).Output()
	require.NoError(t, err, "account create: %s", out)
	var acct struct {
		SID       string `json:"sid"`
		AuthToken string `json:"auth_token"`
	}
	require.NoError(t, json.Unmarshal(out, &acct))
	return acct.SID, acct.AuthToken
}

// startNode starts one more serve process over the cluster.
func (c *clusterNodes) startNode(t *testing.T, extra ...string) *faultServer {
	t.Helper()
	s := startFaultServer(t, c.bin, "unused.db", "warn", append(append([]string{}, c.flags...), extra...)...)
	c.nodes = append(c.nodes, s)
	c.clients = append(c.clients, newFaultClient(s.base, c.sid, c.token))
	return s
}

// restartNode stops node i with SIGTERM, as an operator restarting it
// would, and starts another serve process over the cluster in its place.
func (c *clusterNodes) restartNode(t *testing.T, i int) {
	t.Helper()
	require.NoError(t, c.nodes[i].stop(t), "node %d stopped", i)
	c.startNode(t)
	last := len(c.nodes) - 1
	c.nodes[i], c.clients[i] = c.nodes[last], c.clients[last]
	c.nodes, c.clients = c.nodes[:last], c.clients[:last]
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
	return answerMismatch(c, resp, err, status, want)
}

// answerMismatch reports "" when a node answered status with a body
// holding want, else what it did.
func answerMismatch(c *faultClient, resp faultResponse, err error, status int, want string) string {
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
			return answersStatus(t, node, "/api/v1/bins/"+counted.SID, http.StatusOK)
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
			return answersStatus(t, node, "/api/v1/bins", http.StatusUnauthorized)
		})
		fresh := newFaultClient(c.nodes[i].base, c.sid, rotated.AuthToken)
		eventually(t, "the new auth token is taken by every node", func() string {
			return answersStatus(t, fresh, "/api/v1/bins", http.StatusOK)
		})
	}
}

// Error codes of the API that the checks below expect (api/errors.go).
const (
	codeBadSignature = 10103
	codeRenderFailed = 10401
)

// timeoutTemplate dials with a timeout taken from the request: a value
// that is not a whole number breaks the slot's rule, which the lenient
// policy repairs by leaving the attribute out, with a warning that quotes
// the value, and the strict policy answers with a 500.
const timeoutTemplate = `<Response><Dial timeout="{{t}}"><Number>+14155551212</Number></Dial></Response>`

// TestNodesAgree: what users of several nodes rely on, set through one
// node and checked on every node: a Twilio auth token, a bin's render
// policy, web sessions (signing in and out, and a restart), one bounded
// event log for the requests of all nodes, and a database file migrated
// into the cluster and back.
func TestNodesAgree(t *testing.T) {
	c := startClusterNodes(t, 3, 3)
	t.Run("twilio auth token", func(t *testing.T) { checkTwilioAuthTokenOnNodes(t, c) })
	t.Run("render policy", func(t *testing.T) { checkRenderPolicyOnNodes(t, c) })
	t.Run("event log", func(t *testing.T) { checkEventLogOfNodes(t, c) })
	t.Run("web sessions", func(t *testing.T) { checkWebSessionsOnNodes(t, c) })
	t.Run("migrate a file into the cluster and back", func(t *testing.T) { checkMigrateThroughCluster(t, c) })
}

// checkTwilioAuthTokenOnNodes: a Twilio auth token set through one node
// makes every node refuse an unsigned request to the account's bin URL
// and accept a signed one; cleared through another node, every node
// serves unsigned requests again. The account is one of its own, so that
// a failure here leaves the other checks' bins unsigned.
func checkTwilioAuthTokenOnNodes(t *testing.T, c *clusterNodes) {
	sid, token := c.createAccount(t, "signed")
	var owner []*faultClient
	for _, node := range c.nodes {
		owner = append(owner, newFaultClient(node.base, sid, token))
	}
	eventually(t, "a new account is known to node 0", func() string { return answersStatus(t, owner[0], "/api/v1/account", http.StatusOK) })
	b := owner[0].createBin(t, "<Response><Say>signed</Say></Response>")
	call := url.Values{"CallSid": {"CA" + strings.Repeat("1", 32)}, "From": {"+14155550100"}, "To": {"+14155550199"}}
	for _, node := range owner {
		eventually(t, "an unsigned request is served by every node before a token is set", func() string {
			return callAnswers(t, node, b.SID, call, "", http.StatusOK, "signed")
		})
	}

	const twilioToken = "0123456789abcdef0123456789abcdef"
	setTwilioToken(t, owner[1], twilioToken, true)
	for _, node := range owner {
		eventually(t, "an unsigned request is refused by every node", func() string {
			return callRefused(t, node, b.SID, call, "")
		})
		require.Empty(t, callRefused(t, node, b.SID, call, "fedcba9876543210fedcba9876543210"), "signed with another token")
		require.Empty(t, callAnswers(t, node, b.SID, call, twilioToken, http.StatusOK, "signed"), "signed with the account's token")
	}

	setTwilioToken(t, owner[2], "", false)
	for _, node := range owner {
		eventually(t, "an unsigned request is served by every node once the token is cleared", func() string {
			return callAnswers(t, node, b.SID, call, "", http.StatusOK, "signed")
		})
	}
}

// setTwilioToken sets the account's Twilio auth token through the API
// ("" clears it) and requires the account to say whether one is set.
func setTwilioToken(t *testing.T, c *faultClient, token string, set bool) {
	t.Helper()
	resp, err := c.do(t.Context(), http.MethodPost, "/api/v1/account", map[string]string{"twilio_auth_token": token}, 0)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	var acct struct {
		TwilioAuthTokenSet bool `json:"twilio_auth_token_set"`
	}
	require.NoError(t, json.Unmarshal(resp.body, &acct))
	require.Equal(t, set, acct.TwilioAuthTokenSet, "%s", resp.body)
}

// callBin posts form to the node's bin URL as Twilio does: form-encoded,
// with X-Twilio-Signature computed by Twilio's algorithm over the URL and
// the form with twilioToken, or without a signature when it is "".
func callBin(ctx context.Context, c *faultClient, sid string, form url.Values, twilioToken string) (faultResponse, error) {
	target := c.base + "/twiml/" + sid
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		return faultResponse{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if twilioToken != "" {
		req.Header.Set("X-Twilio-Signature", api.TwilioSignature(twilioToken, target, form))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return faultResponse{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return faultResponse{status: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), body: body}, err
}

// callAnswers reports "" when a call signed with twilioToken answers
// status with a body holding want.
func callAnswers(t *testing.T, c *faultClient, sid string, form url.Values, twilioToken string, status int, want string) string {
	resp, err := callBin(t.Context(), c, sid, form, twilioToken)
	return answerMismatch(c, resp, err, status, want)
}

// callRefused reports "" when a call signed with twilioToken is refused
// with the API's bad-signature error.
func callRefused(t *testing.T, c *faultClient, sid string, form url.Values, twilioToken string) string {
	resp, err := callBin(t.Context(), c, sid, form, twilioToken)
	if err != nil {
		return err.Error()
	}
	return isAPIError(c, resp, http.StatusForbidden, codeBadSignature)
}

// isAPIError reports "" when resp is the API's error of that status and
// code.
func isAPIError(c *faultClient, resp faultResponse, status, code int) string {
	var e apiError
	if resp.status != status || json.Unmarshal(resp.body, &e) != nil || e.Code != code {
		return fmt.Sprintf("%s answers %d %s, want %d with code %d", c.base, resp.status, resp.body, status, code)
	}
	return ""
}

// answersStatus reports "" when a GET of path through the API answers
// status.
func answersStatus(t *testing.T, c *faultClient, path string, status int) string {
	resp, err := c.do(t.Context(), http.MethodGet, path, nil, 0)
	switch {
	case err != nil:
		return err.Error()
	case resp.status != status:
		return fmt.Sprintf("%s answers GET %s %d %s, want %d", c.base, path, resp.status, resp.body, status)
	}
	return ""
}

// checkRenderPolicyOnNodes: a bin's render policy changed through one
// node changes how every node answers a value that breaks its rule:
// repaired under lenient, a 500 under strict.
func checkRenderPolicyOnNodes(t *testing.T, c *clusterNodes) {
	b := c.clients[0].createBin(t, timeoutTemplate)
	// serves takes the SID with a query string after it.
	breaking := b.SID + "?t=soon"
	const repaired = "<Response><Dial><Number>+14155551212</Number></Dial></Response>"
	for _, node := range c.clients {
		eventually(t, "a lenient bin repairs the value on every node", func() string {
			return serves(t, node, breaking, http.StatusOK, repaired)
		})
	}

	for i, policy := range []string{"strict", "lenient"} {
		writer := c.clients[1+i]
		resp, err := writer.do(t.Context(), http.MethodPost, "/api/v1/bins/"+b.SID, map[string]string{"render_policy": policy}, 0)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
		for _, node := range c.clients {
			eventually(t, "the bin is "+policy+" on every node", func() string {
				if policy == "lenient" {
					return serves(t, node, breaking, http.StatusOK, repaired)
				}
				resp, err := node.serveBinURL(t.Context(), breaking)
				if err != nil {
					return err.Error()
				}
				return isAPIError(node, resp, http.StatusInternalServerError, codeRenderFailed)
			})
		}
	}
}

// checkEventLogOfNodes: the warnings of requests made on every node land
// in the bin's one log, which every node reads whole; past the log's
// limit it keeps exactly that many, the newest, in etcd too.
func checkEventLogOfNodes(t *testing.T, c *clusterNodes) {
	b := c.clients[0].createBin(t, timeoutTemplate)
	for _, node := range c.clients {
		eventually(t, "a new bin is served by every node", func() string {
			return serves(t, node, b.SID+"?t=30", http.StatusOK, `timeout="30"`)
		})
	}
	// warn makes node i log a warning quoting tag.
	warn := func(i int, tag string) {
		t.Helper()
		require.Empty(t, serves(t, c.clients[i], b.SID+"?t="+tag, http.StatusOK, "<Dial>"))
	}

	var tags []string
	for i := range c.clients {
		for j := range 2 {
			tag := fmt.Sprintf("node%d-%d", i, j)
			warn(i, tag)
			tags = append(tags, tag)
		}
	}
	for _, node := range c.clients {
		eventually(t, "every node reads the events of all nodes", func() string {
			got, err := eventTags(t, node, b.SID)
			if err != nil {
				return err.Error()
			}
			if !sameElements(got, tags) {
				return fmt.Sprintf("%s reads %q, want %q in any order", node.base, got, tags)
			}
			return ""
		})
	}

	// More events than the log keeps, each node's in turn, one after the
	// other: the newest are the last sent.
	limit := store.DefaultEventLimit
	sent := limit + 2*len(c.clients)
	for k := range sent {
		warn(k%len(c.clients), fmt.Sprintf("e%03d", k))
	}
	var want []string
	for k := sent - 1; k >= sent-limit; k-- {
		want = append(want, fmt.Sprintf("e%03d", k))
	}
	for _, node := range c.clients {
		eventually(t, "every node reads the newest events, newest first", func() string {
			got, err := eventTags(t, node, b.SID)
			if err != nil {
				return err.Error()
			}
			if !slices.Equal(got, want) {
				return fmt.Sprintf("%s reads %d events %q, want the %d newest %q", node.base, len(got), got, len(want), want)
			}
			return ""
		})
	}
	// The API reads at most the limit: etcd must hold no more either.
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.etcd.Endpoints, DialTimeout: faultRequestTimeout})
	require.NoError(t, err)
	defer cli.Close()
	eventKeys := c.prefix() + "events/" + b.SID + "/"
	eventually(t, "etcd holds the log's limit of events", func() string {
		resp, err := cli.Get(t.Context(), eventKeys, clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			return err.Error()
		}
		if resp.Count != int64(limit) {
			return fmt.Sprintf("%d keys under %s, want %d", resp.Count, eventKeys, limit)
		}
		return ""
	})
}

// prefix is the key prefix the nodes keep their data under.
func (c *clusterNodes) prefix() string {
	return c.flags[slices.Index(c.flags, "--etcd-prefix")+1]
}

// quotedValue finds the value a warning quotes.
var quotedValue = regexp.MustCompile(`not "([^"]*)"`)

// eventTags reads the bin's event log through the node, newest first,
// and returns the value each warning quotes. Every event must be the
// warning of a value of the wrong type.
func eventTags(t *testing.T, c *faultClient, sid string) ([]string, error) {
	resp, err := c.do(t.Context(), http.MethodGet, "/api/v1/bins/"+sid+"/events", nil, 0)
	if err != nil {
		return nil, err
	}
	if resp.status != http.StatusOK {
		return nil, fmt.Errorf("%s answers the events %d %s", c.base, resp.status, resp.body)
	}
	var log struct {
		Events []struct {
			Severity string `json:"severity"`
			Code     string `json:"code"`
			Message  string `json:"message"`
		} `json:"events"`
	}
	if err := json.Unmarshal(resp.body, &log); err != nil {
		return nil, err
	}
	tags := []string{}
	for _, e := range log.Events {
		m := quotedValue.FindStringSubmatch(e.Message)
		if e.Severity != "warning" || e.Code != "TB301" || m == nil {
			return nil, fmt.Errorf("%s reads an event that is not a TB301 warning: %+v", c.base, e)
		}
		tags = append(tags, m[1])
	}
	return tags, nil
}

// sameElements reports whether a and b hold the same strings, in any
// order.
func sameElements(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

// checkWebSessionsOnNodes: a session begun on one node's web form is
// taken by every node; signing out on another ends it on every node; a
// session begun before a node's restart is taken by the restarted node.
func checkWebSessionsOnNodes(t *testing.T, c *clusterNodes) {
	b := newWebBrowser()
	b.signIn(t, c.nodes[0].base, c.sid, c.token)
	session := b.cookie
	for _, node := range c.nodes {
		eventually(t, "a session begun on node 0 is taken by every node", func() string {
			return signedInOn(t, node.base, session, c.sid)
		})
	}

	// Signing out on node 1, with the CSRF token of a page of node 1.
	page, err := b.visit(t.Context(), c.nodes[1].base, http.MethodGet, "/bins", nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, page.status, "%s", page.body)
	out, err := b.visit(t.Context(), c.nodes[1].base, http.MethodPost, "/logout", url.Values{})
	require.NoError(t, err)
	require.Equal(t, http.StatusSeeOther, out.status, "%s", out.body)
	require.Equal(t, "/login", out.location)
	for _, node := range c.nodes {
		eventually(t, "a session ended on node 1 is refused by every node", func() string {
			return signedOutOn(t, node.base, session)
		})
	}

	// A session begun before a restart of node 2 is taken by it after.
	b = newWebBrowser()
	b.signIn(t, c.nodes[2].base, c.sid, c.token)
	session = b.cookie
	require.Empty(t, signedInOn(t, c.nodes[2].base, session, c.sid))
	c.restartNode(t, 2)
	eventually(t, "a session begun before a restart is taken by the restarted node", func() string {
		return signedInOn(t, c.nodes[2].base, session, c.sid)
	})
}

// webBrowser is a browser of the web form, on any node: it keeps the
// session cookie and the CSRF token of the last page that had one, and
// follows no redirect.
type webBrowser struct {
	http   *http.Client
	cookie *http.Cookie
	csrf   string
}

func newWebBrowser() *webBrowser {
	return &webBrowser{http: &http.Client{
		Timeout:       faultRequestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// webAnswer is what a page answered.
type webAnswer struct {
	status   int
	location string
	body     string
}

// csrfField is the CSRF token of a page's forms.
var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// visit requests path of the web form at base with the browser's cookie;
// a form is posted with the browser's CSRF token.
func (b *webBrowser) visit(ctx context.Context, base, method, path string, form url.Values) (webAnswer, error) {
	var body io.Reader
	if form != nil {
		form.Set("csrf_token", b.csrf)
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		return webAnswer{}, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if b.cookie != nil {
		req.AddCookie(b.cookie)
	}
	resp, err := b.http.Do(req)
	if err != nil {
		return webAnswer{}, err
	}
	defer resp.Body.Close()
	page, err := io.ReadAll(resp.Body)
	if err != nil {
		return webAnswer{}, err
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == "twimlbin_session" {
			b.cookie = ck
		}
	}
	if m := csrfField.FindSubmatch(page); m != nil {
		b.csrf = string(m[1])
	}
	return webAnswer{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(page)}, nil
}

// signIn signs in to the web form at base, as a person does: the form,
// then the account's credentials with the form's CSRF token.
func (b *webBrowser) signIn(t *testing.T, base, sid, token string) {
	t.Helper()
	form, err := b.visit(t.Context(), base, http.MethodGet, "/login", nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, form.status, "%s", form.body)
	in, err := b.visit(t.Context(), base, http.MethodPost, "/login", url.Values{"account_sid": {sid}, "auth_token": {token}})
	require.NoError(t, err)
	require.Equal(t, http.StatusSeeOther, in.status, "%s", in.body)
	require.Equal(t, "/bins", in.location)
}

// listBinsWith asks the web form at base for the list of bins, with the
// session cookie and nothing else.
func listBinsWith(t *testing.T, base string, session *http.Cookie) (webAnswer, error) {
	b := newWebBrowser()
	b.cookie = session
	return b.visit(t.Context(), base, http.MethodGet, "/bins", nil)
}

// signedInOn reports "" when the web form at base answers the list of
// bins of the account to a browser holding the session cookie.
func signedInOn(t *testing.T, base string, session *http.Cookie, sid string) string {
	page, err := listBinsWith(t, base, session)
	switch {
	case err != nil:
		return err.Error()
	case page.status != http.StatusOK || !strings.Contains(page.body, "<code>"+sid+"</code>"):
		return fmt.Sprintf("%s answers /bins %d (Location %q), want 200 with the page of %s", base, page.status, page.location, sid)
	}
	return ""
}

// signedOutOn reports "" when the web form at base sends a browser
// holding the session cookie to sign in.
func signedOutOn(t *testing.T, base string, session *http.Cookie) string {
	page, err := listBinsWith(t, base, session)
	switch {
	case err != nil:
		return err.Error()
	case page.status != http.StatusSeeOther || !strings.HasPrefix(page.location, "/login?"):
		return fmt.Sprintf("%s answers /bins %d (Location %q), want a redirect to sign in", base, page.status, page.location)
	}
	return ""
}

// checkMigrateThroughCluster: a database file filled by `serve --db`
// through the API, migrated into the cluster under a prefix of its own
// with the real binary, is served over the cluster as the file was, its
// Twilio auth token and web sessions included; migrated back into a new
// file, that file is served as the cluster was; and the first migration
// runs again safely.
func checkMigrateThroughCluster(t *testing.T, c *clusterNodes) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	sid, token := createFaultAccount(t, c.bin, src)
	const twilioToken = "0123456789abcdef0123456789abcdef"
	call := url.Values{"CallSid": {"CA" + strings.Repeat("2", 32)}}

	// The file, filled through the API: a bin with two revisions, a
	// Twilio auth token; and a web session.
	file := startFaultServer(t, c.bin, src, "warn")
	owner := newFaultClient(file.base, sid, token)
	b := owner.createBin(t, "<Response><Say>first</Say></Response>")
	resp, err := owner.do(t.Context(), http.MethodPost, "/api/v1/bins/"+b.SID,
		map[string]string{"template": "<Response><Say>second</Say></Response>"}, b.Revision)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	setTwilioToken(t, owner, twilioToken, true)
	require.Empty(t, callAnswers(t, owner, b.SID, call, twilioToken, http.StatusOK, "second"))
	fromFile := storeAnswers(t, owner, b.SID)
	browser := newWebBrowser()
	browser.signIn(t, file.base, sid, token)
	session := browser.cookie
	require.NoError(t, file.stop(t))

	endpoints := strings.Join(c.etcd.Endpoints, ",")
	cluster := []string{"--etcd-endpoints", endpoints, "--etcd-prefix", etcdtest.Prefix(t)}
	intoCluster := []string{"migrate", "--from", "bolt:" + src, "--to", "etcd:" + endpoints, cluster[2], cluster[3]}
	out := runMigration(t, c.bin, intoCluster...)
	require.Contains(t, out, "copied the session key, 1 account, 1 bin, 2 revisions and 0 events")

	// Served over the cluster as the file served it; the Twilio auth
	// token and the web session came along.
	node := startFaultServer(t, c.bin, "unused.db", "warn", cluster...)
	over := newFaultClient(node.base, sid, token)
	require.Equal(t, fromFile, storeAnswers(t, over, b.SID), "the cluster answers as the file did")
	require.Empty(t, signedInOn(t, node.base, session, sid))
	require.Empty(t, callRefused(t, over, b.SID, call, ""))
	require.Empty(t, callAnswers(t, over, b.SID, call, twilioToken, http.StatusOK, "second"))
	fromCluster := storeAnswers(t, over, b.SID) // with the request counted, the refusal logged
	require.NoError(t, node.stop(t))

	// Back into a new file, which serves what the cluster did.
	back := filepath.Join(dir, "back.db")
	out = runMigration(t, c.bin, "migrate", "--from", "etcd:"+endpoints, cluster[2], cluster[3], "--to", "bolt:"+back)
	require.Contains(t, out, "copied the session key, 1 account, 1 bin, 2 revisions and 1 event")
	file = startFaultServer(t, c.bin, back, "warn")
	owner = newFaultClient(file.base, sid, token)
	require.Equal(t, fromCluster, storeAnswers(t, owner, b.SID), "the file migrated back answers as the cluster did")
	require.Empty(t, signedInOn(t, file.base, session, sid))
	require.Empty(t, callRefused(t, owner, b.SID, call, ""))
	require.Empty(t, callAnswers(t, owner, b.SID, call, twilioToken, http.StatusOK, "second"))
	require.NoError(t, file.stop(t))

	// Running the first migration again brings the cluster back to what
	// the source file holds.
	runMigration(t, c.bin, intoCluster...)
	node = startFaultServer(t, c.bin, "unused.db", "warn", cluster...)
	require.Equal(t, fromFile, storeAnswers(t, newFaultClient(node.base, sid, token), b.SID), "the cluster answers as the file again")
	require.NoError(t, node.stop(t))
}

// runMigration runs `twimlbin` with args, requires it to exit 0 saying
// that the copy is verified, and returns its output.
func runMigration(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "%s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), stdout.String(), stderr.String())
	require.Contains(t, stdout.String(), "verified: ", "stderr:\n%s", stderr.String())
	return stdout.String()
}

// loopbackBase is a server's address in what it answers, which differs
// between servers that answer the same.
var loopbackBase = regexp.MustCompile(`http://127\.0\.0\.1:[0-9]+`)

// storeAnswers is what a server answers the account about itself and its
// bin through the API, by path, with the server's address taken out.
func storeAnswers(t *testing.T, c *faultClient, binSID string) map[string]string {
	t.Helper()
	answers := map[string]string{}
	for _, path := range []string{
		"/api/v1/account", "/api/v1/bins", "/api/v1/bins/" + binSID,
		"/api/v1/bins/" + binSID + "/revisions", "/api/v1/bins/" + binSID + "/events",
	} {
		resp, err := c.do(t.Context(), http.MethodGet, path, nil, 0)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.status, "%s: %s", path, resp.body)
		answers[path] = loopbackBase.ReplaceAllString(string(resp.body), "BASE")
	}
	return answers
}
