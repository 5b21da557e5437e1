package sqlitestore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// lockBudget is how long a connection waits for a lock another connection
// holds (SQLite's busy timeout) and how long Open keeps retrying the switch
// to WAL (ensureWAL). It is a variable only so that this package's tests
// can lengthen it (export_test.go says why); nothing else changes it.
var lockBudget = 5 * time.Second

// writerParams are the writer's connection parameters, in the DSN so that
// every pooled connection gets them, not only the first. Writes are
// immediate transactions: a deferred one that reads and then writes fails
// with SQLITE_BUSY at once if another process wrote in between, instead of
// waiting out the busy timeout. The journal mode is not here: it is a
// property of the file, set once by ensureWAL, which explains why.
func writerParams() string {
	return fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=synchronous(FULL)"+
		"&_pragma=foreign_keys(ON)&_txlock=immediate", lockBudget.Milliseconds())
}

// readerParams are the readers' connection parameters. Readers refuse
// writes outright, so a mistake cannot bypass the writer's serialisation.
func readerParams() string {
	return fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=foreign_keys(ON)&_pragma=query_only(ON)", lockBudget.Milliseconds())
}

// sqliteHeader starts every SQLite database file.
var sqliteHeader = []byte("SQLite format 3\x00")

// checkPath turns path into a file: URI after ruling out, with a clear
// error, what SQLite would only report obscurely (or not at all, creating a
// file where none was meant to be).
func checkPath(path string) (string, error) {
	fail := func(format string, args ...any) (string, error) {
		return "", fmt.Errorf("sqlitestore: open %q: "+format, append([]any{path}, args...)...)
	}
	switch path {
	case "":
		return fail("empty path")
	case ":memory:":
		return fail("in-memory databases are not supported (each pooled connection would get its own); use memstore")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fail("%w", err)
	}
	dir := filepath.Dir(abs)
	switch st, err := os.Stat(dir); {
	case errors.Is(err, fs.ErrNotExist):
		return fail("directory %s does not exist", dir)
	case err != nil:
		return fail("%w", err)
	case !st.IsDir():
		return fail("%s is not a directory", dir)
	}
	switch st, err := os.Stat(abs); {
	case errors.Is(err, fs.ErrNotExist):
		// SQLite creates it.
	case err != nil:
		return fail("%w", err)
	case st.IsDir():
		return fail("is a directory")
	default:
		if err := checkFile(abs); err != nil {
			return fail("%w", err)
		}
	}
	// SQLite URIs want a path that starts with a slash, "/C:/..." on
	// Windows; url.URL escapes the characters ('?', '#', '%') that would
	// otherwise end the path.
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return (&url.URL{Scheme: "file", Path: p}).String(), nil
}

// checkFile rules out an existing file that SQLite could not write or that
// is not a SQLite database (an empty file is fine: SQLite initialises it).
func checkFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrPermission) {
		return errors.New("the file is not writable by this process (keys need a read-write database)")
	}
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, len(sqliteHeader))
	n, err := io.ReadFull(f, head)
	switch {
	case n == 0 && (err == io.EOF):
		return nil
	case errors.Is(err, io.ErrUnexpectedEOF) || (err == nil && !bytes.Equal(head, sqliteHeader)):
		return errors.New("not a SQLite database file")
	case err != nil:
		return err
	}
	return nil
}

// describe adds a plain explanation to the SQLite errors a bad file gives
// when it gets past checkPath (for example, one replaced in between).
func describe(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_NOTADB:
		return fmt.Errorf("not a SQLite database file: %w", err)
	case sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM:
		return fmt.Errorf("the database is read-only for this process: %w", err)
	case sqlite3.SQLITE_CANTOPEN:
		return fmt.Errorf("cannot open the database file: %w", err)
	}
	return err
}
