package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The shape of TestSoak's load: clients on the bin URL, each on its own
// keep-alive connection, clients updating bins through the API, and how
// often the server's resident memory is sampled.
const (
	soakReaders     = 16
	soakWriters     = 2
	soakReadBins    = 4
	soakSampleEvery = 5 * time.Second
	soakMinDuration = 30 * time.Second // three thirds of memory samples
	soakSlackKB     = 8 << 10          // 8 MiB on top of the 1.5× bound
)

// TestSoak runs sustained load on the bin URL mixed with API writes against
// the real binary for SOAK_DURATION, then reports throughput, latency,
// errors and the server's resident memory over time. It requires no errors,
// and memory that does not keep growing: the peak of the last third of the
// run is at most 1.5× the peak of the middle third, plus soakSlackKB.
func TestSoak(t *testing.T) {
	env := os.Getenv("SOAK_DURATION")
	if env == "" {
		t.Skip("set SOAK_DURATION (for example SOAK_DURATION=2m) to run the soak test, or run `make soak`")
	}
	dur, err := time.ParseDuration(env)
	require.NoError(t, err, "SOAK_DURATION")
	require.GreaterOrEqual(t, dur, soakMinDuration, "SOAK_DURATION is too short to judge memory over time")
	if deadline, ok := t.Deadline(); ok && time.Until(deadline) < dur+2*time.Minute {
		t.Fatalf("SOAK_DURATION %s does not fit in go test's -timeout: raise -timeout (SOAK_TIMEOUT in the Makefile)", dur)
	}

	bin := buildBinary(t)
	db := filepath.Join(t.TempDir(), "twimlbin.db")
	sid, token := createFaultAccount(t, bin, db)
	srv := startFaultServer(t, bin, db, "warn")
	c := newFaultClient(srv.base, sid, token)
	var reads, writes []faultBin
	for i := range soakReadBins {
		reads = append(reads, c.createBin(t, faultTemplate(fmt.Sprintf("read %d", i), 1000)))
	}
	for i := range soakWriters {
		writes = append(writes, c.createBin(t, faultTemplate(fmt.Sprintf("write %d", i), 500)))
	}

	ctx, cancel := context.WithTimeout(t.Context(), dur)
	defer cancel()
	pid := srv.cmd.Process.Pid
	start := time.Now()
	var (
		wg      sync.WaitGroup
		results = make(chan soakResult, soakReaders+soakWriters)
		samples []soakSample
	)
	for i := range soakReaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- soakRead(ctx, srv.base, reads, i)
		}()
	}
	for i := range soakWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- soakWrite(ctx, c, writes[i])
		}()
	}

	// Sample the server's memory until the load ends.
	tick := time.NewTicker(soakSampleEvery)
	s, err := soakMemory(pid, 0)
	require.NoError(t, err)
	samples = append(samples, s)
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
		}
		at := time.Since(start)
		if at-samples[len(samples)-1].at < time.Second {
			continue // the load ended just after a tick
		}
		s, err := soakMemory(pid, at)
		require.NoError(t, err)
		samples = append(samples, s)
	}
	tick.Stop()
	wg.Wait()
	close(results)
	elapsed := time.Since(start)

	var read, write soakResult
	for r := range results {
		if r.write {
			write.add(r)
		} else {
			read.add(r)
		}
	}
	total := read.count + write.count
	var rss []string
	for _, s := range samples {
		rss = append(rss, fmt.Sprintf("%s:%d", s.at.Round(time.Second), s.rssKB/1024))
	}
	last := samples[len(samples)-1]
	summary := fmt.Sprintf("soak: duration=%s req/s=%.0f reads=%d writes=%d "+
		"read_p50=%s read_p99=%s write_p50=%s write_p99=%s errors=%d "+
		"rss_MiB=[%s] final_anon_MiB=%d final_file_MiB=%d",
		elapsed.Round(time.Second), float64(total)/elapsed.Seconds(), read.count, write.count,
		read.hist.quantile(0.50), read.hist.quantile(0.99), write.hist.quantile(0.50), write.hist.quantile(0.99),
		read.errors+write.errors, strings.Join(rss, " "), last.anonKB/1024, last.fileKB/1024)
	t.Log(summary)
	fmt.Println(summary)

	require.Zero(t, read.errors+write.errors, "errors; the first: %v", append(read.first, write.first...))
	require.NotZero(t, read.count, "requests on the bin URL")
	require.NotZero(t, write.count, "API writes")

	// Memory: the peak of the last third against the peak of the middle one.
	var middle, final int
	for _, s := range samples {
		switch third := 3 * s.at / elapsed; {
		case third >= 2:
			final = max(final, s.rssKB)
		case third >= 1:
			middle = max(middle, s.rssKB)
		}
	}
	require.NotZero(t, middle, "no memory sample in the middle third")
	require.LessOrEqual(t, final, middle*3/2+soakSlackKB,
		"resident memory keeps growing: %d KiB at most in the last third, %d KiB in the middle third", final, middle)
}

// soakResult is what one client did: its requests, their latencies, and
// its errors with the first few of them.
type soakResult struct {
	write  bool
	count  int
	errors int
	first  []error
	hist   soakHistogram
}

func (r *soakResult) fail(err error) {
	r.errors++
	if len(r.first) < 5 {
		r.first = append(r.first, err)
	}
}

func (r *soakResult) add(o soakResult) {
	r.count += o.count
	r.errors += o.errors
	r.first = append(r.first, o.first...)
	for i, n := range o.hist {
		r.hist[i] += n
	}
}

// soakRead requests the bin URLs of bins in turn on one keep-alive
// connection until ctx is done. A request cut short by ctx is not counted.
func soakRead(ctx context.Context, base string, bins []faultBin, first int) soakResult {
	client := &http.Client{
		Timeout:   faultRequestTimeout,
		Transport: &http.Transport{MaxIdleConnsPerHost: 1},
	}
	defer client.CloseIdleConnections()
	var r soakResult
	for i := first; ctx.Err() == nil; i++ {
		sid := bins[i%len(bins)].SID
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/twiml/"+sid+"?From=%2B15550100"+strconv.Itoa(i%10), nil)
		if err != nil {
			r.fail(err)
			continue
		}
		start := time.Now()
		resp, err := client.Do(req)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		took := time.Since(start)
		if ctx.Err() != nil {
			break
		}
		r.count++
		r.hist.record(took)
		switch {
		case err != nil:
			r.fail(err)
		case resp.StatusCode != http.StatusOK:
			r.fail(fmt.Errorf("GET /twiml/%s: %s", sid, resp.Status))
		}
	}
	return r
}

// soakWrite updates b through the API with If-Match until ctx is done, the
// template alternating between sizes so that the bin does not grow. It is
// the only writer of b, so every update must succeed.
func soakWrite(ctx context.Context, c *faultClient, b faultBin) soakResult {
	r := soakResult{write: true}
	rev := b.Revision
	for i := 0; ctx.Err() == nil; i++ {
		tmpl := faultTemplate(fmt.Sprintf("%s rev %d", b.SID, rev+1), 200+(i%8)*200)
		start := time.Now()
		resp, err := c.do(ctx, http.MethodPatch, "/api/v1/bins/"+b.SID, map[string]string{"template": tmpl}, rev)
		took := time.Since(start)
		if ctx.Err() != nil {
			break
		}
		r.count++
		r.hist.record(took)
		if err == nil && resp.status != http.StatusOK {
			err = fmt.Errorf("PATCH /api/v1/bins/%s at revision %d: %d %s", b.SID, rev, resp.status, resp.body)
		}
		if err != nil {
			// The outcome is unknown: read the revision back before going on.
			r.fail(err)
			got, gerr := c.do(ctx, http.MethodGet, "/api/v1/bins/"+b.SID, nil, 0)
			if gerr != nil {
				r.fail(gerr)
				continue
			}
			resp = got
		}
		var updated faultBin
		if err := json.Unmarshal(resp.body, &updated); err != nil {
			r.fail(fmt.Errorf("bin %s: %w: %s", b.SID, err, resp.body))
			continue
		}
		rev = updated.Revision
	}
	return r
}

// soakSample is the server's memory at a time into the run, in KiB:
// resident in all, and split into anonymous memory and mapped files (the
// bbolt file is mapped).
type soakSample struct {
	at                    time.Duration
	rssKB, anonKB, fileKB int
}

// soakMemory reads the resident memory of process pid from
// /proc/<pid>/status.
func soakMemory(pid int, at time.Duration) (soakSample, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return soakSample{}, err
	}
	defer f.Close()
	s := soakSample{at: at}
	fields := map[string]*int{"VmRSS:": &s.rssKB, "RssAnon:": &s.anonKB, "RssFile:": &s.fileKB}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.Fields(sc.Text())
		if len(line) >= 2 && fields[line[0]] != nil {
			if *fields[line[0]], err = strconv.Atoi(line[1]); err != nil {
				return soakSample{}, fmt.Errorf("/proc/%d/status: %q: %w", pid, sc.Text(), err)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return soakSample{}, err
	}
	if s.rssKB == 0 {
		return soakSample{}, fmt.Errorf("/proc/%d/status has no VmRSS", pid)
	}
	return s, nil
}

// soakHistogram counts latencies in buckets 1% wide, so that a soak of any
// length takes the same memory; a quantile is within 1% of the truth.
type soakHistogram [2600]uint64

const soakBucketBase = 1.01

func (h *soakHistogram) record(d time.Duration) {
	i := 0
	if d > 1 {
		i = int(math.Log(float64(d)) / math.Log(soakBucketBase))
	}
	h[min(i, len(h)-1)]++
}

// quantile is the upper bound of the bucket that holds quantile q.
func (h *soakHistogram) quantile(q float64) time.Duration {
	var total uint64
	for _, n := range h {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i, n := range h {
		seen += n
		if seen >= rank {
			return time.Duration(math.Pow(soakBucketBase, float64(i+1))).Round(time.Microsecond)
		}
	}
	return time.Duration(math.Pow(soakBucketBase, float64(len(h))))
}
