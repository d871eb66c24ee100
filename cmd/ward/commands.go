package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"golang.org/x/term"
	"maunium.net/go/mautrix"

	"ward/accounts"
	"ward/internal/config"
	"ward/internal/db"
	"ward/internal/server"
)

// newFlags returns a flag set for one command that reports its mistakes to
// stderr and leaves the exit to run's caller.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("ward "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parse parses args; asking for help is not an error.
func parse(fs *flag.FlagSet, args []string) (help bool, err error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		return false, errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		fs.Usage()
		return false, errUsage
	}
	return false, nil
}

func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", "", "YAML configuration `file` (default: $WARD_CONFIG, else built-in defaults)")
}

// loadConfig loads the configuration from path (or $WARD_CONFIG) and the
// environment, and reports every problem of the file, the environment and
// the values together. The configuration is returned even when invalid, so
// that --print-config can show it beside the problems.
func loadConfig(path string, getenv func(string) string) (config.Config, error) {
	if path == "" {
		path = getenv("WARD_CONFIG")
	}
	cfg, err := config.Load(path, getenv)
	return cfg, invalid(err)
}

// unread reports whether some value of the configuration could not be read
// at all, so that the configuration in hand is not the one written.
func unread(err error) bool {
	var ce *configError
	if !errors.As(err, &ce) {
		return err != nil
	}
	for _, p := range ce.problems {
		if p.Unread {
			return true
		}
	}
	return false
}

// invalid words Load's result for an operator: every problem on a line of
// its own.
func invalid(err error) error {
	ps := config.Problems(err)
	if len(ps) == 0 {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "invalid configuration (%d problem", len(ps))
	if len(ps) > 1 {
		b.WriteString("s")
	}
	b.WriteString("):")
	for _, p := range ps {
		fmt.Fprintf(&b, "\n  %s: %s", p.Key, p.Reason)
	}
	return &configError{msg: b.String(), problems: ps}
}

// configError is a worded configuration error that keeps its problems.
type configError struct {
	msg      string
	problems []config.Problem
}

func (e *configError) Error() string { return e.msg }

// newLogger logs to w at the configured level and format. Handlers and
// domain packages log structured fields; none of them may be a token, a
// password or message content.
func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serve runs the homeserver until ctx ends (SIGINT or SIGTERM), then shuts
// down gracefully within shutdown_timeout.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	path := configFlag(fs)
	printConfig := fs.Bool("print-config", false, "print the effective configuration (secrets redacted) and exit")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	cfg, err := loadConfig(*path, getenv)
	if *printConfig {
		// A value that could not be read would print as its default: show
		// only the problems then, never a configuration nobody wrote.
		if !unread(err) {
			if perr := cfg.Print(stdout); perr != nil {
				return perr
			}
		}
		return err
	}
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	if cfg.MemoryLimitBytes > 0 && getenv("GOMEMLIMIT") == "" {
		// A soft limit: the collector works harder as the heap nears it,
		// which keeps the peak small under bursts of short-lived garbage.
		debug.SetMemoryLimit(cfg.MemoryLimitBytes)
	}
	s, err := server.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	if err := s.Start(s.Handler(nil)); err != nil {
		return errors.Join(err, s.Shutdown(context.Background()))
	}
	attrs := []any{"addr", s.Addr(), "server_name", cfg.ServerName, "base_url", cfg.BaseURL(),
		"database", dialectOf(cfg.Database), "registration", cfg.Registration, "version", version}
	if u := s.MetricsURL(); u != "" {
		attrs = append(attrs, "metrics", u+"/metrics")
	}
	log.Info("listening", attrs...)

	<-ctx.Done()
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// dialectOf names the database kind for the log, never the DSN (it may
// hold a password).
func dialectOf(dsn string) string {
	if db.IsPostgres(dsn) {
		return "postgres"
	}
	return "sqlite"
}

// migrate applies the embedded migrations not yet applied and says which.
func migrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("migrate", stderr)
	path := configFlag(fs)
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	cfg, err := loadConfig(*path, getenv)
	if err != nil {
		return err
	}
	d, err := db.Open(ctx, cfg.Database)
	if err != nil {
		return config.ScrubDSN(err, cfg.Database)
	}
	defer d.Close()
	applied, err := d.Migrate(ctx)
	for _, name := range applied {
		fmt.Fprintln(stdout, "applied", name)
	}
	if err != nil {
		return config.ScrubDSN(fmt.Errorf("migrate: %w", err), cfg.Database)
	}
	if len(applied) == 0 {
		fmt.Fprintf(stdout, "the %s database is up to date\n", d.Dialect)
	}
	return nil
}

// admin runs the operator's commands that act on the database directly.
func admin(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if handled, err := adminAudit(ctx, args, getenv, stdout, stderr); handled {
		return err
	}
	if len(args) >= 2 && args[0] == "user" && args[1] == "create" {
		return adminUserCreate(ctx, args[2:], getenv, stdin, stdout, stderr)
	}
	if handled, err := adminPolicy(ctx, args, getenv, stdout, stderr); handled {
		return err
	}
	fmt.Fprint(stderr, adminHelp(args))
	return errUsage
}

// adminHelp answers an incomplete or unknown `ward admin` command with the
// commands that start like it: `ward admin user` lists `ward admin user
// create`, `ward admin` lists them all.
func adminHelp(args []string) string {
	for n := len(args); n >= 0; n-- {
		prefix := strings.Join(append([]string{"ward", "admin"}, args[:n]...), " ")
		var lines []string
		for _, l := range strings.Split(usage, "\n") {
			// Skip the summaries (ward admin roster|role|…).
			_, after, ok := strings.Cut(l+" ", prefix+" ")
			if next, _, _ := strings.Cut(after, " "); ok && !strings.Contains(next, "|") {
				lines = append(lines, l)
			}
		}
		if len(lines) == 0 {
			continue
		}
		var b strings.Builder
		switch {
		case n == len(args):
			fmt.Fprintf(&b, "%s: needs a command, one of:\n", prefix)
		default:
			fmt.Fprintf(&b, "%s: unknown command %q; the commands are:\n", prefix, strings.Join(args[n:], " "))
		}
		for _, l := range lines {
			b.WriteString(l + "\n")
		}
		return b.String()
	}
	return usage
}

func adminUserCreate(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("admin user create", stderr)
	path := configFlag(fs)
	localpart := fs.String("user", "", "`localpart` of the new user (the user ID is @localpart:server_name)")
	password := fs.String("password", "", "the new user's password (default: the first line of standard input; prefer it, a flag shows in the process list)")
	isAdmin := fs.Bool("admin", false, "make the user a server admin")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	if *localpart == "" {
		fmt.Fprintln(stderr, "ward admin user create: --user is required")
		fs.Usage()
		return errUsage
	}
	cfg, err := loadConfig(*path, getenv)
	if err != nil {
		return err
	}
	pw := *password
	if pw == "" {
		pw, err = readPassword(stdin, stderr)
		if err != nil {
			return fmt.Errorf("read password from standard input: %w", err)
		}
		if pw == "" {
			return errors.New("no password: give --password or write it on standard input")
		}
	}
	// The same check as every other way of setting a password, made
	// before the database is opened.
	if err := accounts.CheckNewPassword(pw); err != nil {
		var re mautrix.RespError
		if errors.As(err, &re) {
			return errors.New(re.Err)
		}
		return err
	}
	s, err := openExisting(ctx, cfg, newLogger(cfg, stderr), stderr)
	if err != nil {
		return err
	}
	defer s.Shutdown(context.Background()) //nolint:errcheck // nothing was started; this closes the database
	userID, err := s.Accounts.CreateUser(ctx, *localpart, pw, *isAdmin)
	if err != nil {
		return fmt.Errorf("create user %s: %w", *localpart, err)
	}
	role := "user"
	if *isAdmin {
		role = "admin"
	}
	fmt.Fprintf(stdout, "created %s %s\n", role, userID)
	return nil
}

// readLine reads one line, without its line ending.
func readLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		if errors.Is(err, io.EOF) {
			return "", nil
		}
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// readPassword reads the password: from a terminal without echo, after a
// prompt on stderr; from a pipe or file, as its first line.
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	f, ok := stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return readLine(stdin)
	}
	fmt.Fprint(stderr, "Password (not shown): ")
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(stderr)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// openExisting opens the server for an admin command, on the database the
// running server uses and never on a new one: a relative SQLite path
// resolved from another folder, or a wrong --config, would otherwise make
// and migrate an empty database that the server never sees, and the
// command would report a success nobody benefits from. When the path is
// relative, the file it resolved to is named on stderr.
func openExisting(ctx context.Context, cfg config.Config, log *slog.Logger, stderr io.Writer) (*server.Server, error) {
	const how = `admin commands work on the database of "ward serve" and never create one: ` +
		`run them in the folder where "ward serve" runs, or give the same --config or WARD_DATABASE`
	if path := db.SQLitePath(cfg.Database); path != "" {
		abs, err := filepath.Abs(path)
		if err != nil {
			abs = path
		}
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no database at %s: %s", abs, how)
		} else if err != nil {
			return nil, fmt.Errorf("database %s: %w", abs, err)
		}
		if !filepath.IsAbs(path) {
			fmt.Fprintf(stderr, "ward: database %s\n", abs)
		}
	}
	d, err := db.Open(ctx, cfg.Database)
	if err != nil {
		return nil, config.ScrubDSN(err, cfg.Database)
	}
	ok, err := d.HasSchema(ctx)
	d.Close()
	if err != nil {
		return nil, config.ScrubDSN(err, cfg.Database)
	}
	if !ok {
		name := config.RedactDSN(cfg.Database)
		if path := db.SQLitePath(cfg.Database); path != "" {
			if abs, err := filepath.Abs(path); err == nil {
				name = abs
			}
		}
		return nil, fmt.Errorf("the database %s holds no Ward data (no server has run on it): %s", name, how)
	}
	return server.New(ctx, cfg, log)
}
