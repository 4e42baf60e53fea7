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
//     counts the writes of every bin and account (store.DB.Generation, an
//     atomic counter bumped once a write commits); a request reads two
//     counters and, when neither moved since the bin was read, touches
//     neither the database nor a decoder. When one moved, it reads the bin
//     and the token again, so an update or a delete made through the store
//     by any caller (this API, the web form) is visible to the very next
//     request. Compiled templates are shared by bins with the same text and
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
//   - Templates are limited to 64 KiB (MaxTemplateBytes) at the API, Twilio's
//     limit on a TwiML response, although the engine accepts more.
//   - Every answer is inert in a browser (Content-Security-Policy
//     default-src 'none' with sandbox, and nosniff): a bin's TwiML is its
//     account's text, and a template saved under an older engine may hold
//     markup a browser would run. The values are made once (setInertHeaders).
//   - The API is for programs: a write that a browser sends from another
//     site is refused with 403 (http.CrossOriginProtection), and a 401 sends
//     no Basic challenge, which a browser would answer with a prompt and
//     then replay from any page.
//
// A Server is safe for concurrent use. It owns no goroutines: the caller
// runs the HTTP server (timeouts, graceful shutdown) and closes the store.
package api
