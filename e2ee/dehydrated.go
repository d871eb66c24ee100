package e2ee

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"ward/audit"
	"ward/internal/db"
)

// A dehydrated device (MSC3814) is a device a client creates for its user
// and leaves on the server, so that room keys sent while none of the
// user's devices is online are not lost: other clients encrypt to it like
// to any device, and the user's next login rehydrates it from device_data
// (encrypted with a key only the user's clients hold) and reads its
// to-device inbox. It is never logged in as: it has no row in devices and
// no token; its keys and inbox are kept like any device's, under its ID.

const (
	// maxDehydratedDataLength bounds device_data: an encrypted account
	// pickle of a few kilobytes, with room to spare.
	maxDehydratedDataLength = 1 << 20
	maxDeviceIDLength       = 255
	maxDisplayNameLength    = 1024
)

var (
	errNoDehydratedDevice = mautrix.MNotFound.WithMessage("No dehydrated device")
	errMissingParam       = mautrix.RespError{ErrCode: "M_MISSING_PARAM", StatusCode: http.StatusBadRequest}
)

// DehydratedDeviceRequest is the body of PUT /dehydrated_device: the device
// and its keys, uploaded together so that no dehydrated device exists
// without keys to encrypt to.
type DehydratedDeviceRequest struct {
	DeviceID                 id.DeviceID     `json:"device_id"`
	DeviceData               json.RawMessage `json:"device_data"`
	InitialDeviceDisplayName string          `json:"initial_device_display_name,omitempty"`
	UploadRequest
}

// DehydratedDevice is the answer of GET /dehydrated_device.
type DehydratedDevice struct {
	DeviceID   id.DeviceID     `json:"device_id"`
	DeviceData json.RawMessage `json:"device_data"`
}

// DehydratedEvents is the answer of POST /dehydrated_device/{deviceId}/events.
type DehydratedEvents struct {
	Events    []ToDeviceEvent `json:"events"`
	NextBatch string          `json:"next_batch"`
}

// PutDehydratedDevice creates user's dehydrated device, replacing the
// previous one: its keys and inbox are deleted with it. The keys are
// stored as /keys/upload stores a device's, with the same checks, and the
// device-list change is announced as for a new device. An ID that one of
// user's sessions uses is refused.
//
// Spec: MSC3814, PUT /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device.
func (s *Service) PutDehydratedDevice(ctx context.Context, user id.UserID, req DehydratedDeviceRequest) (id.DeviceID, error) {
	dev := req.DeviceID
	if dev == "" {
		return "", errMissingParam.WithMessage("device_id is required")
	}
	if len(dev) > maxDeviceIDLength {
		return "", mautrix.MInvalidParam.WithMessage("device_id is too long")
	}
	if len(req.InitialDeviceDisplayName) > maxDisplayNameLength {
		return "", mautrix.MInvalidParam.WithMessage("initial_device_display_name is too long")
	}
	if !present(req.DeviceData) {
		return "", errMissingParam.WithMessage("device_data is required")
	}
	if len(req.DeviceData) > maxDehydratedDataLength {
		return "", mautrix.MTooLarge.WithMessage("device_data is larger than %d bytes", maxDehydratedDataLength)
	}
	var data struct {
		Algorithm string `json:"algorithm"`
	}
	if err := json.Unmarshal(req.DeviceData, &data); err != nil || !isObject(req.DeviceData) {
		return "", mautrix.MBadJSON.WithMessage("device_data must be a JSON object")
	}
	if data.Algorithm == "" {
		return "", mautrix.MInvalidParam.WithMessage("device_data must name its algorithm")
	}
	if !present(req.DeviceKeys) {
		return "", errMissingParam.WithMessage("device_keys is required: a dehydrated device without keys cannot be encrypted to")
	}
	up, err := checkUpload(req.UploadRequest, user, dev)
	if err != nil {
		return "", err
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM devices WHERE user_id = $1 AND device_id = $2`, user, dev).Scan(&one)
		if err == nil {
			return mautrix.MInvalidParam.WithMessage("Device ID %s belongs to one of your sessions", dev)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("check device ID: %w", err)
		}
		old, err := deleteDehydrated(ctx, tx, user)
		if err != nil {
			return err
		}
		// Keys or messages already under the new ID are leftovers of a
		// device that no longer exists: the new device starts clean.
		if _, err := deleteDeviceData(ctx, tx, user, dev); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO e2ee_dehydrated_devices (user_id, device_id, display_name, device_data, created_ts)
			VALUES ($1, $2, $3, $4, $5)`, user, dev, req.InitialDeviceDisplayName, string(req.DeviceData), s.now().UnixMilli()); err != nil {
			return fmt.Errorf("store dehydrated device: %w", err)
		}
		if _, err := storeUpload(ctx, tx, user, dev, up); err != nil {
			return err
		}
		if err := recordChange(ctx, tx, user); err != nil {
			return err
		}
		detail := map[string]string{"change": "create", "device_id": string(dev)}
		if old != "" {
			detail["replaced"] = string(old)
		}
		return s.record(ctx, tx, audit.ActionDehydratedDevice, user, detail)
	})
	if err != nil {
		return "", err
	}
	s.wakePeers(ctx, user)
	return dev, nil
}

// deleteDehydrated deletes user's dehydrated device with its keys and
// inbox inside tx and returns its ID ("" when there was none). The caller
// records the device-list change.
func deleteDehydrated(ctx context.Context, tx *sql.Tx, user id.UserID) (id.DeviceID, error) {
	var dev string
	err := tx.QueryRowContext(ctx, `DELETE FROM e2ee_dehydrated_devices WHERE user_id = $1 RETURNING device_id`, user).Scan(&dev)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("delete dehydrated device: %w", err)
	}
	if _, err := deleteDeviceData(ctx, tx, user, id.DeviceID(dev)); err != nil {
		return "", fmt.Errorf("delete dehydrated device's keys: %w", err)
	}
	return id.DeviceID(dev), nil
}

// GetDehydratedDevice returns user's dehydrated device (M_NOT_FOUND when
// there is none).
//
// Spec: MSC3814, GET /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device.
func (s *Service) GetDehydratedDevice(ctx context.Context, user id.UserID) (*DehydratedDevice, error) {
	var dev, data string
	err := s.db.Read.QueryRowContext(ctx, `SELECT device_id, device_data FROM e2ee_dehydrated_devices WHERE user_id = $1`, user).Scan(&dev, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoDehydratedDevice
	}
	if err != nil {
		return nil, fmt.Errorf("read dehydrated device: %w", err)
	}
	return &DehydratedDevice{DeviceID: id.DeviceID(dev), DeviceData: json.RawMessage(data)}, nil
}

// DeleteDehydratedDevice deletes user's dehydrated device, its keys and
// its inbox, announces the device-list change and returns the device's ID
// (M_NOT_FOUND when there is none).
//
// Spec: MSC3814, DELETE /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device.
func (s *Service) DeleteDehydratedDevice(ctx context.Context, user id.UserID) (id.DeviceID, error) {
	var dev id.DeviceID
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		if dev, err = deleteDehydrated(ctx, tx, user); err != nil {
			return err
		}
		if dev == "" {
			return errNoDehydratedDevice
		}
		if err := recordChange(ctx, tx, user); err != nil {
			return err
		}
		return s.record(ctx, tx, audit.ActionDehydratedDevice, user, map[string]string{"change": "delete", "device_id": string(dev)})
	})
	if err != nil {
		return "", err
	}
	s.wakePeers(ctx, user)
	return dev, nil
}

// AccountDeactivated deletes a deactivated user's dehydrated device: the
// account's keys must stop being encrypted to.
func (s *Service) AccountDeactivated(ctx context.Context, user id.UserID) error {
	_, err := s.DeleteDehydratedDevice(ctx, user)
	if errors.Is(err, errNoDehydratedDevice) {
		return nil
	}
	return err
}

// IsDehydratedDevice reports whether device is user's dehydrated device.
// accounts asks it inside a login's transaction, so that no login takes
// the device over (it would read the device's inbox as its own).
func IsDehydratedDevice(ctx context.Context, q db.Querier, user id.UserID, device id.DeviceID) (bool, error) {
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM e2ee_dehydrated_devices WHERE user_id = $1 AND device_id = $2`, user, device).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check dehydrated device: %w", err)
	}
	return true, nil
}

// DehydratedDeviceEvents returns the to-device messages queued for user's
// dehydrated device, oldest first, at most MaxToDevicePerSync of them.
// nextBatch is "" for the first call and then the next_batch of the
// previous answer: the messages that answer carried are deleted (they
// were received), and the following ones returned. A call repeated with
// the same nextBatch returns the same messages, so a lost answer is not a
// lost message. An empty Events means there are no more.
//
// Positions become visible in the order they were given out (see
// internal/stream), so no message can appear later at or below a
// next_batch already handed out, and deleting up to it loses nothing.
//
// Spec: MSC3814, POST /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device/{deviceId}/events.
func (s *Service) DehydratedDeviceEvents(ctx context.Context, user id.UserID, device id.DeviceID, nextBatch string) (*DehydratedEvents, error) {
	var since int64
	if nextBatch != "" {
		var err error
		if since, err = strconv.ParseInt(nextBatch, 10, 64); err != nil || since < 0 {
			return nil, mautrix.MInvalidParam.WithMessage("Invalid next_batch")
		}
	}
	check := func(q db.Querier) error {
		ok, err := IsDehydratedDevice(ctx, q, user, device)
		if err == nil && !ok {
			err = errNoDehydratedDevice
		}
		return err
	}
	var err error
	if since == 0 {
		err = check(s.db.Read)
	} else {
		err = s.db.Tx(ctx, func(tx *sql.Tx) error {
			if err := check(tx); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM e2ee_to_device WHERE user_id = $1 AND device_id = $2 AND stream_pos <= $3`,
				user, device, since); err != nil {
				return fmt.Errorf("delete received to-device messages: %w", err)
			}
			return nil
		})
	}
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT stream_pos, sender, type, content FROM e2ee_to_device
		WHERE user_id = $1 AND device_id = $2 AND stream_pos > $3 ORDER BY stream_pos LIMIT $4`,
		user, device, since, MaxToDevicePerSync)
	if err != nil {
		return nil, fmt.Errorf("read to-device messages: %w", err)
	}
	defer rows.Close()
	out := &DehydratedEvents{Events: []ToDeviceEvent{}, NextBatch: strconv.FormatInt(since, 10)}
	for rows.Next() {
		var pos int64
		var ev ToDeviceEvent
		var content string
		if err := rows.Scan(&pos, &ev.Sender, &ev.Type, &content); err != nil {
			return nil, err
		}
		ev.Content = json.RawMessage(content)
		out.Events = append(out.Events, ev)
		out.NextBatch = strconv.FormatInt(pos, 10)
	}
	return out, rows.Err()
}
