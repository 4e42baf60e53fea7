package logwriter

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// output records what it is given; while blocked, each Write waits.
type output struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	writes  int
	blocked chan struct{} // nil: never blocks; closed: unblocks
	err     error
}

func (o *output) Write(p []byte) (int, error) {
	if o.blocked != nil {
		<-o.blocked
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.writes++
	o.buf.Write(p)
	return len(p), o.err
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// TestCloseWritesEveryLine: lines written from many goroutines all reach
// the output, whole and each writer's in its order, by Close at the
// latest, in far fewer writes than lines.
func TestCloseWritesEveryLine(t *testing.T) {
	out := &output{}
	w := New(out)
	const writers, lines = 8, 5000
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range lines {
				fmt.Fprintf(w, "msg=request writer=%d line=%d\n", g, i)
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(got) != writers*lines {
		t.Fatalf("%d lines written, want %d", len(got), writers*lines)
	}
	next := make([]int, writers)
	for _, line := range got {
		var g, i int
		if _, err := fmt.Sscanf(line, "msg=request writer=%d line=%d", &g, &i); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if i != next[g] {
			t.Fatalf("writer %d: line %d after line %d", g, i, next[g]-1)
		}
		next[g]++
	}
	if out.writes >= writers*lines/10 {
		t.Errorf("%d writes to the output for %d lines", out.writes, writers*lines)
	}
	fmt.Fprintf(w, "after close\n")
	if !strings.HasSuffix(out.String(), "after close\n") {
		t.Error("a line written after Close did not go straight to the output")
	}
}

// TestWriteNeverWaitsForTheOutput: while the output is stuck, writes still
// return at once (were they to wait, this test would never end), and once
// MaxPending bytes wait, lines are dropped and then counted in the output.
func TestWriteNeverWaitsForTheOutput(t *testing.T) {
	out := &output{blocked: make(chan struct{})}
	w := New(out)
	line := strings.Repeat("x", 99) + "\n"
	fit := MaxPending / len(line)
	n := 3 * fit
	for range n {
		if _, err := w.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	// A flush may have taken up to MaxPending bytes before the output
	// stuck; what came after those and the MaxPending bytes waiting
	// behind them was dropped.
	close(out.blocked)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	written := strings.Count(got, line)
	var dropped int
	if _, err := fmt.Sscanf(got[strings.Index(got, "msg=")+5:], "%d log lines dropped", &dropped); err != nil {
		t.Fatalf("no note of the dropped lines: %v", err)
	}
	if dropped < n-2*fit || written+dropped != n {
		t.Errorf("%d lines written and %d dropped of %d", written, dropped, n)
	}
}

// TestCloseReportsTheOutputsError: the output's error comes back from
// Close, since Write cannot wait for it.
func TestCloseReportsTheOutputsError(t *testing.T) {
	broken := errors.New("disk full")
	out := &output{err: broken}
	w := New(out)
	fmt.Fprintln(w, "msg=request")
	if err := w.Close(); !errors.Is(err, broken) {
		t.Errorf("Close = %v, want %v", err, broken)
	}
	if err := w.Close(); !errors.Is(err, broken) {
		t.Errorf("Close again = %v, want %v", err, broken)
	}
}
