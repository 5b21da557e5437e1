package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/keyward/keys"
)

// keys scan: find tokens of this library's format in files, like gitleaks
// for one format. Exit status 0: nothing found; 1: a well-formed token
// (without -db) or a live key (with -db); 2: a usage or runtime error,
// which wins, since an incomplete scan must not pass a CI job.

// exitStatus is an error that carries its own exit status, for keys scan,
// whose statuses differ from the other commands'. An empty err prints
// nothing.
type exitStatus struct {
	code int
	err  error
}

func (e exitStatus) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}

// finding is one token found in a file.
type finding struct {
	Path        string     `json:"path"`
	Line        int        `json:"line"`
	TokenHash   string     `json:"token_hash"`
	Redacted    string     `json:"redacted"`
	Environment string     `json:"environment"`
	Status      string     `json:"status"` // unchecked (no -db), live, revoked, unknown
	Key         *foundKey  `json:"key"`
	token       string     // the plaintext, for the store lookup only; never printed
	leak        *keys.Leak // what the store said
}

// foundKey is the key a token belongs to, with -db.
type foundKey struct {
	ID         string `json:"id"`
	AccountID  string `json:"account_id"`
	Kind       string `json:"kind"` // root or child
	RevokedNow bool   `json:"revoked_now"`
}

// scanResult is the whole -json output.
type scanResult struct {
	Findings      []*finding `json:"findings"`
	FilesScanned  int        `json:"files_scanned"`
	BinarySkipped int        `json:"binary_files_skipped"`
	Errors        []string   `json:"errors"`
}

type scanner struct {
	e   *env
	buf []byte
	res scanResult
}

func cmdScan(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("keys scan", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	db := fs.String("db", "", "check the tokens found against this database (SQLite file or postgres:// URL); default: offline")
	revoke := fs.Bool("revoke", false, "revoke every live key found (needs -db); a root key takes its whole account along")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printCommandUsage(e.stdout, fs)
			return flag.ErrHelp
		}
		return scanUsage(e, err.Error())
	}
	if *revoke && *db == "" {
		return scanUsage(e, "-revoke needs -db")
	}
	if *db != "" {
		if err := checkDSN(*db); err != nil {
			return scanUsage(e, oneLine(err))
		}
	}
	s := &scanner{e: e, buf: make([]byte, scanBufSize), res: scanResult{Findings: []*finding{}, Errors: []string{}}}
	if fs.NArg() == 0 {
		s.scanReader("(stdin)", e.stdin)
	}
	for _, p := range fs.Args() {
		if err := ctx.Err(); err != nil {
			return exitStatus{exitUsage, err}
		}
		s.scanPath(p)
	}
	if *db != "" && len(s.res.Findings) > 0 {
		if err := s.check(ctx, *db, *revoke); err != nil {
			return exitStatus{exitUsage, err}
		}
	}
	if err := s.print(*asJSON, *db != ""); err != nil {
		return exitStatus{exitUsage, err}
	}
	switch {
	case len(s.res.Errors) > 0:
		return exitStatus{code: exitUsage}
	case s.found(*db != ""):
		return exitStatus{code: exitFail}
	}
	return nil
}

// scanArgs is the synopsis of keys scan's arguments.
const scanArgs = "[-db DB [-revoke]] [-json] [PATH ...]"

// scanUsage reports a usage mistake with scan's own synopsis (the generic
// one would add -db and -json a second time): exit status 2.
func scanUsage(e *env, msg string) error {
	fmt.Fprintf(e.stderr, "keys: %s\nusage: keys scan %s\n", msg, scanArgs)
	return exitStatus{code: exitUsage}
}

// scanPath scans a file, or walks a directory skipping .git directories
// and anything that is not a regular file (symbolic links inside it
// included).
func (s *scanner) scanPath(root string) {
	if root == "-" {
		s.scanReader("(stdin)", s.e.stdin)
		return
	}
	// A symbolic link named on the command line is followed: a trailing
	// separator makes WalkDir resolve it.
	if info, err := os.Stat(root); err == nil && info.IsDir() && !strings.HasSuffix(root, string(filepath.Separator)) {
		root += string(filepath.Separator)
	}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			s.fail(path, err)
			return nil // WalkDir skips an unreadable directory by itself
		}
		if d.IsDir() {
			if d.Name() == ".git" && path != root {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() && path != root {
			return nil
		}
		s.scanFile(path)
		return nil
	})
	if err != nil {
		s.fail(root, err)
	}
}

func (s *scanner) scanFile(path string) {
	f, err := os.Open(path)
	if err != nil {
		s.fail(path, err)
		return
	}
	defer func() { _ = f.Close() }()
	s.scanReader(path, f)
}

func (s *scanner) scanReader(name string, r io.Reader) {
	err := findTokens(r, s.buf, func(tok []byte, line int) {
		if !keys.WellFormedToken(string(tok)) {
			return // the right shape by chance: no checksum, no token
		}
		token := string(tok)
		sum := sha256.Sum256(tok)
		s.res.Findings = append(s.res.Findings, &finding{
			Path: name, Line: line, TokenHash: hex.EncodeToString(sum[:]),
			Redacted: redact(token), Environment: token[3:7], Status: "unchecked", token: token,
		})
	})
	switch {
	case errors.Is(err, errBinary):
		s.res.BinarySkipped++
	case err != nil:
		s.fail(name, err)
	default:
		s.res.FilesScanned++
	}
}

// redact shows a token's environment and the first four characters of
// its 43-character secret part: enough to tell tokens apart, nothing to
// use.
func redact(token string) string { return token[:12] + "…" }

func (s *scanner) fail(path string, err error) {
	s.res.Errors = append(s.res.Errors, fmt.Sprintf("%s: %v", path, err))
}

// check looks every distinct token up in the database (revoking the live
// ones with revoke), one Manager per token environment found.
func (s *scanner) check(ctx context.Context, db string, revoke bool) error {
	if !isPostgres(db) {
		if _, err := os.Stat(db); err != nil {
			return fmt.Errorf("no database at %s", db)
		}
	}
	return withBackend(ctx, s.e, &common{db: db, env: "live"}, func(b *backend) error {
		for _, envName := range []string{"live", "test"} {
			m := b.m
			if b.m.TokenPrefix() != "sk_"+envName+"_" {
				// The configuration's pepper and tiers (open loaded it),
				// another environment.
				var cfg keys.Config
				s.e.conf.keysConfig(&cfg)
				cfg.Environment = envName
				other, err := keys.New(b.st, cfg)
				if err != nil {
					return err
				}
				defer func() { _ = other.Close() }()
				m = other
			}
			if err := s.checkWith(ctx, m, envName, revoke); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *scanner) checkWith(ctx context.Context, m *keys.Manager, envName string, revoke bool) error {
	var tokens []string
	index := map[string]int{}
	for _, f := range s.res.Findings {
		if f.Environment != envName {
			continue
		}
		if _, ok := index[f.token]; !ok {
			index[f.token] = len(tokens)
			tokens = append(tokens, f.token)
		}
	}
	if len(tokens) == 0 {
		return nil
	}
	var (
		rep keys.LeakReport
		err error
	)
	if revoke {
		rep, err = m.RevokeLeaked(ctx, tokens)
	} else {
		rep, err = m.FindLeaked(ctx, tokens)
	}
	if err != nil {
		return err
	}
	for _, f := range s.res.Findings {
		i, ok := index[f.token]
		if !ok {
			continue
		}
		l := rep.Tokens[i]
		f.leak = &l
		switch {
		case !l.Found:
			f.Status = "unknown"
			continue
		case l.Live:
			f.Status = "live"
		default:
			f.Status = "revoked"
		}
		kind := "child"
		if l.Key.IsRoot {
			kind = "root"
		}
		f.Key = &foundKey{ID: l.Key.ID.String(), AccountID: l.Key.AccountID, Kind: kind, RevokedNow: l.Revoked}
	}
	return nil
}

// found reports whether the scan found what fails it: any token offline,
// a live key with -db.
func (s *scanner) found(withDB bool) bool {
	for _, f := range s.res.Findings {
		if !withDB || f.Status == "live" {
			return true
		}
	}
	return false
}

func (s *scanner) print(asJSON, withDB bool) error {
	if asJSON {
		enc := json.NewEncoder(s.e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(s.res)
	}
	for _, f := range s.res.Findings {
		fmt.Fprintf(s.e.stdout, "%s:%d: %s sha256:%s %s\n", f.Path, f.Line, f.Redacted, f.TokenHash[:16], describe(f))
	}
	for _, msg := range s.res.Errors {
		fmt.Fprintf(s.e.stderr, "keys: scan: %s\n", msg)
	}
	live := 0
	for _, f := range s.res.Findings {
		if f.Status == "live" {
			live++
		}
	}
	summary := fmt.Sprintf("%d tokens found in %d files scanned (%d binary files skipped)",
		len(s.res.Findings), s.res.FilesScanned, s.res.BinarySkipped)
	if withDB {
		summary += fmt.Sprintf("; %d live", live)
	}
	fmt.Fprintf(s.e.stderr, "keys scan: %s\n", summary)
	return nil
}

func describe(f *finding) string {
	switch f.Status {
	case "unchecked":
		return "well-formed token (not checked against a database)"
	case "unknown":
		return "no such key in the database"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s key %s of account %q", f.Status, f.Key.Kind, f.Key.ID, f.Key.AccountID)
	if f.Key.RevokedNow {
		b.WriteString(": REVOKED NOW")
		if f.Key.Kind == "root" {
			b.WriteString(" with every key of the account (reissue to get a new root key)")
		}
	}
	return b.String()
}
