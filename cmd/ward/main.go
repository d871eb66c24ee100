// Command ward is the Ward homeserver: `ward serve`, `ward migrate`,
// `ward admin user create`, `ward version`.
//
// main only adapts the process (arguments, environment, signals, exit code)
// to run, so that tests call run exactly as an operator's shell does.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"ward/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Environ(), os.Stdin, os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, errUsage):
		if err != errUsage {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "ward:", err)
		os.Exit(1)
	}
}

// errUsage means the command line was wrong; the usage has been printed.
var errUsage = errors.New("usage")

// usageError is a wrong command line with the reason to print; it exits
// like errUsage (status 2).
type usageError struct{ msg string }

func (e *usageError) Error() string        { return e.msg }
func (e *usageError) Is(target error) bool { return target == errUsage }

// badUsage is a usageError worded like fmt.Sprintf.
func badUsage(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// version is set at build time: -ldflags "-X main.version=…".
var version = "dev"

const usage = `Ward, a Matrix homeserver for clinics.

Usage:
  ward serve   [--config FILE] [--print-config]
  ward migrate [--config FILE]
  ward admin user create --user LOCALPART [--password P] [--admin] [--config FILE]
  ward admin roster|role|team|assign|unassign|assignment|token … (clinic policy, below)
  ward admin audit verify|checkpoint|export|truncate … (audit trail, below)
  ward version
  ward help

Without --config, the file named by WARD_CONFIG is read, if set. Every key
can also be set by an environment variable: key foo_bar from WARD_FOO_BAR.
admin user create reads the password (at least 8 characters) from standard
input when --password is not given: typed without echo on a terminal, else
the first line.

` + adminPolicyUsage + "\n" + adminAuditUsage

// run is the whole program. It reads the environment only from environ
// (KEY=value pairs) and standard input only through stdin.
func run(ctx context.Context, args []string, environ []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	vars := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	getenv := func(k string) string { return vars[k] }
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve", "migrate", "admin":
		warnUnknownEnv(environ, stderr)
	}
	switch cmd {
	case "serve":
		return serve(ctx, rest, getenv, stdout, stderr)
	case "migrate":
		return migrate(ctx, rest, getenv, stdout, stderr)
	case "admin":
		return admin(ctx, rest, getenv, stdin, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "ward", version)
		return nil
	case "help", "--help", "-help", "-h":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "ward: unknown command %q\n\n%s", cmd, usage)
		return errUsage
	}
}

// warnUnknownEnv warns about WARD_* variables that set nothing: a
// misspelt one would otherwise be ignored without a word. Only a warning:
// the environment may hold variables meant for another version.
func warnUnknownEnv(environ []string, stderr io.Writer) {
	names, meant := config.UnknownEnv(environ)
	for i, name := range names {
		hint := ""
		if meant[i] != "" {
			hint = " (did you mean " + meant[i] + "?)"
		}
		fmt.Fprintf(stderr, "ward: warning: the environment variable %s sets no configuration key and is ignored%s\n", name, hint)
	}
}
