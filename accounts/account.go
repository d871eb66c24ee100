package accounts

import (
	"context"
	"database/sql"
	"fmt"

	"maunium.net/go/mautrix/id"

	"ward/audit"
)

// ChangePassword sets a new password after User-Interactive Auth with the
// old one. Unless logoutDevices is false, every other device of the user is
// logged out and deleted.
//
// Spec: client-server-api "Password management", POST /account/password.
func (s *Service) ChangePassword(ctx context.Context, sess Session, newPassword string, logoutDevices bool, auth *AuthData) error {
	if newPassword == "" {
		return errMissingParam.WithMessage("new_password is required")
	}
	if err := CheckNewPassword(newPassword); err != nil {
		return err
	}
	if err := s.requirePassword(ctx, sess, auth, "password"); err != nil {
		return err
	}
	hash, err := hashNewPassword(newPassword)
	if err != nil {
		return err
	}
	var others []id.DeviceID
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $1 WHERE user_id = $2`, hash, sess.UserID); err != nil {
			return fmt.Errorf("set password: %w", err)
		}
		if err := s.record(ctx, tx, audit.Entry{Action: audit.ActionPasswordChange, ActorUser: string(sess.UserID),
			ActorDevice: string(sess.DeviceID), TargetUser: string(sess.UserID),
			Detail: map[string]string{"logout_devices": fmt.Sprint(logoutDevices)}}); err != nil {
			return err
		}
		if !logoutDevices {
			return nil
		}
		rows, err := tx.QueryContext(ctx, `SELECT device_id FROM devices WHERE user_id = $1 AND device_id <> $2`, sess.UserID, sess.DeviceID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var d string
			if err := rows.Scan(&d); err != nil {
				rows.Close()
				return err
			}
			others = append(others, id.DeviceID(d))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		return deleteAllDevices(ctx, tx, sess.UserID, sess.DeviceID)
	})
	if err != nil {
		return err
	}
	if s.OnDevicesDeleted != nil && len(others) > 0 {
		s.OnDevicesDeleted(ctx, sess.UserID, others)
	}
	return nil
}

// Deactivate closes the caller's account after User-Interactive Auth with
// their password: every device and token goes, the password is cleared and
// login is refused from then on. The account row stays, so the user ID is
// never handed out again and the audit trail keeps its subject.
//
// Spec: client-server-api "Account deactivation", POST /account/deactivate.
func (s *Service) Deactivate(ctx context.Context, sess Session, auth *AuthData) error {
	if err := s.requirePassword(ctx, sess, auth, "deactivate"); err != nil {
		return err
	}
	var deleted []id.DeviceID
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE users SET deactivated = $1, password_hash = '' WHERE user_id = $2`, true, sess.UserID); err != nil {
			return fmt.Errorf("deactivate: %w", err)
		}
		var err error
		if deleted, err = s.deleteAllDevicesTx(ctx, tx, sess.UserID); err != nil {
			return err
		}
		return s.record(ctx, tx, audit.Entry{Action: audit.ActionDeactivate, ActorUser: string(sess.UserID),
			ActorDevice: string(sess.DeviceID), TargetUser: string(sess.UserID)})
	})
	if err != nil {
		return err
	}
	// As an admin's deactivation: the devices' keys, inbox and pushers go
	// too, then the user leaves their rooms.
	if s.OnDevicesDeleted != nil && len(deleted) > 0 {
		s.OnDevicesDeleted(ctx, sess.UserID, deleted)
	}
	if s.OnDeactivate != nil {
		s.OnDeactivate(ctx, sess.UserID)
	}
	return nil
}
