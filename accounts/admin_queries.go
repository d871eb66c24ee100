package accounts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"ward/audit"
)

// What server admins read and change of accounts, for the
// Synapse-compatible admin API. The caller checks that the caller is an
// admin; every change is recorded in its own transaction, with the admin
// (named by the request in ctx) as the actor.

// AdminUser is an account as an admin sees it.
type AdminUser struct {
	UserID      id.UserID
	DisplayName string
	AvatarURL   string
	Admin       bool
	Deactivated bool
	// CreatedTS is when the account was made (milliseconds).
	CreatedTS int64
	// LastSeenTS is the latest use of any of its devices (0: never).
	LastSeenTS int64
}

// UserQuery selects and orders accounts for AdminUsers.
type UserQuery struct {
	// Name matches a substring of the localpart or the display name;
	// UserID a substring of the user ID (both case-insensitive).
	Name, UserID string
	// Deactivated includes deactivated accounts.
	Deactivated bool
	// OrderBy is name (the default), displayname, avatar_url, admin,
	// deactivated, creation_ts or last_seen_ts; unknown ones order by name.
	OrderBy   string
	Backwards bool
	From      int
	// Limit bounds the page (at least 1).
	Limit int
}

var adminUserOrder = map[string]string{
	"name": "u.user_id", "displayname": "u.displayname", "avatar_url": "u.avatar_url", "admin": "u.is_admin",
	"deactivated": "u.deactivated", "creation_ts": "u.created_ts", "last_seen_ts": "last_seen",
}

const adminUserColumns = `u.user_id, u.displayname, u.avatar_url, u.is_admin, u.deactivated, u.created_ts,
	COALESCE((SELECT MAX(d.last_seen_ts) FROM devices d WHERE d.user_id = u.user_id), 0) AS last_seen`

func scanAdminUser(sc interface{ Scan(...any) error }) (AdminUser, error) {
	var u AdminUser
	var uid string
	err := sc.Scan(&uid, &u.DisplayName, &u.AvatarURL, &u.Admin, &u.Deactivated, &u.CreatedTS, &u.LastSeenTS)
	u.UserID = id.UserID(uid)
	return u, err
}

// likePattern is a LIKE pattern matching s anywhere (with \ as escape).
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(s)) + "%"
}

// AdminUsers returns one page of accounts and how many match in all.
func (s *Service) AdminUsers(ctx context.Context, q UserQuery) ([]AdminUser, int, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if !q.Deactivated {
		where = append(where, "u.deactivated = "+arg(false))
	}
	if q.Name != "" {
		p := arg(likePattern(q.Name))
		where = append(where, `(LOWER(u.localpart) LIKE `+p+` ESCAPE '\' OR LOWER(u.displayname) LIKE `+p+` ESCAPE '\')`)
	}
	if q.UserID != "" {
		where = append(where, `LOWER(u.user_id) LIKE `+arg(likePattern(q.UserID))+` ESCAPE '\'`)
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM users u`+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count users: %w", err)
	}
	col, ok := adminUserOrder[q.OrderBy]
	if !ok {
		col = "u.user_id"
	}
	dir := " ASC"
	if q.Backwards {
		dir = " DESC"
	}
	limit := max(q.Limit, 1)
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+adminUserColumns+` FROM users u`+cond+
		` ORDER BY `+col+dir+`, u.user_id`+dir+` LIMIT `+arg(limit)+` OFFSET `+arg(max(q.From, 0)), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	out := []AdminUser{}
	for rows.Next() {
		u, err := scanAdminUser(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("list users: %w", err)
		}
		out = append(out, u)
	}
	return out, total, rows.Err()
}

var errNoUser = mautrix.MNotFound.WithMessage("User not found")

// AdminUser returns one account; M_NOT_FOUND when there is none.
func (s *Service) AdminUser(ctx context.Context, user id.UserID) (AdminUser, error) {
	u, err := scanAdminUser(s.db.Read.QueryRowContext(ctx, `SELECT `+adminUserColumns+` FROM users u WHERE u.user_id = $1`, user))
	if errors.Is(err, sql.ErrNoRows) {
		return AdminUser{}, errNoUser
	}
	if err != nil {
		return AdminUser{}, fmt.Errorf("get user: %w", err)
	}
	return u, nil
}

// IsLocal reports whether user belongs to this server.
func (s *Service) IsLocal(user id.UserID) bool {
	_, server, err := user.ParseAndValidateRelaxed()
	return err == nil && server == s.cfg.ServerName
}

// UserChange is what an admin sets on an account; nil fields stay as
// they are.
type UserChange struct {
	Password    *string
	DisplayName *string
	AvatarURL   *string
	Admin       *bool
	Deactivated *bool
	// LogoutDevices: a new password logs every device out.
	LogoutDevices bool
}

// AdminUpsertUser creates user (created is true) or changes it. A new
// password logs the user's devices out when LogoutDevices is set;
// deactivation ends every session and makes the user leave their rooms;
// reactivating a deactivated account needs a password in the same change.
func (s *Service) AdminUpsertUser(ctx context.Context, user id.UserID, c UserChange) (created bool, err error) {
	lp, _, perr := user.ParseAndValidateRelaxed()
	if perr != nil || !s.IsLocal(user) {
		return false, mautrix.MInvalidParam.WithMessage("This endpoint can only be used with local users")
	}
	if c.Password != nil && *c.Password != "" {
		if err := CheckNewPassword(*c.Password); err != nil {
			return false, err
		}
	}
	if c.DisplayName != nil && len(*c.DisplayName) > maxDisplayNameBytes {
		return false, mautrix.MInvalidParam.WithMessage("The display name is longer than %d bytes", maxDisplayNameBytes)
	}
	if c.AvatarURL != nil && (len(*c.AvatarURL) > maxAvatarURLBytes || *c.AvatarURL != "" && !strings.HasPrefix(*c.AvatarURL, "mxc://")) {
		return false, mautrix.MInvalidParam.WithMessage("The avatar URL must be an mxc:// URI")
	}
	hash := ""
	if c.Password != nil && *c.Password != "" {
		if hash, err = hashNewPassword(*c.Password); err != nil {
			return false, err
		}
	}
	var deleted []id.DeviceID
	var profileChanged, deactivated bool
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		deleted, profileChanged, deactivated = nil, false, false
		u, found, err := s.lookupUser(ctx, tx, lp)
		if err != nil {
			return err
		}
		created = !found
		changed := []string{}
		if created {
			admin := c.Admin != nil && *c.Admin
			if _, err := s.createUser(ctx, tx, lp, "", admin); err != nil {
				return err
			}
			u = userRow{userID: user, admin: admin}
		}
		set := func(column string, value any) error {
			// column is one of the constants below, never client input.
			if _, err := tx.ExecContext(ctx, `UPDATE users SET `+column+` = $1 WHERE user_id = $2`, value, user); err != nil {
				return fmt.Errorf("set %s: %w", column, err)
			}
			changed = append(changed, column)
			return nil
		}
		if c.DisplayName != nil {
			if err := set("displayname", *c.DisplayName); err != nil {
				return err
			}
			profileChanged = true
		}
		if c.AvatarURL != nil {
			if err := set("avatar_url", *c.AvatarURL); err != nil {
				return err
			}
			profileChanged = true
		}
		if c.Admin != nil && *c.Admin != u.admin {
			if err := set("is_admin", *c.Admin); err != nil {
				return err
			}
		}
		reactivate := c.Deactivated != nil && !*c.Deactivated && u.deactivated
		if reactivate && hash == "" {
			return mautrix.MInvalidParam.WithMessage("Must provide a password to re-activate an account")
		}
		if reactivate {
			if err := set("deactivated", false); err != nil {
				return err
			}
		}
		if hash != "" {
			if err := set("password_hash", hash); err != nil {
				return err
			}
			if !created {
				if err := s.record(ctx, tx, audit.Entry{Action: audit.ActionPasswordChange, TargetUser: string(user),
					Detail: map[string]string{"logout_devices": fmt.Sprint(c.LogoutDevices), "by": "admin"}}); err != nil {
					return err
				}
				if c.LogoutDevices {
					if deleted, err = s.deleteAllDevicesTx(ctx, tx, user); err != nil {
						return err
					}
				}
			}
		}
		if c.Deactivated != nil && *c.Deactivated && !u.deactivated {
			d, err := s.deactivateTx(ctx, tx, user)
			if err != nil {
				return err
			}
			deleted, deactivated = append(deleted, d...), true
		}
		if !created && len(changed) > 0 {
			return s.record(ctx, tx, audit.Entry{Action: audit.ActionAdminPrefix + "user.modify", TargetUser: string(user),
				Detail: map[string]string{"changed": strings.Join(changed, ",")}})
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	s.afterAdminChange(ctx, user, deleted, deactivated)
	if profileChanged && !deactivated && s.OnProfileChange != nil {
		s.OnProfileChange(ctx, user)
	}
	return created, nil
}

// afterAdminChange tells the other domains of deleted devices and of a
// deactivation, once the change has committed.
func (s *Service) afterAdminChange(ctx context.Context, user id.UserID, deleted []id.DeviceID, deactivated bool) {
	if s.OnDevicesDeleted != nil && len(deleted) > 0 {
		s.OnDevicesDeleted(ctx, user, deleted)
	}
	if deactivated && s.OnDeactivate != nil {
		s.OnDeactivate(ctx, user)
	}
}

// deleteAllDevicesTx deletes every device and token of user and returns
// the devices deleted.
func (s *Service) deleteAllDevicesTx(ctx context.Context, tx *sql.Tx, user id.UserID) ([]id.DeviceID, error) {
	rows, err := tx.QueryContext(ctx, `SELECT device_id FROM devices WHERE user_id = $1`, user)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	var out []id.DeviceID
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, id.DeviceID(d))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, deleteAllDevices(ctx, tx, user, "")
}

// deactivateTx closes user's account inside tx, as Deactivate does.
func (s *Service) deactivateTx(ctx context.Context, tx *sql.Tx, user id.UserID) ([]id.DeviceID, error) {
	if _, err := tx.ExecContext(ctx, `UPDATE users SET deactivated = $1, password_hash = '' WHERE user_id = $2`, true, user); err != nil {
		return nil, fmt.Errorf("deactivate: %w", err)
	}
	deleted, err := s.deleteAllDevicesTx(ctx, tx, user)
	if err != nil {
		return nil, err
	}
	return deleted, s.record(ctx, tx, audit.Entry{Action: audit.ActionDeactivate, TargetUser: string(user),
		Detail: map[string]string{"by": "admin"}})
}

// AdminDeactivate closes user's account: every device and token goes, the
// password is cleared and the user leaves their rooms. Deactivating a
// deactivated account changes nothing.
func (s *Service) AdminDeactivate(ctx context.Context, user id.UserID) error {
	var deleted []id.DeviceID
	var done bool
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		deleted, done = nil, false
		u, found, err := s.lookupAccount(ctx, tx, user)
		if err != nil {
			return err
		}
		if !found {
			return errNoUser
		}
		if u.deactivated {
			return nil
		}
		deleted, err = s.deactivateTx(ctx, tx, user)
		done = err == nil
		return err
	})
	if err != nil {
		return err
	}
	s.afterAdminChange(ctx, user, deleted, done)
	return nil
}

// AdminResetPassword sets user's password; with logoutDevices every device
// of the user is logged out.
func (s *Service) AdminResetPassword(ctx context.Context, user id.UserID, password string, logoutDevices bool) error {
	if password == "" {
		return errMissingParam.WithMessage("new_password is required")
	}
	hash, err := hashNewPassword(password)
	if err != nil {
		return err
	}
	var deleted []id.DeviceID
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		deleted = nil
		_, found, err := s.lookupAccount(ctx, tx, user)
		if err != nil {
			return err
		}
		if !found {
			return errNoUser
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $1 WHERE user_id = $2`, hash, user); err != nil {
			return fmt.Errorf("set password: %w", err)
		}
		if err := s.record(ctx, tx, audit.Entry{Action: audit.ActionPasswordChange, TargetUser: string(user),
			Detail: map[string]string{"logout_devices": fmt.Sprint(logoutDevices), "by": "admin"}}); err != nil {
			return err
		}
		if logoutDevices {
			deleted, err = s.deleteAllDevicesTx(ctx, tx, user)
		}
		return err
	})
	if err != nil {
		return err
	}
	s.afterAdminChange(ctx, user, deleted, false)
	return nil
}

// lookupAccount is lookupUser by user ID (local users only).
func (s *Service) lookupAccount(ctx context.Context, tx *sql.Tx, user id.UserID) (userRow, bool, error) {
	if !s.IsLocal(user) {
		return userRow{}, false, nil
	}
	return s.lookupUser(ctx, tx, user.Localpart())
}

// AdminDevice is a device as the admin API shows it.
type AdminDevice struct {
	DeviceID          id.DeviceID
	DisplayName       string
	LastSeenIP        string
	LastSeenUserAgent string
	LastSeenTS        int64
}

// AdminDevices lists user's devices with where and how they were last
// seen; M_NOT_FOUND when user has no account.
func (s *Service) AdminDevices(ctx context.Context, user id.UserID) ([]AdminDevice, error) {
	if ok, err := s.UserExists(ctx, user); err != nil {
		return nil, err
	} else if !ok {
		return nil, errNoUser
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT device_id, display_name, last_seen_ip, last_seen_user_agent, last_seen_ts
		FROM devices WHERE user_id = $1 ORDER BY created_ts, device_id`, user)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	defer rows.Close()
	out := []AdminDevice{}
	for rows.Next() {
		var d AdminDevice
		var dev string
		if err := rows.Scan(&dev, &d.DisplayName, &d.LastSeenIP, &d.LastSeenUserAgent, &d.LastSeenTS); err != nil {
			return nil, fmt.Errorf("list devices: %w", err)
		}
		d.DeviceID = id.DeviceID(dev)
		out = append(out, d)
	}
	return out, rows.Err()
}

// AdminDeleteDevices deletes some of user's devices and their tokens
// (recording each one that existed); devices the user does not have are
// ignored. M_NOT_FOUND when user has no account.
func (s *Service) AdminDeleteDevices(ctx context.Context, user id.UserID, devices []id.DeviceID) error {
	if len(devices) > 1000 {
		return mautrix.MInvalidParam.WithMessage("Too many devices in one request")
	}
	if ok, err := s.UserExists(ctx, user); err != nil {
		return err
	} else if !ok {
		return errNoUser
	}
	if len(devices) == 0 {
		return nil
	}
	return s.deleteDevices(ctx, user, devices)
}

// CountDevices counts the devices of the given users.
func (s *Service) CountDevices(ctx context.Context, users []id.UserID) (int, error) {
	total := 0
	for chunk := range slices.Chunk(users, 500) {
		args := make([]any, len(chunk))
		marks := make([]string, len(chunk))
		for i, u := range chunk {
			args[i] = string(u)
			marks[i] = fmt.Sprintf("$%d", i+1)
		}
		var n int
		if err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM devices WHERE user_id IN (`+strings.Join(marks, ",")+`)`, args...).
			Scan(&n); err != nil {
			return 0, fmt.Errorf("count devices: %w", err)
		}
		total += n
	}
	return total, nil
}
