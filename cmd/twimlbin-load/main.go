// Command twimlbin-load measures `twimlbin serve` on loopback, as users
// run it, against a bare Echo server answering the same bytes, and over
// an etcd cluster against a bbolt file: the load run of `make bench`. Run
// it with -h for what it measures and how.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // a request failed, was answered otherwise than expected, or the access log did not match
	exitUsage  = 2 // bad flags, or the run could not be set up
)

const usage = `usage: twimlbin-load [flags]

Measures twimlbin on loopback. Every server runs in a process of its own,
on 127.0.0.1, over databases in a temporary directory that is removed at
the end:

  - the product as users run it: -twimlbin PATH, or when it is not given
    a binary built with "go build ./cmd/twimlbin" (run from the
    repository's root), started as
        twimlbin serve --addr 127.0.0.1:0 --db TMPDIR/x.db
    with every other flag at its default, so the log level is info and
    each request writes an access-log line, to a file in the temporary
    directory as a deployment's log would be. The address and the first
    account's credentials are read from what serve prints. At the end the
    file must hold one access-log line per request the server counted
    (twimlbin_http_requests_total, plus the last /metrics request). The
    durations of its bin URL lines are reported too (p50, p99, p99.9,
    max): the time spent inside serve, from its first middleware to the
    answer written, which the clients' latencies hold along with the wait
    for a processor and the network;
  - the peer: this executable in a mode of its own, an Echo v4 server
    with no middleware at all, behind an http.Server with serve's
    timeouts, answering GET and POST /twiml/{sid} with the bytes the bin
    URL answers: the same body and the same constant headers
    (Content-Type, Cache-Control, Content-Security-Policy,
    X-Content-Type-Options), and no request ID. With -peer-work D, it
    keeps the processor busy for D on each request before answering:
    comparing runs with and without shows what a microsecond of work a
    request costs in the ratio on the machine at hand.

It then runs:

 1. the gallery's contextual-calling bin, created through serve's API,
    against the peer. Each request is the one Twilio makes: a POST with
    the backend's parameters in the query string and Twilio's in the form
    body. Both answers are checked against each other (body and headers,
    but for the request ID and Date) before any timing.
    a. With this tool's own client: -clients keep-alive connections, each
       waiting for its answer before the next request; one untimed run of
       each, then -rounds timed runs of each of -duration, alternating and
       starting with each in turn. Every answer is checked against the
       bin's golden output.
    b. With wrk (-wrk, found on PATH; skipped and said so when there is
       none): -wrk-threads threads, -wrk-connections connections, runs of
       -wrk-duration, alternating as above, with a Lua script sending the
       same request. wrk does not check bodies: its non-2xx answers and
       socket errors count as errors.
    For each client: requests per second, p50 and p99 latency and errors
    of every run and of each side's runs together; the ratio of the bin
    URL's rate to the peer's, over all runs and as the median of the
    rounds (which a burst of load from elsewhere on the machine moves
    less), against a target of at least 0.9 for both; and the bin URL's
    p99 less the peer's, against a target of at most 1 ms.
 2. creates through the API (POST /api/v1/bins, fsync on) from
    -create-clients clients for -create-duration. They count against the
    account's quota of serve's default --max-bins-per-account.
 3. serve is stopped, bins are stored into its database directly through
    the store up to -bins, and serve is started on it again beside a
    second serve whose database holds one bin. Each bin is requested once
    (cold), then a random bin per request is timed against the one bin,
    alternating as in 1a. Then the resident memory of the serve with
    -bins bins (VmRSS and its parts, from /proc/PID/status) and its Go
    heap in use (go_memstats_heap_inuse_bytes from its /metrics), as they
    are after the runs: no garbage collection is forced.
 4. the etcd backend against the bbolt file, over an etcd cluster of 3
    members started on loopback (internal/etcdtest: the etcd binary on
    PATH, from Debian's etcd-server package, or $TWIMLBIN_ETCD; the part
    is skipped, and said so, when there is none). serve runs over it as
    users run it:
        twimlbin serve --addr 127.0.0.1:0 --etcd-endpoints URLS --etcd-prefix P
    with every other flag at its default, beside a serve over a bbolt
    file, each with an account of its own.
    a. The contextual-calling bin's URL on each, timed as in 1a: the
       ratio of etcd's rate to bbolt's, over all runs and as the median
       of the rounds, against a target of at least 0.95 for both.
    b. Creates through the API on each, as in 2.
    c. Both serves are stopped, bins are stored through the store up to
       -bins on each side (over etcd, through etcdstore.Open under
       serve's prefix; over bbolt without fsync; each spread over 256
       new accounts with a writer each, since the creates of one account
       take turns on its quota record), and both serves are started
       again: how long each took to listen (a node over etcd loads every
       bin first), and their memory as in 3 once each has answered 100
       requests of random bins. With etcd's data size over the bins
       stored, per bin: etcd's own figures (the database size, total and
       in use, and the revision, which its Status call reports, read
       from each member's /metrics), the mean of the members.
    d. Three serve processes over the cluster, under a prefix of their
       own holding one bin: -etcd-updates updates of it through the API
       of each node in turn (A), each followed by polling the bin URL of
       the two others (B: one poller each, with GET, asking again 1 ms
       after an answer without the update) until each serves the
       update's marker. The time from A's answer to B's first answer
       with the marker, which includes up to the 1 ms between polls and
       a poll's round trip: p50, p99 and max over every (update, other
       node) pair, against a target p99 of at most 100 ms. With etcd's
       data size over the updates, per update (each a revision of the
       bin), as in c: it includes the request counts the nodes flush
       every second.
    -etcd-only runs part 4 alone; -rounds, -duration, -clients,
    -create-clients, -create-duration, -bins and -etcd-updates lengthen
    it.

Nothing is flushed between runs: serve writes its buffered usage counters
every second on its own, so a timed run pays for the flushes that fall
inside it, as a deployment does. No CPU profile is taken; profile serve
itself if you need one.

It exits 1 when a request failed or was answered otherwise than expected,
a node did not serve an update within 10s, or the access log does not
hold a line per request; the figures and their targets are reported,
never enforced. It exits 2 for bad flags or when a server cannot be
built or started.
`

// peerFlag runs the executable as the peer (peer.go): the run starts
// itself so, and the usage text does not list it.
const peerFlag = "peer-body"

// config is the configuration of a run, from flags.
type config struct {
	twimlbin       string // the twimlbin binary; "": build one
	peerBody       string // peer mode: the file of the body to answer
	clients        int
	duration       time.Duration
	rounds         int
	wrk            string // the wrk executable; "": skip wrk
	wrkThreads     int
	wrkConnections int
	wrkDuration    time.Duration
	bins           int
	createClients  int
	createDuration time.Duration
	peerWork       time.Duration // what the peer spends on each request
	peerOnly       bool          // part 1 only
	etcdOnly       bool          // part 4 only
	etcdUpdates    int
}

// run runs twimlbin-load with args and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfg, code, ok := parseConfig(args, stderr)
	if !ok {
		return code
	}
	if cfg.peerBody != "" {
		if err := runPeer(cfg.peerBody, cfg.peerWork, stdin, stdout); err != nil {
			fmt.Fprintf(stderr, "twimlbin-load -peer-body: %v\n", err)
			return exitUsage
		}
		return exitOK
	}
	dir, err := os.MkdirTemp("", "twimlbin-load-")
	if err != nil {
		fmt.Fprintf(stderr, "twimlbin-load: %v\n", err)
		return exitUsage
	}
	defer os.RemoveAll(dir)
	lt := &loadTest{cfg: cfg, dir: dir, out: stdout}
	if err := lt.setUp(); err != nil {
		fmt.Fprintf(stderr, "twimlbin-load: %v\n", err)
		return exitUsage
	}
	if err := lt.run(ctx); err != nil {
		fmt.Fprintf(stderr, "twimlbin-load: %v\n", err)
		return exitFailed
	}
	if lt.failed {
		fmt.Fprintln(stderr, "twimlbin-load: some requests failed, or the access log does not hold a line per request")
		return exitFailed
	}
	return exitOK
}

// parseConfig reads the flags. When ok is false the command stops with
// code: 0 after -h, 2 after a bad flag or value (it has printed why).
func parseConfig(args []string, stderr io.Writer) (cfg config, code int, ok bool) {
	fs := flag.NewFlagSet("twimlbin-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage, "\nFlags:\n")
		// Every flag but the peer's mode, which only the run itself uses.
		shown := flag.NewFlagSet("twimlbin-load", flag.ContinueOnError)
		shown.SetOutput(fs.Output())
		fs.VisitAll(func(f *flag.Flag) {
			if f.Name != peerFlag {
				shown.Var(f.Value, f.Name, f.Usage)
			}
		})
		shown.PrintDefaults()
	}
	fs.StringVar(&cfg.twimlbin, "twimlbin", "", "`PATH` of the twimlbin binary to run as twimlbin serve, such as bin/twimlbin (default: build ./cmd/twimlbin into the temporary directory)")
	fs.IntVar(&cfg.clients, "clients", 32, "keep-alive connections of this tool's timed runs")
	fs.DurationVar(&cfg.duration, "duration", 2*time.Second, "length of each of this tool's timed runs")
	fs.IntVar(&cfg.rounds, "rounds", 8, "timed runs of each side, alternating, for each client: many short runs cancel the drift of a shared machine")
	fs.StringVar(&cfg.wrk, "wrk", "wrk", `the wrk executable, looked up on PATH; "" skips wrk`)
	fs.IntVar(&cfg.wrkThreads, "wrk-threads", 2, "wrk's threads (-t)")
	fs.IntVar(&cfg.wrkConnections, "wrk-connections", 64, "wrk's connections (-c)")
	fs.DurationVar(&cfg.wrkDuration, "wrk-duration", 5*time.Second, "length of each wrk run (-d), whole seconds")
	fs.IntVar(&cfg.bins, "bins", 100_000, "bins stored for part 3")
	fs.IntVar(&cfg.createClients, "create-clients", 4, "concurrent clients creating bins through the API")
	fs.DurationVar(&cfg.createDuration, "create-duration", 3*time.Second, "length of the run creating bins")
	fs.DurationVar(&cfg.peerWork, "peer-work", 0, "keep the peer's processor busy this long on each request, such as 5us: how much the ratio of part 1 moves for that much work a request, on this machine")
	fs.BoolVar(&cfg.peerOnly, "peer-only", false, "run part 1 only, the bin URL against the peer: for measuring a change to the request path quickly")
	fs.BoolVar(&cfg.etcdOnly, "etcd-only", false, "run part 4 only, the etcd backend against the bbolt file")
	fs.IntVar(&cfg.etcdUpdates, "etcd-updates", 1000, "updates whose visibility on the other nodes part 4 times")
	fs.StringVar(&cfg.peerBody, peerFlag, "", "run as the peer only, answering the bytes of this file, until standard input closes")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, exitOK, false
		}
		return cfg, exitUsage, false
	}
	var problem string
	switch {
	case fs.NArg() > 0:
		problem = fmt.Sprintf("unexpected argument %q: twimlbin-load takes only flags", fs.Arg(0))
	case cfg.peerOnly && cfg.etcdOnly:
		problem = "-peer-only and -etcd-only each run one part: give one of them, or neither for every part"
	case cfg.clients < 1, cfg.rounds < 1, cfg.bins < 1, cfg.createClients < 1, cfg.wrkThreads < 1, cfg.etcdUpdates < 1:
		problem = "-clients, -rounds, -bins, -create-clients, -wrk-threads and -etcd-updates take 1 or more"
	case cfg.peerWork < 0:
		problem = fmt.Sprintf("-peer-work %s: want a duration of 0 or more, such as 5us", cfg.peerWork)
	case cfg.duration <= 0, cfg.createDuration <= 0:
		problem = "-duration and -create-duration take a positive duration such as 2s"
	case cfg.wrkDuration < time.Second || cfg.wrkDuration%time.Second != 0:
		problem = fmt.Sprintf("-wrk-duration %s: wrk takes whole seconds, such as 5s", cfg.wrkDuration)
	case cfg.wrkConnections < cfg.wrkThreads:
		problem = fmt.Sprintf("-wrk-connections %d: wrk needs at least one per thread (-wrk-threads %d)", cfg.wrkConnections, cfg.wrkThreads)
	}
	if problem != "" {
		fmt.Fprintf(stderr, "twimlbin-load: %s\n", problem)
		return cfg, exitUsage, false
	}
	return cfg, exitOK, true
}
