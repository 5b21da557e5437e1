package keys_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

// hangStore wraps a store. Every call is recorded with whether its ctx had
// a deadline; a method set to hang blocks until its ctx is done and returns
// ctx.Err(), as a driver does whose server stopped answering (a SIGSTOPped
// PostgreSQL). A method set to fail returns errDown at once (a store that
// is down).
type hangStore struct {
	store.Store
	mu       sync.Mutex
	hang     map[string]bool
	fail     map[string]bool
	calls    map[string]int
	noDL     map[string]int // calls whose ctx had no deadline
	longest  time.Duration  // the latest deadline seen, from the call's start
	inFlight int            // calls blocked in a hang now
}

func newHangStore(st store.Store) *hangStore {
	return &hangStore{Store: st, hang: map[string]bool{}, fail: map[string]bool{},
		calls: map[string]int{}, noDL: map[string]int{}}
}

// setHang makes the named methods hang (on) or pass through (off); no
// names means every method.
func (s *hangStore) setHang(on bool, methods ...string) { s.set(s.hang, on, methods) }
func (s *hangStore) setFail(on bool, methods ...string) { s.set(s.fail, on, methods) }

func (s *hangStore) set(m map[string]bool, on bool, methods []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(methods) == 0 {
		methods = storeMethods
	}
	for _, name := range methods {
		m[name] = on
	}
}

var storeMethods = []string{"CreateAccount", "Account", "UpdateAccount", "ReplaceRootKey", "InsertChildKey",
	"RevokeKey", "Key", "ResolveHash", "ActiveRootKey", "ListKeys", "RecordLastUsed", "AddUsage", "Usage",
	"InitSetting", "PruneRevoked", "ListKeysPage", "RotateRootKey", "DeleteAccount", "ListAccounts",
	"RevokeLeaked", "AccountUsage", "UpdateKey", "AuditEvents", "PruneAuditEvents",
	// The optional capabilities the Manager uses (optionalMethods).
	"ListExpiringKeys"}

// optionalMethods counts the methods of storeMethods that are optional
// capabilities (store.ExpiringLister), not of store.Store.
var optionalMethods = reflect.TypeFor[store.ExpiringLister]().NumMethod()

func (s *hangStore) blocked() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inFlight
}

// enter records a call and, if the method hangs or fails, returns the
// error to give back.
func (s *hangStore) enter(ctx context.Context, method string) error {
	s.mu.Lock()
	s.calls[method]++
	if dl, ok := ctx.Deadline(); ok {
		s.longest = max(s.longest, time.Until(dl))
	} else {
		s.noDL[method]++
	}
	hang, fail := s.hang[method], s.fail[method]
	_, bounded := ctx.Deadline()
	if hang && bounded {
		s.inFlight++
	}
	s.mu.Unlock()
	switch {
	case fail:
		return errDown
	case hang && !bounded:
		// A real hang would last forever (and keep a synctest bubble
		// spinning its tickers): fail the call visibly instead.
		return errNoDeadline
	case hang:
		<-ctx.Done()
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
		return ctx.Err()
	}
	return nil
}

type downError struct{}

func (downError) Error() string { return "store: connection refused" }

var errDown error = downError{}

var errNoDeadline = errors.New("hangStore: a hung call without a deadline would never return")

func (s *hangStore) CreateAccount(ctx context.Context, a store.Account) error {
	if err := s.enter(ctx, "CreateAccount"); err != nil {
		return err
	}
	return s.Store.CreateAccount(ctx, a)
}

func (s *hangStore) Account(ctx context.Context, id string) (store.Account, error) {
	if err := s.enter(ctx, "Account"); err != nil {
		return store.Account{}, err
	}
	return s.Store.Account(ctx, id)
}

func (s *hangStore) UpdateAccount(ctx context.Context, id string, u store.AccountUpdate) error {
	if err := s.enter(ctx, "UpdateAccount"); err != nil {
		return err
	}
	return s.Store.UpdateAccount(ctx, id, u)
}

func (s *hangStore) ReplaceRootKey(ctx context.Context, root store.Key, expect uuid.UUID, now time.Time) error {
	if err := s.enter(ctx, "ReplaceRootKey"); err != nil {
		return err
	}
	return s.Store.ReplaceRootKey(ctx, root, expect, now)
}

func (s *hangStore) InsertChildKey(ctx context.Context, k store.Key) error {
	if err := s.enter(ctx, "InsertChildKey"); err != nil {
		return err
	}
	return s.Store.InsertChildKey(ctx, k)
}

func (s *hangStore) RevokeKey(ctx context.Context, id uuid.UUID, now time.Time) (store.Key, error) {
	if err := s.enter(ctx, "RevokeKey"); err != nil {
		return store.Key{}, err
	}
	return s.Store.RevokeKey(ctx, id, now)
}

func (s *hangStore) Key(ctx context.Context, id uuid.UUID) (store.Key, error) {
	if err := s.enter(ctx, "Key"); err != nil {
		return store.Key{}, err
	}
	return s.Store.Key(ctx, id)
}

func (s *hangStore) ResolveHash(ctx context.Context, h store.Hash) (store.Resolved, error) {
	if err := s.enter(ctx, "ResolveHash"); err != nil {
		return store.Resolved{}, err
	}
	return s.Store.ResolveHash(ctx, h)
}

func (s *hangStore) ActiveRootKey(ctx context.Context, id string) (store.Key, error) {
	if err := s.enter(ctx, "ActiveRootKey"); err != nil {
		return store.Key{}, err
	}
	return s.Store.ActiveRootKey(ctx, id)
}

func (s *hangStore) ListKeys(ctx context.Context, id string) ([]store.Key, error) {
	if err := s.enter(ctx, "ListKeys"); err != nil {
		return nil, err
	}
	return s.Store.ListKeys(ctx, id)
}

func (s *hangStore) RecordLastUsed(ctx context.Context, b []store.LastUsed) error {
	if err := s.enter(ctx, "RecordLastUsed"); err != nil {
		return err
	}
	return s.Store.RecordLastUsed(ctx, b)
}

func (s *hangStore) AddUsage(ctx context.Context, flushID uuid.UUID, b []store.UsageDelta) ([]store.UsageTotal, error) {
	if err := s.enter(ctx, "AddUsage"); err != nil {
		return nil, err
	}
	return s.Store.AddUsage(ctx, flushID, b)
}

func (s *hangStore) Usage(ctx context.Context, acct string, id uuid.UUID, m store.Month) (store.UsageTotal, error) {
	if err := s.enter(ctx, "Usage"); err != nil {
		return store.UsageTotal{}, err
	}
	return s.Store.Usage(ctx, acct, id, m)
}

// syncBuf is a strings.Builder safe for a logger's concurrent writes.
type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func (s *hangStore) InitSetting(ctx context.Context, name, value string) (string, error) {
	if err := s.enter(ctx, "InitSetting"); err != nil {
		return "", err
	}
	return s.Store.InitSetting(ctx, name, value)
}

func (s *hangStore) PruneRevoked(ctx context.Context, before time.Time) (int, error) {
	if err := s.enter(ctx, "PruneRevoked"); err != nil {
		return 0, err
	}
	return s.Store.PruneRevoked(ctx, before)
}

func (s *hangStore) ListKeysPage(ctx context.Context, accountID string, after store.KeyCursor, limit int, includeRevoked bool, now time.Time) ([]store.Key, error) {
	if err := s.enter(ctx, "ListKeysPage"); err != nil {
		return nil, err
	}
	return s.Store.ListKeysPage(ctx, accountID, after, limit, includeRevoked, now)
}

func (s *hangStore) RotateRootKey(ctx context.Context, root store.Key, r store.Rotation) (store.Key, error) {
	if err := s.enter(ctx, "RotateRootKey"); err != nil {
		return store.Key{}, err
	}
	return s.Store.RotateRootKey(ctx, root, r)
}

func (s *hangStore) DeleteAccount(ctx context.Context, id string) error {
	if err := s.enter(ctx, "DeleteAccount"); err != nil {
		return err
	}
	return s.Store.DeleteAccount(ctx, id)
}

func (s *hangStore) ListAccounts(ctx context.Context, after string, limit int) ([]store.Account, error) {
	if err := s.enter(ctx, "ListAccounts"); err != nil {
		return nil, err
	}
	return s.Store.ListAccounts(ctx, after, limit)
}

func (s *hangStore) RevokeLeaked(ctx context.Context, ids []uuid.UUID, now time.Time) ([]store.Key, error) {
	if err := s.enter(ctx, "RevokeLeaked"); err != nil {
		return nil, err
	}
	return s.Store.RevokeLeaked(ctx, ids, now)
}

func (s *hangStore) AccountUsage(ctx context.Context, accountID string, month store.Month) (store.AccountUsage, error) {
	if err := s.enter(ctx, "AccountUsage"); err != nil {
		return store.AccountUsage{}, err
	}
	return s.Store.AccountUsage(ctx, accountID, month)
}

func (s *hangStore) UpdateKey(ctx context.Context, accountID string, id uuid.UUID, u store.KeyUpdate, now time.Time) (store.Key, error) {
	if err := s.enter(ctx, "UpdateKey"); err != nil {
		return store.Key{}, err
	}
	return s.Store.UpdateKey(ctx, accountID, id, u, now)
}

func (s *hangStore) AuditEvents(ctx context.Context, accountID string, after store.EventCursor, limit int) ([]store.Event, error) {
	if err := s.enter(ctx, "AuditEvents"); err != nil {
		return nil, err
	}
	return s.Store.AuditEvents(ctx, accountID, after, limit)
}

func (s *hangStore) PruneAuditEvents(ctx context.Context, before time.Time) (int, error) {
	if err := s.enter(ctx, "PruneAuditEvents"); err != nil {
		return 0, err
	}
	return s.Store.PruneAuditEvents(ctx, before)
}

func (s *hangStore) ListExpiringKeys(ctx context.Context, after store.ExpiryCursor, limit int, now, until time.Time) ([]store.Key, error) {
	if err := s.enter(ctx, "ListExpiringKeys"); err != nil {
		return nil, err
	}
	return s.Store.(store.ExpiringLister).ListExpiringKeys(ctx, after, limit, now, until)
}
