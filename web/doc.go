// Package web is twimlbin's web form: server-rendered pages where an account
// signs in, starts a bin from the gallery, edits it with its diagnostics
// next to the lines they name, previews it with sample parameters, reads
// its history and event log, restores an old revision and deletes it.
//
// The pages are html/template files and the CSS and JavaScript are static
// files, all embedded in the binary: no build step, nothing fetched from
// elsewhere. Every page works without JavaScript; app.js adds line numbers
// that follow typing, live validation (POST /bins/validate) and copy
// buttons.
//
// Handlers use the engine and the store as the JSON API does: a template
// is checked with engine.Compile after the API's 64 KiB limit, a template
// with errors is not saved, warnings are saved and shown. web holds no
// storage code.
//
// Security, in short:
//
//   - A session is a cookie holding the account SID, the account's session
//     epoch, a CSRF token and an expiry, signed with HMAC-SHA256
//     (Config.SessionKey, or the key kept in the database, so that sessions
//     outlast a restart). It is HttpOnly, SameSite=Strict, and Secure when
//     the request came over TLS or Config.PublicURL is https. Every request
//     compares the epoch with the account's: signing out, or rotating the
//     auth token, moves the account's on and so ends every copy of every
//     session of the account, in every browser.
//   - Every POST carries the session's CSRF token, compared in constant
//     time; a missing or wrong token is a 403 page. Visitors who are not
//     signed in get a session too, so that the sign-in form has a token
//     (no login CSRF); signing in replaces it, token included.
//   - Every response has a Content-Security-Policy without inline script or
//     style, frame-ancestors 'none', X-Content-Type-Options and a
//     Referrer-Policy. Templates and parameters are tenant input and are
//     only ever written through html/template's escaping.
//   - Another account's bin is the same 404 page as a missing one.
//   - Signing in goes on only to a GET page of the web form, as its router
//     matches it (Handler.nextPage); any other next goes to /bins.
//   - The bin URLs serve what each account wrote. twimlbin serve
//     --web-addr puts the web form on an origin of its own; then
//     Config.BinBaseURL makes the bin URLs shown.
//
// A Handler is safe for concurrent use.
package web
