package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/twimlbin/twimlbin/store"
)

// maxTwilioAuthToken bounds twilio_auth_token, as the store does.
const maxTwilioAuthToken = store.MaxTwilioAuthToken

// accountResource is an account as the API shows it. The Twilio auth token
// is write-only: only whether one is set is shown.
type accountResource struct {
	SID                string            `json:"sid"`
	FriendlyName       string            `json:"friendly_name"`
	TwilioAuthTokenSet bool              `json:"twilio_auth_token_set"`
	DateCreated        time.Time         `json:"date_created"`
	DateUpdated        time.Time         `json:"date_updated"`
	AuthToken          string            `json:"auth_token,omitempty"` // only when just created
	Links              map[string]string `json:"links"`
}

func newAccountResource(a store.Account) accountResource {
	return accountResource{
		SID:                a.SID,
		FriendlyName:       a.FriendlyName,
		TwilioAuthTokenSet: a.TwilioAuthTokenSet,
		DateCreated:        a.DateCreated.UTC(),
		DateUpdated:        a.DateUpdated.UTC(),
		Links: map[string]string{
			"self":       "/api/v1/account",
			"bins":       "/api/v1/bins",
			"auth_token": "/api/v1/account/auth-token",
		},
	}
}

// accountRequest is the body of POST /api/v1/account.
type accountRequest struct {
	FriendlyName *string `json:"friendly_name"`
	// TwilioAuthToken sets the token request signatures are checked with;
	// "" clears it, and the bins no longer check signatures.
	TwilioAuthToken *string `json:"twilio_auth_token"`
}

// signupRequest is the body of POST /api/v1/accounts.
type signupRequest struct {
	FriendlyName *string `json:"friendly_name"`
}

// fetchAccount answers GET /api/v1/account.
func (s *Server) fetchAccount(c echo.Context) error {
	start := time.Now()
	acct, err := s.db.Account(accountOf(c).SID)
	s.metrics.observeStore(opReadAccount, start)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newAccountResource(acct))
}

// updateAccount answers POST /api/v1/account.
func (s *Server) updateAccount(c echo.Context) error {
	var req accountRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := checkFriendlyName(req.FriendlyName); err != nil {
		return err
	}
	// Both fields are checked before either is saved: they are two writes.
	if req.TwilioAuthToken != nil {
		if err := store.CheckTwilioAuthToken(*req.TwilioAuthToken); err != nil {
			return err
		}
	}
	acct := accountOf(c)
	var err error
	start := time.Now()
	if req.FriendlyName != nil {
		if acct, err = s.db.UpdateAccount(acct.SID, req.FriendlyName); err != nil {
			return err
		}
	}
	if req.TwilioAuthToken != nil {
		if acct, err = s.db.SetTwilioAuthToken(acct.SID, *req.TwilioAuthToken); err != nil {
			return err
		}
	}
	s.metrics.observeStore(opWriteAccount, start)
	if req.FriendlyName == nil && req.TwilioAuthToken == nil {
		return s.fetchAccount(c)
	}
	return c.JSON(http.StatusOK, newAccountResource(acct))
}

// credentials answer signup and rotation: the auth token is shown once.
type credentials struct {
	SID       string `json:"sid"`
	AuthToken string `json:"auth_token"`
}

// rotateAuthToken answers POST /api/v1/account/auth-token: it replaces the
// account's auth token and answers the new one, once; the old one stops
// working at once.
func (s *Server) rotateAuthToken(c echo.Context) error {
	if err := decode(c, &struct{}{}); err != nil {
		return err
	}
	sid := accountOf(c).SID
	start := time.Now()
	token, err := s.db.RotateAuthToken(sid)
	s.metrics.observeStore(opWriteAccount, start)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.JSON(http.StatusOK, credentials{SID: sid, AuthToken: token})
}

// signup answers POST /api/v1/accounts, open only with Config.OpenSignup:
// it creates an account and answers its credentials, once.
func (s *Server) signup(c echo.Context) error {
	if !s.cfg.OpenSignup {
		return newError(http.StatusForbidden, codeSignupClosed,
			"Signup is closed on this server; ask its operator for an account.")
	}
	var req signupRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := checkFriendlyName(req.FriendlyName); err != nil {
		return err
	}
	name := ""
	if req.FriendlyName != nil {
		name = *req.FriendlyName
	}
	client := s.clientKey(c)
	if wait := s.limits.signupsByAddr.Wait(client); wait > 0 {
		return errRateLimited("Too many accounts were created from your address.", wait)
	}
	start := time.Now()
	acct, token, err := s.db.CreateAccount(name)
	s.metrics.observeStore(opWriteAccount, start)
	if err != nil {
		return err
	}
	s.limits.signupsByAddr.Add(client)
	out := newAccountResource(acct)
	out.AuthToken = token
	h := c.Response().Header()
	h.Set(echo.HeaderCacheControl, "no-store")
	h.Set(echo.HeaderLocation, s.baseURL(c)+"/api/v1/account")
	return c.JSON(http.StatusCreated, out)
}
