package policy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// Admin makes changes of facts on behalf of one admin (a user ID, or a
// name for the command line) and records each one.
type Admin struct {
	s     *Service
	actor string
}

// AdminAs returns the admin operations as actor.
func (s *Service) AdminAs(actor string) *Admin { return &Admin{s: s, actor: actor} }

// SetRole gives user a role.
func (a *Admin) SetRole(ctx context.Context, user id.UserID, role Role) error {
	if !role.Valid() {
		return mautrix.MInvalidParam.WithMessage("Unknown role %q", role)
	}
	return a.s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := a.s.requireAccountTx(ctx, tx, user); err != nil {
			return err
		}
		if err := a.s.SetRoleTx(ctx, tx, user, role); err != nil {
			return err
		}
		return a.s.auditAdminTx(ctx, tx, a.actor, "set role "+string(role), string(user))
	})
}

// CreateTeam makes a care team.
func (a *Admin) CreateTeam(ctx context.Context, name string) error {
	if err := checkTeamName(name); err != nil {
		return err
	}
	return a.s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := a.s.CreateTeamTx(ctx, tx, name); err != nil {
			return err
		}
		return a.s.auditAdminTx(ctx, tx, a.actor, "create care team", name)
	})
}

// DeleteTeam removes a care team and its memberships.
func (a *Admin) DeleteTeam(ctx context.Context, name string) error {
	return a.s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := a.s.DeleteTeamTx(ctx, tx, name); err != nil {
			return err
		}
		return a.s.auditAdminTx(ctx, tx, a.actor, "delete care team", name)
	})
}

// AddToTeam adds user to a care team; kind "" follows the user's role
// (patients are cared for by the team, clinicians work in it).
func (a *Admin) AddToTeam(ctx context.Context, team string, user id.UserID, kind TeamKind) error {
	if err := checkTeamName(team); err != nil {
		return err
	}
	err := a.s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := a.s.requireAccountTx(ctx, tx, user); err != nil {
			return err
		}
		role, err := roleTx(ctx, tx, user)
		if err != nil {
			return err
		}
		if kind == "" {
			switch {
			case role == RolePatient:
				kind = KindPatient
			case role.Clinician():
				kind = KindClinician
			default:
				return mautrix.MInvalidParam.WithMessage("%s is not a patient or clinician (%s); give the kind of membership", user, orNone(role))
			}
		}
		if err := a.s.AddToTeamTx(ctx, tx, team, user, kind); err != nil {
			return err
		}
		return a.s.auditAdminTx(ctx, tx, a.actor, "add to care team "+team+" as "+string(kind), string(user))
	})
	return err
}

// RemoveFromTeam ends a team membership.
func (a *Admin) RemoveFromTeam(ctx context.Context, team string, user id.UserID) error {
	return a.s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := a.s.RemoveFromTeamTx(ctx, tx, team, user); err != nil {
			return err
		}
		return a.s.auditAdminTx(ctx, tx, a.actor, "remove from care team "+team, string(user))
	})
}

// Assign links a provider to a patient; both must have those roles.
func (a *Admin) Assign(ctx context.Context, provider, patient id.UserID) error {
	err := a.s.db.Tx(ctx, func(tx *sql.Tx) error {
		for _, u := range []id.UserID{provider, patient} {
			if err := a.s.requireAccountTx(ctx, tx, u); err != nil {
				return err
			}
		}
		if err := requireRole(ctx, tx, provider, RoleProvider); err != nil {
			return err
		}
		if err := requireRole(ctx, tx, patient, RolePatient); err != nil {
			return err
		}
		if err := a.s.AssignTx(ctx, tx, provider, patient); err != nil {
			return err
		}
		return a.s.auditAdminTx(ctx, tx, a.actor, "assign provider "+string(provider), string(patient))
	})
	return err
}

// Unassign ends an assignment.
func (a *Admin) Unassign(ctx context.Context, provider, patient id.UserID) error {
	return a.s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := a.s.UnassignTx(ctx, tx, provider, patient); err != nil {
			return err
		}
		return a.s.auditAdminTx(ctx, tx, a.actor, "unassign provider "+string(provider), string(patient))
	})
}

// CreateIntakeToken makes an intake token; the secret is shown once.
// spec.Uses and spec.Lifetime are what the admin asked for: both must be
// positive (the command line's and the API's defaults are filled in before
// this), so that a 0 never silently becomes a default.
func (a *Admin) CreateIntakeToken(ctx context.Context, spec IntakeSpec) (string, IntakeToken, error) {
	if spec.Uses < 1 || spec.Uses > maxIntakeUses {
		return "", IntakeToken{}, mautrix.MInvalidParam.WithMessage("An intake token is good for 1 to %d uses, not %d", maxIntakeUses, spec.Uses)
	}
	if spec.Lifetime <= 0 {
		return "", IntakeToken{}, mautrix.MInvalidParam.WithMessage("An intake token's lifetime must be positive, not %s", spec.Lifetime)
	}
	var secret string
	var tok IntakeToken
	err := a.s.db.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		if secret, tok, err = a.s.CreateIntakeTokenTx(ctx, tx, spec, a.actor); err != nil {
			return err
		}
		return a.s.auditAdminTx(ctx, tx, a.actor, "create intake token for role "+orNone(spec.Role), tok.ID)
	})
	if err != nil {
		return "", IntakeToken{}, err
	}
	return secret, tok, nil
}

// RevokeIntakeToken makes a token unusable.
func (a *Admin) RevokeIntakeToken(ctx context.Context, tokenID string) error {
	return a.s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := a.s.RevokeIntakeTokenTx(ctx, tx, tokenID); err != nil {
			return err
		}
		return a.s.auditAdminTx(ctx, tx, a.actor, "revoke intake token", tokenID)
	})
}

// requireAccountTx checks that user is an account of this server: a user
// of another server cannot take part (Ward does not federate), and a local
// user ID without an account is a typing mistake, not a person.
func (s *Service) requireAccountTx(ctx context.Context, tx *sql.Tx, user id.UserID) error {
	_, server, err := user.Parse()
	if err != nil {
		return mautrix.MInvalidParam.WithMessage("%q is not a user ID (@localpart:server)", user)
	}
	if s.serverName != "" && server != s.serverName {
		return mautrix.MInvalidParam.WithMessage("%s is a user of another server (%s): Ward does not federate, "+
			"so only accounts of %s can have a role, a care team or an assignment", user, server, s.serverName)
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE user_id = $1`, string(user)).Scan(&n); err != nil {
		return fmt.Errorf("look up %s: %w", user, err)
	}
	if n == 0 {
		return mautrix.MNotFound.WithMessage("%s has no account on this server (create it first, or check the spelling)", user)
	}
	return nil
}

func orNone(r Role) string {
	if r == "" {
		return "no role"
	}
	return string(r)
}

func roleTx(ctx context.Context, tx *sql.Tx, user id.UserID) (Role, error) {
	var role string
	err := tx.QueryRowContext(ctx, `SELECT role FROM clinic_roles WHERE user_id = $1`, string(user)).Scan(&role)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", err
	}
	return Role(role), nil
}

// RoleEntry is one user's role.
type RoleEntry struct {
	UserID id.UserID `json:"user_id"`
	Role   Role      `json:"role"`
}

// TeamMember is one member of a care team.
type TeamMember struct {
	UserID id.UserID `json:"user_id"`
	Kind   TeamKind  `json:"kind"`
}

// Team is a care team and its members.
type Team struct {
	Name    string       `json:"name"`
	Members []TeamMember `json:"members"`
}

// Assignment links a provider to a patient.
type Assignment struct {
	Provider id.UserID `json:"provider"`
	Patient  id.UserID `json:"patient"`
}

// RoleList lists every user with a clinic role.
func (s *Service) RoleList(ctx context.Context) ([]RoleEntry, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT user_id, role FROM clinic_roles ORDER BY user_id`)
	if err != nil {
		return nil, fmt.Errorf("list roles: %w", err)
	}
	defer rows.Close()
	out := []RoleEntry{}
	for rows.Next() {
		var e RoleEntry
		if err := rows.Scan(&e.UserID, &e.Role); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// TeamList lists every care team with its members.
func (s *Service) TeamList(ctx context.Context) ([]Team, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT t.name, m.user_id, m.kind FROM care_teams t
		LEFT JOIN care_team_members m ON m.team = t.name ORDER BY t.name, m.user_id`)
	if err != nil {
		return nil, fmt.Errorf("list care teams: %w", err)
	}
	defer rows.Close()
	out := []Team{}
	for rows.Next() {
		var name string
		var user, kind sql.NullString
		if err := rows.Scan(&name, &user, &kind); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].Name != name {
			out = append(out, Team{Name: name, Members: []TeamMember{}})
		}
		if user.Valid {
			t := &out[len(out)-1]
			t.Members = append(t.Members, TeamMember{UserID: id.UserID(user.String), Kind: TeamKind(kind.String)})
		}
	}
	return out, rows.Err()
}

// AssignmentList lists every assignment.
func (s *Service) AssignmentList(ctx context.Context) ([]Assignment, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT provider_id, patient_id FROM assignments ORDER BY patient_id, provider_id`)
	if err != nil {
		return nil, fmt.Errorf("list assignments: %w", err)
	}
	defer rows.Close()
	out := []Assignment{}
	for rows.Next() {
		var a Assignment
		if err := rows.Scan(&a.Provider, &a.Patient); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// ImportRoster imports a roster (see Service.ImportRoster) as this admin.
func (a *Admin) ImportRoster(ctx context.Context, acc RosterAccounts, rows []RosterRow, opt RosterOptions) (RosterReport, error) {
	return a.s.ImportRoster(ctx, acc, rows, opt, a.actor)
}
