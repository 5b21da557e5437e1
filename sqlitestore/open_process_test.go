package sqlitestore_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keys/sqlitestore"
	"github.com/keyward/keys/store"
)

// openChildEnv, when set to a path, makes TestConcurrentOpenProcesses the
// child side: it opens that path at the parent's word and creates the
// account named by openChildAccountEnv.
const (
	openChildEnv        = "KEYS_SQLITESTORE_OPEN_CHILD"
	openChildAccountEnv = "KEYS_SQLITESTORE_OPEN_ACCOUNT"
)

// TestConcurrentOpenProcesses starts several processes (this test binary,
// re-executed) that open one new file at the same moment, as several
// servers started together would: every one must create or find the
// schema, switch or find WAL, and write. Each child says "ready" once it
// runs and waits for "go" on its stdin, so the opens overlap.
func TestConcurrentOpenProcesses(t *testing.T) {
	if path := os.Getenv(openChildEnv); path != "" {
		openAsChild(t, path, os.Getenv(openChildAccountEnv))
		return
	}
	if testing.Short() {
		t.Skip("starts processes")
	}
	const procs = 6
	path := filepath.Join(t.TempDir(), "keys.db")
	type child struct {
		cmd   *exec.Cmd
		stdin io.WriteCloser
		out   chan string
	}
	children := make([]child, procs)
	for i := range children {
		cmd := exec.Command(os.Args[0], "-test.run=^TestConcurrentOpenProcesses$", "-test.v")
		cmd.Env = append(os.Environ(), openChildEnv+"="+path, fmt.Sprintf("%s=acct_%d", openChildAccountEnv, i))
		cmd.Stderr = cmd.Stdout
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		c := child{cmd: cmd, stdin: stdin, out: make(chan string, 1)}
		ready := make(chan struct{})
		go func() {
			r := bufio.NewReader(stdout)
			var b strings.Builder
			for {
				line, err := r.ReadString('\n')
				b.WriteString(line)
				if strings.TrimSpace(line) == "ready" {
					close(ready)
				}
				if err != nil {
					break
				}
			}
			c.out <- b.String()
		}()
		select {
		case <-ready:
		case <-time.After(time.Minute):
			t.Fatalf("child %d did not start", i)
		}
		children[i] = c
	}
	for _, c := range children {
		if _, err := io.WriteString(c.stdin, "go\n"); err != nil {
			t.Fatal(err)
		}
		c.stdin.Close()
	}
	for i, c := range children {
		out := <-c.out
		if err := c.cmd.Wait(); err != nil {
			t.Errorf("child %d: %v\n%s", i, err, out)
		}
	}
	if t.Failed() {
		return
	}
	s, err := sqlitestore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range procs {
		// Each child wrote one account, so none wrote into a file the
		// others could not see.
		id := fmt.Sprintf("acct_%d", i)
		if _, err := s.Account(t.Context(), id); err != nil {
			t.Errorf("account of child %d: %v", i, err)
		}
	}
}

// openAsChild is the child side: ready, wait for go, open, write, close.
func openAsChild(t *testing.T, path, account string) {
	fmt.Println("ready")
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "go" {
		t.Fatalf("no go from the parent: %q %v", line, err)
	}
	s, err := sqlitestore.Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	now := time.Now()
	if err := s.CreateAccount(t.Context(), store.Account{ID: account, Tier: "free", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
}
