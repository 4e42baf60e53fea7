package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/twimlbin/twimlbin/api"
	"github.com/twimlbin/twimlbin/store"
)

// The server under test runs in a process of its own, as a real
// deployment does, so that the load generator's work, memory and garbage
// collection do not count as the server's: `twimlbin loadtest -serve-db
// PATH` serves PATH and prints "listening ADDR"; the parent loadtest
// drives it over HTTP and ends it by closing its standard input.

// Paths only the server under test answers, beside the API's.
const (
	loadFlushPath   = "/loadtest/flush"   // POST: write the buffered usage counters now
	loadMemoryPath  = "/loadtest/memory"  // POST: collect garbage, answer the heap in use
	loadProfilePath = "/loadtest/profile" // POST: start the CPU profile of -serve-cpuprofile
)

// serveLoad is loadtest's server mode: it serves the database at path with
// the API's handler behind an http.Server set as serve sets it, on
// 127.0.0.1, with /static answering static, until stdin is closed. Once
// asked to (loadProfilePath), it writes a CPU profile to cpuProfile until
// it exits, unless that is "".
func serveLoad(path, cpuProfile string, static []byte, stdin io.Reader, stdout io.Writer, logger *slog.Logger) error {
	db, err := store.Open(path, store.Options{})
	if err != nil {
		return err
	}
	stopProfile := func() error { return nil }
	defer func() { stopProfile() }()
	handlers, err := api.New(api.Config{StaticBody: static}, db, logger)
	if err != nil {
		db.Close()
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/", handlers.Handler())
	mux.HandleFunc("POST "+loadFlushPath, func(w http.ResponseWriter, _ *http.Request) {
		if err := db.Flush(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("POST "+loadProfilePath, func(w http.ResponseWriter, _ *http.Request) {
		if cpuProfile == "" {
			return
		}
		f, err := os.Create(cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		stopProfile = func() error {
			pprof.StopCPUProfile()
			return f.Close()
		}
	})
	mux.HandleFunc("POST "+loadMemoryPath, func(w http.ResponseWriter, _ *http.Request) {
		runtime.GC()
		debug.FreeOSMemory()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Fprint(w, ms.HeapInuse)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		db.Close()
		return err
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "listening %s\n", ln.Addr())
	_, _ = io.Copy(io.Discard, stdin) // until the parent closes it or exits

	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err = srv.Shutdown(ctx)
	if serveErr := <-served; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	return errors.Join(err, db.Close())
}

// loadServer is a server under test, running in a child process.
type loadServer struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	addr   string
	client *http.Client
	exited chan error
}

// startLoadServer starts bin (the twimlbin executable) serving the
// database at path, and returns once it listens. The server writes a CPU
// profile to cpuProfile unless that is "".
func startLoadServer(bin, path, cpuProfile string) (*loadServer, error) {
	cmd := exec.Command(bin, "loadtest", "-serve-db", path, "-serve-cpuprofile", cpuProfile)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the server under test: %w", err)
	}
	s := &loadServer{cmd: cmd, stdin: stdin, client: &http.Client{Timeout: requestTimeout}, exited: make(chan error, 1)}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		stdin.Close()
		cmd.Process.Kill()
		return nil, fmt.Errorf("the server under test printed %q (%v), exit %v", line, err, cmd.Wait())
	}
	s.addr = addr
	go func() { s.exited <- cmd.Wait() }()
	return s, nil
}

// flush writes the server's buffered usage counters.
func (s *loadServer) flush() error { return s.post(loadFlushPath) }

// startProfile starts the server's CPU profile, when it was given a file.
func (s *loadServer) startProfile() error { return s.post(loadProfilePath) }

// post posts nothing to one of the server's loadtest paths.
func (s *loadServer) post(path string) error {
	resp, err := s.client.Post("http://"+s.addr+path, "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %d %s", path, resp.StatusCode, body)
	}
	return nil
}

// memory collects the server's garbage and describes its memory: resident
// (all, anonymous, and the mapped database file) and the Go heap in use.
func (s *loadServer) memory() (string, error) {
	resp, err := s.client.Post("http://"+s.addr+loadMemoryPath, "", nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	heap, err := strconv.ParseUint(string(body), 10, 64)
	if err != nil {
		return "", fmt.Errorf("memory: %q: %w", body, err)
	}
	return fmt.Sprintf("%s; Go heap in use %.1f MiB", residentMemory(s.cmd.Process.Pid), float64(heap)/(1<<20)), nil
}

// close ends the server and waits for it to exit.
func (s *loadServer) close() error {
	s.stdin.Close()
	select {
	case err := <-s.exited:
		if err != nil {
			return fmt.Errorf("the server under test: %w", err)
		}
		return nil
	case <-time.After(shutdownTimeout + 5*time.Second):
		s.cmd.Process.Kill()
		return errors.New("the server under test did not exit")
	}
}

// residentMemory is a process's resident memory from /proc/PID/status:
// VmRSS, and its anonymous and file-backed (the mapped database) parts.
func residentMemory(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "resident memory unknown"
	}
	fields := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if name, value, ok := strings.Cut(line, ":"); ok {
			fields[name] = strings.TrimSpace(value)
		}
	}
	return fmt.Sprintf("VmRSS %s (anonymous %s, file %s)", fields["VmRSS"], fields["RssAnon"], fields["RssFile"])
}
