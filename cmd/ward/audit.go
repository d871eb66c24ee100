package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"ward/audit"
	"ward/internal/server"
)

const adminAuditUsage = `Audit trail:
  ward admin audit verify [--checkpoint SEQ:HASH]   walk the hash chain; exit 1 when broken
  ward admin audit checkpoint                       print the head (SEQ:HASH) to keep elsewhere
  ward admin audit export [--format jsonl|csv] [--user U] [--room R] [--action A|prefix*]
                          [--outcome allowed|denied|failed] [--since T] [--until T] [--after SEQ]
                          [--limit N] [--out FILE]
  ward admin audit truncate --before T              remove older entries through a signed truncation
  (T: RFC 3339 time, or a duration ago such as 720h)
`

// errBrokenTrail makes `ward admin audit verify` exit non-zero.
var errBrokenTrail = errors.New("the audit trail is broken")

// adminAudit runs `ward admin audit …`; handled is false for other commands.
func adminAudit(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (handled bool, err error) {
	if len(args) == 0 || args[0] != "audit" {
		return false, nil
	}
	if len(args) < 2 {
		fmt.Fprint(stderr, adminAuditUsage)
		return true, errUsage
	}
	sub, rest := args[1], args[2:]
	fs := newFlags("admin audit "+sub, stderr)
	path := configFlag(fs)
	var run func(ctx context.Context, s *server.Server, actor audit.Entry) error
	switch sub {
	case "verify":
		cp := fs.String("checkpoint", "", "a head printed earlier by `ward admin audit checkpoint` (`SEQ:HASH`): detects a truncated tail")
		run = func(ctx context.Context, s *server.Server, e audit.Entry) error {
			var kept *audit.Checkpoint
			if *cp != "" {
				c, err := audit.ParseCheckpoint(*cp)
				if err != nil {
					return err
				}
				kept = &c
			}
			rep, err := s.Audit.Verify(ctx, kept)
			if err != nil {
				return err
			}
			e.Action, e.Detail = audit.ActionAuditVerify, map[string]string{"result": rep.String()}
			if !rep.OK {
				e.Outcome = audit.Failed
			}
			fmt.Fprintln(stdout, rep.String())
			if err := s.Audit.RecordAlone(ctx, e); err != nil {
				return err
			}
			if !rep.OK {
				return errBrokenTrail
			}
			return nil
		}
	case "checkpoint":
		run = func(ctx context.Context, s *server.Server, e audit.Entry) error {
			head, err := s.Audit.Head(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, head.String())
			return nil
		}
	case "export":
		format := fs.String("format", "jsonl", "`jsonl` (JSON Lines) or csv")
		var f audit.Filter
		var since, until string
		fs.StringVar(&f.User, "user", "", "only entries whose actor or target is this `user ID`")
		fs.StringVar(&f.Room, "room", "", "only entries of this `room ID`")
		fs.StringVar(&f.Action, "action", "", "only this `action` (or a prefix ending in *)")
		outcome := fs.String("outcome", "", "only this `outcome` (allowed, denied, failed)")
		fs.StringVar(&since, "since", "", "only entries at or after this `time`")
		fs.StringVar(&until, "until", "", "only entries before this `time`")
		fs.Int64Var(&f.After, "after", 0, "only entries after this sequence number")
		limit := fs.Int("limit", 0, "at most this many entries (0: all)")
		out := fs.String("out", "", "write to this `file` instead of standard output")
		run = func(ctx context.Context, s *server.Server, e audit.Entry) error {
			fm, err := audit.ParseFormat(*format)
			if err != nil {
				return err
			}
			f.Outcome = audit.Outcome(*outcome)
			if f.Since, err = parseWhen(since); err != nil {
				return err
			}
			if f.Until, err = parseWhen(until); err != nil {
				return err
			}
			w := stdout
			if *out != "" {
				file, err := os.OpenFile(*out, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
				if err != nil {
					return err
				}
				defer file.Close()
				w = file
			}
			// The read is recorded before the entries are handed out.
			e.Action, e.Detail = audit.ActionAuditRead, f.Describe()
			e.Detail["format"] = string(fm)
			if err := s.Audit.RecordAlone(ctx, e); err != nil {
				return err
			}
			if *limit > 0 {
				x, err := audit.NewExporter(w, fm)
				if err != nil {
					return err
				}
				f.Limit = *limit
				page, _, err := s.Audit.Query(ctx, f)
				if err != nil {
					return err
				}
				for _, en := range page {
					if err := x.Write(en); err != nil {
						return err
					}
				}
				return x.Flush()
			}
			_, err = s.Audit.Export(ctx, w, fm, f)
			return err
		}
	case "truncate":
		before := fs.String("before", "", "remove entries older than this `time` (RFC 3339, or a duration ago such as 720h)")
		run = func(ctx context.Context, s *server.Server, e audit.Entry) error {
			t, err := parseWhen(*before)
			if err != nil || t.IsZero() {
				return fmt.Errorf("--before is required: %w", errUsage)
			}
			ctx = audit.WithRequest(ctx, &audit.Request{User: e.ActorUser})
			n, err := s.Audit.Truncate(ctx, t, "ward admin audit truncate")
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "removed %d entries older than %s through a signed truncation\n", n, t.UTC().Format(time.RFC3339))
			return nil
		}
	default:
		fmt.Fprintf(stderr, "ward admin audit: unknown command %q\n\n%s", sub, adminAuditUsage)
		return true, errUsage
	}
	if help, err := parse(fs, rest); help || err != nil {
		return true, err
	}
	cfg, err := loadConfig(*path, getenv)
	if err != nil {
		return true, err
	}
	s, err := openExisting(ctx, cfg, newLogger(cfg, stderr), stderr)
	if err != nil {
		return true, err
	}
	defer s.Shutdown(context.Background()) //nolint:errcheck // nothing was started; this closes the database
	return true, run(ctx, s, audit.Entry{ActorUser: auditCLIActor(getenv), Detail: map[string]string{}})
}

// auditCLIActor names the command line, and the operating-system account
// that ran it, as the actor of what it records.
func auditCLIActor(getenv func(string) string) string {
	who := getenv("USER")
	if who == "" {
		who = "unknown"
	}
	return "ward admin (command line, " + who + ")"
}

// parseWhen reads an RFC 3339 time, or a duration meaning that long ago;
// "" is the zero time.
func parseWhen(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration", s)
}
