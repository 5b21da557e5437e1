package sqlstoretest

// The crash test of the SQL backends. The backend's test runs the test
// binary again as a child (the test function named Crash.Child, selected by
// Crash.Env) that changes keys and usage under load and reports each
// operation on stdout: "B <worker> <op...>" before it starts and
// "D <worker>" once it has returned. The parent SIGKILLs the child at a
// random moment and checks the database: every operation reported done is
// there, and the one in flight per worker is there entirely or not at all.
//
// Each worker owns its accounts, so per account the report order is the
// commit order and the parent can replay it exactly. Operations:
//
//	R <account> <id>                  ReplaceRootKey with new root id
//	C <account> <id> <root>           InsertChildKey of child id under root
//	X <account> <id>                  RevokeKey
//	U <account> (<key> <n>)...        AddUsage, one batch, in crashMonth
//	L <account> (<key> <micros>)...   RecordLastUsed, one batch

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

const (
	crashWorkers = 4
	// CrashChildLimit ends an orphaned child whose parent died.
	CrashChildLimit = 30 * time.Second
)

// crashMonth is the month every usage delta of the crash test counts in.
var crashMonth = store.Month{Year: 2026, Month: time.March}

// ClosableStore is a store.Store that the caller closes, as the backend
// packages' stores are.
type ClosableStore interface {
	store.Store
	Close() error
}

// Crash describes one backend's crash test; see RunCrash.
type Crash struct {
	// Child is the name of the test function that calls CrashChild; the
	// parent re-executes the test binary with -test.run selecting it.
	Child string
	// Env is the environment variable that carries Target to the child.
	// The child test should skip when it is unset.
	Env string
	// Target is the database the child opens: a file path, a DSN.
	Target string
	// Cycles is the number of kill cycles.
	Cycles int
	// Open opens the backend on Target in the parent after a kill;
	// RunCrash closes the store after checking it.
	Open func() (ClosableStore, error)
	// Check, if set, runs after each kill once Open has returned, before
	// the store is compared with the reported operations: checks of the
	// backend's own (SQLite's integrity_check, PostgreSQL's catalogue), or
	// a wait until the server has let go of the dead child's sessions.
	Check func(t *testing.T)
}

// CrashAccounts returns the IDs of every account the crash test's child
// uses, for the backend's own invariant checks.
func CrashAccounts() []string {
	var out []string
	for w := range crashWorkers {
		out = append(out, crashAccounts(w)...)
	}
	return out
}

func crashAccounts(worker int) []string {
	return []string{fmt.Sprintf("acct_%d_a", worker), fmt.Sprintf("acct_%d_b", worker)}
}

// RunCrash runs c.Cycles kill cycles. In each, a child (see CrashChild)
// works on c.Target and is killed with SIGKILL at a random moment: every
// fourth cycle counted from the child's start, possibly while it opens
// the database (and, the first time, migrates it), the others 10 to 410 ms
// after it reports that it is under way. Then RunCrash opens the database
// with c.Open, runs c.Check, checks the invariants (CheckInvariants), and
// compares each account with the operations the child reported: each
// operation reported done must be there, the one in flight there entirely
// or not at all. The next cycle's child continues on the same database.
func RunCrash(t *testing.T, c Crash) {
	t.Helper()
	model := crashModel{}
	rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 1))
	done := map[string]int{}
	var inFlight, inFlightCommitted int
	start := time.Now()
	for cycle := range c.Cycles {
		fromStart := cycle%4 == 0
		delay := time.Duration(10+rng.IntN(400)) * time.Millisecond
		lines := runAndKill(t, c, fromStart, delay)
		pending := model.replay(t, lines, done)
		inFlight += len(pending)
		inFlightCommitted += checkAfterCrash(t, c, model, pending)
	}
	var total int
	var kinds []string
	for _, k := range slices.Sorted(maps.Keys(done)) {
		total += done[k]
		kinds = append(kinds, fmt.Sprintf("%s %d", k, done[k]))
	}
	t.Logf("%d kill cycles in %v: %d completed operations reported and found (%s); of %d in flight at a kill, %d had committed",
		c.Cycles, time.Since(start).Round(time.Millisecond), total, strings.Join(kinds, ", "), inFlight, inFlightCommitted)
}

// runAndKill starts a child on c.Target, kills it after delay (counted from
// its start or from its "ready" line) and returns what it printed.
func runAndKill(t *testing.T, c Crash, fromStart bool, delay time.Duration) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+c.Child+"$")
	cmd.Env = append(os.Environ(), c.Env+"="+c.Target)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		lines []string
		ready = make(chan struct{})
		eof   = make(chan struct{})
	)
	go func() {
		defer close(eof)
		sc := bufio.NewScanner(out)
		once := sync.OnceFunc(func() { close(ready) })
		for sc.Scan() {
			mu.Lock()
			lines = append(lines, sc.Text())
			mu.Unlock()
			if sc.Text() == "ready" {
				once()
			}
		}
	}()
	if !fromStart {
		select {
		case <-ready:
		case <-eof:
		case <-time.After(10 * time.Second):
			t.Error("child not ready after 10s")
		}
	}
	time.Sleep(delay)
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-eof
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, not by SIGKILL\nstdout:\n%s\nstderr:\n%s", err, strings.Join(lines, "\n"), stderr.String())
	}
	return lines
}

// checkAfterCrash opens the database after a kill and compares it with m:
// each account must match m, or m with its in-flight operation applied. m
// then adopts what was found, so that the next cycle starts from the
// database's state. It returns how many in-flight operations had committed.
func checkAfterCrash(t *testing.T, c Crash, m crashModel, pending map[string]crashOp) (committed int) {
	t.Helper()
	s, err := c.Open()
	if err != nil {
		t.Fatalf("reopen after a crash: %v", err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Errorf("close after checking: %v", err)
		}
	}()
	if c.Check != nil {
		c.Check(t)
	}
	found := CheckInvariants(t, s, CrashAccounts())
	for _, account := range CrashAccounts() {
		before := m.account(account)
		op, inFlight := pending[account]
		var after *crashAccount
		if inFlight {
			after = before.clone()
			after.apply(op)
		}
		got := readCrashAccount(t, s, account, found, before, after)
		switch {
		case got.equal(before):
		case inFlight && got.equal(after):
			m[account] = after
			committed++
		default:
			inFlightLine := "none"
			if inFlight {
				inFlightLine = op.line
			}
			t.Fatalf("account %s after a crash:\n%s\nwant (in flight: %s):\n%s", account, got, inFlightLine, before)
		}
	}
	return committed
}

// readCrashAccount reads account's state from s: its keys from found (as
// CheckInvariants returned them), its usage count, and the usage count of
// every key that before or after counts usage for. A stray count on any
// other key would show in the account's count, which is added to in the
// same batch.
func readCrashAccount(t *testing.T, s store.Store, account string, found map[uuid.UUID]store.Key, before, after *crashAccount) *crashAccount {
	t.Helper()
	ctx := context.Background()
	got := newCrashAccount()
	for id, k := range found {
		if k.AccountID == account {
			var used int64
			if k.LastUsedAt != nil {
				used = k.LastUsedAt.UnixMicro()
			}
			got.keys[id] = crashKey{root: k.RootKeyID, isRoot: k.IsRoot, revoked: k.RevokedAt != nil, lastUsed: used}
		}
	}
	u, err := s.Usage(ctx, account, uuid.Nil, crashMonth)
	if err != nil {
		t.Fatalf("Usage(%s): %v", account, err)
	}
	got.total = u.Account
	counted := maps.Clone(before.used)
	if after != nil {
		maps.Copy(counted, after.used)
	}
	for id := range counted {
		u, err := s.Usage(ctx, account, id, crashMonth)
		if err != nil {
			t.Fatalf("Usage(%s, %s): %v", account, id, err)
		}
		if u.Key != 0 {
			got.used[id] = u.Key
		}
	}
	return got
}

// crashKey is the parent's record of one key.
type crashKey struct {
	root     uuid.UUID // its own ID for a root
	isRoot   bool
	revoked  bool
	lastUsed int64 // LastUsedAt in Unix microseconds; 0 for none
}

// crashAccount is the state of one account that the reported operations
// imply.
type crashAccount struct {
	keys  map[uuid.UUID]crashKey
	used  map[uuid.UUID]int64 // keys' usage counts in crashMonth; no zeros
	total int64               // the account's usage count in crashMonth
}

func newCrashAccount() *crashAccount {
	return &crashAccount{keys: map[uuid.UUID]crashKey{}, used: map[uuid.UUID]int64{}}
}

// crashModel is every account's state, by account ID.
type crashModel map[string]*crashAccount

// account returns a's state; one never written is empty.
func (m crashModel) account(a string) *crashAccount {
	if m[a] == nil {
		m[a] = newCrashAccount()
	}
	return m[a]
}

// crashOp is one parsed operation (a "B" line after "B <worker> ").
type crashOp struct {
	kind    string
	account string
	id      uuid.UUID  // R, C, X
	root    uuid.UUID  // C
	batch   []crashUse // U, L
	line    string     // as the child reported it
}

// crashUse is one entry of a usage (n requests) or last-used (n is the time
// in Unix microseconds) batch.
type crashUse struct {
	key uuid.UUID
	n   int64
}

func parseOp(fields []string) (op crashOp, err error) {
	if len(fields) < 3 {
		return op, fmt.Errorf("short operation %q", fields)
	}
	op.kind, op.account = fields[0], fields[1]
	args := fields[2:]
	switch op.kind {
	case "R", "X":
		if len(args) != 1 {
			return op, fmt.Errorf("operation %q: want one key", fields)
		}
		op.id, err = uuid.Parse(args[0])
	case "C":
		if len(args) != 2 {
			return op, fmt.Errorf("child operation %q: want key and root", fields)
		}
		if op.id, err = uuid.Parse(args[0]); err == nil {
			op.root, err = uuid.Parse(args[1])
		}
	case "U", "L":
		if len(args)%2 != 0 {
			return op, fmt.Errorf("batch operation %q: want key and number pairs", fields)
		}
		for i := 0; i < len(args) && err == nil; i += 2 {
			var u crashUse
			if u.key, err = uuid.Parse(args[i]); err == nil {
				u.n, err = strconv.ParseInt(args[i+1], 10, 64)
			}
			op.batch = append(op.batch, u)
		}
	default:
		return op, fmt.Errorf("unknown operation %q", fields)
	}
	return op, err
}

// apply replays op, an operation on a's account, on a.
func (a *crashAccount) apply(op crashOp) {
	switch op.kind {
	case "R":
		for id, k := range a.keys {
			k.revoked = true
			a.keys[id] = k
		}
		a.keys[op.id] = crashKey{root: op.id, isRoot: true}
	case "C":
		a.keys[op.id] = crashKey{root: op.root}
	case "X":
		k, ok := a.keys[op.id]
		if !ok || k.revoked {
			return
		}
		for id, c := range a.keys {
			if id == op.id || (k.isRoot && c.root == op.id) {
				c.revoked = true
				a.keys[id] = c
			}
		}
	case "U":
		for _, u := range op.batch {
			a.used[u.key] += u.n
			a.total += u.n
		}
	case "L":
		for _, u := range op.batch {
			if k, ok := a.keys[u.key]; ok && u.n > k.lastUsed {
				k.lastUsed = u.n
				a.keys[u.key] = k
			}
		}
	}
}

func (a *crashAccount) clone() *crashAccount {
	return &crashAccount{keys: maps.Clone(a.keys), used: maps.Clone(a.used), total: a.total}
}

func (a *crashAccount) equal(b *crashAccount) bool {
	return b != nil && maps.Equal(a.keys, b.keys) && maps.Equal(a.used, b.used) && a.total == b.total
}

func (a *crashAccount) String() string {
	var lines []string
	for id, k := range a.keys {
		lines = append(lines, fmt.Sprintf("  %s root=%v revoked=%v lastUsed=%d used=%d (root %s)",
			id, k.isRoot, k.revoked, k.lastUsed, a.used[id], k.root))
	}
	for id, n := range a.used {
		if _, ok := a.keys[id]; !ok {
			lines = append(lines, fmt.Sprintf("  %s (no such key) used=%d", id, n))
		}
	}
	slices.Sort(lines)
	lines = append(lines, fmt.Sprintf("  account usage %d", a.total))
	return strings.Join(lines, "\n")
}

// replay applies every completed operation in lines to m, counting them by
// kind in done, and returns the operations still in flight when the child
// died, by account.
func (m crashModel) replay(t *testing.T, lines []string, done map[string]int) map[string]crashOp {
	t.Helper()
	inFlight := map[string]crashOp{} // by worker
	for _, line := range lines {
		fields := strings.Fields(line)
		switch {
		case len(fields) == 0 || line == "ready":
		case fields[0] == "E":
			t.Fatalf("child failed: %s", line)
		case fields[0] == "B" && len(fields) > 2:
			op, err := parseOp(fields[2:])
			if err != nil {
				t.Fatalf("bad line %q: %v", line, err)
			}
			op.line = line
			inFlight[fields[1]] = op
		case fields[0] == "D" && len(fields) == 2:
			op, ok := inFlight[fields[1]]
			if !ok {
				t.Fatalf("done without begin: %q", line)
			}
			m.account(op.account).apply(op)
			delete(inFlight, fields[1])
			done[op.kind]++
		default:
			t.Fatalf("bad line %q", line)
		}
	}
	pending := map[string]crashOp{}
	for _, op := range inFlight {
		pending[op.account] = op
	}
	return pending
}

// CrashChild is the body of the crash test's child process, the test named
// Crash.Child, which should call it when Crash.Env is set. It opens the
// store with open, creates the test's accounts unless they exist, prints
// "ready", and runs goroutines that change keys and usage until the
// parent kills the process, reporting each operation on stdout before it
// starts and once it has returned (see RunCrash). It never returns: on any
// error it prints "E <error>" and exits with status 3, and after
// CrashChildLimit (the parent must have died) it exits with status 0.
func CrashChild(open func() (store.Store, error)) {
	fail := func(format string, args ...any) {
		fmt.Printf("E "+format+"\n", args...)
		os.Exit(3)
	}
	s, err := open()
	if err != nil {
		fail("open: %v", err)
	}
	ctx := context.Background()
	now := time.Now().UTC()
	for _, a := range CrashAccounts() {
		err := s.CreateAccount(ctx, store.Account{ID: a, Tier: "pro", EmailVerified: true, CreatedAt: now, UpdatedAt: now})
		if err != nil && !errors.Is(err, store.ErrConflict) {
			fail("create account: %v", err)
		}
	}
	// One write per line, unbuffered, so a line is on the pipe before the
	// operation it reports goes on.
	var out sync.Mutex
	report := func(line string) {
		out.Lock()
		defer out.Unlock()
		if _, err := fmt.Fprintln(os.Stdout, line); err != nil {
			os.Exit(4)
		}
	}
	report("ready")
	for w := range crashWorkers {
		go func() {
			r := mrand.New(mrand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for {
				if err := crashOpOnce(ctx, s, r, w, report); err != nil {
					fail("worker %d: %v", w, err)
				}
			}
		}()
	}
	time.Sleep(CrashChildLimit)
	os.Exit(0)
}

// crashOpOnce does one random operation on one of worker's accounts,
// reporting it before and after.
func crashOpOnce(ctx context.Context, s store.Store, r *mrand.Rand, worker int, report func(string)) error {
	accounts := crashAccounts(worker)
	account := accounts[r.IntN(len(accounts))]
	now := time.Now().UTC()
	root, err := s.ActiveRootKey(ctx, account)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	hasRoot := err == nil
	begin := func(kind string, args ...any) {
		line := fmt.Sprintf("B %d %s %s", worker, kind, account)
		for _, a := range args {
			line += fmt.Sprint(" ", a)
		}
		report(line)
	}
	n := r.IntN(20)
	if !hasRoot {
		n = 0
	}
	switch {
	case n < 4:
		// Half of the reissues are conditional on the active root, which
		// no other worker touches, so they must all go through.
		k := NewRoot(account, now)
		expect := uuid.Nil
		if hasRoot && r.IntN(2) == 0 {
			expect = root.ID
		}
		begin("R", k.ID)
		err = s.ReplaceRootKey(ctx, k, expect, now)
	case n < 11:
		k := NewChild(root, now)
		begin("C", k.ID, root.ID)
		err = s.InsertChildKey(ctx, k)
	default:
		var ks []store.Key
		if ks, err = s.ListKeys(ctx, account); err != nil {
			return err
		}
		switch {
		case n < 14:
			k := ks[r.IntN(len(ks))]
			begin("X", k.ID)
			_, err = s.RevokeKey(ctx, k.ID, now)
		case n < 17:
			var batch []store.UsageDelta
			var args []any
			for range 1 + r.IntN(4) {
				d := store.UsageDelta{AccountID: account, KeyID: ks[r.IntN(len(ks))].ID, Month: crashMonth, N: 1 + r.Int64N(5)}
				batch = append(batch, d)
				args = append(args, d.KeyID, d.N)
			}
			begin("U", args...)
			_, err = s.AddUsage(ctx, uuid.Nil, batch)
		default:
			// Times up to a minute back, so that some are older than the
			// stored one and must not replace it.
			var batch []store.LastUsed
			var args []any
			for range 1 + r.IntN(4) {
				at := now.Add(-time.Duration(r.Int64N(int64(time.Minute)))).Truncate(time.Microsecond)
				batch = append(batch, store.LastUsed{KeyID: ks[r.IntN(len(ks))].ID, At: at})
				args = append(args, batch[len(batch)-1].KeyID, at.UnixMicro())
			}
			begin("L", args...)
			err = s.RecordLastUsed(ctx, batch)
		}
	}
	if err != nil {
		return err
	}
	report(fmt.Sprintf("D %d", worker))
	return nil
}
