package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/keyward/keys"
	"github.com/keyward/keys/memstore"
)

// benchFile writes a text file of about size bytes of log lines, one in
// ten thousand holding a real token, and returns its path and how many
// tokens it holds.
func benchFile(b *testing.B, size int) (string, int) {
	b.Helper()
	m, err := keys.New(memstore.New(), keys.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	if err := m.CreateAccount(ctx, keys.Account{ID: "a", EmailVerified: true}); err != nil {
		b.Fatal(err)
	}
	iss, err := m.Reissue(ctx, "a")
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "big.log")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	lines := []string{
		"2026-03-02T10:30:00.123Z INFO request handled method=GET path=/v1/prices/AAPL status=200 took=1.24ms\n",
		"2026-03-02T10:30:00.456Z DEBUG cache hit key=quote:MSFT ttl=5s size=1532 shard=17 evicted=false\n",
		"    at com.example.service.PriceController.handle(PriceController.java:142) sk_unused=true\n",
		"{\"level\":\"warn\",\"msg\":\"slow query\",\"sql\":\"SELECT * FROM prices WHERE sym = $1\",\"ms\":231}\n",
	}
	n, tokens := 0, 0
	for i := 0; n < size; i++ {
		s := lines[i%len(lines)]
		if i%10000 == 9999 {
			s = "export KEYS_API_KEY=" + iss.Secret + "\n"
			tokens++
		}
		k, _ := w.WriteString(s)
		n += k
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return path, tokens
}

// BenchmarkScan100MB runs keys scan over a 100 MB text file beside grep
// -c of the same regular expression on the same file, in the same run
// (grep is skipped where it is missing). keys scan is run in process, so
// the comparison leaves out its start-up, a few milliseconds.
func BenchmarkScan100MB(b *testing.B) {
	const size = 100 << 20
	path, tokens := benchFile(b, size)
	b.Run("KeysScan", func(b *testing.B) {
		b.SetBytes(size)
		e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }}
		for b.Loop() {
			var out strings.Builder
			e.stdout = &out
			if code := run(context.Background(), []string{"scan", "-json", path}, e); code != 1 {
				b.Fatalf("exit %d", code)
			}
			if got := strings.Count(out.String(), `"token_hash"`); got != tokens {
				b.Fatalf("found %d tokens, want %d", got, tokens)
			}
		}
	})
	grep, err := exec.LookPath("grep")
	if err != nil {
		b.Log("grep not found; skipping the grep floor")
		return
	}
	for _, g := range []struct{ name, flag, pattern string }{
		// ERE has no (?:…); the group is the same.
		{"GrepE", "-E", `\bsk_(live|test)_[0-9A-Za-z]{49}\b`},
		{"GrepP", "-P", keys.TokenPattern},
	} {
		b.Run(g.name, func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				cmd := exec.Command(grep, "-c", g.flag, g.pattern, path)
				cmd.Env = append(os.Environ(), "LC_ALL=C")
				out, err := cmd.Output()
				if err != nil {
					b.Skipf("grep %s: %v", g.flag, err)
				}
				if got := strings.TrimSpace(string(out)); got != itoa(tokens) {
					b.Fatalf("grep %s counted %s lines, want %d", g.flag, got, tokens)
				}
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
