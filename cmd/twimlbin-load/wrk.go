package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// wrkResult is what one wrk run reported.
type wrkResult struct {
	requests int           // "N requests in T"
	elapsed  time.Duration // T
	rate     float64       // Requests/sec
	p50, p99 time.Duration // --latency's distribution
	non2xx   int           // "Non-2xx or 3xx responses: N"
	socket   int           // "Socket errors: connect A, read B, write C, timeout D", summed
}

func (r wrkResult) errors() int { return r.non2xx + r.socket }

// writeWrkScript writes the Lua script that makes wrk send Twilio's
// request to the bin URL's path: a POST with the query string and the
// form body. Both are URL-encoded, so they need no escaping but Lua's
// quotes.
func (lt *loadTest) writeWrkScript(sid string) (string, error) {
	script := fmt.Sprintf(`-- Twilio's request to the bin URL, as twimlbin-load's own client sends it.
wrk.method = "POST"
wrk.path = %q
wrk.body = %q
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["User-Agent"] = "TwilioProxy/1.1"
`, "/twiml/"+sid+"?"+lt.query, lt.form)
	path := filepath.Join(lt.dir, "twilio.lua")
	return path, os.WriteFile(path, []byte(script), 0o644)
}

// runWrk runs wrk once against addr with script.
func (lt *loadTest) runWrk(ctx context.Context, addr, script string) (wrkResult, error) {
	cmd := exec.CommandContext(ctx, lt.wrkPath,
		"-t"+strconv.Itoa(lt.cfg.wrkThreads), "-c"+strconv.Itoa(lt.cfg.wrkConnections),
		"-d"+strconv.Itoa(int(lt.cfg.wrkDuration/time.Second))+"s", "--latency", "-s", script, "http://"+addr+"/")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("%s: %w\n%s", cmd, err, out)
	}
	r, err := parseWrk(string(out))
	if err != nil {
		return r, fmt.Errorf("%s: %w; its output:\n%s", cmd, err, out)
	}
	return r, nil
}

// parseWrk reads the figures of wrk's report (wrk 4, with --latency).
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	var haveRate, haveCount, have50, have99 bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		var err error
		switch {
		case len(f) == 2 && f[0] == "Requests/sec:":
			r.rate, err = strconv.ParseFloat(f[1], 64)
			haveRate = true
		case len(f) == 2 && f[0] == "50%":
			r.p50, err = parseWrkDuration(f[1])
			have50 = true
		case len(f) == 2 && f[0] == "99%":
			r.p99, err = parseWrkDuration(f[1])
			have99 = true
		case len(f) >= 4 && f[1] == "requests" && f[2] == "in":
			if r.requests, err = strconv.Atoi(f[0]); err == nil {
				r.elapsed, err = parseWrkDuration(strings.TrimSuffix(f[3], ","))
			}
			haveCount = true
		case len(f) == 5 && strings.Join(f[:4], " ") == "Non-2xx or 3xx responses:":
			r.non2xx, err = strconv.Atoi(f[4])
		case len(f) >= 2 && f[0] == "Socket" && f[1] == "errors:":
			// Socket errors: connect 0, read 0, write 0, timeout 0
			for i := 3; i < len(f); i += 2 {
				n, aerr := strconv.Atoi(strings.TrimSuffix(f[i], ","))
				if aerr != nil {
					err = aerr
					break
				}
				r.socket += n
			}
		}
		if err != nil {
			return r, fmt.Errorf("wrk's line %q: %w", sc.Text(), err)
		}
	}
	if !haveRate || !haveCount || !have50 || !have99 {
		return r, fmt.Errorf("wrk's report lacks Requests/sec, the request count, or the 50%% and 99%% latencies (given --latency)")
	}
	return r, nil
}

// parseWrkDuration reads wrk's durations: 812.00us, 1.23ms, 5.00s, 1.20m.
func parseWrkDuration(s string) (time.Duration, error) {
	if v, ok := strings.CutSuffix(s, "m"); ok && !strings.HasSuffix(v, "m") {
		s = v + "min"
	}
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"min", time.Minute}, {"s", time.Second}, {"h", time.Hour}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, fmt.Errorf("duration %q: %w", s, err)
			}
			return time.Duration(f * float64(u.unit)), nil
		}
	}
	return 0, fmt.Errorf("duration %q: no unit of us, ms, s, m or h", s)
}
