package server

import (
	"context"
	"strconv"

	"maunium.net/go/mautrix/id"

	"ward/audit"
)

// mediaAudit records media uploads and downloads in the audit trail for the
// media package, which reports them after its own transaction.
type mediaAudit struct{ r *audit.Recorder }

func (m mediaAudit) MediaUploaded(ctx context.Context, user id.UserID, mediaID string, size int64) {
	_ = m.r.RecordAlone(ctx, audit.Entry{ActorUser: string(user), Action: audit.ActionMediaUpload, MediaID: mediaID,
		Detail: map[string]string{"size": strconv.FormatInt(size, 10)}})
}

func (m mediaAudit) MediaDownloaded(ctx context.Context, user id.UserID, mediaID string, thumbnail bool) {
	e := audit.Entry{ActorUser: string(user), Action: audit.ActionMediaDownload, MediaID: mediaID}
	if thumbnail {
		e.Detail = map[string]string{"thumbnail": "true"}
	}
	_ = m.r.RecordAlone(ctx, e)
}
