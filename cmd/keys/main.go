package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/keyward/keys"
)

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}

// env is what a command may touch of the outside world, so tests can run
// commands in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	conf           *config // the merged -config file, environment and flags, set by parse
}

// usageError marks a mistake in how the command was called: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// command is one subcommand: its flags and what it does.
type command struct {
	name, args, help string
	run              func(ctx context.Context, e *env, args []string) error
}

func commands() []command {
	return []command{
		{"serve", "[-config FILE] [-print-config] [-addr ADDR] [-db DB] [-env ENV] [-cache-ttl D] [-lookup-rate N] [-demo auto|true|false] [-jwt-secret S | -jwks-url URL -jwt-issuer ISS -jwt-audience AUD [-jwt-type T] [-jwt-account-claim C]] [-cors-origins O,…] [-trusted-proxies CIDR,…] [-redis URL] [-ui] [-log-format text|json]", "run the key server", cmdServe},
		{"account create", "-id ID [-tier TIER] [-verified]", "create an account (and the database, if it does not exist)", cmdAccountCreate},
		{"account verify", "-id ID", "mark an account's email verified", cmdAccountVerify},
		{"account tier", "-id ID -tier TIER", "change an account's tier", cmdAccountTier},
		{"account show", "-id ID", "show an account", cmdAccountShow},
		{"account list", "[-limit N] [-after ID]", "list the accounts, a page at a time, in order of ID", cmdAccountList},
		{"reissue", "-account ID [-grace DURATION] [-if-root KEY_ID|none]", "issue a new root key, revoking the old one and every child (now, or after -grace)", cmdReissue},
		{"child", "-account ID [-name N] [-expires RFC3339|DURATION] [-rpm N] [-quota N] [-scope S]... [-meta K=V]... [-allow-net CIDR]...", "issue a child key", cmdChild},
		{"revoke", "-id KEY_ID", "revoke a key (a root key takes its children along)", cmdRevoke},
		{"list", "-account ID", "list an account's keys", cmdList},
		{"show", "-id KEY_ID", "show a key", cmdShow},
		{"inspect", "< TOKEN", "read a token from standard input and show its key or why it fails", cmdInspect},
		{"prune", "-older-than DURATION", "delete keys revoked at least DURATION (2160h = 90 days) ago", cmdPrune},
		{"audit", "-account ID [-limit N] [-cursor C]", "show an account's audit trail, newest first", cmdAudit},
		{"scan", scanArgs, "find leaked tokens in files (exit 1 if found)", cmdScan},
		{"usage", "-account ID [-month YYYY-MM]", "show an account's and its keys' request counts for a month", cmdUsage},
		{"update", "-id KEY_ID [-name N] [-meta K=V]... [-no-meta]", "rename a key or replace its metadata", cmdUpdate},
	}
}

// commandNamed returns the command called name ("account create").
func commandNamed(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// run runs the command named by args and returns the exit status.
func run(ctx context.Context, args []string, e *env) int {
	cmd, rest, err := lookup(args)
	if err == nil {
		err = cmd.run(operatorContext(ctx), e, rest)
	}
	var ue usageError
	var xs exitStatus
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &xs):
		if xs.err != nil {
			fmt.Fprintf(e.stderr, "keys: %s\n", oneLine(xs.err))
		}
		return xs.code
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errQuietUsage):
		return exitUsage
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "keys: %s\n", ue.msg)
		switch {
		case cmd.name == "":
			printUsage(e.stderr)
		case cmd.args != "":
			fmt.Fprintf(e.stderr, "usage: keys %s %s   (keys help %s: every flag)\n", cmd.name, cmd.args, cmd.name)
		}
		return exitUsage
	case errors.Is(err, keys.ErrInvalidArgument):
		// An argument the library refused (a rate above the tier's, say):
		// still bad input, so exit 2 like its siblings caught earlier.
		fmt.Fprintf(e.stderr, "keys: %s\n", oneLine(err))
		return exitUsage
	default:
		fmt.Fprintf(e.stderr, "keys: %s\n", oneLine(err))
		return exitFail
	}
}

// lookup finds the command args name. Flags every command takes may come
// before the command's name; they are passed on to it.
func lookup(args []string) (command, []string, error) {
	globals, args, err := hoistGlobals(args)
	if err != nil {
		return command{}, nil, err
	}
	if len(args) == 0 {
		return command{}, nil, usagef("no command given")
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			return helpFor(args[1:])
		}
		return command{args: "", run: func(_ context.Context, e *env, _ []string) error {
			printUsage(e.stdout)
			return nil
		}}, nil, nil
	}
	for _, c := range commands() {
		words := len(strings.Fields(c.name))
		if len(args) >= words && strings.Join(args[:words], " ") == c.name {
			return c, append(globals, args[words:]...), nil
		}
	}
	if args[0] == "account" {
		return accountUsage(at(args, 1), false)
	}
	return command{}, nil, usagef("unknown command %q", args[0])
}

// helpFor is `keys help CMD`: the command's full usage, on standard output.
func helpFor(words []string) (command, []string, error) {
	name := strings.Join(words, " ")
	if c, ok := commandNamed(name); ok {
		// Every command parses its flags before anything else, and -h
		// makes it print its usage and stop.
		return c, []string{"-h"}, nil
	}
	if name == "account" {
		return accountUsage("", true)
	}
	return command{}, nil, usagef("help: unknown command %q", name)
}

// accountUsage answers `keys account` without a known subcommand: the
// list of them, as an error (exit 2) unless asked for with help.
func accountUsage(sub string, asked bool) (command, []string, error) {
	list := func(w io.Writer) {
		fmt.Fprintln(w, "usage: keys account SUBCOMMAND [flags]")
		for _, c := range commands() {
			if strings.HasPrefix(c.name, "account ") {
				fmt.Fprintf(w, "  keys %-15s %s\n      %s\n", c.name, c.args, c.help)
			}
		}
	}
	if asked {
		return command{run: func(_ context.Context, e *env, _ []string) error {
			list(e.stdout)
			return nil
		}}, nil, nil
	}
	// run prints a usage error's message; the list follows it.
	return command{name: "account", run: func(_ context.Context, e *env, _ []string) error {
		msg := "account needs a subcommand: create, verify, tier or show"
		if sub != "" {
			msg = fmt.Sprintf("unknown account command %q: want create, verify, tier, show or list", sub)
		}
		fmt.Fprintf(e.stderr, "keys: %s\n", msg)
		list(e.stderr)
		return errQuietUsage
	}}, nil, nil
}

// errQuietUsage is a usage error whose message the command printed itself.
var errQuietUsage = errors.New("usage already printed")

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: keys COMMAND [flags]   (every command takes -db DB and -env ENV; all but serve take -json)")
	fmt.Fprintln(w, "       keys help COMMAND       (every flag of a command)")
	for _, c := range commands() {
		fmt.Fprintf(w, "  keys %-15s %s\n      %s\n", c.name, c.args, c.help)
	}
}
