package server

import (
	"context"
	"database/sql"
	"strconv"

	"maunium.net/go/mautrix/id"

	"ward/audit"
)

// mediaAudit records media uploads (inside the upload's transaction) and
// downloads (alone) in the audit trail for the media package.
type mediaAudit struct{ r *audit.Recorder }

func (m mediaAudit) MediaUploaded(ctx context.Context, tx *sql.Tx, user id.UserID, mediaID string, size int64) error {
	return m.r.Record(ctx, tx, audit.Entry{ActorUser: string(user), Action: audit.ActionMediaUpload, MediaID: mediaID,
		Detail: map[string]string{"size": strconv.FormatInt(size, 10)}})
}

func (m mediaAudit) MediaDownloaded(ctx context.Context, user id.UserID, mediaID string, thumbnail bool) error {
	e := audit.Entry{ActorUser: string(user), Action: audit.ActionMediaDownload, MediaID: mediaID}
	if thumbnail {
		e.Detail = map[string]string{"thumbnail": "true"}
	}
	return m.r.RecordAlone(ctx, e)
}

func (m mediaAudit) MediaDownloadRefused(ctx context.Context, user id.UserID, mediaID string, thumbnail bool) error {
	e := audit.Entry{ActorUser: string(user), Action: audit.ActionMediaDownload, MediaID: mediaID,
		Outcome: audit.Denied, Reason: "not entitled to the item"}
	if thumbnail {
		e.Detail = map[string]string{"thumbnail": "true"}
	}
	return m.r.RecordAlone(ctx, e)
}
