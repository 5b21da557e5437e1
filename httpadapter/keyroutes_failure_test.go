package httpadapter_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys/httpadapter"
	"github.com/keyward/keys/store"
)

// More failStore methods, for the key-management routes.

func (s *failStore) ListKeys(ctx context.Context, id string) ([]store.Key, error) {
	if s.failing("ListKeys") {
		return nil, errStoreDown
	}
	return s.Store.ListKeys(ctx, id)
}

func (s *failStore) AccountUsage(ctx context.Context, id string, m store.Month) (store.AccountUsage, error) {
	if s.failing("AccountUsage") {
		return store.AccountUsage{}, errStoreDown
	}
	return s.Store.AccountUsage(ctx, id, m)
}

func (s *failStore) UpdateKey(ctx context.Context, acct string, id uuid.UUID, u store.KeyUpdate, now time.Time) (store.Key, error) {
	if s.failing("UpdateKey") {
		return store.Key{}, errStoreDown
	}
	return s.Store.UpdateKey(ctx, acct, id, u, now)
}

func (s *failStore) ListKeysPage(ctx context.Context, acct string, after store.KeyCursor, limit int, includeRevoked bool, now time.Time) ([]store.Key, error) {
	if s.failing("ListKeysPage") {
		return nil, errStoreDown
	}
	return s.Store.ListKeysPage(ctx, acct, after, limit, includeRevoked, now)
}

func (s *failStore) InsertChildKey(ctx context.Context, k store.Key) error {
	if s.failing("InsertChildKey") {
		return errStoreDown
	}
	return s.Store.InsertChildKey(ctx, k)
}

// TestKeyRoutesStoreFailure: a failing store is a 500 that says nothing
// about the cause (which goes to the log), with the rate-limit headers of
// the request that was counted; a closed Manager is a 503.
func TestKeyRoutesStoreFailure(t *testing.T) {
	g := newMgmt(t, httpadapter.Options{})
	id := g.child.Key.ID.String()
	for _, tc := range []struct {
		method, path, body, fail string
	}{
		{"GET", "/account/keys", "", "ListKeysPage"},
		{"GET", "/account/usage", "", "AccountUsage"},
		{"GET", "/account/usage", "", "ListKeys"},
		{"PATCH", "/account/keys/" + id, `{"name":"x"}`, "UpdateKey"},
		{"POST", "/account/keys", `{}`, "InsertChildKey"},
	} {
		g.st.setFail(tc.fail, true)
		rec := g.send(tc.method, tc.path, g.root.Secret, tc.body)
		g.st.setFail(tc.fail, false)
		checkError(t, rec, 500, "internal_error")
		checkRateHeaders(t, rec)
		if strings.Contains(rec.Body.String(), "relation") || strings.Contains(rec.Body.String(), "SELECT") {
			t.Fatalf("%s %s leaked the store error: %s", tc.method, tc.path, rec.Body)
		}
	}
	if !strings.Contains(g.logs.String(), "relation") {
		t.Error("the store error was not logged")
	}
	if err := g.m.Close(); err != nil {
		t.Fatal(err)
	}
	checkError(t, g.send("GET", "/account/usage", "session-acct_1", ""), 503, "service_unavailable")
}
