// Package api serves twimlbin over HTTP with echo: the bin URL that Twilio
// requests (/twiml/{sid}), the JSON management API under /api/v1, and the
// operational endpoints /healthz, /readyz and /metrics. It calls the engine
// to compile and render templates and the store to keep them; it holds no
// storage code of its own.
//
// Every route is listed in one function, Server.routes; handlers are grouped
// per resource (bin.go, revision.go, account.go, backup.go, twiml.go); every
// error goes through one echo HTTPErrorHandler (errors.go), which answers
// with the JSON shape {code, message, more_info, status} documented in
// openapi.json. The OpenAPI document is the reference for clients: its
// descriptions state the decisions below, and a test keeps it and the route
// table in step.
//
// Decisions, in short:
//
//   - The bin URL reads parameters from the query string and, for a
//     form-encoded POST, from the body. A name present in both takes the body's
//     values: Twilio posts its own parameters (From, CallSid…) in the body, and
//     a query string someone else wrote must not override them.
//   - The bin URL serves from memory: the compiled template, the policy,
//     the account's Twilio auth token and the store's Counter of the bin's
//     requests, kept per bin (cache.go). The store
//     counts the writes of every bin and account (store.Store.Generation, an
//     atomic counter bumped once a write commits); a request reads two
//     counters and, when neither moved since the bin was read, touches
//     neither the database nor a decoder. When one moved, it reads the bin
//     and the token again, so an update or a delete made through the store
//     by any caller (this API, the web form) is visible to the very next
//     request; on etcd, the store's watch moves the counters for the writes
//     of other nodes. Compiled templates are shared by bins with the same text and
//     bounded in number and in bytes (Config.CacheSize, Config.CacheBytes),
//     the least recently used dropped first; the bins kept are bounded too
//     (Config.BinCacheSize), a full table dropping an entry at random.
//   - The access log (Config.AccessLog) is a line per request in
//     log/slog's text format, written by hand (accesslog.go): slog's
//     handler takes several times as long. Give it a writer that never
//     makes the request wait, as twimlbin serve does (internal/logwriter).
//   - A render that fails under the strict policy answers 500, so that Twilio
//     uses the number's fallback URL; the body says only that the bin could
//     not be rendered. Under the lenient policy the repaired TwiML answers 200.
//     Every render diagnostic, warnings included, goes to the bin's event log.
//   - When the bin's account holds a Twilio auth token, a request without a
//     valid X-Twilio-Signature is refused with 403 before anything of the bin
//     is read (signature.go).
//   - A backup holds every account's data, so it is given only to the
//     accounts listed in Config.BackupAccounts, or to the only account of a
//     database that has one (whose backup holds nothing but its own data).
//   - Templates are limited to 64 KiB (MaxTemplateBytes), Twilio's limit on
//     a TwiML response, although the engine accepts more. That rule, the
//     render policies and the friendly names are the store's (store.CheckBinInput),
//     which every write applies; the API asks it first, to answer before
//     compiling, and maps its errors in one place (errors.go).
//   - Every answer is inert in a browser (Content-Security-Policy
//     default-src 'none' with sandbox, and nosniff): a bin's TwiML is its
//     account's text, and a template saved under an older engine may hold
//     markup a browser would run. The values are made once (setInertHeaders).
//   - The API is for programs: a write that a browser sends from another
//     site is refused with 403 (http.CrossOriginProtection), and a 401 sends
//     no Basic challenge, which a browser would answer with a prompt and
//     then replay from any page.
//
// # The bin URL's path
//
// A bin URL request is the one Twilio waits on, and the one a deployment
// serves most, so the code it runs is built to do little, and each piece
// that makes it so is kept because a benchmark shows what it buys (the
// figures are in the README's Performance section):
//
//   - Finding the bin (cache.go): a table of bins by SID whose slots hold
//     no pointers, only two generation numbers to compare with the
//     store's, the bin's usage Counter and a handle on traits that bins
//     share. A lookup reads one slot, and the garbage collector has
//     nothing to follow in 100,000 bins (BenchmarkBinURLManyBins: 6.6 µs
//     a request to a random bin of 100,000; 11.9 to 13.1 µs when each bin
//     was a small object of its own, 200,000 of them for the collector to
//     mark).
//   - Counting the request: the store's Counter names the bin's slot in
//     a table of blocks, so counting is two atomic updates and no lookup
//     (store BenchmarkCount); the store writes the blocks in batches.
//   - Echo composes its middleware around a route's handler anew on
//     every request; the bin URL's GET and POST skip the router and go
//     to the same middleware composed once (serveBinURL; its answers are
//     the router's, TestBinURLAnsweredAsByTheRouter).
//   - A request's parameters are gathered into a slot per name the
//     template reads, by position, and the template renders from the
//     slots (engine AppendRenderSlots): no map is filled, read or cleared
//     on the way (BenchmarkBinParams 587 ns against 734 ns with maps,
//     engine BenchmarkRenderContextualSlots 437 ns against 524 ns).
//   - The request's body, its parameters and the rendered bytes live in
//     pooled buffers (params.go, twiml.go), and parameters the template
//     does not read are skipped on their length: BenchmarkBinURL makes 2
//     allocations and some 70 B a request with the pools, 11 and 1.47 kB
//     without, and takes about 1.5 times as long. The values taken from
//     the body share its memory until the answer is written
//     (TestBinURLBodiesAreTheirOwn).
//   - The headers every answer has are slices made once (setInertHeaders);
//     the Date header and the access log's time are formatted once a
//     second (seconds.go).
//   - The access line is written by hand and handed to a writer that
//     never makes the request wait (accesslog.go; BenchmarkAccessLog:
//     about a tenth of slog's time for the same record).
//   - Metrics read their series without a lock (metrics.go routeMetrics):
//     a read lock's count is a write both cores would take turns on.

// cmd/twimlbin-load measures the whole against a bare Echo server
// answering the same bytes.
//
// A Server is safe for concurrent use. It owns no goroutines: the caller
// runs the HTTP server (timeouts, graceful shutdown) and closes the store.
package api
