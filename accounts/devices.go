package accounts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"ward/audit"
)

// Device is one of a user's sessions as the device list shows it.
type Device struct {
	DeviceID    id.DeviceID `json:"device_id"`
	DisplayName string      `json:"display_name,omitempty"`
	LastSeenIP  string      `json:"last_seen_ip,omitempty"`
	LastSeenTS  int64       `json:"last_seen_ts,omitempty"`
}

var errNoDevice = mautrix.MNotFound.WithMessage("Unknown device")

// Devices lists user's devices.
//
// Spec: client-server-api "Device management", GET /devices.
func (s *Service) Devices(ctx context.Context, user id.UserID) ([]Device, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT device_id, display_name, last_seen_ip, last_seen_ts FROM devices
		WHERE user_id = $1 ORDER BY created_ts, device_id`, user)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	defer rows.Close()
	out := []Device{}
	for rows.Next() {
		var d Device
		var dev string
		if err := rows.Scan(&dev, &d.DisplayName, &d.LastSeenIP, &d.LastSeenTS); err != nil {
			return nil, fmt.Errorf("list devices: %w", err)
		}
		d.DeviceID = id.DeviceID(dev)
		out = append(out, d)
	}
	return out, rows.Err()
}

// Device returns one of user's devices (M_NOT_FOUND when it has none by
// that ID).
//
// Spec: client-server-api GET /devices/{deviceId}.
func (s *Service) Device(ctx context.Context, user id.UserID, device id.DeviceID) (Device, error) {
	d := Device{DeviceID: device}
	err := s.db.Read.QueryRowContext(ctx, `SELECT display_name, last_seen_ip, last_seen_ts FROM devices
		WHERE user_id = $1 AND device_id = $2`, user, device).Scan(&d.DisplayName, &d.LastSeenIP, &d.LastSeenTS)
	if errors.Is(err, sql.ErrNoRows) {
		return Device{}, errNoDevice
	}
	if err != nil {
		return Device{}, fmt.Errorf("get device: %w", err)
	}
	return d, nil
}

// SetDeviceName renames one of user's devices.
//
// Spec: client-server-api PUT /devices/{deviceId}.
func (s *Service) SetDeviceName(ctx context.Context, user id.UserID, device id.DeviceID, name string) error {
	if len(name) > 1024 {
		return mautrix.MInvalidParam.WithMessage("The device display name is too long")
	}
	var n int64
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE devices SET display_name = $1 WHERE user_id = $2 AND device_id = $3`, name, user, device)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("rename device: %w", err)
	}
	if n == 0 {
		return errNoDevice
	}
	return nil
}

// DeleteDevices deletes some of the caller's devices and their tokens,
// after User-Interactive Auth with the caller's password. Devices the user
// does not have are ignored, as the spec asks for POST /delete_devices.
//
// Spec: client-server-api DELETE /devices/{deviceId}, POST /delete_devices.
func (s *Service) DeleteDevices(ctx context.Context, sess Session, devices []id.DeviceID, auth *AuthData) error {
	if len(devices) > 1000 {
		return mautrix.MInvalidParam.WithMessage("Too many devices in one request")
	}
	if err := s.requirePassword(ctx, sess, auth, "delete_devices"); err != nil {
		return err
	}
	return s.deleteDevices(ctx, sess.UserID, devices)
}

// DeleteDevice is DeleteDevices for one device, which must exist.
func (s *Service) DeleteDevice(ctx context.Context, sess Session, device id.DeviceID, auth *AuthData) error {
	if _, err := s.Device(ctx, sess.UserID, device); err != nil {
		return err
	}
	return s.DeleteDevices(ctx, sess, []id.DeviceID{device}, auth)
}

func (s *Service) deleteDevices(ctx context.Context, user id.UserID, devices []id.DeviceID) error {
	return s.deleteDevicesAs(ctx, user, devices, audit.ActionDeviceDelete)
}

// deleteDevicesAs deletes devices, recording each one that existed under
// action (a logout, or a device deletion).
func (s *Service) deleteDevicesAs(ctx context.Context, user id.UserID, devices []id.DeviceID, action string) error {
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		for _, d := range devices {
			if err := deleteDeviceTokens(ctx, tx, user, d); err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, `DELETE FROM devices WHERE user_id = $1 AND device_id = $2`, user, d)
			if err != nil {
				return fmt.Errorf("delete device: %w", err)
			}
			if n, _ := res.RowsAffected(); n > 0 {
				if err := s.record(ctx, tx, audit.Entry{Action: action, TargetUser: string(user),
					Detail: map[string]string{"device_id": string(d)}}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if s.OnDevicesDeleted != nil && len(devices) > 0 {
		s.OnDevicesDeleted(ctx, user, devices)
	}
	return nil
}
