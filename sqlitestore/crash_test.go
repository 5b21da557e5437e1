package sqlitestore_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys/internal/sqlstore/sqlstoretest"
	"github.com/keyward/keys/sqlitestore"
	"github.com/keyward/keys/store"
)

// The crash test runs the test binary again as a child (TestCrashChild,
// selected by crashEnv) that changes keys under load and reports each
// operation on stdout: "B <worker> <op...>" before it starts and
// "D <worker>" once it has returned. The parent SIGKILLs the child at a
// random moment and checks the file: every operation reported done is
// there, the one in flight per worker is there entirely or not at all.
//
// Each worker owns its accounts, so per account the report order is the
// commit order and the parent can replay it exactly. Operations:
//
//	R <account> <id>         ReplaceRootKey with new root id
//	C <account> <id> <root>  InsertChildKey of child id under root
//	X <account> <id>         RevokeKey
const (
	crashEnv     = "KEYS_SQLITESTORE_CRASH_DB"
	crashWorkers = 4
	crashCycles  = 20
	// crashChildLimit ends an orphaned child whose parent died.
	crashChildLimit = 30 * time.Second
)

func crashAccounts(worker int) []string {
	return []string{fmt.Sprintf("acct_%d_a", worker), fmt.Sprintf("acct_%d_b", worker)}
}

func allCrashAccounts() []string {
	var out []string
	for w := range crashWorkers {
		out = append(out, crashAccounts(w)...)
	}
	return out
}

func TestCrashRecovery(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.db")
	model := crashModel{}
	rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 1))
	var reported, inFlight, inFlightCommitted int
	for cycle := range crashCycles {
		// Every fourth child dies at a random moment from its start,
		// possibly while opening (and, the first time, migrating); the
		// others once they are under load.
		fromStart := cycle%4 == 0
		delay := time.Duration(10+rng.IntN(400)) * time.Millisecond
		lines := runAndKill(t, path, fromStart, delay)
		pending, n := model.replay(t, lines)
		reported += n
		inFlight += len(pending)
		inFlightCommitted += model.check(t, path, pending)
	}
	t.Logf("%d kill cycles: %d completed operations reported and found; of %d in flight at a kill, %d had committed",
		crashCycles, reported, inFlight, inFlightCommitted)
}

// runAndKill starts a child on path, kills it after delay (counted from
// its start or from its "ready" line) and returns what it printed.
func runAndKill(t *testing.T, path string, fromStart bool, delay time.Duration) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
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

// crashKey is the parent's record of one key.
type crashKey struct {
	account string
	root    uuid.UUID // its own ID for a root
	isRoot  bool
	revoked bool
}

// crashModel is the state the reported operations imply.
type crashModel map[uuid.UUID]crashKey

// crashOp is one parsed operation line (after "B <worker> ").
type crashOp struct {
	kind    string
	account string
	id      uuid.UUID
	root    uuid.UUID
}

func parseOp(fields []string) (crashOp, error) {
	if len(fields) < 3 {
		return crashOp{}, fmt.Errorf("short operation %q", fields)
	}
	op := crashOp{kind: fields[0], account: fields[1]}
	var err error
	if op.id, err = uuid.Parse(fields[2]); err != nil {
		return op, err
	}
	if op.kind == "C" {
		if len(fields) != 4 {
			return op, fmt.Errorf("child operation %q without root", fields)
		}
		op.root, err = uuid.Parse(fields[3])
	}
	return op, err
}

// apply replays op on m.
func (m crashModel) apply(op crashOp) {
	switch op.kind {
	case "R":
		for id, k := range m {
			if k.account == op.account {
				k.revoked = true
				m[id] = k
			}
		}
		m[op.id] = crashKey{account: op.account, root: op.id, isRoot: true}
	case "C":
		m[op.id] = crashKey{account: op.account, root: op.root}
	case "X":
		k, ok := m[op.id]
		if !ok || k.revoked {
			return
		}
		for id, c := range m {
			if id == op.id || (k.isRoot && c.root == op.id) {
				c.revoked = true
				m[id] = c
			}
		}
	}
}

func (m crashModel) clone() crashModel {
	c := make(crashModel, len(m))
	for id, k := range m {
		c[id] = k
	}
	return c
}

// replay applies every completed operation in lines to m and returns the
// operations still in flight when the child died, by account, and how many
// completed.
func (m crashModel) replay(t *testing.T, lines []string) (map[string]crashOp, int) {
	t.Helper()
	inFlight := map[string]crashOp{} // by worker
	done := 0
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
			inFlight[fields[1]] = op
		case fields[0] == "D" && len(fields) == 2:
			op, ok := inFlight[fields[1]]
			if !ok {
				t.Fatalf("done without begin: %q", line)
			}
			m.apply(op)
			delete(inFlight, fields[1])
			done++
		default:
			t.Fatalf("bad line %q", line)
		}
	}
	pending := map[string]crashOp{}
	for _, op := range inFlight {
		pending[op.account] = op
	}
	return pending, done
}

// check opens the file after a crash and compares it with m: each account
// must match m, or m with its in-flight operation applied. m then adopts
// what was found, so that the next cycle starts from the file's state. It
// returns how many in-flight operations had committed.
func (m crashModel) check(t *testing.T, path string, pending map[string]crashOp) (committed int) {
	t.Helper()
	integrityCheck(t, path)
	s, err := sqlitestore.Open(path)
	if err != nil {
		t.Fatalf("reopen after a crash: %v", err)
	}
	defer s.Close()
	found := sqlstoretest.CheckInvariants(t, s, allCrashAccounts())
	for _, account := range allCrashAccounts() {
		before := m.account(account)
		got := crashModel{}
		for id, k := range found {
			if k.AccountID == account {
				got[id] = crashKey{account: account, root: k.RootKeyID, isRoot: k.IsRoot, revoked: k.RevokedAt != nil}
			}
		}
		if equalModels(got, before) {
			continue
		}
		if op, ok := pending[account]; ok {
			after := before.clone()
			after.apply(op)
			if equalModels(got, after) {
				m.apply(op)
				committed++
				continue
			}
		}
		t.Fatalf("account %s after a crash:\n%s\nwant (in flight: %+v):\n%s", account, got, pending[account], before)
	}
	return committed
}

func (m crashModel) account(a string) crashModel {
	out := crashModel{}
	for id, k := range m {
		if k.account == a {
			out[id] = k
		}
	}
	return out
}

func equalModels(a, b crashModel) bool {
	if len(a) != len(b) {
		return false
	}
	for id, k := range a {
		if b[id] != k {
			return false
		}
	}
	return true
}

func (m crashModel) String() string {
	var lines []string
	for id, k := range m {
		lines = append(lines, fmt.Sprintf("  %s root=%v revoked=%v (root %s)", id, k.isRoot, k.revoked, k.root))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// integrityCheck runs SQLite's own consistency check on the file.
func integrityCheck(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil {
		t.Fatalf("integrity_check: %v", err)
	}
	if res != "ok" {
		t.Fatalf("integrity_check after a crash: %s", res)
	}
}

// TestCrashChild is the child process of TestCrashRecovery; run on its own,
// it skips.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("the child process of TestCrashRecovery")
	}
	fail := func(format string, args ...any) {
		fmt.Printf("E "+format+"\n", args...)
		os.Exit(3)
	}
	s, err := sqlitestore.Open(path)
	if err != nil {
		fail("open: %v", err)
	}
	ctx := context.Background()
	now := time.Now().UTC()
	for _, a := range allCrashAccounts() {
		err := s.CreateAccount(ctx, store.Account{ID: a, Tier: "pro", EmailVerified: true, CreatedAt: now, UpdatedAt: now})
		if err != nil && !errors.Is(err, store.ErrConflict) {
			fail("create account: %v", err)
		}
	}
	// One write per line, unbuffered, so a line is on the pipe before the
	// operation it reports goes on.
	var out sync.Mutex
	report := func(format string, args ...any) {
		out.Lock()
		defer out.Unlock()
		if _, err := fmt.Fprintf(os.Stdout, format+"\n", args...); err != nil {
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
	time.Sleep(crashChildLimit)
	os.Exit(0)
}

// crashOpOnce does one random operation on one of worker's accounts,
// reporting it before and after.
func crashOpOnce(ctx context.Context, s store.Store, r *mrand.Rand, worker int, report func(string, ...any)) error {
	accounts := crashAccounts(worker)
	account := accounts[r.IntN(len(accounts))]
	now := time.Now().UTC()
	root, err := s.ActiveRootKey(ctx, account)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	hasRoot := err == nil
	switch n := r.IntN(10); {
	case n < 3 || !hasRoot:
		k := sqlstoretest.NewRoot(account, now)
		report("B %d R %s %s", worker, account, k.ID)
		err = s.ReplaceRootKey(ctx, k, uuid.Nil, now)
	case n < 8:
		k := sqlstoretest.NewChild(root, now)
		report("B %d C %s %s %s", worker, account, k.ID, root.ID)
		err = s.InsertChildKey(ctx, k)
	default:
		var ks []store.Key
		if ks, err = s.ListKeys(ctx, account); err != nil {
			return err
		}
		k := ks[r.IntN(len(ks))]
		report("B %d X %s %s", worker, account, k.ID)
		_, err = s.RevokeKey(ctx, k.ID, now)
	}
	if err != nil {
		return err
	}
	report("D %d", worker)
	return nil
}
