package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys"
)

// operatorContext returns ctx carrying the actor of every change a CLI
// command makes: an operator, named by the OS user running it.
func operatorContext(ctx context.Context) context.Context {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	return keys.WithActor(ctx, keys.Actor{Type: keys.ActorOperator, ID: name})
}

// auditEventView is one event as audit prints it with -json: the shape of
// GET /account/audit.
type auditEventView struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	OccurredAt string          `json:"occurred_at"`
	KeyID      *string         `json:"key_id"`
	Actor      auditActorView  `json:"actor"`
	IP         *string         `json:"ip"`
	UserAgent  *string         `json:"user_agent"`
	Data       json.RawMessage `json:"data"`
}

type auditActorView struct {
	Type string  `json:"type"`
	ID   *string `json:"id"`
}

// auditPageView is a page of events; NextCursor is the -cursor of the next
// page, null on the last.
type auditPageView struct {
	Events     []auditEventView `json:"events"`
	NextCursor *string          `json:"next_cursor"`
}

func cmdAudit(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags(e, "audit")
	account := fs.String("account", "", "the account whose audit trail to show (required)")
	limit := fs.Int("limit", keys.DefaultPageLimit, "events per page, 1 to "+strconv.Itoa(keys.MaxPageLimit))
	cursor := fs.String("cursor", "", "start after this position (the next page's cursor, printed under each page)")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if *account == "" {
		return usagef("-account is required")
	}
	if err := checkAccountID("account", *account); err != nil {
		return err
	}
	if *limit < 1 || *limit > keys.MaxPageLimit {
		return usagef("-limit %d: want 1 to %d", *limit, keys.MaxPageLimit)
	}
	return withBackend(ctx, e, c, func(b *backend) error {
		evs, next, err := b.m.AuditEvents(ctx, *account, keys.Page{Limit: *limit, Cursor: *cursor})
		if err != nil {
			return err
		}
		page := auditPageView{Events: make([]auditEventView, len(evs))}
		for i, ev := range evs {
			page.Events[i] = viewEvent(ev)
		}
		if next != "" {
			page.NextCursor = &next
		}
		if c.json {
			return writeJSON(e.stdout, page)
		}
		rows := make([][]string, len(evs))
		for i, v := range page.Events {
			actor := v.Actor.Type
			if v.Actor.ID != nil {
				actor += ":" + *v.Actor.ID
			}
			rows[i] = []string{v.OccurredAt, v.Type, deref(v.KeyID, "-"), actor, deref(v.IP, "-"), string(v.Data)}
		}
		if err := table(e.stdout, []string{"TIME", "TYPE", "KEY", "ACTOR", "IP", "DATA"}, rows); err != nil {
			return err
		}
		if next != "" {
			_, err = fmt.Fprintf(e.stdout, "next page: keys audit -account %s -limit %d -cursor %s\n", shellQuote(*account), *limit, next)
		}
		return err
	})
}

func viewEvent(ev keys.Event) auditEventView {
	v := auditEventView{ID: ev.ID.String(), Type: ev.Type, OccurredAt: ev.OccurredAt.UTC().Format(time.RFC3339Nano),
		Actor: auditActorView{Type: ev.Actor.Type, ID: optStr(ev.Actor.ID)}, IP: optStr(ev.IP), UserAgent: optStr(ev.UserAgent), Data: ev.Data}
	if ev.KeyID != uuid.Nil {
		v.KeyID = optStr(ev.KeyID.String())
	}
	if len(v.Data) == 0 {
		v.Data = json.RawMessage("{}")
	}
	return v
}

func optStr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(p *string, none string) string {
	if p == nil {
		return none
	}
	return *p
}
