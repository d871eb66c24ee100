package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"maunium.net/go/mautrix/id"

	"ward/accounts"
	"ward/internal/config"
	"ward/policy"
)

// The clinic policy's admin commands. They open the database from the
// configuration and change the facts directly, in transactions; a running
// `ward serve` on the same database learns of every change through the
// policy's recheck queue (within about a second) and is the only process
// that appends the resulting leave events to rooms.

const adminPolicyUsage = `Clinic policy (user arguments: a localpart or a full user ID):
  ward admin roster import [--dry-run] [--prune] [--token-expiry 168h] FILE.csv
  ward admin role set USER ROLE          ward admin role list
  ward admin team create TEAM            ward admin team delete TEAM
  ward admin team add TEAM USER [--kind clinician|patient]
  ward admin team remove TEAM USER       ward admin team list
  ward admin assign PROVIDER PATIENT     ward admin unassign PROVIDER PATIENT
  ward admin assignment list
  ward admin token create --role ROLE [--team T]... [--provider P]... [--uses N] [--expires 168h]
  ward admin token list                  ward admin token revoke TOKEN_ID
`

// cliActor names the command line as the actor of admin actions, with the
// operating-system account that ran it.
func cliActor(getenv func(string) string) string {
	who := getenv("USER")
	if who == "" {
		who = "unknown"
	}
	return "ward admin (command line, " + who + ")"
}

// adminCommand is one `ward admin` policy command: its words, the number
// of positional arguments and the work.
type adminCommand struct {
	words []string
	nargs int
	flags func(fs *flag.FlagSet) func(ctx context.Context, e *adminEnv, args []string) error
}

// adminEnv is what a command works with once the database is open.
type adminEnv struct {
	policy   *policy.Service
	accounts *accounts.Service
	admin    *policy.Admin
	cfg      config.Config
	stdout   io.Writer
}

func (e *adminEnv) user(s string) id.UserID {
	if strings.HasPrefix(s, "@") {
		return id.UserID(s)
	}
	return id.NewUserID(s, e.cfg.ServerName)
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

var adminCommands = []adminCommand{
	{[]string{"roster", "import"}, 1, func(fs *flag.FlagSet) func(context.Context, *adminEnv, []string) error {
		dry := fs.Bool("dry-run", false, "print what would change and change nothing")
		prune := fs.Bool("prune", false, "remove assignments and team memberships the file does not list (never accounts)")
		expiry := fs.Duration("token-expiry", policy.DefaultIntakeLifetime, "how long intake tokens issued for rows without a password are good for")
		return func(ctx context.Context, e *adminEnv, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			rep, err := e.admin.ImportRosterFile(ctx, e.accounts, f, policy.RosterOptions{DryRun: *dry, Prune: *prune, TokenLifetime: *expiry})
			if err != nil {
				return err
			}
			printRosterReport(e.stdout, rep)
			return nil
		}
	}},
	{[]string{"role", "set"}, 2, func(*flag.FlagSet) func(context.Context, *adminEnv, []string) error {
		return func(ctx context.Context, e *adminEnv, args []string) error {
			if err := e.admin.SetRole(ctx, e.user(args[0]), policy.Role(args[1])); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s is now %s %s\n", e.user(args[0]), article(args[1]), args[1])
			return nil
		}
	}},
	{[]string{"role", "list"}, 0, func(*flag.FlagSet) func(context.Context, *adminEnv, []string) error {
		return func(ctx context.Context, e *adminEnv, args []string) error {
			roles, err := e.policy.RoleList(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "USER\tROLE")
			for _, r := range roles {
				fmt.Fprintf(tw, "%s\t%s\n", r.UserID, r.Role)
			}
			return tw.Flush()
		}
	}},
	{[]string{"team", "create"}, 1, func(*flag.FlagSet) func(context.Context, *adminEnv, []string) error {
		return func(ctx context.Context, e *adminEnv, args []string) error {
			return done(e, e.admin.CreateTeam(ctx, args[0]), "care team %s exists", args[0])
		}
	}},
	{[]string{"team", "delete"}, 1, func(*flag.FlagSet) func(context.Context, *adminEnv, []string) error {
		return func(ctx context.Context, e *adminEnv, args []string) error {
			return done(e, e.admin.DeleteTeam(ctx, args[0]), "deleted care team %s", args[0])
		}
	}},
	{[]string{"team", "add"}, 2, func(fs *flag.FlagSet) func(context.Context, *adminEnv, []string) error {
		kind := fs.String("kind", "", "clinician (works in the team) or patient (cared for by it); default: from the user's role")
		return func(ctx context.Context, e *adminEnv, args []string) error {
			u := e.user(args[1])
			return done(e, e.admin.AddToTeam(ctx, args[0], u, policy.TeamKind(*kind)), "added %s to care team %s", u, args[0])
		}
	}},
	{[]string{"team", "remove"}, 2, func(*flag.FlagSet) func(context.Context, *adminEnv, []string) error {
		return func(ctx context.Context, e *adminEnv, args []string) error {
			u := e.user(args[1])
			return done(e, e.admin.RemoveFromTeam(ctx, args[0], u), "removed %s from care team %s", u, args[0])
		}
	}},
	{[]string{"team", "list"}, 0, func(*flag.FlagSet) func(context.Context, *adminEnv, []string) error {
		return func(ctx context.Context, e *adminEnv, args []string) error {
			teams, err := e.policy.TeamList(ctx)
			if err != nil {
				return err
			}
			for _, t := range teams {
				fmt.Fprintf(e.stdout, "%s (%d members)\n", t.Name, len(t.Members))
				for _, m := range t.Members {
					fmt.Fprintf(e.stdout, "  %s %s\n", m.UserID, m.Kind)
				}
			}
			return nil
		}
	}},
	{[]string{"assign"}, 2, func(*flag.FlagSet) func(context.Context, *adminEnv, []string) error {
		return func(ctx context.Context, e *adminEnv, args []string) error {
			p, q := e.user(args[0]), e.user(args[1])
			return done(e, e.admin.Assign(ctx, p, q), "assigned %s to %s", p, q)
		}
	}},
	{[]string{"unassign"}, 2, func(*flag.FlagSet) func(context.Context, *adminEnv, []string) error {
		return func(ctx context.Context, e *adminEnv, args []string) error {
			p, q := e.user(args[0]), e.user(args[1])
			return done(e, e.admin.Unassign(ctx, p, q), "unassigned %s from %s", p, q)
		}
	}},
	{[]string{"assignment", "list"}, 0, func(*flag.FlagSet) func(context.Context, *adminEnv, []string) error {
		return func(ctx context.Context, e *adminEnv, args []string) error {
			as, err := e.policy.AssignmentList(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PROVIDER\tPATIENT")
			for _, a := range as {
				fmt.Fprintf(tw, "%s\t%s\n", a.Provider, a.Patient)
			}
			return tw.Flush()
		}
	}},
	{[]string{"token", "create"}, 0, func(fs *flag.FlagSet) func(context.Context, *adminEnv, []string) error {
		role := fs.String("role", "", "the role the new account gets (required)")
		var teams, providers multiFlag
		fs.Var(&teams, "team", "a care team the new account joins (repeatable)")
		fs.Var(&providers, "provider", "an assigned provider of the new patient (repeatable)")
		uses := fs.Int("uses", 1, "how many accounts the token may create")
		expires := fs.Duration("expires", policy.DefaultIntakeLifetime, "how long the token is good for")
		return func(ctx context.Context, e *adminEnv, args []string) error {
			spec := policy.IntakeSpec{Role: policy.Role(*role), Teams: teams, Uses: *uses, Lifetime: *expires}
			for _, p := range providers {
				spec.Providers = append(spec.Providers, e.user(p))
			}
			secret, tok, err := e.admin.CreateIntakeToken(ctx, spec)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "intake token %s (%s, %d use(s), expires %s):\n%s\n", tok.ID, tok.Role, tok.UsesAllowed,
				tok.ExpiresAt.UTC().Format(time.RFC3339), secret)
			return nil
		}
	}},
	{[]string{"token", "list"}, 0, func(*flag.FlagSet) func(context.Context, *adminEnv, []string) error {
		return func(ctx context.Context, e *adminEnv, args []string) error {
			toks, err := e.policy.IntakeTokens(ctx)
			if err != nil {
				return err
			}
			// A token the roster issued grants no role itself: it is bound
			// to an account that has one, shown instead.
			roles := map[id.UserID]policy.Role{}
			list, err := e.policy.RoleList(ctx)
			if err != nil {
				return err
			}
			for _, r := range list {
				roles[r.UserID] = r.Role
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATE\tROLE\tUSES\tEXPIRES\tFOR")
			for _, t := range toks {
				role, what := string(t.Role), strings.Join(t.Teams, ";")
				if t.Localpart != "" {
					user := id.NewUserID(t.Localpart, e.cfg.ServerName)
					what, role = string(user), string(roles[user])
					if role == "" {
						role = "bound to " + string(user)
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%s\n", t.ID, t.State, role, t.Uses, t.UsesAllowed,
					t.ExpiresAt.UTC().Format(time.RFC3339), what)
			}
			return tw.Flush()
		}
	}},
	{[]string{"token", "revoke"}, 1, func(*flag.FlagSet) func(context.Context, *adminEnv, []string) error {
		return func(ctx context.Context, e *adminEnv, args []string) error {
			return done(e, e.admin.RevokeIntakeToken(ctx, args[0]), "revoked intake token %s", args[0])
		}
	}},
}

// article is "a" or "an" before word (the roles: an admin, a nurse).
func article(word string) string {
	if word != "" && strings.ContainsRune("aeiouAEIOU", rune(word[0])) {
		return "an"
	}
	return "a"
}

func done(e *adminEnv, err error, format string, args ...any) error {
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, format+"\n", args...)
	return nil
}

func printRosterReport(w io.Writer, rep policy.RosterReport) {
	for _, c := range rep.Changes {
		fmt.Fprintln(w, c)
	}
	for _, t := range rep.Tokens {
		if t.Token == "" {
			// A dry run: its changes already say "issue intake token".
			continue
		}
		fmt.Fprintf(w, "intake token for %s (single use, expires %s): %s\n", t.UserID, t.ExpiresAt.UTC().Format(time.RFC3339), t.Token)
	}
	fmt.Fprintln(w, rep.Summary())
}

// adminPolicy runs a clinic-policy admin command; handled is false when
// args name none.
func adminPolicy(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (handled bool, err error) {
	for _, c := range adminCommands {
		if len(args) < len(c.words) || strings.Join(args[:len(c.words)], " ") != strings.Join(c.words, " ") {
			continue
		}
		name := "admin " + strings.Join(c.words, " ")
		fs := newFlags(name, stderr)
		path := configFlag(fs)
		work := c.flags(fs)
		pos, help, err := parseInterleaved(fs, args[len(c.words):])
		if help || err != nil {
			return true, err
		}
		if len(pos) != c.nargs {
			fmt.Fprintf(stderr, "ward %s: wants %d argument(s), got %d\n\n%s", name, c.nargs, len(pos), adminPolicyUsage)
			return true, errUsage
		}
		cfg, err := loadConfig(*path, getenv)
		if err != nil {
			return true, err
		}
		log := newLogger(cfg, stderr)
		s, err := openExisting(ctx, cfg, log, stderr)
		if err != nil {
			return true, err
		}
		defer s.Shutdown(context.Background()) //nolint:errcheck // nothing was started; this closes the database
		p := s.Policy
		if p == nil {
			// The facts are kept even while the policy is off, for the day
			// it is turned on.
			p = policy.New(s.DB, log, cfg.ServerName)
		}
		e := &adminEnv{policy: p, accounts: s.Accounts, admin: p.AdminAs(cliActor(getenv)), cfg: cfg, stdout: stdout}
		return true, work(ctx, e, pos)
	}
	return false, nil
}

// parseInterleaved parses flags that may come before, between or after the
// positional arguments (`roster import FILE --dry-run`).
func parseInterleaved(fs *flag.FlagSet, args []string) (pos []string, help bool, err error) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, true, nil
			}
			return nil, false, errUsage
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, false, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), false, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
