package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
)

// The peer is what the bin URL is measured against: a bare Echo v4
// server, with no middleware at all, answering the bin URL's bytes. It
// runs in a process of its own, as serve does: `twimlbin-load -peer-body
// FILE` prints "listening ADDR" and serves until its standard input
// closes.

// serve's HTTP server settings (newHTTPServer in cmd/twimlbin/serve.go),
// which the peer uses too; TestPeerTimeoutsAreServes keeps them equal.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	shutdownTimeout   = 30 * time.Second
	maxHeaderBytes    = 64 << 10
)

// The constant headers of the bin URL's answers (api/twiml.go serveBin and
// api/middleware.go setInertHeaders), each set as one slice made once, as
// the bin URL sets them.
var (
	peerContentType = "text/xml; charset=utf-8"
	peerNoStore     = []string{"no-store"}
	peerPolicy      = []string{"default-src 'none'; sandbox"}
	peerNosniff     = []string{"nosniff"}
)

// peerHandler is echo.New() with no middleware, answering GET and POST
// /twiml/:sid with body and the bin URL's constant headers, and no
// request ID. With work, each request first keeps the processor busy for
// that long (-peer-work).
func peerHandler(body []byte, work time.Duration) http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	answer := func(c echo.Context) error {
		if work > 0 {
			spin(work)
		}
		h := c.Response().Header()
		h[echo.HeaderCacheControl] = peerNoStore
		h["Content-Security-Policy"] = peerPolicy
		h["X-Content-Type-Options"] = peerNosniff
		return c.Blob(http.StatusOK, peerContentType, body)
	}
	e.GET("/twiml/:sid", answer)
	e.POST("/twiml/:sid", answer)
	return e
}

// spinSink keeps spin's loop from being optimized away.
var spinSink atomic.Uint64

// spin keeps the processor busy for d, as work a request might do.
func spin(d time.Duration) {
	var n uint64
	for start := time.Now(); time.Since(start) < d; {
		for i := range uint64(64) {
			n += i * i
		}
	}
	spinSink.Add(n)
}

// runPeer serves the bytes of the file bodyPath on 127.0.0.1 until stdin
// closes, printing "listening ADDR" to stdout once it listens. With work,
// each request spends that long on the processor first.
func runPeer(bodyPath string, work time.Duration, stdin io.Reader, stdout io.Writer) error {
	body, err := os.ReadFile(bodyPath)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           peerHandler(body, work),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          log.New(os.Stderr, "peer: ", 0),
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
	return err
}
