package api

import (
	"bytes"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twimlbin/twimlbin/store"
)

func TestAccount(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.newUser("alice")

	var got accountResource
	e.ok(req{method: "GET", path: "/api/v1/account", user: &u}, http.StatusOK, &got)
	if got.SID != u.sid || got.FriendlyName != "alice" || got.TwilioAuthTokenSet || got.AuthToken != "" || got.DateCreated.IsZero() {
		t.Errorf("account %+v", got)
	}

	const twilioToken = "fedcba9876543210fedcba9876543210"
	rec := e.ok(req{method: "POST", path: "/api/v1/account", user: &u, json: map[string]any{
		"friendly_name": "Alice Ltd", "twilio_auth_token": twilioToken,
	}}, http.StatusOK, &got)
	if got.FriendlyName != "Alice Ltd" || !got.TwilioAuthTokenSet {
		t.Errorf("after update %+v", got)
	}
	// The Twilio token is write-only.
	for _, r := range []req{{method: "GET", path: "/api/v1/account", user: &u}} {
		if body := e.ok(r, http.StatusOK, nil).Body.String(); strings.Contains(body, twilioToken) {
			t.Errorf("%s %s reveals the Twilio token: %s", r.method, r.path, body)
		}
	}
	if strings.Contains(rec.Body.String(), twilioToken) {
		t.Errorf("the update reveals the Twilio token: %s", rec.Body)
	}
	if tok, _ := e.db.TwilioAuthToken(u.sid); tok != twilioToken {
		t.Errorf("stored Twilio token %q", tok)
	}

	// Form-encoded, clearing the token.
	e.ok(req{method: "POST", path: "/api/v1/account", user: &u, form: url.Values{"twilio_auth_token": {""}}}, http.StatusOK, &got)
	if got.TwilioAuthTokenSet || got.FriendlyName != "Alice Ltd" {
		t.Errorf("after clearing %+v", got)
	}
	// An empty update changes nothing.
	e.ok(req{method: "POST", path: "/api/v1/account", user: &u}, http.StatusOK, &got)
	if got.FriendlyName != "Alice Ltd" {
		t.Errorf("after empty update %+v", got)
	}

	e.fail(req{method: "POST", path: "/api/v1/account", user: &u, json: map[string]any{"auth_token": "x"}}, 400, codeUnknownField)
	e.fail(req{method: "POST", path: "/api/v1/account", user: &u, json: map[string]any{"sid": "AC00"}}, 400, codeUnknownField)
	e.fail(req{method: "POST", path: "/api/v1/account", user: &u, json: map[string]any{"twilio_auth_token": strings.Repeat("t", 129)}}, 400, codeInvalidParameter)
	e.fail(req{method: "GET", path: "/api/v1/account"}, 401, codeUnauthorized)
	e.fail(req{method: "DELETE", path: "/api/v1/account", user: &u}, 405, codeMethodNotAllowed)
}

func TestRotateAuthToken(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.newUser("alice")
	b := e.createBin(u, helloTemplate, "")

	before, err := e.db.Account(u.sid)
	if err != nil {
		t.Fatal(err)
	}
	var creds credentials
	rec := e.ok(req{method: "POST", path: "/api/v1/account/auth-token", user: &u}, http.StatusOK, &creds)
	if after, err := e.db.Account(u.sid); err != nil || after.SessionEpoch != before.SessionEpoch+1 {
		t.Errorf("session epoch %d after rotation (%v), want %d: the web sessions must end", after.SessionEpoch, err, before.SessionEpoch+1)
	}
	if creds.SID != u.sid || len(creds.AuthToken) < 32 || creds.AuthToken == u.token {
		t.Fatalf("credentials %+v", creds)
	}
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", rec.Header().Get("Cache-Control"))
	}
	e.fail(req{method: "GET", path: "/api/v1/bins/" + b.SID, user: &u}, 401, codeUnauthorized)
	nu := user{u.sid, creds.AuthToken}
	e.ok(req{method: "GET", path: "/api/v1/bins/" + b.SID, user: &nu}, http.StatusOK, nil)
	e.fail(req{method: "POST", path: "/api/v1/account/auth-token", user: &nu, json: map[string]any{"x": 1}}, 400, codeUnknownField)
}

func TestSignup(t *testing.T) {
	closed := newEnv(t, Config{})
	closed.fail(req{method: "POST", path: "/api/v1/accounts", json: map[string]any{"friendly_name": "eve"}}, 403, codeSignupClosed)
	if n, _ := closed.db.CountAccounts(); n != 0 {
		t.Errorf("closed signup created %d accounts", n)
	}

	e := newEnv(t, Config{OpenSignup: true})
	var got accountResource
	rec := e.ok(req{method: "POST", path: "/api/v1/accounts", json: map[string]any{"friendly_name": "carol"}}, http.StatusCreated, &got)
	if !store.IsAccountSID(got.SID) || got.AuthToken == "" || got.FriendlyName != "carol" {
		t.Fatalf("signup %+v", got)
	}
	if rec.Header().Get("Location") != "http://example.com/api/v1/account" {
		t.Errorf("Location %q", rec.Header().Get("Location"))
	}
	u := user{got.SID, got.AuthToken}
	got = accountResource{}
	e.ok(req{method: "GET", path: "/api/v1/account", user: &u}, http.StatusOK, &got)
	if got.FriendlyName != "carol" || got.AuthToken != "" {
		t.Errorf("fetched %+v", got)
	}
	e.ok(req{method: "POST", path: "/api/v1/accounts", form: url.Values{"friendly_name": {"dave"}}}, http.StatusCreated, nil)
	e.ok(req{method: "POST", path: "/api/v1/accounts"}, http.StatusCreated, nil)
	e.fail(req{method: "POST", path: "/api/v1/accounts", json: map[string]any{"twilio_auth_token": "x"}}, 400, codeUnknownField)
	e.fail(req{method: "GET", path: "/api/v1/accounts"}, 405, codeMethodNotAllowed)
	if n, _ := e.db.CountAccounts(); n != 3 {
		t.Errorf("%d accounts, want 3", n)
	}
}

func TestBackup(t *testing.T) {
	e := newEnv(t, Config{})
	alice := e.newUser("alice")
	b := e.createBin(alice, helloTemplate, "")
	e.ok(req{method: "GET", path: "/twiml/" + b.SID}, http.StatusOK, nil)

	// The only account may read the backup.
	rec := e.ok(req{method: "GET", path: "/api/v1/backup", user: &alice}, http.StatusOK, nil)
	if ct := rec.Header().Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	if cd := rec.Header().Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="twimlbin-`) {
		t.Errorf("Content-Disposition %q", cd)
	}
	// The backup is a database holding the bin and its usage.
	path := filepath.Join(t.TempDir(), "backup.db")
	if err := os.WriteFile(path, rec.Body.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	copyDB, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatalf("opening the backup: %v", err)
	}
	got, err := copyDB.Bin(alice.sid, b.SID)
	if err != nil || got.Template != helloTemplate || got.NumRequests != 1 {
		t.Errorf("bin in the backup: %+v, %v", got, err)
	}
	if err := copyDB.Check(); err != nil {
		t.Errorf("backup check: %v", err)
	}
	copyDB.Close()

	// With two accounts, neither may, unless listed.
	bob := e.newUser("bob")
	e.fail(req{method: "GET", path: "/api/v1/backup", user: &alice}, 403, codeBackupNotAllowed)
	e.fail(req{method: "GET", path: "/api/v1/backup", user: &bob}, 403, codeBackupNotAllowed)
	e.fail(req{method: "GET", path: "/api/v1/backup"}, 401, codeUnauthorized)

	e.cfg.BackupAccounts = []string{alice.sid}
	e.restart()
	rec = e.ok(req{method: "GET", path: "/api/v1/backup", user: &alice}, http.StatusOK, nil)
	if !bytes.Contains(rec.Body.Bytes(), []byte(b.SID)) {
		t.Error("the backup does not hold the bin's SID")
	}
	e.fail(req{method: "GET", path: "/api/v1/backup", user: &bob}, 403, codeBackupNotAllowed)
}
