package policy

import (
	"context"
	"database/sql"
	"strings"

	"maunium.net/go/mautrix/id"

	"ward/audit"
)

// Auditor records what the policy decided or an admin changed. A nil
// Auditor records nothing.
type Auditor interface {
	Record(ctx context.Context, tx *sql.Tx, e audit.Entry) error
	RecordAlone(ctx context.Context, e audit.Entry) error
}

// asAdmin makes actor the actor of the entries other packages record for
// an admin's change (the accounts a roster import creates are the admin's
// doing, not self-registrations), unless the request already names its
// authenticated caller.
func asAdmin(ctx context.Context, actor string) context.Context {
	r := audit.RequestFrom(ctx)
	if r != nil && r.User != "" {
		return ctx
	}
	req := audit.Request{User: actor}
	if r != nil {
		req = *r
		req.User = actor
	}
	return audit.WithRequest(ctx, &req)
}

// auditIntakeUse records, in the registration's transaction, that user
// redeemed the intake token tokenID (its id, never the token). bound says
// the token set the password of an account made beforehand.
func (s *Service) auditIntakeUse(ctx context.Context, tx *sql.Tx, user id.UserID, tokenID string, role Role, bound bool) error {
	if s.Audit == nil {
		return nil
	}
	d := map[string]string{"bound_account": "false", "role": string(role)}
	if bound {
		d = map[string]string{"bound_account": "true"}
	}
	return s.Audit.Record(ctx, tx, audit.Entry{ActorUser: string(user), Action: audit.ActionIntakeRedeem,
		TargetUser: string(user), TokenID: tokenID, Detail: d})
}

// auditDenial records a refusal: who tried what, the rule and its reason
// (the room and the target, when rooms named them in ctx).
func (s *Service) auditDenial(ctx context.Context, actor id.UserID, action string, d Decision) {
	if s.Audit == nil {
		return
	}
	_ = s.Audit.RecordAlone(ctx, audit.Entry{
		ActorUser: string(actor), Action: audit.ActionPolicyDenial, Outcome: audit.Denied,
		Reason: d.Rule + ": " + d.Reason, Detail: map[string]string{"attempted": action, "rule": d.Rule},
	})
}

// auditAdminTx records an admin's change of facts (roles, care teams,
// assignments, intake tokens, roster imports) inside the transaction that
// makes it: no change without its entry, no entry for a change rolled back.
// target is a user ID, a care team or an intake token's id (never the token).
func (s *Service) auditAdminTx(ctx context.Context, tx *sql.Tx, actor, action, target string) error {
	s.log.InfoContext(ctx, "admin action", "actor", actor, "action", action, "target", target)
	if s.Audit == nil {
		return nil
	}
	return s.Audit.Record(ctx, tx, adminEntry(actor, action, target))
}

// adminEntry is the audit entry of an admin action.
func adminEntry(actor, action, target string) audit.Entry {
	e := audit.Entry{ActorUser: actor, Action: audit.ActionAdminPrefix + "policy", Outcome: audit.Allowed,
		Detail: map[string]string{"what": action}}
	switch {
	case strings.HasPrefix(target, "@"):
		e.TargetUser = target
	case strings.Contains(action, "care team"):
		e.Team = target
	case strings.Contains(action, "intake token"):
		e.TokenID = target
	default:
		e.Detail["target"] = target
	}
	return e
}
