package policy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// Changes of facts. Each runs in one transaction and queues a recheck of
// the people whose rooms the change may affect; the running server works
// that queue (RunRechecks), whichever process made the change.

// SetRole gives a user a clinic role.
func (s *Service) SetRole(ctx context.Context, user id.UserID, role Role) error {
	if !role.Valid() {
		return mautrix.MInvalidParam.WithMessage("Unknown role %q", role)
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		return s.SetRoleTx(ctx, tx, user, role)
	})
}

// SetRoleTx is SetRole inside a caller's transaction.
func (s *Service) SetRoleTx(ctx context.Context, tx *sql.Tx, user id.UserID, role Role) error {
	var old string
	err := tx.QueryRowContext(ctx, `SELECT role FROM clinic_roles WHERE user_id = $1`, string(user)).Scan(&old)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if old == string(role) {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO clinic_roles (user_id, role, updated_ts) VALUES ($1, $2, $3)
		ON CONFLICT (user_id) DO UPDATE SET role = excluded.role, updated_ts = excluded.updated_ts`,
		string(user), string(role), s.now().UnixMilli()); err != nil {
		return fmt.Errorf("set role: %w", err)
	}
	if old != "" {
		return s.queueRecheck(ctx, tx, fmt.Sprintf("role changed from %s to %s", old, role), user)
	}
	return nil
}

// CreateTeam makes a care team (no error if it exists).
func (s *Service) CreateTeam(ctx context.Context, name string) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error { return s.CreateTeamTx(ctx, tx, name) })
}

// CreateTeamTx is CreateTeam inside a caller's transaction.
func (s *Service) CreateTeamTx(ctx context.Context, tx *sql.Tx, name string) error {
	if err := checkTeamName(name); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO care_teams (name, created_ts) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`,
		name, s.now().UnixMilli())
	return err
}

// DeleteTeam removes a care team and its memberships; its former members
// are rechecked.
func (s *Service) DeleteTeam(ctx context.Context, name string) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error { return s.DeleteTeamTx(ctx, tx, name) })
}

// DeleteTeamTx is DeleteTeam inside a caller's transaction.
func (s *Service) DeleteTeamTx(ctx context.Context, tx *sql.Tx, name string) error {
	{
		members, err := teamMembers(ctx, tx, name)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM care_teams WHERE name = $1`, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return mautrix.MNotFound.WithMessage("No care team %q", name)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM care_team_members WHERE team = $1`, name); err != nil {
			return err
		}
		return s.queueRecheck(ctx, tx, "care team "+name+" was deleted", members...)
	}
}

func teamMembers(ctx context.Context, tx *sql.Tx, team string) ([]id.UserID, error) {
	rows, err := tx.QueryContext(ctx, `SELECT user_id FROM care_team_members WHERE team = $1`, team)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []id.UserID
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		out = append(out, id.UserID(u))
	}
	return out, rows.Err()
}

// TeamKind says how a person belongs to a team.
type TeamKind string

const (
	KindClinician TeamKind = "clinician"
	KindPatient   TeamKind = "patient"
)

// AddToTeam adds a clinician (working in it) or a patient (cared for by
// it) to a care team, creating the team if needed.
func (s *Service) AddToTeam(ctx context.Context, team string, user id.UserID, kind TeamKind) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error { return s.AddToTeamTx(ctx, tx, team, user, kind) })
}

// AddToTeamTx is AddToTeam inside a caller's transaction.
func (s *Service) AddToTeamTx(ctx context.Context, tx *sql.Tx, team string, user id.UserID, kind TeamKind) error {
	if kind != KindClinician && kind != KindPatient {
		return mautrix.MInvalidParam.WithMessage("Team membership kind must be clinician or patient")
	}
	if err := s.CreateTeamTx(ctx, tx, team); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO care_team_members (team, user_id, kind, added_ts) VALUES ($1, $2, $3, $4)
		ON CONFLICT (team, user_id) DO UPDATE SET kind = excluded.kind`, team, string(user), string(kind), s.now().UnixMilli())
	return err
}

// RemoveFromTeam ends a team membership; the person and the team's other
// members are rechecked (a nurse leaving a team loses its patients).
func (s *Service) RemoveFromTeam(ctx context.Context, team string, user id.UserID) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error { return s.RemoveFromTeamTx(ctx, tx, team, user) })
}

// RemoveFromTeamTx is RemoveFromTeam inside a caller's transaction.
func (s *Service) RemoveFromTeamTx(ctx context.Context, tx *sql.Tx, team string, user id.UserID) error {
	res, err := tx.ExecContext(ctx, `DELETE FROM care_team_members WHERE team = $1 AND user_id = $2`, team, string(user))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return mautrix.MNotFound.WithMessage("%s is not in care team %q", user, team)
	}
	others, err := teamMembers(ctx, tx, team)
	if err != nil {
		return err
	}
	return s.queueRecheck(ctx, tx, fmt.Sprintf("%s left care team %s", user, team), append(others, user)...)
}

// Assign links a provider to a patient.
func (s *Service) Assign(ctx context.Context, provider, patient id.UserID) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error { return s.AssignTx(ctx, tx, provider, patient) })
}

// AssignTx is Assign inside a caller's transaction.
func (s *Service) AssignTx(ctx context.Context, tx *sql.Tx, provider, patient id.UserID) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO assignments (provider_id, patient_id, created_ts) VALUES ($1, $2, $3)
		ON CONFLICT (provider_id, patient_id) DO NOTHING`, string(provider), string(patient), s.now().UnixMilli())
	return err
}

// Unassign ends an assignment; the provider is taken out of the rooms they
// may no longer share with the patient.
func (s *Service) Unassign(ctx context.Context, provider, patient id.UserID) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error { return s.UnassignTx(ctx, tx, provider, patient) })
}

// UnassignTx is Unassign inside a caller's transaction.
func (s *Service) UnassignTx(ctx context.Context, tx *sql.Tx, provider, patient id.UserID) error {
	res, err := tx.ExecContext(ctx, `DELETE FROM assignments WHERE provider_id = $1 AND patient_id = $2`, string(provider), string(patient))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return mautrix.MNotFound.WithMessage("%s is not assigned to %s", provider, patient)
	}
	return s.queueRecheck(ctx, tx, fmt.Sprintf("assignment of %s to %s ended", provider, patient), provider)
}
