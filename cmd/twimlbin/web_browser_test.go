package main

import (
	"context"
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/twimlbin/twimlbin/engine"
	"github.com/twimlbin/twimlbin/store"
	"github.com/twimlbin/twimlbin/templates"
)

var updateScreenshots = flag.Bool("screenshots", false, "rewrite the screenshots in docs/screenshots from the browser test")

// screenshotDir is where the browser test saves the screenshots the README
// shows.
var screenshotDir = filepath.Join("..", "..", "docs", "screenshots")

// chromeOrSkip returns the Chromium or Chrome to drive, or skips the test
// when there is none or the run is short.
func chromeOrSkip(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a browser")
	}
	chrome := findChrome()
	if chrome == "" {
		t.Skip("no Chromium found (looked for $CHROME_PATH, chromium, chromium-browser, google-chrome): " +
			"install it with `apt-get install chromium` to run the browser test; .ci/run does")
	}
	return chrome
}

// findChrome returns the Chromium or Chrome to drive: $CHROME_PATH, else the
// first of the usual names on PATH, else "".
func findChrome() string {
	if p := os.Getenv("CHROME_PATH"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestWebFormInBrowser drives the web form in headless Chromium against the
// full server (API and web form mounted as serve mounts them): sign in,
// create a bin from the gallery, break it and see the error at its line,
// fix it, preview it with parameters, save it, fetch its URL, and restore
// the first revision.
func TestWebFormInBrowser(t *testing.T) {
	chrome := chromeOrSkip(t)

	// The server, in process, on a free port.
	db, err := store.Open(filepath.Join(t.TempDir(), "twimlbin.db"), store.Options{})
	require.NoError(t, err)
	acct, token, err := db.CreateAccount("Browser test")
	require.NoError(t, err)
	srv, err := newServer(serveConfig{Addr: "127.0.0.1:0", DB: "test"}, db, slog.New(slog.DiscardHandler), io.Discard)
	require.NoError(t, err)
	runUntilCleanup(t, srv)
	base := srv.url

	// The browser.
	b := newBrowser(t, chrome)
	b.do(chromedp.EmulateViewport(1280, 900))

	// Signed out, the bins send to the sign-in page, and back once signed in.
	b.do(chromedp.Navigate(base + "/bins"))
	require.Equal(t, base+"/login?next=%2Fbins", b.location())
	b.do(chromedp.SendKeys(chromedp.ID("account_sid"), acct.SID), chromedp.SendKeys(chromedp.ID("auth_token"), token))
	b.submit(`form[action="/login"] button`, http.StatusOK)
	require.Equal(t, base+"/bins", b.location())
	assert.Contains(t, b.text("main"), "No bins yet")

	// A bin from the gallery.
	b.submit(`a[href="/bins/new"].primary`, http.StatusOK)
	entry, ok := templates.Get("client-contextual-call")
	require.True(t, ok)
	b.submit(`a[href="/bins/new?from=client-contextual-call"]`, http.StatusOK)
	assert.Equal(t, entry.Template, b.value("#template"))
	b.submit("#save", http.StatusOK)
	loc, err := url.Parse(b.location())
	require.NoError(t, err)
	sid := strings.TrimPrefix(loc.Path, "/bins/")
	require.Regexp(t, `^EH[0-9a-f]{32}$`, sid)
	assert.Contains(t, b.text(".notice"), "Created the bin")
	binURL := base + "/twiml/" + sid
	assert.Equal(t, binURL, b.text(".binurl"))

	// An error: the live check marks its line while typing, and saving
	// refuses it, showing it at its line with everything typed kept.
	broken := strings.Replace(entry.Template, "</Identity>", "</Identiti>", 1)
	diags := engine.Check(broken).Errors()
	require.NotEmpty(t, diags)
	bad := diags[0]
	line := fmt.Sprintf("#L%d", bad.Line)
	b.do(chromedp.SetValue(chromedp.ID("template"), broken))
	b.do(chromedp.Evaluate[chromedp.Void](`document.getElementById("template").dispatchEvent(new Event("input"))`))
	b.do(chromedp.WaitVisible(chromedp.CSS(line + ".error")))
	b.submit("#save", http.StatusUnprocessableEntity)
	assert.Equal(t, broken, b.value("#template"), "what was typed is kept")
	b.do(chromedp.WaitVisible(chromedp.CSS(line + ".error")))
	assert.Contains(t, b.text("#diag-list"), fmt.Sprintf("line %d, column %d: %s %s", bad.Line, bad.Column, bad.Code, bad.Message))
	b.screenshot("edit-error.png")

	// Fixed (and changed), previewed with parameters: nothing is saved.
	fixed := strings.Replace(entry.Template, "<Identity>alice</Identity>", "<Identity>bob</Identity>", 1)
	b.do(chromedp.SetValue(chromedp.ID("template"), fixed))
	b.do(chromedp.Evaluate[chromedp.Void](`(() => {
		const row = [...document.querySelectorAll(".param-row")]
			.find(r => r.querySelector("input[name=param_name]").value === "displayName");
		row.querySelector("input[name=param_value]").value = "Ada & <Lovelace>";
	})()`))
	b.submit("#preview-button", http.StatusOK)
	twiml := b.text("#twiml")
	assert.Contains(t, twiml, "<Identity>bob</Identity>")
	assert.Contains(t, twiml, `<Parameter name="displayName" value="Ada &amp; &lt;Lovelace&gt;"/>`)
	assert.Equal(t, fixed, b.value("#template"))
	b.screenshot("preview.png")
	saved, err := db.Bin(acct.SID, sid)
	require.NoError(t, err)
	assert.Equal(t, 1, saved.Revision, "a preview saves nothing")
	assert.Zero(t, saved.NumRequests, "a preview is not a request")

	// Saved: the bin's URL answers the new TwiML.
	b.submit("#save", http.StatusOK)
	assert.Contains(t, b.text(".notice"), "Saved revision 2.")
	assert.Equal(t, "bob", fetchIdentity(t, binURL+"?displayName=Zed&customerID=c1&selectedProductID=p1"))

	// Restoring revision 1 makes revision 3, with the first content.
	b.submit(`.tabs a[href$="/revisions"]`, http.StatusOK)
	b.submit(`form[action$="/revisions/1/restore"] button`, http.StatusOK)
	assert.Contains(t, b.text(".notice"), "Restored revision 1 as revision 3.")
	assert.Equal(t, entry.Template, b.value("#template"))
	assert.Equal(t, "alice", fetchIdentity(t, binURL))
}

// browser runs chromedp actions, failing the test on the first error.
type browser struct {
	t   *testing.T
	ctx context.Context
}

func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	require.NoError(b.t, chromedp.Do(b.ctx, actions...))
}

// submit clicks what selector finds and waits for the page that loads,
// checking its HTTP status.
func (b *browser) submit(selector string, status int) {
	b.t.Helper()
	resp, err := chromedp.RunResponse(b.ctx, chromedp.Click(chromedp.CSS(selector)))
	require.NoError(b.t, err, "clicking %s", selector)
	require.Equal(b.t, int64(status), resp.Status, "status of the page after clicking %s (%s)", selector, statusURL(resp))
}

func statusURL(r *network.Response) string {
	if r == nil {
		return "no response"
	}
	return r.URL
}

func (b *browser) location() string {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	require.NoError(b.t, err)
	return loc
}

func (b *browser) text(selector string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(selector)))
	require.NoError(b.t, err, "text of %s", selector)
	return strings.TrimSpace(s)
}

func (b *browser) value(selector string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.CSS(selector)))
	require.NoError(b.t, err, "value of %s", selector)
	return s
}

// screenshot saves the whole page to docs/screenshots/name when the file is
// missing or the test runs with -screenshots.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	path := filepath.Join(screenshotDir, name)
	if _, err := os.Stat(path); err == nil && !*updateScreenshots {
		return
	}
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	require.NoError(b.t, err)
	require.NoError(b.t, os.MkdirAll(screenshotDir, 0o755))
	require.NoError(b.t, os.WriteFile(path, png, 0o644))
	b.t.Logf("wrote %s", path)
}

// fetchIdentity requests a bin's URL as Twilio would and returns the
// identity of the client it dials.
func fetchIdentity(t *testing.T, binURL string) string {
	t.Helper()
	resp, err := http.Get(binURL)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	assert.Equal(t, "text/xml; charset=utf-8", resp.Header.Get("Content-Type"))
	var doc struct {
		XMLName xml.Name `xml:"Response"`
		Dial    struct {
			Client struct {
				Identity string `xml:"Identity"`
			} `xml:"Client"`
		} `xml:"Dial"`
	}
	require.NoError(t, xml.Unmarshal(body, &doc), "%s", body)
	return doc.Dial.Client.Identity
}

// TestBinURLInertInBrowser opens, in a browser signed in to the web form, a
// bin of another account whose template, saved under an older engine that
// did not refuse it, is XHTML with a script: the script would read the web
// form's CSRF token and create a bin in the victim's account, and call a
// listener of the test first. With the web form on the same
// address as the bins, and on an address of its own, none of it happens.
func TestBinURLInertInBrowser(t *testing.T) {
	chrome := chromeOrSkip(t)
	var markers atomic.Int64
	marker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		markers.Add(1)
		w.Header().Set("Access-Control-Allow-Origin", "*")
	}))
	t.Cleanup(marker.Close)

	// Synchronous requests, so that the whole attack is over once the
	// focus handler returns.
	script := `var x=new XMLHttpRequest();x.open('GET','` + marker.URL + `/marker',false);try{x.send()}catch(e){}` +
		`x=new XMLHttpRequest();x.open('GET','/bins/new',false);x.send();` +
		`var tok=x.responseText.split('csrf_token\x22 value=\x22')[1].split('\x22')[0];` +
		`x=new XMLHttpRequest();x.open('POST','/bins',false);` +
		`x.setRequestHeader('Content-Type','application/x-www-form-urlencoded');` +
		`x.send(new URLSearchParams({csrf_token:tok,friendly_name:'pwned',render_policy:'lenient',template:'\x3cResponse/\x3e'}).toString())`
	hostile := `<Response xmlns="http://www.w3.org/1999/xhtml"><Say autofocus="" tabindex="0" onfocus="` + script + `">Hello</Say></Response>`

	for _, tt := range []struct {
		name    string
		webAddr string
	}{
		{"one address", ""},
		{"the web form on an address of its own", "127.0.0.1:0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			markers.Store(0)
			db, err := store.Open(filepath.Join(t.TempDir(), "twimlbin.db"), store.Options{})
			require.NoError(t, err)
			attacker, _, err := db.CreateAccount("Attacker")
			require.NoError(t, err)
			victim, token, err := db.CreateAccount("Victim")
			require.NoError(t, err)
			// In the store directly, as a template saved under an older
			// engine would be. The engine of today refuses it, so the bin
			// URL answers its render error; the headers of every answer
			// are the wall behind that one (api TestHostileBinURLHeaders).
			bin, err := db.CreateBin(attacker.SID, store.BinInput{FriendlyName: "page", Template: hostile, RenderPolicy: "lenient"})
			require.NoError(t, err)
			srv, err := newServer(serveConfig{Addr: "127.0.0.1:0", WebAddr: tt.webAddr, DB: "test"}, db, slog.New(slog.DiscardHandler), io.Discard)
			require.NoError(t, err)
			runUntilCleanup(t, srv)

			b := newBrowser(t, chrome)
			// The victim signs in to the web form.
			b.do(chromedp.Navigate(srv.webURL + "/login"))
			b.do(chromedp.SendKeys(chromedp.ID("account_sid"), victim.SID), chromedp.SendKeys(chromedp.ID("auth_token"), token))
			b.submit(`form[action="/login"] button`, http.StatusOK)
			require.Equal(t, srv.webURL+"/bins", b.location())

			// Then opens the attacker's bin URL. A screenshot makes the
			// browser render a frame, which is when autofocus focuses an
			// element; the handler's requests are synchronous, so whatever
			// the script does is done when the screenshot is.
			resp, err := chromedp.RunResponse(b.ctx, chromedp.Navigate(srv.url+"/twiml/"+bin.SID))
			require.NoError(t, err)
			require.Equal(t, int64(http.StatusInternalServerError), resp.Status, "the template no longer compiles")
			_, err = chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
			require.NoError(t, err)

			assert.Zero(t, markers.Load(), "the bin's script called out")
			page, err := db.ListBins(victim.SID, store.ListQuery{})
			require.NoError(t, err)
			assert.Empty(t, page.Bins, "the bin's script created a bin in the victim's account")
		})
	}
}

// newBrowser starts a headless Chromium for a test.
func newBrowser(t *testing.T, chrome string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.WindowSize(1280, 900))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run its sandbox as root
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelTab)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancelTimeout)
	return &browser{t: t, ctx: ctx}
}
