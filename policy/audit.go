package policy

import (
	"context"
	"strings"

	"maunium.net/go/mautrix/id"

	"ward/audit"
)

// Auditor records what the policy decided or an admin changed. A nil
// Auditor records nothing.
type Auditor interface {
	RecordAlone(ctx context.Context, e audit.Entry) error
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

// auditAdmin records an admin's change of facts (roles, care teams,
// assignments, intake tokens, roster imports). target is a user ID, a care
// team or an intake token's id (never the token).
func (s *Service) auditAdmin(ctx context.Context, actor, action, target string) {
	if s.Audit == nil {
		return
	}
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
	_ = s.Audit.RecordAlone(ctx, e)
}
