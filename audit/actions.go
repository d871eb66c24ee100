package audit

// Actions the trail records. Domains may record others; these are the ones
// Ward's own packages use, so that filters can name them.
const (
	ActionLogin          = "login"
	ActionLogout         = "logout"
	ActionLogoutAll      = "logout.all"
	ActionTokenRefresh   = "token.refresh"
	ActionRegister       = "register"
	ActionIntakeRedeem   = "register.intake_token"
	ActionPasswordChange = "password.change"
	ActionDeactivate     = "account.deactivate"
	ActionDeviceAdd      = "device.add"
	ActionDeviceDelete   = "device.delete"
	ActionCrossSigning   = "keys.cross_signing"
	ActionKeyBackup      = "keys.backup"
	ActionRoomCreate     = "room.create"
	ActionInvite         = "room.invite"
	ActionJoin           = "room.join"
	ActionLeave          = "room.leave"
	ActionKick           = "room.kick"
	ActionBan            = "room.ban"
	ActionUnban          = "room.unban"
	ActionKnock          = "room.knock"
	ActionEventSend      = "event.send"
	ActionRedact         = "event.redact"
	ActionMediaUpload    = "media.upload"
	ActionMediaDownload  = "media.download"
	ActionPolicyDenial   = "policy.deny"
	ActionAuditRead      = "audit.read"
	ActionAuditVerify    = "audit.verify"
	ActionTruncate       = "audit.truncate"
	// Admin actions are "admin." followed by what was done.
	ActionAdminPrefix = "admin."

	// ActionDehydratedDevice is a dehydrated device (MSC3814) created,
	// replaced or deleted.
	ActionDehydratedDevice = "keys.dehydrated_device"

	// ActionProfile is a joined member's new display name or avatar in a
	// room (a join → join member event), not a join.
	ActionProfile = "room.profile"
)
