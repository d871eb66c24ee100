package media

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"unicode"
	"unicode/utf8"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// Upload is one body a client sends.
type Upload struct {
	ContentType string
	FileName    string
	// Length is the declared Content-Length, -1 when unknown.
	Length int64
	Body   io.Reader
}

var (
	errNotFound    = mautrix.MNotFound.WithMessage("Media not found")
	errTruncated   = mautrix.MUnknown.WithStatus(400).WithMessage("The upload ended before its declared length")
	errQuota       = mautrix.MForbidden.WithMessage("This upload would exceed your media quota")
	errTooManyWait = mautrix.MLimitExceeded.WithMessage("Too many media ids are waiting for their upload")
)

func (s *Service) errTooLarge() error {
	return mautrix.MTooLarge.WithMessage("The upload is larger than the limit of %d bytes", s.opts.MaxUploadBytes)
}

// mediaIDAlphabet is what the spec allows in a media id (and nothing that
// could walk a path).
const mediaIDAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func newMediaID() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = mediaIDAlphabet[int(b[i])%len(mediaIDAlphabet)]
	}
	return string(b)
}

// ValidMediaID reports whether raw has the spec's media id form:
// A-Za-z0-9, _ and -, not empty, at most 255 characters.
func ValidMediaID(raw string) bool {
	if raw == "" || len(raw) > 255 {
		return false
	}
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// CleanContentType keeps the media type (and a charset) of a declared
// Content-Type, lower-cased; anything unparseable becomes
// application/octet-stream.
func CleanContentType(raw string) string {
	mt, params, err := mime.ParseMediaType(raw)
	if err != nil || mt == "" || len(mt) > 127 || !strings.Contains(mt, "/") {
		return "application/octet-stream"
	}
	if cs := params["charset"]; cs != "" && len(cs) < 40 {
		if out := mime.FormatMediaType(mt, map[string]string{"charset": strings.ToLower(cs)}); out != "" {
			return out
		}
	}
	return mt
}

// CleanFileName keeps the last path element of a client's file name without
// control characters, at most 255 bytes; "" when nothing usable is left.
func CleanFileName(raw string) string {
	if i := strings.LastIndexAny(raw, `/\`); i >= 0 {
		raw = raw[i+1:]
	}
	raw = strings.ToValidUTF8(raw, "")
	raw = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '"' {
			return -1
		}
		return r
	}, raw)
	raw = strings.TrimSpace(raw)
	if raw == "." || raw == ".." {
		return ""
	}
	for len(raw) > 255 {
		_, size := utf8.DecodeLastRuneInString(raw)
		raw = raw[:len(raw)-size]
	}
	return raw
}

// usedBytes is what the user has uploaded so far.
func (s *Service) usedBytes(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}, user id.UserID) (int64, error) {
	var used sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT SUM(size) FROM media WHERE uploader = $1 AND sha256 IS NOT NULL`, string(user)).Scan(&used)
	return used.Int64, err
}

// receive stores the body of up within the size limit and the caller's
// quota and returns its hash and size.
func (s *Service) receive(ctx context.Context, caller Caller, up Upload) (string, int64, error) {
	limit := s.opts.MaxUploadBytes
	if up.Length > limit {
		return "", 0, s.errTooLarge()
	}
	byQuota := false
	if s.opts.QuotaBytes > 0 {
		used, err := s.usedBytes(ctx, s.db.Read, caller.UserID)
		if err != nil {
			return "", 0, fmt.Errorf("media quota: %w", err)
		}
		left := max(s.opts.QuotaBytes-used, 0)
		if up.Length > left || left == 0 {
			return "", 0, errQuota
		}
		if left < limit {
			limit, byQuota = left, true
		}
	}
	sum, n, err := s.files.write(up.Body, limit)
	switch {
	case errors.Is(err, errLimit) && byQuota:
		return "", 0, errQuota
	case errors.Is(err, errLimit):
		return "", 0, s.errTooLarge()
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "", 0, errTruncated
	case err != nil:
		if ctx.Err() != nil {
			return "", 0, ctx.Err()
		}
		// A read error from the client's connection.
		return "", 0, mautrix.MUnknown.WithStatus(400).WithMessage("Could not read the upload")
	}
	if up.Length >= 0 && n != up.Length {
		return "", 0, errTruncated
	}
	return sum, n, nil
}

// Upload stores a new item and returns its mxc URI.
//
// Spec: client-server-api POST /_matrix/media/v3/upload.
func (s *Service) Upload(ctx context.Context, caller Caller, up Upload) (id.ContentURI, error) {
	sum, n, err := s.receive(ctx, caller, up)
	if err != nil {
		return id.ContentURI{}, err
	}
	mediaID := newMediaID()
	now := s.now().UnixMilli()
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO media (media_id, uploader, content_type, filename, sha256, size, created_ts, uploaded_ts)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, mediaID, string(caller.UserID), CleanContentType(up.ContentType),
			CleanFileName(up.FileName), sum, n, now, now)
		if err != nil {
			return err
		}
		return s.recordUpload(ctx, tx, caller, mediaID, n)
	})
	if err != nil {
		return id.ContentURI{}, fmt.Errorf("record upload: %w", err)
	}
	return id.ContentURI{Homeserver: s.opts.ServerName, FileID: mediaID}, nil
}

// Create reserves a media id for a later upload by the caller and returns
// it with the time (ms) it expires unused.
//
// Spec: client-server-api POST /_matrix/media/v1/create.
func (s *Service) Create(ctx context.Context, caller Caller) (id.ContentURI, int64, error) {
	mediaID := newMediaID()
	now := s.now()
	expires := now.Add(pendingLifetime).UnixMilli()
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var pending int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM media WHERE uploader = $1 AND sha256 IS NULL AND expires_ts > $2`,
			string(caller.UserID), now.UnixMilli()).Scan(&pending); err != nil {
			return err
		}
		if pending >= maxPending {
			return errTooManyWait
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO media (media_id, uploader, created_ts, expires_ts) VALUES ($1, $2, $3, $4)`,
			mediaID, string(caller.UserID), now.UnixMilli(), expires)
		return err
	})
	if err != nil {
		return id.ContentURI{}, 0, err
	}
	return id.ContentURI{Homeserver: s.opts.ServerName, FileID: mediaID}, expires, nil
}

// UploadTo fills an id reserved with Create.
//
// Spec: client-server-api PUT /_matrix/media/v3/upload/{serverName}/{mediaId}.
func (s *Service) UploadTo(ctx context.Context, caller Caller, serverName, mediaID string, up Upload) error {
	if serverName != s.opts.ServerName || !ValidMediaID(mediaID) {
		return errNotFound
	}
	check := func(q interface {
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	}) error {
		var uploader string
		var sum sql.NullString
		var expires sql.NullInt64
		err := q.QueryRowContext(ctx, `SELECT uploader, sha256, expires_ts FROM media WHERE media_id = $1`, mediaID).
			Scan(&uploader, &sum, &expires)
		if errors.Is(err, sql.ErrNoRows) {
			return errNotFound
		}
		if err != nil {
			return err
		}
		if uploader != string(caller.UserID) {
			return mautrix.MForbidden.WithMessage("This media id was created by another user")
		}
		if sum.Valid {
			return mautrix.RespError{ErrCode: "M_CANNOT_OVERWRITE_MEDIA", Err: "This media id already has content", StatusCode: 409}
		}
		if expires.Valid && expires.Int64 <= s.now().UnixMilli() {
			return errNotFound
		}
		return nil
	}
	if err := check(s.db.Read); err != nil {
		return err
	}
	sum, n, err := s.receive(ctx, caller, up)
	if err != nil {
		return err
	}
	now := s.now().UnixMilli()
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		// Two uploads may race for one id: the first to commit wins.
		if err := check(tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE media SET content_type = $1, filename = $2, sha256 = $3, size = $4,
			uploaded_ts = $5, expires_ts = NULL WHERE media_id = $6`,
			CleanContentType(up.ContentType), CleanFileName(up.FileName), sum, n, now, mediaID)
		if err != nil {
			return err
		}
		return s.recordUpload(ctx, tx, caller, mediaID, n)
	})
	if err != nil {
		return err
	}
	s.wakeWaiters()
	return nil
}

// recordUpload is the one place uploads reach the audit trail: inside tx,
// the transaction that makes the item fetchable.
func (s *Service) recordUpload(ctx context.Context, tx *sql.Tx, caller Caller, mediaID string, size int64) error {
	if s.opts.Audit == nil {
		return nil
	}
	return s.opts.Audit.MediaUploaded(ctx, tx, caller.UserID, mediaID, size)
}

// recordDownload is the one place downloads reach the audit trail; the body
// is served only once its entry is written.
func (s *Service) recordDownload(ctx context.Context, caller Caller, mediaID string, thumbnail bool) error {
	if s.opts.Audit == nil {
		return nil
	}
	if err := s.opts.Audit.MediaDownloaded(ctx, caller.UserID, mediaID, thumbnail); err != nil {
		return fmt.Errorf("record download: %w", err)
	}
	return nil
}

// recordRefusal records a download refused to a caller not entitled to an
// existing item. The caller is told the item does not exist either way, so
// a failure to record is logged, never answered differently.
func (s *Service) recordRefusal(ctx context.Context, caller Caller, mediaID string, thumbnail bool) {
	if s.opts.Audit == nil {
		return
	}
	if err := s.opts.Audit.MediaDownloadRefused(ctx, caller.UserID, mediaID, thumbnail); err != nil {
		s.log.ErrorContext(ctx, "record refused media download", "err", err)
	}
}
