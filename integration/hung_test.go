package integration

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keys"
	"github.com/keyward/keys/pgstore"
	"github.com/keyward/keys/store"
)

// freezeProxy forwards TCP connections to a server and can freeze them:
// it keeps reading what clients send (as a stopped server's kernel keeps
// accepting bytes) but forwards nothing either way until thawed. To a
// client that is PostgreSQL under SIGSTOP: connections open, no answers.
type freezeProxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	frozen bool
	thaw   chan struct{}
	conns  []net.Conn
	closed bool
}

func newFreezeProxy(t *testing.T, target string) *freezeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezeProxy{ln: ln, target: target, thaw: make(chan struct{})}
	close(p.thaw)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *freezeProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			s.Close()
			return
		}
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		go p.pump(s, c)
		go p.pump(c, s)
	}
}

func (p *freezeProxy) pump(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			thaw := p.thaw
			p.mu.Unlock()
			<-thaw
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF or a closed connection: close both sides
		}
	}
}

func (p *freezeProxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.frozen {
		p.frozen, p.thaw = true, make(chan struct{})
	}
}

func (p *freezeProxy) unfreeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.frozen {
		p.frozen = false
		close(p.thaw)
	}
}

func (p *freezeProxy) close() {
	p.unfreeze()
	p.mu.Lock()
	p.closed = true
	conns := p.conns
	p.mu.Unlock()
	p.ln.Close()
	for _, c := range conns {
		c.Close()
	}
}

// logBuf collects a logger's output.
type logBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *logBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *logBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// heardNotifier is a pgstore.Store whose notifications, once the Manager
// subscribed to them has acted on them, are also sent to heard.
type heardNotifier struct {
	*pgstore.Store
	heard chan string
}

func (h *heardNotifier) Subscribe(ctx context.Context, fn func(accountID string)) error {
	return h.Store.Subscribe(ctx, func(id string) {
		fn(id)
		select {
		case h.heard <- id:
		default: // more than the test reads; it waits for none of these
		}
	})
}

// await waits up to 5s until the Manager has acted on a notification of id,
// skipping the others.
func (h *heardNotifier) await(t *testing.T, id string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case got := <-h.heard:
			if got == id {
				return
			}
		case <-deadline:
			t.Fatalf("the Manager heard no notification %q within 5s", id)
		}
	}
}

// PostgreSQL stops answering (as under SIGSTOP) with a
// Manager running on it. Requests that need the store fail after
// StoreTimeout rather than never; Shutdown returns by its deadline and says
// what it could not write; once PostgreSQL answers again, Flush writes it.
func TestHungPostgreSQL(t *testing.T) {
	_, dsn := pgFreshSchema(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	p := newFreezeProxy(t, u.Host)
	u.Host = p.ln.Addr().String()
	st := openPG(t, u.String())
	logs := &logBuf{}
	const timeout = 500 * time.Millisecond
	// pgx gives up on a silent server a moment after the context ends
	// (it first asks the server to cancel), and a loaded CI machine adds
	// its own delays: allow for both. The point is that these calls
	// return at all, where a hung store would keep them forever.
	const slack = 5 * time.Second
	heard := &heardNotifier{Store: st, heard: make(chan string, 256)}
	// CacheTTL of an hour: the warm key must stay cached through the
	// test however slowly it runs (the default 5s is real time here).
	m, err := keys.New(heard, keys.Config{StoreTimeout: timeout, FlushInterval: time.Hour, CacheTTL: time.Hour,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	heard.await(t, "") // the Manager listens for notifications
	if err := m.CreateAccount(ctx, keys.Account{ID: "acct_1", Tier: keys.Pro, EmailVerified: true}); err != nil {
		t.Fatal(err)
	}
	root, err := m.Reissue(ctx, "acct_1")
	if err != nil {
		t.Fatal(err)
	}
	cold, err := m.IssueChild(ctx, "acct_1", keys.ChildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The Manager hears of its own changes too, and drops acct_1's cached
	// keys when it does: wait until it has heard of all of them (a change
	// to another account, heard after them, since notifications come in
	// commit order), so that none evicts the warm key below.
	if err := m.CreateAccount(ctx, keys.Account{ID: "acct_2", Tier: keys.Pro, EmailVerified: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Reissue(ctx, "acct_2"); err != nil {
		t.Fatal(err)
	}
	heard.await(t, "acct_2")
	k := mustAuth(t, m, root.Secret, "root")
	for range 3 {
		if _, err := m.Allow(ctx, k); err != nil {
			t.Fatal(err)
		}
	}

	p.freeze()
	// A warm key is still served from memory.
	if _, err := m.Authenticate(ctx, root.Secret); err != nil {
		t.Errorf("warm key with the store frozen: %v", err)
	}
	begin := time.Now()
	_, err = m.Authenticate(ctx, cold.Secret)
	took := time.Since(begin)
	if err == nil || took > timeout+slack {
		t.Fatalf("cold key with the store frozen: %v after %v; want an error within %v", err, took, timeout+slack)
	}
	t.Logf("cold Authenticate on a frozen PostgreSQL: %v after %v", err, took.Round(time.Millisecond))

	sctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	begin = time.Now()
	err = m.Shutdown(sctx)
	took = time.Since(begin)
	var fe *keys.FlushError
	if !errors.As(err, &fe) || took > time.Second+slack {
		t.Fatalf("Shutdown on a frozen PostgreSQL: %v after %v; want a *FlushError within %v", err, took, time.Second+slack)
	}
	if fe.UsageCounts != 1 || fe.Requests != 3 || fe.LastUsed != 1 {
		t.Errorf("FlushError %+v, want 1 usage count, 3 requests, 1 last-used time", fe)
	}
	if !strings.Contains(logs.String(), "usage_counts=1 requests=3 last_used_times=1") {
		t.Errorf("the log does not say what is lost:\n%s", logs)
	}
	t.Logf("Shutdown on a frozen PostgreSQL returned after %v: %v", took.Round(time.Millisecond), err)

	p.unfreeze()
	// Connections the deadlines broke are discarded by the pool; a retry
	// or two may meet one.
	for attempt := 1; ; attempt++ {
		err := m.Flush(ctx)
		if err == nil {
			break
		}
		if attempt == 5 {
			t.Fatalf("Flush after PostgreSQL came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	got, err := st.Usage(ctx, "acct_1", root.Key.ID, store.MonthOf(time.Now()))
	if err != nil || got.Key != 3 {
		t.Fatalf("stored usage after the thaw: %+v, %v; want 3", got, err)
	}
}
