package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// sessionCookie is the name of the session cookie.
const sessionCookie = "twimlbin_session"

// sessionVersion is the first field of a cookie's payload: a cookie of
// another layout is refused, whatever it holds.
const sessionVersion = "v2"

// session is what the session cookie holds. Visitors who are not signed in
// have one too, with an empty AccountSID, so that the sign-in form carries
// a CSRF token.
type session struct {
	AccountSID string // "" when signed out
	// Epoch is the account's store.Account.SessionEpoch when the session
	// began: once the account's moves on, the session is over.
	Epoch   uint64
	CSRF    string // the token every form of the session carries
	Expires time.Time
}

// sessions makes, signs and reads session cookies.
type sessions struct {
	key      []byte
	lifetime time.Duration
	secure   bool // always Secure: the public URL is https
}

// start returns a new session of the account ("" for none), under the
// account's session epoch, with a new CSRF token.
func (s *sessions) start(accountSID string, epoch uint64) session {
	return session{AccountSID: accountSID, Epoch: epoch, CSRF: rand.Text(), Expires: time.Now().Add(s.lifetime)}
}

// read returns the request's session when its cookie is there, signed with
// the key, of this layout and not expired. Whether its epoch is still the
// account's is for the caller to check.
func (s *sessions) read(r *http.Request) (session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	payload, sig, ok := strings.Cut(c.Value, ".")
	if !ok {
		return session{}, false
	}
	raw, err1 := base64.RawURLEncoding.DecodeString(payload)
	mac, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, s.sign(raw)) {
		return session{}, false
	}
	// version | account SID | epoch | CSRF token | expiry
	fields := strings.Split(string(raw), "|")
	if len(fields) != 5 || fields[0] != sessionVersion || fields[3] == "" {
		return session{}, false
	}
	epoch, err1 := strconv.ParseUint(fields[2], 10, 64)
	exp, err2 := strconv.ParseInt(fields[4], 10, 64)
	if err1 != nil || err2 != nil || time.Now().Unix() >= exp {
		return session{}, false
	}
	return session{AccountSID: fields[1], Epoch: epoch, CSRF: fields[3], Expires: time.Unix(exp, 0)}, true
}

// write sets the cookie of sess.
func (s *sessions) write(w http.ResponseWriter, r *http.Request, sess session) {
	raw := []byte(sessionVersion + "|" + sess.AccountSID + "|" + strconv.FormatUint(sess.Epoch, 10) + "|" +
		sess.CSRF + "|" + strconv.FormatInt(sess.Expires.Unix(), 10))
	value := base64.RawURLEncoding.EncodeToString(raw) + "." + base64.RawURLEncoding.EncodeToString(s.sign(raw))
	http.SetCookie(w, s.cookie(r, value, sess.Expires))
}

// clear removes the session cookie.
func (s *sessions) clear(w http.ResponseWriter, r *http.Request) {
	c := s.cookie(r, "", time.Unix(0, 0))
	c.MaxAge = -1
	http.SetCookie(w, c)
}

func (s *sessions) cookie(r *http.Request, value string, expires time.Time) *http.Cookie {
	return &http.Cookie{
		Name:     sessionCookie,
		Value:    value,
		Path:     "/",
		Expires:  expires,
		HttpOnly: true,
		Secure:   s.secure || r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	}
}

// sign is the HMAC-SHA256 of a cookie's payload. The prefix keeps these
// MACs apart from anything else the key might ever sign.
func (s *sessions) sign(payload []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("twimlbin session " + sessionVersion + "\x00"))
	m.Write(payload)
	return m.Sum(nil)
}

// validCSRF reports whether the token a form carried is the session's,
// comparing in constant time.
func validCSRF(sess session, token string) bool {
	return sess.CSRF != "" && subtle.ConstantTimeCompare([]byte(sess.CSRF), []byte(token)) == 1
}
