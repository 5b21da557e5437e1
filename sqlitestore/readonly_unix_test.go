//go:build unix

package sqlitestore_test

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/keyward/keys/sqlitestore"
)

// readOnlyEnv names the database a re-executed TestOpenReadOnlyFile checks.
const readOnlyEnv = "KEYS_SQLITESTORE_READONLY_DB"

// TestOpenReadOnlyFile checks that Open refuses a database file this
// process may not write. Root may write any file, so as root the test runs
// itself again as nobody.
func TestOpenReadOnlyFile(t *testing.T) {
	path := os.Getenv(readOnlyEnv)
	if path == "" {
		dir := worldReadableDir(t)
		path = filepath.Join(dir, "keys.db")
		s, err := sqlitestore.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		if err := os.Chmod(path, 0o444); err != nil {
			t.Fatal(err)
		}
		if os.Geteuid() == 0 {
			runAsNobody(t, dir, path)
			return
		}
	}
	s, err := sqlitestore.Open(path)
	if err == nil {
		s.Close()
		t.Fatal("Open of a read-only file succeeded")
	}
	if !strings.Contains(err.Error(), "not writable") {
		t.Fatalf("Open of a read-only file: %v", err)
	}
	t.Log(err)
}

// worldReadableDir returns a new directory that another user can enter.
func worldReadableDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "keys-readonly-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runAsNobody runs this test again, from a copy of the test binary in dir,
// as the user nobody, and fails t if it fails.
func runAsNobody(t *testing.T, dir, path string) {
	bin := filepath.Join(dir, "sqlitestore.test")
	if err := copyFile(os.Args[0], bin); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestOpenReadOnlyFile$", "-test.v")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), readOnlyEnv+"="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("as nobody: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestOpenReadOnlyFile") {
		t.Fatalf("as nobody, the test did not pass:\n%s", out)
	}
	t.Logf("as nobody:\n%s", out)
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}
