package etcdstore

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"strings"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/twimlbin/twimlbin/store"
)

func (r accountRecord) account(q quotaRecord) store.Account {
	return store.Account{
		SID:                r.SID,
		FriendlyName:       r.FriendlyName,
		TwilioAuthTokenSet: r.TwilioAuthToken != "",
		SessionEpoch:       r.SessionEpoch,
		Bins:               int(q.Bins),
		TemplateBytes:      q.Bytes,
		DateCreated:        r.DateCreated,
		DateUpdated:        r.DateUpdated,
	}
}

// CreateAccount creates an account and returns it with its auth token,
// shown this once: only its hash is stored. A *store.FriendlyNameError for
// a name store.CheckFriendlyName refuses.
func (s *Store) CreateAccount(friendlyName string) (store.Account, string, error) {
	acct, token, _, err := s.createAccount(friendlyName, false)
	return acct, token, err
}

// CreateFirstAccount creates an account as CreateAccount does, but only
// when etcd holds none under the prefix, deciding that and writing in one
// transaction, so that nodes starting at once make one between them;
// created is false, with no error, when there was one.
func (s *Store) CreateFirstAccount(friendlyName string) (acct store.Account, token string, created bool, err error) {
	return s.createAccount(friendlyName, true)
}

func (s *Store) createAccount(friendlyName string, onlyFirst bool) (store.Account, string, bool, error) {
	if err := store.CheckFriendlyName(friendlyName); err != nil {
		return store.Account{}, "", false, fmt.Errorf("create account: %w", err)
	}
	token := store.NewAuthToken()
	ctx, cancel := s.request()
	defer cancel()
	for {
		t := now()
		rec := accountRecord{
			SID:             store.NewSID(store.AccountSIDPrefix),
			FriendlyName:    friendlyName,
			AuthTokenSHA256: store.HashAuthToken(token),
			DateCreated:     t,
			DateUpdated:     t,
		}
		key := s.keys.account(rec.SID)
		absent := clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
		var orElse []clientv3.Op
		if onlyFirst {
			// No key at all under accounts/; else read them, so that
			// memory knows them before the watch brings them.
			absent = clientv3.Compare(clientv3.CreateRevision(s.keys.prefix+dirAccounts), "=", 0).WithPrefix()
			orElse = []clientv3.Op{
				clientv3.OpGet(s.keys.prefix+dirAccounts, clientv3.WithPrefix()),
				clientv3.OpGet(s.keys.prefix+dirQuota, clientv3.WithPrefix()),
			}
		}
		value := encode(rec)
		resp, err := s.commit(ctx, s.cli.Txn(ctx).
			If(absent).
			Then(clientv3.OpPut(key, value), clientv3.OpPut(s.keys.quota(rec.SID), encode(quotaRecord{}))).
			Else(orElse...),
			s.holds(key, value))
		if err != nil {
			return store.Account{}, "", false, s.failure("create account", err)
		}
		s.answered()
		if !resp.Succeeded && onlyFirst {
			s.learn(resp.Responses)
			return store.Account{}, "", false, nil
		}
		if !resp.Succeeded {
			continue // the SID is taken: draw another
		}
		rev := resp.Header.Revision
		s.mu.Lock()
		s.mem.putAccount(rec, rev)
		s.mem.putQuota(rec.SID, quotaRecord{}, rev)
		s.mu.Unlock()
		s.gens.Bump(rec.SID)
		return rec.account(quotaRecord{}), token, true, nil
	}
}

// learn applies to memory what a linearizable read of etcd found, as the
// watch would apply it once it brings the same writes.
func (s *Store) learn(ranges []*etcdserverpb.ResponseOp) {
	var changes []change
	for _, r := range ranges {
		for _, kv := range r.GetResponseRange().Kvs {
			changes = append(changes, change{
				key:       strings.TrimPrefix(string(kv.Key), s.keys.prefix),
				value:     kv.Value,
				createRev: kv.CreateRevision,
				modRev:    kv.ModRevision,
			})
		}
	}
	var changed, gone []string
	s.mu.Lock()
	s.apply(changes, &changed, &gone)
	s.mu.Unlock()
	s.afterApply(changed, gone)
}

// Authenticate returns the account whose SID and auth token these are,
// from memory. An unknown SID and a wrong token both give
// store.ErrUnauthorized; tokens are compared in constant time.
func (s *Store) Authenticate(sid, authToken string) (store.Account, error) {
	s.mu.RLock()
	e, found := s.mem.accounts[sid]
	var q quotaEntry
	if found {
		q = s.mem.quotas[sid]
	}
	s.mu.RUnlock()
	want := make([]byte, sha256.Size) // compared anyway: no shortcut for unknown SIDs
	if found {
		want = e.rec.AuthTokenSHA256
	}
	if subtle.ConstantTimeCompare(store.HashAuthToken(authToken), want) != 1 || !found {
		return store.Account{}, store.ErrUnauthorized
	}
	return e.rec.account(q.rec), nil
}

// Account returns the account with this SID, from memory, or
// store.ErrNotFound.
func (s *Store) Account(sid string) (store.Account, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.mem.accounts[sid]
	if !ok {
		return store.Account{}, fmt.Errorf("account %s: %w", sid, store.ErrNotFound)
	}
	return e.rec.account(s.mem.quotas[sid].rec), nil
}

// CountAccounts returns how many accounts the node knows.
func (s *Store) CountAccounts() (int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.mem.accounts), nil
}

// UpdateAccount changes the fields given as non-nil and returns the
// account. store.ErrNotFound for an unknown SID; a *store.FriendlyNameError
// for a name store.CheckFriendlyName refuses.
func (s *Store) UpdateAccount(sid string, friendlyName *string) (store.Account, error) {
	if friendlyName != nil {
		if err := store.CheckFriendlyName(*friendlyName); err != nil {
			return store.Account{}, fmt.Errorf("update account: %w", err)
		}
	}
	return s.updateAccount(sid, func(rec *accountRecord) {
		if friendlyName != nil {
			rec.FriendlyName = *friendlyName
		}
	})
}

// SetTwilioAuthToken stores the auth token of the account's Twilio
// account, with which request signatures are checked; "" clears it.
// store.ErrNotFound for an unknown SID.
func (s *Store) SetTwilioAuthToken(sid, token string) (store.Account, error) {
	if err := store.CheckTwilioAuthToken(token); err != nil {
		return store.Account{}, fmt.Errorf("account %s: %w", sid, err)
	}
	return s.updateAccount(sid, func(rec *accountRecord) {
		rec.TwilioAuthToken = token
	})
}

// TwilioAuthToken returns the account's Twilio auth token, "" when none
// is set, from memory. store.ErrNotFound for an unknown SID.
func (s *Store) TwilioAuthToken(sid string) (string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.mem.accounts[sid]
	if !ok {
		return "", fmt.Errorf("account %s: %w", sid, store.ErrNotFound)
	}
	return e.rec.TwilioAuthToken, nil
}

// RotateAuthToken gives the account a new auth token and returns it; the
// old one stops working, and so does every web session (the account's
// SessionEpoch increases). store.ErrNotFound for an unknown SID.
func (s *Store) RotateAuthToken(sid string) (string, error) {
	token := store.NewAuthToken()
	_, err := s.updateAccount(sid, func(rec *accountRecord) {
		rec.AuthTokenSHA256 = store.HashAuthToken(token)
		rec.SessionEpoch++
	})
	if err != nil {
		return "", err
	}
	return token, nil
}

// EndSessions ends every web session of the account by increasing its
// SessionEpoch, and returns the account. store.ErrNotFound for an unknown
// SID.
func (s *Store) EndSessions(sid string) (store.Account, error) {
	return s.updateAccount(sid, func(rec *accountRecord) {
		rec.SessionEpoch++
	})
}

// updateAccount applies change to the account as etcd holds it, stamps
// DateUpdated and saves it, compared against the revision it read and
// read again when another write came first.
func (s *Store) updateAccount(sid string, change func(*accountRecord)) (store.Account, error) {
	defer s.gens.Bump(sid)
	ctx, cancel := s.request()
	defer cancel()
	for {
		rec, modRev, q, err := s.readAccount(ctx, sid)
		if err != nil {
			return store.Account{}, s.failure("update account", err)
		}
		change(&rec)
		rec.DateUpdated = now()
		value := encode(rec)
		resp, err := s.commit(ctx, s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(s.keys.account(sid)), "=", modRev)).
			Then(clientv3.OpPut(s.keys.account(sid), value)),
			s.holds(s.keys.account(sid), value))
		if err != nil {
			return store.Account{}, s.failure("update account", err)
		}
		if !resp.Succeeded {
			continue
		}
		s.mu.Lock()
		s.mem.putAccount(rec, resp.Header.Revision)
		s.mu.Unlock()
		return rec.account(q), nil
	}
}

// readAccount reads an account and its quota record from etcd, or returns
// store.ErrNotFound.
func (s *Store) readAccount(ctx context.Context, sid string) (accountRecord, int64, quotaRecord, error) {
	resp, err := s.cli.Txn(ctx).Then(clientv3.OpGet(s.keys.account(sid)), clientv3.OpGet(s.keys.quota(sid))).Commit()
	if err != nil {
		return accountRecord{}, 0, quotaRecord{}, err
	}
	s.answered()
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return accountRecord{}, 0, quotaRecord{}, fmt.Errorf("account %s: %w", sid, store.ErrNotFound)
	}
	var rec accountRecord
	if err := decode(string(kvs[0].Key), kvs[0].Value, &rec); err != nil {
		return accountRecord{}, 0, quotaRecord{}, err
	}
	var q quotaRecord
	if qkvs := resp.Responses[1].GetResponseRange().Kvs; len(qkvs) > 0 {
		if err := decode(string(qkvs[0].Key), qkvs[0].Value, &q); err != nil {
			return accountRecord{}, 0, quotaRecord{}, err
		}
	}
	return rec, kvs[0].ModRevision, q, nil
}
