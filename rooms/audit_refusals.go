package rooms

import (
	"context"
	"errors"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/event"

	"ward/audit"
)

// authRefusal is an event the room's auth rules refused, carried out of
// the append's transaction (which rolls back) so that the refusal is
// recorded once the transaction is over.
type authRefusal struct {
	err   error
	entry audit.Entry
}

func (e *authRefusal) Error() string { return e.err.Error() }
func (e *authRefusal) Unwrap() error { return e.err }

// refusedByAuth wraps the auth rules' refusal of p in room r with the
// entry that records it: outcome failed, the action the event would have
// been, the rule in the reason; never the content.
func refusedByAuth(r *roomRow, p proto, err error) error {
	e := audit.Entry{
		ActorUser: string(p.Sender), ActorDevice: string(p.TxnDevice), Action: audit.ActionEventSend,
		RoomID: string(r.ID), EventType: p.Type, Outcome: audit.Failed, Reason: err.Error(),
	}
	switch {
	case p.Type == event.StateCreate.Type:
		e.Action = audit.ActionRoomCreate
	case p.Type == event.EventRedaction.Type:
		e.Action = audit.ActionRedact
		if p.Redacts != "" {
			e.Detail = map[string]string{"redacts": string(p.Redacts)}
		}
	case p.Type == event.StateMember.Type && p.StateKey != nil:
		e.TargetUser = *p.StateKey
		e.Action = membershipAction(gjson.GetBytes(p.Content, "membership").Str, "", string(p.Sender) != *p.StateKey)
	case p.StateKey != nil:
		e.Detail = map[string]string{"state_key": *p.StateKey}
	}
	return &authRefusal{err: err, entry: e}
}

// recordRefusal records an auth-rule refusal carried by err, now that the
// transaction that found it is over, and returns the client's error.
// Other errors pass through unchanged.
func (s *Service) recordRefusal(ctx context.Context, err error) error {
	var ar *authRefusal
	if !errors.As(err, &ar) {
		return err
	}
	if s.audit != nil {
		_ = s.audit.RecordAlone(ctx, ar.entry)
	}
	return ar.err
}
