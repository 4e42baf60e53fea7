package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Every server under test runs in a process of its own, as a real
// deployment does, so that the load generator's work, memory and garbage
// collection do not count as the server's: `twimlbin serve`, stopped with
// SIGTERM, and the peer (this executable with -peer-body, see peer.go),
// stopped by closing its standard input.

// server is a server under test, running in a child process.
type server struct {
	name    string
	cmd     *exec.Cmd
	addr    string        // host:port
	stop    func() error  // asks it to shut down
	exited  chan error    // its exit, once
	logPath string        // serve: the file of its standard error; "" for the peer
	client  *http.Client  // for /metrics and the API
	stdout  *bufio.Reader // what it prints, until it listens
}

// startTimeout bounds the wait for a server to say where it listens.
const startTimeout = time.Minute

// stopTimeout bounds the wait for a server to exit once asked: serve's
// shutdown timeout (30s) and some.
const stopTimeout = 35 * time.Second

// start starts cmd and waits until ready, given what the server prints
// on its standard output, has found where it listens; the rest of its
// output is discarded. A server that does not get there in startTimeout
// is killed.
func start(name string, cmd *exec.Cmd, ready func(*server) error) (*server, error) {
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	s := &server{
		name:   name,
		cmd:    cmd,
		exited: make(chan error, 1),
		client: &http.Client{Timeout: requestTimeout},
		stdout: bufio.NewReader(stdout),
	}
	timer := time.AfterFunc(startTimeout, func() { cmd.Process.Kill() })
	err = ready(s)
	timer.Stop()
	if err != nil {
		cmd.Process.Kill()
		return nil, fmt.Errorf("starting %s: %w (exit: %v)", name, err, cmd.Wait())
	}
	go func() {
		_, _ = io.Copy(io.Discard, s.stdout)
		s.exited <- cmd.Wait()
	}()
	return s, nil
}

// serveAccount is the account serve creates in an empty database.
type serveAccount struct {
	sid, token string
}

// startServe starts `bin serve` as users run it, with default flags but
// the address and those of storeFlags, which say where the data is
// (dbFlags, etcdServeFlags), its standard error written to logPath. With
// firstAccount, the store is empty and serve creates an account and prints
// its credentials, which are returned.
func startServe(name, bin string, storeFlags []string, logPath string, firstAccount bool) (*server, serveAccount, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, serveAccount{}, err
	}
	defer logFile.Close() // the child holds its own descriptor
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, storeFlags...)...)
	cmd.Env = defaultEnv(os.Environ())
	cmd.Stderr = logFile
	var acct serveAccount
	s, err := start(name, cmd, func(s *server) error {
		url, sid, token, err := parseServeOutput(s.stdout, firstAccount)
		s.addr, _ = strings.CutPrefix(url, "http://")
		acct = serveAccount{sid: sid, token: token}
		return err
	})
	if err != nil {
		return nil, acct, fmt.Errorf("%w; its log: %s", err, logTail(logPath))
	}
	s.logPath = logPath
	s.stop = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	return s, acct, nil
}

// dbFlags are serve's flags for the database file at path.
func dbFlags(path string) []string { return []string{"--db", path} }

// etcdServeFlags are serve's flags for the data under prefix in the etcd
// cluster of endpoints.
func etcdServeFlags(endpoints []string, prefix string) []string {
	return []string{"--etcd-endpoints", strings.Join(endpoints, ","), "--etcd-prefix", prefix}
}

// defaultEnv is env without the TWIMLBIN_ variables, which would set
// serve's flags: serve runs with their defaults.
func defaultEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "TWIMLBIN_") {
			out = append(out, kv)
		}
	}
	return out
}

// parseServeOutput reads what `twimlbin serve` prints on starting (see
// newServer and firstAccount in cmd/twimlbin/serve.go):
//
//	twimlbin is serving at http://127.0.0.1:PORT (database PATH)
//
// and, with firstAccount, the credentials that follow it:
//
//	Account SID: AC…
//	Auth token:  …
func parseServeOutput(r *bufio.Reader, firstAccount bool) (url, sid, token string, err error) {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", "", "", fmt.Errorf("serve printed no %s before %v",
				cmpStr(url == "", `"twimlbin is serving at URL"`, "account SID and auth token"), err)
		}
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, "twimlbin is serving at "); ok {
			url, _, _ = strings.Cut(rest, " ")
			if !strings.HasPrefix(url, "http://127.0.0.1:") {
				return "", "", "", fmt.Errorf("serve is serving at %q, want http://127.0.0.1:PORT", url)
			}
			if !firstAccount {
				return url, "", "", nil
			}
		}
		if v, ok := strings.CutPrefix(line, "Account SID:"); ok {
			sid = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "Auth token:"); ok {
			token = strings.TrimSpace(v)
		}
		if url != "" && sid != "" && token != "" {
			return url, sid, token, nil
		}
	}
}

func cmpStr(cond bool, a, b string) string {
	if cond {
		return a
	}
	return b
}

// logTail is the end of a log file, to say why a server did not start.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	b = bytes.TrimSpace(b)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	if len(b) == 0 {
		return "(empty)"
	}
	return string(b)
}

// startPeer starts this executable, exe, as the peer answering the bytes
// of the file body, spending work on each request first.
func startPeer(exe, body string, work time.Duration) (*server, error) {
	cmd := exec.Command(exe, "-"+peerFlag, body, "-peer-work", work.String())
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	s, err := start("the peer", cmd, func(s *server) error {
		line, err := s.stdout.ReadString('\n')
		addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
		if err != nil || !ok {
			return fmt.Errorf("it printed %q (%v), want \"listening ADDR\"", line, err)
		}
		s.addr = addr
		return nil
	})
	if err != nil {
		stdin.Close()
		return nil, err
	}
	s.stop = stdin.Close
	return s, nil
}

// close asks the server to shut down and waits for it to exit.
func (s *server) close() error {
	if err := s.stop(); err != nil {
		s.cmd.Process.Kill()
	}
	select {
	case err := <-s.exited:
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		return nil
	case <-time.After(stopTimeout):
		s.cmd.Process.Kill()
		<-s.exited
		return fmt.Errorf("%s did not exit within %s of being asked to", s.name, stopTimeout)
	}
}

// metrics reads serve's /metrics and returns each metric's value, summed
// over its labels.
func (s *server) metrics() (map[string]float64, error) {
	resp, err := s.client.Get("http://" + s.addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics: status %d", resp.StatusCode)
	}
	return parseMetrics(resp.Body)
}

// parseMetrics reads Prometheus' text format: each sample's value, summed
// over the labels of its metric.
func parseMetrics(r io.Reader) (map[string]float64, error) {
	sums := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name := line[:strings.IndexAny(line+" ", "{ ")]
		fields := strings.Fields(line[strings.LastIndexAny(line, "} ")+1:])
		if len(fields) == 0 {
			return nil, fmt.Errorf("/metrics: no value in %q", line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("/metrics: %q: %w", line, err)
		}
		sums[name] += v
	}
	return sums, sc.Err()
}

// requestsServed is the number of requests serve has counted
// (twimlbin_http_requests_total), once it stops changing but for the
// requests to /metrics that read it: requests cut off at the end of a
// run may still be in flight.
func (s *server) requestsServed() (int, error) {
	prev := -2
	for range 50 {
		m, err := s.metrics()
		if err != nil {
			return 0, err
		}
		n := int(m["twimlbin_http_requests_total"])
		if n == prev+1 { // only the previous scrape since
			return n, nil
		}
		prev = n
		time.Sleep(20 * time.Millisecond)
	}
	return 0, errors.New("the count of requests served did not settle")
}

// closeServe stops serve and checks that its log holds one access-log
// line for each request it served, reporting the count to lt, with the
// time serve's handler took for the bin URL's requests as the log says.
func (lt *loadTest) closeServe(s *server) error {
	served, err := s.requestsServed()
	if err != nil {
		s.close()
		return fmt.Errorf("%s: %w", s.name, err)
	}
	served++ // the last request to /metrics, logged once answered
	if err := s.close(); err != nil {
		return err
	}
	log, err := readAccessLog(s.logPath)
	if err != nil {
		return err
	}
	ok := log.lines == served
	if !ok {
		lt.failed = true
	}
	lt.printf("  access log of %s: %d lines for %d requests served (%s)\n", s.name, log.lines, served,
		cmpStr(ok, "one each", "MISMATCH"))
	if t := log.binURLTimes; len(t) > 0 {
		lt.printf("  bin URL's time inside %s, from its access log (%d requests; from the middleware's start to the answer written, without the wait for a processor before): p50 %s, p99 %s, p99.9 %s, max %s\n",
			s.name, len(t), fmtHandlerTime(quantile(t, 0.5)), fmtHandlerTime(quantile(t, 0.99)), fmtHandlerTime(quantile(t, 0.999)), fmtHandlerTime(t[len(t)-1]))
	}
	return nil
}

// accessLog is what serve's log says of the requests it served.
type accessLog struct {
	lines       int             // access-log lines: those of the "request" message (api's observe middleware)
	binURLTimes []time.Duration // the duration of each bin URL request answered 200, sorted
}

// readAccessLog reads serve's log, in slog's text format.
func readAccessLog(path string) (accessLog, error) {
	var log accessLog
	f, err := os.Open(path)
	if err != nil {
		return log, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, " level=INFO msg=request ") {
			continue
		}
		log.lines++
		if !strings.Contains(line, " route=/twiml/:sid status=200 ") {
			continue
		}
		_, rest, _ := strings.Cut(line, " duration=")
		value, _, _ := strings.Cut(rest, " ")
		d, err := time.ParseDuration(value)
		if err != nil {
			return log, fmt.Errorf("%s: the duration of an access-log line: %w", path, err)
		}
		log.binURLTimes = append(log.binURLTimes, d)
	}
	slices.Sort(log.binURLTimes)
	return log, sc.Err()
}

// fmtHandlerTime writes a time under a millisecond in microseconds, a
// longer one as fmtLatency does.
func fmtHandlerTime(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%.1fµs", float64(d)/float64(time.Microsecond))
	}
	return fmtLatency(d)
}

// quantile returns the q-th quantile (0 to 1) of sorted, which is not
// empty.
func quantile(sorted []time.Duration, q float64) time.Duration {
	return sorted[min(int(float64(len(sorted))*q), len(sorted)-1)]
}

// memory describes serve's memory as it is, with no garbage collection
// forced: resident (all, anonymous, and the mapped database file) and the
// Go heap in use from its /metrics.
func (s *server) memory() (string, error) {
	m, err := s.metrics()
	if err != nil {
		return "", err
	}
	heap, ok := m["go_memstats_heap_inuse_bytes"]
	if !ok {
		return "", errors.New("/metrics has no go_memstats_heap_inuse_bytes")
	}
	return fmt.Sprintf("%s; Go heap in use %.1f MiB", residentMemory(s.cmd.Process.Pid), heap/(1<<20)), nil
}

// residentMemory is a process's resident memory from /proc/PID/status:
// VmRSS, and its anonymous and file-backed (the mapped database) parts.
func residentMemory(pid int) string {
	fields, err := procStatus(pid)
	if err != nil {
		return "resident memory unknown"
	}
	return fmt.Sprintf("VmRSS %s (anonymous %s, file %s)", fields["VmRSS"], fields["RssAnon"], fields["RssFile"])
}

// residentKiB is a process's resident memory in KiB, all (VmRSS) and
// anonymous (RssAnon), 0 when it cannot be read.
func residentKiB(pid int) (all, anon int64) {
	fields, err := procStatus(pid)
	if err != nil {
		return 0, 0
	}
	kib := func(name string) int64 {
		n, _ := strconv.ParseInt(strings.TrimSuffix(fields[name], " kB"), 10, 64)
		return n
	}
	return kib("VmRSS"), kib("RssAnon")
}

// procStatus reads /proc/PID/status: each field's value, trimmed.
func procStatus(pid int) (map[string]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	fields := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if name, value, ok := strings.Cut(line, ":"); ok {
			fields[name] = strings.TrimSpace(value)
		}
	}
	return fields, nil
}
