// Package logwriter gives a log a writer that never makes its caller wait
// for the output: each Write copies the line into memory, and a goroutine
// of its own writes what has gathered every FlushInterval, or sooner once
// FlushBytes have gathered. Close writes the rest, so a clean stop loses
// nothing.
//
// The access log writes a line per request. Written straight to stderr,
// each line is a system call made while the request waits, under the
// lock that keeps lines whole; gathered, many lines go out in one.
//
// When the output falls so far behind that MaxPending bytes wait, further
// lines are dropped rather than held or waited for, and counted: the next
// write that gets through begins with a line saying how many were lost.
package logwriter

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Defaults of Writer.
const (
	FlushInterval = 100 * time.Millisecond
	FlushBytes    = 64 << 10
	MaxPending    = 8 << 20
)

// Writer gathers lines for out. Make one with New; it is safe for
// concurrent use. Each Write must be whole lines, as log/slog's handlers
// and the access log write them: a dropped Write is a dropped line.
type Writer struct {
	out io.Writer

	mu      sync.Mutex
	pending []byte
	dropped int   // lines dropped since the last note of it
	err     error // the output's last error, reported by Close
	closed  bool

	kick chan struct{} // FlushBytes have gathered
	stop chan struct{} // closed by Close
	done chan struct{} // closed when the flusher has returned
}

// New returns a Writer for out and starts its flusher; Close stops it.
func New(out io.Writer) *Writer {
	w := &Writer{
		out:     out,
		pending: make([]byte, 0, FlushBytes),
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go w.flusher()
	return w
}

// Write copies p to be written by the flusher, or drops it when
// MaxPending bytes are waiting already. It never fails, and never waits
// for the output. After Close it writes p itself, at once.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return w.out.Write(p)
	}
	if len(w.pending)+len(p) > MaxPending {
		w.dropped++
		w.mu.Unlock()
		return len(p), nil
	}
	w.pending = append(w.pending, p...)
	full := len(w.pending) >= FlushBytes
	w.mu.Unlock()
	if full {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// Close writes what is pending, stops the flusher and returns the first
// error the output gave, if any. Writes after Close go straight to the
// output.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		<-w.done
		return w.err
	}
	w.closed = true
	w.mu.Unlock()
	close(w.stop)
	<-w.done
	return w.err
}

// flusher writes what gathers until Close, then what is left.
func (w *Writer) flusher() {
	defer close(w.done)
	t := time.NewTicker(FlushInterval)
	defer t.Stop()
	spare := make([]byte, 0, FlushBytes)
	for {
		select {
		case <-t.C:
		case <-w.kick:
		case <-w.stop:
			w.flush(spare)
			return
		}
		spare = w.flush(spare)
	}
}

// flush swaps the pending bytes for spare and writes them, outside the
// lock, so that writers go on gathering meanwhile. It returns the buffer
// to use as the next spare.
func (w *Writer) flush(spare []byte) []byte {
	w.mu.Lock()
	out, dropped := w.pending, w.dropped
	w.pending, w.dropped = spare[:0], 0
	w.mu.Unlock()
	if dropped > 0 {
		note := fmt.Appendf(nil, "level=WARN msg=\"%d log lines dropped: the log output did not keep up\"\n", dropped)
		out = append(note, out...)
	}
	if len(out) > 0 {
		if _, err := w.out.Write(out); err != nil {
			w.mu.Lock()
			if w.err == nil {
				w.err = err
			}
			w.mu.Unlock()
		}
	}
	if cap(out) > 4*FlushBytes {
		return make([]byte, 0, FlushBytes) // let a burst's buffer go
	}
	return out[:0]
}
