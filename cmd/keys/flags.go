package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// common are the flags every command takes.
type common struct {
	db   string
	json bool
}

// newFlags returns a flag set for the named command with -db and -json.
func newFlags(e *env, name string) (*flag.FlagSet, *common) {
	fs := flag.NewFlagSet("keys "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported once, by run
	c := &common{}
	def := e.getenv("KEYS_DB")
	if def == "" {
		def = "keys.db"
	}
	fs.StringVar(&c.db, "db", def, "SQLite file or postgres:// URL (default $KEYS_DB, else keys.db)")
	fs.BoolVar(&c.json, "json", false, "print JSON")
	fs.String("config", e.getenv("KEYS_CONFIG"), "TOML config file (default $KEYS_CONFIG; keys.example.toml lists every setting)")
	return fs, c
}

// parse parses args, turning flag errors into usage errors and refusing
// stray arguments.
func parse(fs *flag.FlagSet, e *env, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(e.stdout)
			fmt.Fprintf(e.stdout, "usage: %s [flags]\n", fs.Name())
			fs.PrintDefaults()
			return flag.ErrHelp
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	return applyConfig(fs, e)
}

// required reports the first of the named string flags left empty.
func required(pairs ...string) error {
	var missing []string
	for i := 0; i+1 < len(pairs); i += 2 {
		if strings.TrimSpace(pairs[i+1]) == "" {
			missing = append(missing, "-"+pairs[i])
		}
	}
	if len(missing) > 0 {
		return usagef("%s is required", strings.Join(missing, " and "))
	}
	return nil
}
