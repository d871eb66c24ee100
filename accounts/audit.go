package accounts

import (
	"context"
	"database/sql"
	"errors"

	"maunium.net/go/mautrix"

	"ward/audit"
)

// Auditor records account actions: inside the action's transaction
// (Record), or alone for failures that write nothing (RecordAlone). A nil
// Auditor records nothing.
type Auditor interface {
	Record(ctx context.Context, tx *sql.Tx, e audit.Entry) error
	RecordAlone(ctx context.Context, e audit.Entry) error
}

func (s *Service) record(ctx context.Context, tx *sql.Tx, e audit.Entry) error {
	if s.Audit == nil {
		return nil
	}
	return s.Audit.Record(ctx, tx, e)
}

func (s *Service) recordAlone(ctx context.Context, e audit.Entry) {
	if s.Audit == nil {
		return
	}
	_ = s.Audit.RecordAlone(ctx, e)
}

// auditLoginFailure records a refused login: who was named and why (never
// the password).
func (s *Service) auditLoginFailure(ctx context.Context, user string, err error) {
	reason := "error"
	var re mautrix.RespError
	switch {
	case errors.Is(err, errBadLogin):
		reason = "invalid username or password"
	case errors.As(err, &re):
		reason = re.Err
	}
	target := user
	if lp, ok := s.localpartOf(user); ok {
		target = string(s.userID(lp))
	}
	s.recordAlone(ctx, audit.Entry{Action: audit.ActionLogin, ActorUser: target, TargetUser: target,
		Outcome: audit.Failed, Reason: reason})
}

// uiaActions names the action each User-Interactive Auth purpose protects.
var uiaActions = map[string]string{
	"password":              audit.ActionPasswordChange,
	"deactivate":            audit.ActionDeactivate,
	"delete_devices":        audit.ActionDeviceDelete,
	"device_signing_upload": audit.ActionCrossSigning,
}

// auditUIAFailure records a wrong password given in User-Interactive Auth,
// like a failed login: the action that was attempted, failed, "wrong
// password" (never the password).
func (s *Service) auditUIAFailure(ctx context.Context, sess Session, purpose string) {
	action, ok := uiaActions[purpose]
	if !ok {
		action = audit.ActionLogin
	}
	s.recordAlone(ctx, audit.Entry{Action: action, ActorUser: string(sess.UserID), ActorDevice: string(sess.DeviceID),
		TargetUser: string(sess.UserID), Outcome: audit.Failed, Reason: "wrong password",
		Detail: map[string]string{"auth": AuthPassword, "purpose": purpose}})
}
