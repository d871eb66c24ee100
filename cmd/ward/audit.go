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
	// check, when set, checks the flags before the database is opened.
	var check func() error
	var f audit.Filter
	var fm audit.Format
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
				if !rep.OK {
					// A trail broken at its head takes no entry; the
					// finding is what counts.
					fmt.Fprintln(stderr, "ward: this verify could not be recorded:", err)
					return errBrokenTrail
				}
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
		var p audit.FilterParams
		fs.StringVar(&p.User, "user", "", "only entries whose actor or target is this `user ID`")
		fs.StringVar(&p.Room, "room", "", "only entries of this `room ID`")
		fs.StringVar(&p.Action, "action", "", "only this `action` (or a prefix ending in *)")
		fs.StringVar(&p.Outcome, "outcome", "", "only this `outcome` (allowed, denied, failed)")
		fs.StringVar(&p.Since, "since", "", "only entries at or after this `time`")
		fs.StringVar(&p.Until, "until", "", "only entries before this `time`")
		fs.StringVar(&p.From, "after", "", "only entries after this `sequence number`")
		fs.StringVar(&p.Limit, "limit", "", "at most this `many` entries (default: all)")
		out := fs.String("out", "", "write to this `file` instead of standard output")
		check = func() error {
			// The same checks as the HTTP API's, before anything is opened.
			var err error
			if fm, err = audit.ParseFormat(*format); err != nil {
				return badUsage("ward admin audit export: --format: %v", err)
			}
			if f, err = audit.ParseFilter(p, time.Now()); err != nil {
				return badUsage("ward admin audit export: %s", flagWords(err))
			}
			return nil
		}
		run = func(ctx context.Context, s *server.Server, e audit.Entry) error {
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
			if f.Limit > 0 {
				x, err := audit.NewExporter(w, fm)
				if err != nil {
					return err
				}
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
			_, err := s.Audit.Export(ctx, w, fm, f)
			return err
		}
	case "truncate":
		before := fs.String("before", "", "remove entries older than this `time` (RFC 3339, or a duration ago such as 720h); required")
		var t time.Time
		check = func() error {
			if *before == "" {
				return badUsage("ward admin audit truncate: --before is required (an RFC 3339 time, or a duration ago such as 720h)")
			}
			var err error
			if t, err = audit.ParseTime("--before", *before, time.Now()); err != nil {
				return badUsage("ward admin audit truncate: %v", err)
			}
			return nil
		}
		run = func(ctx context.Context, s *server.Server, e audit.Entry) error {
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
	if check != nil {
		if err := check(); err != nil {
			return true, err
		}
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

// flagWords words a filter parameter's error with the command line's
// flag name.
func flagWords(err error) string {
	var pe *audit.ParamError
	if !errors.As(err, &pe) {
		return err.Error()
	}
	name := pe.Param
	if name == "from" {
		name = "after"
	}
	return "--" + name + " " + pe.Reason
}
