package policy

import (
	"context"
	"database/sql"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"maunium.net/go/mautrix/id"
)

// The clinic roster: a CSV file of people, their roles, care teams and
// assigned providers, imported all or nothing (see the README, "Clinic
// policy", and the roster specification it follows).

// RosterRow is one person in a roster file.
type RosterRow struct {
	Line        int
	Localpart   string
	DisplayName string
	Role        Role
	Teams       []string
	Providers   []string // localparts
	Password    string
}

// RosterProblem is one invalid row.
type RosterProblem struct {
	Line   int
	Reason string
}

// RosterError lists every invalid row of a roster; nothing was changed.
type RosterError struct{ Problems []RosterProblem }

func (e *RosterError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the roster has %d invalid row", len(e.Problems))
	if len(e.Problems) > 1 {
		b.WriteString("s")
	}
	b.WriteString("; nothing was changed:")
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "\n  line %d: %s", p.Line, p.Reason)
	}
	return b.String()
}

var rosterColumns = map[string]bool{"localpart": true, "display_name": true, "role": true, "care_teams": true, "providers": true, "password": true}

// ParseRoster reads a roster file (RFC 4180, UTF-8, header row, columns in
// any order) and checks every row on its own and against the others.
// validLocalpart says why a localpart cannot name an account, and
// validPassword why a password cannot be an account's (accounts'
// ValidLocalpart and CheckNewPassword: the rules of every other way in).
func ParseRoster(r io.Reader, validLocalpart, validPassword func(string) error) ([]RosterRow, error) {
	rows, problems, _ := parseRoster(r, validLocalpart, validPassword)
	if len(problems) > 0 {
		return nil, &RosterError{problems}
	}
	return rows, nil
}

// parseRoster is ParseRoster that also returns the rows it read when some
// are invalid, so that they can be checked against the database in the
// same pass; headerBad means the rows could not be read at all.
func parseRoster(r io.Reader, validLocalpart, validPassword func(string) error) (rows []RosterRow, problems []RosterProblem, headerBad bool) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 0
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, []RosterProblem{{1, "the file is empty; a header row is required"}}, true
	}
	if err != nil {
		return nil, []RosterProblem{{csvLine(err, 1), err.Error()}}, true
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		switch {
		case !rosterColumns[h]:
			problems = append(problems, RosterProblem{1, fmt.Sprintf("unknown column %q", h)})
		case col[h] != 0:
			problems = append(problems, RosterProblem{1, fmt.Sprintf("column %q appears twice", h)})
		default:
			col[h] = i + 1
		}
	}
	for _, req := range []string{"localpart", "role"} {
		if col[req] == 0 {
			problems = append(problems, RosterProblem{1, fmt.Sprintf("the required column %q is missing", req)})
		}
	}
	if len(problems) > 0 {
		return nil, problems, true
	}
	field := func(rec []string, name string) string {
		if i := col[name]; i != 0 && i-1 < len(rec) {
			return strings.TrimSpace(rec[i-1])
		}
		return ""
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			line := csvLine(err, 0)
			problems = append(problems, RosterProblem{line, err.Error()})
			var pe *csv.ParseError
			if errors.As(err, &pe) && errors.Is(pe.Err, csv.ErrFieldCount) {
				continue
			}
			break
		}
		line, _ := cr.FieldPos(0)
		row := RosterRow{
			Line: line, Localpart: field(rec, "localpart"), DisplayName: field(rec, "display_name"),
			Role: Role(field(rec, "role")), Teams: splitList(field(rec, "care_teams")),
			Providers: splitList(field(rec, "providers")), Password: col0(rec, col["password"]),
		}
		rows = append(rows, row)
	}
	byLocalpart := map[string]RosterRow{}
	for _, row := range rows {
		bad := func(format string, args ...any) {
			problems = append(problems, RosterProblem{row.Line, fmt.Sprintf(format, args...)})
		}
		if err := validLocalpart(row.Localpart); err != nil {
			bad("malformed localpart %q: %s", row.Localpart, errText(err))
		} else if first, dup := byLocalpart[row.Localpart]; dup {
			bad("duplicate localpart %q (first on line %d)", row.Localpart, first.Line)
		} else {
			byLocalpart[row.Localpart] = row
		}
		if !row.Role.Valid() {
			bad("unknown role %q (one of %s)", row.Role, roleList())
		}
		if len(row.Teams) > 0 && row.Role.Valid() && row.Role != RolePatient && !row.Role.Clinician() {
			bad("care_teams: a %s belongs to no care team; only patients and clinicians do", row.Role)
		}
		for _, t := range row.Teams {
			if err := checkTeamName(t); err != nil {
				bad("care_teams: %s", errText(err))
			}
		}
		if len(row.Providers) > 0 && row.Role.Valid() && row.Role != RolePatient {
			bad("providers: only patients have assigned providers, not a %s", row.Role)
		}
		if row.Password != "" {
			if err := validPassword(row.Password); err != nil {
				bad("password: %s", errText(err))
			}
		}
	}
	for _, row := range rows {
		if row.Role != RolePatient {
			continue
		}
		seen := map[string]bool{}
		for _, p := range row.Providers {
			bad := func(format string, args ...any) {
				problems = append(problems, RosterProblem{row.Line, fmt.Sprintf(format, args...)})
			}
			switch other, inFile := byLocalpart[p]; {
			case seen[p]:
				bad("providers: %q is listed twice", p)
			case validLocalpart(p) != nil:
				bad("providers: malformed localpart %q", p)
			case p == row.Localpart:
				bad("providers: a patient cannot be their own provider")
			case inFile && other.Role == RolePatient:
				bad("providers: %q is a patient, not a provider (line %d)", p, other.Line)
			case inFile && other.Role != RoleProvider:
				bad("providers: %q is a %s, not a provider (line %d)", p, other.Role, other.Line)
			}
			seen[p] = true
		}
	}
	sortProblems(problems)
	return rows, problems, false
}

func sortProblems(ps []RosterProblem) {
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
}

// queryRower is a *sql.DB or a *sql.Tx.
type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// checkProviders checks the providers that patients' rows name and the
// file does not list (those it lists, ParseRoster checks) against the
// database: each must be an account of this server with the provider role.
func (s *Service) checkProviders(ctx context.Context, q queryRower, serverName string, rows []RosterRow) ([]RosterProblem, error) {
	inFile := map[string]bool{}
	for _, row := range rows {
		inFile[row.Localpart] = true
	}
	var problems []RosterProblem
	for _, row := range rows {
		if row.Role != RolePatient {
			continue
		}
		for _, p := range row.Providers {
			if inFile[p] || p == "" {
				continue
			}
			user := id.NewUserID(p, serverName)
			var accounts int
			var role sql.NullString
			err := q.QueryRowContext(ctx, `SELECT COUNT(*), MAX(r.role) FROM users u LEFT JOIN clinic_roles r ON r.user_id = u.user_id
				WHERE u.user_id = $1`, string(user)).Scan(&accounts, &role)
			if err != nil {
				return nil, fmt.Errorf("look up provider %s: %w", user, err)
			}
			switch {
			case accounts == 0:
				problems = append(problems, RosterProblem{row.Line, fmt.Sprintf("providers: %q is neither in the file nor an account here", p)})
			case Role(role.String) != RoleProvider:
				problems = append(problems, RosterProblem{row.Line, fmt.Sprintf("providers: %q is a %s, not a provider", p, orNone(Role(role.String)))})
			}
		}
	}
	return problems, nil
}

// ImportRosterFile reads a roster file and imports it (see ImportRoster)
// as this admin. Every bad line is reported at once, whether the file
// alone shows it or only the database does (a provider who is not one).
func (a *Admin) ImportRosterFile(ctx context.Context, acc RosterAccounts, r io.Reader, opt RosterOptions) (RosterReport, error) {
	rows, problems, headerBad := parseRoster(r, acc.ValidLocalpart, acc.ValidPassword)
	if headerBad {
		return RosterReport{}, &RosterError{problems}
	}
	if len(problems) > 0 {
		more, err := a.s.checkProviders(ctx, a.s.db.Read, acc.ServerName(), rows)
		if err != nil {
			return RosterReport{}, err
		}
		problems = append(problems, more...)
		sortProblems(problems)
		return RosterReport{}, &RosterError{problems}
	}
	return a.ImportRoster(ctx, acc, rows, opt)
}

// col0 is a raw field (passwords keep their spaces).
func col0(rec []string, i int) string {
	if i != 0 && i-1 < len(rec) {
		return rec[i-1]
	}
	return ""
}

func csvLine(err error, def int) int {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Line
	}
	return def
}

// errText is an error's message for a person (a Matrix error's own text).
func errText(err error) string {
	s := err.Error()
	if i := strings.Index(s, ": "); i > 0 && strings.HasPrefix(s, "M_") {
		return s[i+2:]
	}
	return s
}

// RosterAccounts is what the import needs of accounts: creating accounts
// inside the import's one transaction.
type RosterAccounts interface {
	ServerName() string
	ValidLocalpart(localpart string) error
	// ValidPassword says why a password cannot be an account's.
	ValidPassword(password string) error
	LookupAccountTx(ctx context.Context, tx *sql.Tx, localpart string) (exists, hasPassword bool, displayName string, err error)
	// CreateUserTx never makes a server admin, whatever the row's role.
	CreateUserTx(ctx context.Context, tx *sql.Tx, localpart, password, displayName string) (id.UserID, error)
	SetDisplayNameTx(ctx context.Context, tx *sql.Tx, user id.UserID, name string) error
}

// RosterOptions changes how a roster is imported.
type RosterOptions struct {
	// DryRun works out every change and then rolls it all back.
	DryRun bool
	// Prune removes assignments and care team memberships that the file
	// does not list (of anyone, listed in the file or not). Accounts are
	// never deleted.
	Prune bool
	// TokenLifetime is how long issued intake tokens are good for
	// (default DefaultIntakeLifetime).
	TokenLifetime time.Duration
}

// IssuedToken is an intake token issued for a roster row without a
// password.
type IssuedToken struct {
	UserID    id.UserID
	Token     string // "" in a dry run
	ExpiresAt time.Time
}

// RosterReport says what an import changed (or, in a dry run, would).
type RosterReport struct {
	DryRun             bool
	UsersCreated       int
	UsersUpdated       int
	UsersUnchanged     int
	TeamsCreated       int
	AssignmentsAdded   int
	AssignmentsRemoved int
	MembershipsAdded   int
	MembershipsRemoved int
	Tokens             []IssuedToken
	// Changes lists every change, one line each, in order.
	Changes []string
}

// Changed reports whether the import changed anything.
func (r RosterReport) Changed() bool { return len(r.Changes) > 0 }

// Summary is the report's closing line.
func (r RosterReport) Summary() string {
	s := fmt.Sprintf("users: %d created, %d updated, %d unchanged; teams: %d created; assignments: %d added, %d removed; "+
		"team memberships: %d added, %d removed; tokens: %d issued",
		r.UsersCreated, r.UsersUpdated, r.UsersUnchanged, r.TeamsCreated, r.AssignmentsAdded, r.AssignmentsRemoved,
		r.MembershipsAdded, r.MembershipsRemoved, len(r.Tokens))
	switch {
	case r.DryRun:
		return "dry run, nothing was changed: " + s
	case !r.Changed():
		return "nothing changed: " + s
	}
	return s
}

var errDryRun = errors.New("dry run")

// ImportRoster applies rows (from ParseRoster) in one transaction: every
// row or none. Every change is recorded as an admin action of actor.
func (s *Service) ImportRoster(ctx context.Context, acc RosterAccounts, rows []RosterRow, opt RosterOptions, actor string) (RosterReport, error) {
	if opt.TokenLifetime == 0 {
		opt.TokenLifetime = DefaultIntakeLifetime
	}
	ctx = asAdmin(ctx, actor)
	var rep RosterReport
	type action struct{ what, target string }
	var actions []action
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		rep = RosterReport{DryRun: opt.DryRun}
		actions = nil
		im := &rosterImport{s: s, acc: acc, tx: tx, rep: &rep}
		im.record = func(what, target string) {
			rep.Changes = append(rep.Changes, what+" "+target)
			actions = append(actions, action{what, target})
		}
		if err := im.run(ctx, rows, opt); err != nil {
			return err
		}
		if opt.DryRun {
			return errDryRun
		}
		// Every change of the import is recorded in the import's own
		// transaction: all of them with their entries, or none.
		for _, a := range actions {
			if err := s.auditAdminTx(ctx, tx, actor, "roster: "+a.what, a.target); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errDryRun) {
		return RosterReport{}, err
	}
	if opt.DryRun {
		for i := range rep.Tokens {
			rep.Tokens[i].Token = ""
		}
		return rep, nil
	}
	return rep, nil
}

type rosterImport struct {
	s      *Service
	acc    RosterAccounts
	tx     *sql.Tx
	rep    *RosterReport
	record func(what, target string)
}

func (im *rosterImport) uid(localpart string) id.UserID {
	return id.NewUserID(localpart, im.acc.ServerName())
}

func (im *rosterImport) run(ctx context.Context, rows []RosterRow, opt RosterOptions) error {
	tx, s := im.tx, im.s
	changed := map[string]bool{}
	created := map[string]bool{}
	// Providers from outside the file first, so that their problems come
	// with every other one.
	problems, err := s.checkProviders(ctx, tx, im.acc.ServerName(), rows)
	if err != nil {
		return err
	}
	// Accounts and roles first, so that providers named by patients in
	// any row have their role when assignments are made.
	for _, row := range rows {
		user := im.uid(row.Localpart)
		exists, hasPassword, name, err := im.acc.LookupAccountTx(ctx, tx, row.Localpart)
		if err != nil {
			return err
		}
		if !exists {
			if _, err := im.acc.CreateUserTx(ctx, tx, row.Localpart, row.Password, row.DisplayName); err != nil {
				problems = append(problems, RosterProblem{row.Line, "create account: " + errText(err)})
				continue
			}
			created[row.Localpart] = true
			im.record("create account ("+string(row.Role)+")", string(user))
		} else if row.DisplayName != "" && name != row.DisplayName {
			if err := im.acc.SetDisplayNameTx(ctx, tx, user, row.DisplayName); err != nil {
				return err
			}
			changed[row.Localpart] = true
			im.record("set display name", string(user))
		}
		old, err := roleTx(ctx, tx, user)
		if err != nil {
			return err
		}
		if old != row.Role {
			if err := s.SetRoleTx(ctx, tx, user, row.Role); err != nil {
				return err
			}
			changed[row.Localpart] = true
			if !created[row.Localpart] {
				im.record("set role "+string(row.Role)+" (was "+orNone(old)+")", string(user))
			}
		}
		if row.Password == "" && (!exists || !hasPassword) {
			reserved, err := localpartReservedTx(ctx, tx, row.Localpart, s.now())
			if err != nil {
				return err
			}
			if !reserved {
				secret, tok, err := s.CreateIntakeTokenTx(ctx, tx, IntakeSpec{Localpart: row.Localpart, Lifetime: opt.TokenLifetime}, "roster import")
				if err != nil {
					return err
				}
				im.rep.Tokens = append(im.rep.Tokens, IssuedToken{UserID: user, Token: secret, ExpiresAt: tok.ExpiresAt})
				changed[row.Localpart] = true
				if opt.DryRun {
					// The token is rolled back: its id would name
					// nothing, and the real import makes another.
					im.record("issue intake token", string(user))
				} else {
					im.record("issue intake token "+tok.ID, string(user))
				}
			}
		}
	}
	if len(problems) > 0 {
		sortProblems(problems)
		return &RosterError{problems}
	}
	wantMember := map[[2]string]bool{}
	wantAssigned := map[[2]string]bool{}
	for _, row := range rows {
		user := im.uid(row.Localpart)
		kind := KindClinician
		if row.Role == RolePatient {
			kind = KindPatient
		}
		for _, team := range row.Teams {
			wantMember[[2]string{team, string(user)}] = true
			var exists int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM care_teams WHERE name = $1`, team).Scan(&exists); err != nil {
				return err
			}
			if exists == 0 {
				if err := s.CreateTeamTx(ctx, tx, team); err != nil {
					return err
				}
				im.rep.TeamsCreated++
				im.record("create care team", team)
			}
			var cur sql.NullString
			err := tx.QueryRowContext(ctx, `SELECT kind FROM care_team_members WHERE team = $1 AND user_id = $2`, team, string(user)).Scan(&cur)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if cur.String == string(kind) {
				continue
			}
			if err := s.AddToTeamTx(ctx, tx, team, user, kind); err != nil {
				return err
			}
			im.rep.MembershipsAdded++
			changed[row.Localpart] = true
			im.record("add to care team "+team+" as "+string(kind), string(user))
		}
		for _, p := range row.Providers {
			prov := im.uid(p)
			wantAssigned[[2]string{string(prov), string(user)}] = true
			if err := requireRole(ctx, tx, prov, RoleProvider); err != nil {
				problems = append(problems, RosterProblem{row.Line, "providers: " + errText(err)})
				continue
			}
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM assignments WHERE provider_id = $1 AND patient_id = $2`,
				string(prov), string(user)).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				continue
			}
			if err := s.AssignTx(ctx, tx, prov, user); err != nil {
				return err
			}
			im.rep.AssignmentsAdded++
			changed[row.Localpart] = true
			im.record("assign provider "+string(prov), string(user))
		}
	}
	if len(problems) > 0 {
		return &RosterError{problems}
	}
	inFile := map[id.UserID]string{}
	for _, row := range rows {
		inFile[im.uid(row.Localpart)] = row.Localpart
	}
	if opt.Prune {
		members, err := pairs(ctx, tx, `SELECT team, user_id FROM care_team_members ORDER BY team, user_id`)
		if err != nil {
			return err
		}
		for _, m := range members {
			if wantMember[m] {
				continue
			}
			if err := s.RemoveFromTeamTx(ctx, tx, m[0], id.UserID(m[1])); err != nil {
				return err
			}
			im.rep.MembershipsRemoved++
			if lp, ok := inFile[id.UserID(m[1])]; ok {
				changed[lp] = true
			}
			im.record("remove from care team "+m[0], m[1])
		}
		assigned, err := pairs(ctx, tx, `SELECT provider_id, patient_id FROM assignments ORDER BY patient_id, provider_id`)
		if err != nil {
			return err
		}
		for _, a := range assigned {
			if wantAssigned[a] {
				continue
			}
			if err := s.UnassignTx(ctx, tx, id.UserID(a[0]), id.UserID(a[1])); err != nil {
				return err
			}
			im.rep.AssignmentsRemoved++
			if lp, ok := inFile[id.UserID(a[1])]; ok {
				changed[lp] = true
			}
			im.record("unassign provider "+a[0], a[1])
		}
	}
	for _, row := range rows {
		switch {
		case created[row.Localpart]:
			im.rep.UsersCreated++
		case changed[row.Localpart]:
			im.rep.UsersUpdated++
		default:
			im.rep.UsersUnchanged++
		}
	}
	return nil
}

func pairs(ctx context.Context, tx *sql.Tx, q string) ([][2]string, error) {
	rows, err := tx.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][2]string
	for rows.Next() {
		var p [2]string
		if err := rows.Scan(&p[0], &p[1]); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
