package sqlstore

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/keyward/keys/store"
)

// CreateAccount implements store.Store.
func (s *Store) CreateAccount(ctx context.Context, a store.Account) error {
	row := newAccountRow(a)
	err := s.inTx(ctx, func(tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(&row).Exec(ctx); err != nil {
			return err
		}
		return s.writeEvent(ctx, tx, a.ID, store.EventAccountCreated, uuid.Nil, a.CreatedAt,
			map[string]any{"tier": a.Tier, "email_verified": a.EmailVerified})
	})
	return s.wrap(fmt.Sprintf("create account %q", a.ID), err)
}

// Account implements store.Store.
func (s *Store) Account(ctx context.Context, id string) (store.Account, error) {
	var row accountRow
	err := s.rdb.NewSelect().Model(&row).Where("id = ?", id).Scan(ctx)
	if err != nil {
		return store.Account{}, s.wrap(fmt.Sprintf("account %q", id), err)
	}
	return row.account(), nil
}

// UpdateAccount implements store.Store: one UPDATE that sets only the
// fields u names, so concurrent changes of different fields both stay.
func (s *Store) UpdateAccount(ctx context.Context, id string, u store.AccountUpdate) error {
	err := s.inTx(ctx, func(tx bun.Tx) error {
		q := tx.NewUpdate().Model((*accountRow)(nil)).
			Set("updated_at = ?", someTime(u.UpdatedAt)).
			Where("id = ?", id)
		if u.Tier != nil {
			q = q.Set("tier = ?", *u.Tier)
		}
		if u.EmailVerified != nil {
			q = q.Set("email_verified = ?", *u.EmailVerified)
		}
		res, err := q.Exec(ctx)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("sqlstore: account %q: %w", id, store.ErrNotFound)
		}
		if u.Tier != nil {
			if err := s.writeEvent(ctx, tx, id, store.EventAccountTierChanged, uuid.Nil, u.UpdatedAt, map[string]any{"tier": *u.Tier}); err != nil {
				return err
			}
		}
		if u.EmailVerified != nil {
			if err := s.writeEvent(ctx, tx, id, store.EventAccountEmailVerified, uuid.Nil, u.UpdatedAt, map[string]any{"email_verified": *u.EmailVerified}); err != nil {
				return err
			}
		}
		return s.changed(ctx, tx, id)
	})
	return s.wrap(fmt.Sprintf("update account %q", id), err)
}

// lockAccount is the first statement of every transaction that changes an
// account's keys. In PostgreSQL it locks the account row (clause is
// s.lock.update or s.lock.share), so such transactions on one account
// serialise and each statement after it sees what the previous holder
// committed. It returns ErrNotFound if the account does not exist.
func (s *Store) lockAccount(ctx context.Context, tx bun.Tx, id, clause string) error {
	var one int
	err := tx.NewRaw("SELECT 1 FROM "+accountsTable+" WHERE id = ?"+clause, id).Scan(ctx, &one)
	if err != nil {
		return s.wrap(fmt.Sprintf("account %q", id), err)
	}
	return nil
}
