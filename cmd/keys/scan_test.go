package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keys"
	"github.com/keyward/keys/sqlitestore"
)

// scanFixture is a SQLite database with keys in it and a tree of files
// that leak some of them.
type scanFixture struct {
	db, dir                     string
	root, child, revoked, other keys.Issued
	unknown, badSum             string
}

func newScanFixture(t *testing.T) *scanFixture {
	t.Helper()
	f := &scanFixture{dir: t.TempDir()}
	f.db = filepath.Join(t.TempDir(), "keys.db")
	st, err := sqlitestore.Open(f.db)
	if err != nil {
		t.Fatal(err)
	}
	m, err := keys.New(st, keys.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	must := func(iss keys.Issued, err error) keys.Issued {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return iss
	}
	for _, a := range []string{"acct_1", "acct_2"} {
		if err := m.CreateAccount(ctx, keys.Account{ID: a, EmailVerified: true}); err != nil {
			t.Fatal(err)
		}
	}
	f.root = must(m.Reissue(ctx, "acct_1"))
	f.child = must(m.IssueChild(ctx, "acct_1", keys.ChildOptions{Name: "ci"}))
	f.revoked = must(m.IssueChild(ctx, "acct_1", keys.ChildOptions{}))
	if err := m.Revoke(ctx, f.revoked.Key.ID); err != nil {
		t.Fatal(err)
	}
	f.other = must(m.Reissue(ctx, "acct_2"))
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	// A well-formed token of no database, and one with a wrong checksum.
	m2, _ := keys.New(sqliteTemp(t), keys.Config{})
	_ = m2.CreateAccount(ctx, keys.Account{ID: "x", EmailVerified: true})
	f.unknown = must(m2.Reissue(ctx, "x")).Secret
	_ = m2.Close()
	b := []byte(f.unknown)
	b[20] = map[bool]byte{true: 'B', false: 'A'}[b[20] == 'A']
	f.badSum = string(b)
	return f
}

func sqliteTemp(t *testing.T) *sqlitestore.Store {
	st, err := sqlitestore.Open(filepath.Join(t.TempDir(), "other.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func writeTreeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeBig writes a file of about size bytes of log lines with each given
// token starting exactly at its byte offset (checked), and returns each
// token's line.
func writeBig(t *testing.T, path string, size int, at map[int]string) map[string]int {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<16)
	lines := map[string]int{}
	filler := "2026-03-02T10:30:00Z INFO request handled path=/v1/prices status=200 took=1.2ms sk_=none\n"
	written, line := 0, 1
	for written < size {
		s := filler
		for off, tok := range at {
			if _, done := lines[tok]; !done && written+len(filler) > off {
				// Put the token so that it starts just before off.
				pad := max(0, off-written-5)
				s = strings.Repeat(".", pad) + " key=" + tok + "\n"
				lines[tok] = line
			}
		}
		n, _ := w.WriteString(s)
		written += n
		line++
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for off, tok := range at {
		got := make([]byte, len(tok))
		if _, err := r.ReadAt(got, int64(off)); err != nil || string(got) != tok {
			t.Fatalf("the token is not at offset %d", off)
		}
	}
	return lines
}

// tree writes the leaky tree and returns the 50 MB file's token lines.
func (f *scanFixture) tree(t *testing.T) map[string]int {
	writeTreeFile(t, filepath.Join(f.dir, "config.txt"), "# settings\nname: demo\napi_key: "+f.child.Secret+"\n")
	js, _ := json.Marshal(map[string]any{"root": f.root.Secret, "old": f.revoked.Secret,
		"stranger": f.unknown, "typo": f.badSum, "list": []string{"sk_live_short", "nothing"}})
	writeTreeFile(t, filepath.Join(f.dir, "sub", "data.json"), string(js))
	writeTreeFile(t, filepath.Join(f.dir, "app.bin"), "\x7fELF\x00\x00\x00"+f.other.Secret)
	writeTreeFile(t, filepath.Join(f.dir, ".git", "config"), "token = "+f.other.Secret+"\n")
	if err := os.Symlink(filepath.Join(f.dir, "app.bin"), filepath.Join(f.dir, "link.txt")); err != nil {
		t.Fatal(err)
	}
	return writeBig(t, filepath.Join(f.dir, "big.log"), 50<<20, map[int]string{scanBufSize - 20: f.other.Secret, 40 << 20: f.unknown})
}

func runScan(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(t.Context(), append([]string{"scan"}, args...), &env{stdin: strings.NewReader(stdin),
		stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }})
	return code, out.String(), errOut.String()
}

func (f *scanFixture) noPlaintext(t *testing.T, outputs ...string) {
	t.Helper()
	for _, o := range outputs {
		for _, tok := range []string{f.root.Secret, f.child.Secret, f.revoked.Secret, f.other.Secret, f.unknown} {
			if strings.Contains(o, tok) || strings.Contains(o, tok[12:30]) {
				t.Fatal("keys scan printed a token")
			}
		}
	}
}

func scanJSON(t *testing.T, out string) scanResult {
	t.Helper()
	var res scanResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("-json output: %v\n%s", err, out)
	}
	return res
}

func TestScanTree(t *testing.T) {
	f := newScanFixture(t)
	bigLines := f.tree(t)

	// Offline: every well-formed token is a finding.
	code, out, errOut := runScan(t, "", f.dir)
	if code != 1 {
		t.Fatalf("offline scan: exit %d, want 1\n%s%s", code, out, errOut)
	}
	f.noPlaintext(t, out, errOut)
	if !strings.Contains(out, filepath.Join(f.dir, "config.txt")+":3: sk_live_") {
		t.Fatalf("offline scan output lacks config.txt:3:\n%s", out)
	}
	code, out, _ = runScan(t, "", "-json", f.dir)
	res := scanJSON(t, out)
	if code != 1 || len(res.Findings) != 6 || res.BinarySkipped != 1 || res.FilesScanned != 3 || len(res.Errors) != 0 {
		t.Fatalf("offline -json: exit %d, %d findings, %d files, %d binary, errors %v; want 1, 6 (bad checksum, short and binary, .git and link skipped), 3, 1, none",
			code, len(res.Findings), res.FilesScanned, res.BinarySkipped, res.Errors)
	}
	byHash := map[string][]finding{}
	for _, fd := range res.Findings {
		byHash[fd.TokenHash] = append(byHash[fd.TokenHash], *fd)
		if fd.Status != "unchecked" || fd.Key != nil || fd.Environment != "live" || !strings.HasPrefix(fd.Redacted, "sk_live_") {
			t.Fatalf("offline finding %+v", fd)
		}
	}
	hashOf := func(tok string) string { return sha256Hex(tok) }
	big := filepath.Join(f.dir, "big.log")
	for tok, line := range bigLines {
		got := byHash[hashOf(tok)]
		found := false
		for _, fd := range got {
			found = found || (fd.Path == big && fd.Line == line)
		}
		if !found {
			t.Fatalf("token at line %d of the 50 MB file not found (findings %+v)", line, got)
		}
	}

	// (The first token of big.log straddles the first 1 MiB read.)

	// With -db: which are live keys.
	code, out, errOut = runScan(t, "", "-db", f.db, "-json", f.dir)
	res = scanJSON(t, out)
	if code != 1 {
		t.Fatalf("-db: exit %d, want 1 (live keys)\n%s", code, errOut)
	}
	want := map[string]string{f.child.Secret: "live child acct_1", f.root.Secret: "live root acct_1",
		f.revoked.Secret: "revoked child acct_1", f.other.Secret: "live root acct_2", f.unknown: "unknown"}
	for tok, w := range want {
		for _, fd := range byHashOf(res, hashOf(tok)) {
			got := fd.Status
			if fd.Key != nil {
				got += " " + fd.Key.Kind + " " + fd.Key.AccountID
				if fd.Key.RevokedNow {
					t.Fatal("-db without -revoke revoked a key")
				}
			}
			if got != w {
				t.Fatalf("finding %s:%d is %q, want %q", fd.Path, fd.Line, got, w)
			}
		}
	}
	f.noPlaintext(t, out, errOut)

	// -revoke: the live keys go, a root with its account.
	code, out, errOut = runScan(t, "", "-db", f.db, "-revoke", filepath.Join(f.dir, "config.txt"), filepath.Join(f.dir, "sub"))
	if code != 1 || !strings.Contains(out, "REVOKED NOW") {
		t.Fatalf("-revoke: exit %d\n%s%s", code, out, errOut)
	}
	f.noPlaintext(t, out, errOut)
	code, out, _ = runScan(t, "", "-db", f.db, "-json", filepath.Join(f.dir, "config.txt"), filepath.Join(f.dir, "sub"))
	if code != 0 {
		t.Fatalf("after -revoke: exit %d, want 0 (nothing live)\n%s", code, out)
	}
	for _, fd := range scanJSON(t, out).Findings {
		if fd.Status == "live" {
			t.Fatalf("after -revoke, %+v is still live", fd)
		}
	}
	// acct_2 was not in those files: its root is untouched.
	code, _, _ = runScan(t, "", "-db", f.db, filepath.Join(f.dir, "big.log"))
	if code != 1 {
		t.Fatalf("acct_2's root: exit %d, want 1 (still live)", code)
	}
}

func byHashOf(res scanResult, h string) []*finding {
	var out []*finding
	for _, fd := range res.Findings {
		if fd.TokenHash == h {
			out = append(out, fd)
		}
	}
	return out
}

func TestScanStdinAndExitCodes(t *testing.T) {
	f := newScanFixture(t)
	if code, out, _ := runScan(t, "nothing here\n"); code != 0 || out != "" {
		t.Fatalf("clean stdin: exit %d, output %q", code, out)
	}
	code, out, errOut := runScan(t, "line one\nexport KEY="+f.child.Secret+"\n")
	if code != 1 || !strings.Contains(out, "(stdin):2: sk_live_") {
		t.Fatalf("stdin with a token: exit %d\n%s%s", code, out, errOut)
	}
	f.noPlaintext(t, out, errOut)
	if code, _, _ := runScan(t, "x "+f.revoked.Secret+" "+f.unknown, "-db", f.db); code != 0 {
		t.Fatalf("only revoked and unknown tokens with -db: exit %d, want 0", code)
	}
	clean := t.TempDir()
	writeTreeFile(t, filepath.Join(clean, "a.txt"), "sk_live_ is our prefix\n"+f.badSum+"\n")
	if code, _, errOut := runScan(t, "", clean); code != 0 {
		t.Fatalf("a clean tree: exit %d %s", code, errOut)
	}
	// A symbolic link named on the command line is followed (one inside a
	// walked tree is not: see TestScanTree).
	leaky := t.TempDir()
	writeTreeFile(t, filepath.Join(leaky, "env"), "KEY="+f.child.Secret+"\n")
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(leaky, link); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runScan(t, "", link); code != 1 || !strings.Contains(out, filepath.Join(link, "env")+":1:") {
		t.Fatalf("a symlinked directory: exit %d\n%s%s", code, out, errOut)
	}
	for name, args := range map[string][]string{
		"missing path":       {filepath.Join(clean, "nope")},
		"-revoke without db": {"-revoke", clean},
		"missing database":   {"-db", filepath.Join(clean, "nope.db"), filepath.Join(clean, "a.txt")},
		"unknown flag":       {"-frobnicate"},
	} {
		// A token in the scanned file must not turn an error into "found".
		writeTreeFile(t, filepath.Join(clean, "a.txt"), f.child.Secret+"\n")
		if code, _, errOut := runScan(t, "", args...); code != 2 {
			t.Errorf("%s: exit %d, want 2 (%s)", name, code, errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(clean, "nope.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("scan -db created a database")
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
