package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
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
		{"serve", "[-addr ADDR] [-jwt-secret S]", "run the key server", cmdServe},
		{"account create", "-id ID [-tier TIER] [-verified]", "create an account", cmdAccountCreate},
		{"account verify", "-id ID", "mark an account's email verified", cmdAccountVerify},
		{"account tier", "-id ID -tier TIER", "change an account's tier", cmdAccountTier},
		{"account show", "-id ID", "show an account", cmdAccountShow},
		{"reissue", "-account ID [-grace DURATION] [-if-root KEY_ID|none]", "issue a new root key, revoking the old one and every child (now, or after -grace)", cmdReissue},
		{"child", "-account ID [-name N] [-expires RFC3339|DURATION] [-rpm N] [-quota N] [-scope S]... [-meta K=V]... [-allow-net CIDR]...", "issue a child key", cmdChild},
		{"revoke", "-id KEY_ID", "revoke a key (a root key takes its children along)", cmdRevoke},
		{"list", "-account ID", "list an account's keys", cmdList},
		{"show", "-id KEY_ID", "show a key", cmdShow},
		{"inspect", "< TOKEN", "read a token from standard input and show its key or why it fails", cmdInspect},
		{"usage", "-account ID [-month YYYY-MM]", "show an account's and its keys' request counts for a month", cmdUsage},
		{"update", "-id KEY_ID [-name N] [-meta K=V]... [-no-meta]", "rename a key or replace its metadata", cmdUpdate},
	}
}

// run runs the command named by args and returns the exit status.
func run(ctx context.Context, args []string, e *env) int {
	cmd, rest, err := lookup(args)
	if err == nil {
		err = cmd.run(ctx, e, rest)
	}
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "keys: %s\n", ue.msg)
		if cmd.name == "" {
			printUsage(e.stderr)
		} else {
			fmt.Fprintf(e.stderr, "usage: keys %s %s [-db DB] [-json]\n", cmd.name, cmd.args)
		}
		return exitUsage
	default:
		fmt.Fprintf(e.stderr, "keys: %s\n", oneLine(err))
		return exitFail
	}
}

func lookup(args []string) (command, []string, error) {
	if len(args) == 0 {
		return command{}, nil, usagef("no command given")
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		return command{run: func(_ context.Context, e *env, _ []string) error {
			printUsage(e.stdout)
			return nil
		}}, nil, nil
	}
	for _, c := range commands() {
		words := len(splitWords(c.name))
		if len(args) >= words && join(args[:words]) == c.name {
			return c, args[words:], nil
		}
	}
	if args[0] == "account" {
		return command{}, nil, usagef("unknown account command %q: want create, verify, tier or show", at(args, 1))
	}
	return command{}, nil, usagef("unknown command %q", args[0])
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: keys COMMAND [flags]   (every command takes -db DB and -json)")
	for _, c := range commands() {
		fmt.Fprintf(w, "  keys %-15s %s\n      %s\n", c.name, c.args, c.help)
	}
}
