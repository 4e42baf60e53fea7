package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"
)

// This file is the client side of twimlbin-load: a minimal HTTP/1.1
// client over keep-alive connections, lighter than net/http's so that the
// server, not the client, takes most of the CPU (as with wrk), and the
// figures of a timed run.

// loadConn is one keep-alive connection to the server.
type loadConn struct {
	addr string
	conn net.Conn
	r    *bufio.Reader
	body []byte
}

// errNoLength is a response without Content-Length, which the bin URL and
// the peer never send.
var errNoLength = errors.New("response without Content-Length")

// roundTrip sends req, a complete HTTP/1.1 request, and reads the response:
// its status and body, which is valid until the next call. It dials when
// the connection is not open and closes it after an error or when the
// server asks to.
func (c *loadConn) roundTrip(req []byte) (int, []byte, error) {
	if c.conn == nil {
		conn, err := net.Dial("tcp", c.addr)
		if err != nil {
			return 0, nil, err
		}
		c.conn = conn
		if c.r == nil {
			c.r = bufio.NewReaderSize(conn, 16<<10)
		} else {
			c.r.Reset(conn)
		}
	}
	status, body, keep, err := c.exchange(req)
	if err != nil || !keep {
		c.close()
	}
	return status, body, err
}

// requestTimeout bounds one round trip, so that a stuck server fails the
// run rather than hanging it.
const requestTimeout = 10 * time.Second

func (c *loadConn) exchange(req []byte) (status int, body []byte, keep bool, err error) {
	if err := c.conn.SetDeadline(time.Now().Add(requestTimeout)); err != nil {
		return 0, nil, false, err
	}
	if _, err := c.conn.Write(req); err != nil {
		return 0, nil, false, err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, nil, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, nil, false, fmt.Errorf("bad status line %q", line)
	}
	if status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return 0, nil, false, fmt.Errorf("bad status line %q", line)
	}
	length, keep := -1, true
	for {
		line, err = c.r.ReadSlice('\n')
		if err != nil {
			return 0, nil, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return 0, nil, false, fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Connection")) && bytes.EqualFold(value, []byte("close")):
			keep = false
		}
	}
	if length < 0 {
		return status, nil, false, errNoLength
	}
	if cap(c.body) < length {
		c.body = make([]byte, length)
	}
	c.body = c.body[:length]
	if _, err := io.ReadFull(c.r, c.body); err != nil {
		return 0, nil, false, err
	}
	return status, c.body, keep, nil
}

func (c *loadConn) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// loadResult is what a timed run measured.
type loadResult struct {
	requests  int // answered as expected
	errors    int // failed, or answered otherwise than expected
	firstErr  error
	elapsed   time.Duration
	latencies []time.Duration // of the expected answers, sorted
}

func (r loadResult) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.requests) / r.elapsed.Seconds()
}

// percentile returns the p-th percentile of the latencies, 0 when there
// are none.
func (r loadResult) percentile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	return quantile(r.latencies, p/100)
}

// merge returns the results of several runs as one: requests over the sum
// of their times.
func merge(runs []loadResult) loadResult {
	var total loadResult
	for _, r := range runs {
		total.requests += r.requests
		total.errors += r.errors
		total.elapsed += r.elapsed
		total.latencies = append(total.latencies, r.latencies...)
		if total.firstErr == nil {
			total.firstErr = r.firstErr
		}
	}
	slices.Sort(total.latencies)
	return total
}

// loadWorker makes one request: it writes it into buf (reusing its
// memory) and checks the answer.
type loadWorker struct {
	request func(buf []byte) []byte
	check   func(status int, body []byte) error
}

// runLoad makes requests from clients connections, each waiting for an
// answer before the next request, for d or until ctx is done; or, when d
// is 0, until each worker's request returns nil.
func runLoad(ctx context.Context, addr string, clients int, d time.Duration, newWorker func(i int) loadWorker) loadResult {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if d > 0 {
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	results := make([]loadResult, clients)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range clients {
		wg.Go(func() {
			w := newWorker(i)
			c := &loadConn{addr: addr}
			defer c.close()
			res := &results[i]
			res.latencies = make([]time.Duration, 0, 1<<14)
			var buf []byte
			for ctx.Err() == nil {
				buf = w.request(buf[:0])
				if buf == nil {
					return
				}
				t := time.Now()
				status, body, err := c.roundTrip(buf)
				elapsed := time.Since(t)
				if err == nil {
					err = w.check(status, body)
				}
				if err != nil {
					if ctx.Err() != nil && d > 0 {
						return // cut off by the end of the run
					}
					res.errors++
					if res.firstErr == nil {
						res.firstErr = err
					}
					continue
				}
				res.requests++
				res.latencies = append(res.latencies, elapsed)
			}
		})
	}
	wg.Wait()
	total := merge(results)
	total.elapsed = time.Since(start)
	return total
}
