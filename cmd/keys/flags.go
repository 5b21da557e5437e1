package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// common are the flags every command takes (serve: all but -json).
type common struct {
	db   string
	json bool
	env  string
}

// newFlags returns a flag set for the named command with -db, -env and
// -json.
func newFlags(e *env, name string) (*flag.FlagSet, *common) {
	fs, c := newFlagsNoJSON(e, name)
	fs.BoolVar(&c.json, "json", false, "print JSON")
	return fs, c
}

// newFlagsNoJSON is newFlags for a command that prints no data (serve):
// a -json there would do nothing, so it is refused rather than accepted.
func newFlagsNoJSON(e *env, name string) (*flag.FlagSet, *common) {
	fs := flag.NewFlagSet("keys "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported once, by run
	c := &common{}
	// The defaults are filled in by parse, so that -h states each once, in
	// words, rather than also quoting the value it happens to have.
	fs.StringVar(&c.db, "db", "", "SQLite file, postgres:// URL or host=… dbname=… DSN (default $KEYS_DB, else keys.db)")
	fs.StringVar(&c.env, "env", "", "live or test: the environment of the database's keys, sk_live_ or sk_test_ (default $KEYS_ENVIRONMENT, else live)")
	fs.String("config", "", "TOML config file (default $KEYS_CONFIG; keys.example.toml lists every setting)")
	return fs, c
}

// parse parses args, turning flag errors into usage errors, refusing
// stray arguments, and filling in the defaults of -db and -env. On -h it
// prints the command's full usage to standard output and returns
// flag.ErrHelp.
func parse(fs *flag.FlagSet, e *env, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printCommandUsage(e.stdout, fs)
			return flag.ErrHelp
		}
		if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: "); ok {
			cmd := strings.TrimPrefix(fs.Name(), "keys ")
			return usagef("%s takes no flag %s (see: keys help %s)", cmd, name, cmd)
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	if err := applyConfig(fs, e); err != nil {
		return err
	}
	defaults := map[string][2]string{"db": {"KEYS_DB", "keys.db"}, "env": {"KEYS_ENVIRONMENT", "live"}}
	for name, d := range defaults {
		f := fs.Lookup(name)
		if f == nil || f.Value.String() != "" {
			continue
		}
		v := e.getenv(d[0])
		if v == "" {
			v = d[1]
		}
		if err := f.Value.Set(v); err != nil {
			return usagef("$%s: %v", d[0], err)
		}
	}
	if f := fs.Lookup("env"); f != nil {
		if v := f.Value.String(); v != "live" && v != "test" {
			return usagef("-env %q: want live or test", v)
		}
	}
	// The config keeps what the command will use, defaults included.
	if f := fs.Lookup("db"); f != nil {
		e.conf.Database = f.Value.String()
	}
	if f := fs.Lookup("env"); f != nil {
		e.conf.Environment = f.Value.String()
	}
	if f := fs.Lookup("db"); f != nil {
		return checkDSN(f.Value.String())
	}
	return nil
}

// printCommandUsage prints the synopsis, the description and every flag of
// the command whose flag set fs is.
func printCommandUsage(w io.Writer, fs *flag.FlagSet) {
	name := strings.TrimPrefix(fs.Name(), "keys ")
	if c, ok := commandNamed(name); ok {
		fmt.Fprintf(w, "usage: keys %s %s\n\n%s.\n\nflags:\n", c.name, c.args, capitalise(c.help))
	} else {
		fmt.Fprintf(w, "usage: %s [flags]\n\nflags:\n", fs.Name())
	}
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// required reports the first of the named string flags left empty.
func required(pairs ...string) error {
	var missing []string
	for i := 0; i+1 < len(pairs); i += 2 {
		if strings.TrimSpace(pairs[i+1]) == "" {
			missing = append(missing, "-"+pairs[i])
		}
	}
	switch len(missing) {
	case 0:
	case 1:
		return usagef("%s is required", missing[0])
	default:
		return usagef("%s are required", strings.Join(missing, " and "))
	}
	return nil
}

// hoistGlobals splits the flags given before the command (keys -json list
// …) from the rest of args. Only the flags every command takes may come
// first; they are handed to the command's own flag set, which checks them
// (serve refuses -json there as anywhere).
func hoistGlobals(args []string) (globals, rest []string, err error) {
	for len(args) > 0 && strings.HasPrefix(args[0], "-") && args[0] != "-" {
		a := args[0]
		if a == "--" {
			return globals, args[1:], nil
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch name {
		case "h", "help":
			return nil, []string{"help"}, nil
		case "json":
			globals, args = append(globals, a), args[1:]
		case "db", "env":
			if hasValue {
				globals, args = append(globals, a), args[1:]
				continue
			}
			if len(args) < 2 {
				return nil, nil, usagef("flag needs an argument: %s", a)
			}
			globals, args = append(globals, a, args[1]), args[2:]
		default:
			return nil, nil, usagef("%s before the command: only -db, -env and -json may come first", a)
		}
	}
	return globals, args, nil
}
