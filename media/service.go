package media

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"maunium.net/go/mautrix/id"

	"ward/internal/db"
)

// RoomMembership is the one thing media asks of rooms.
type RoomMembership interface {
	// JoinedRoomsIn lists the rooms user is joined to, read through q (the
	// read pool, or the transaction appending an event).
	JoinedRoomsIn(ctx context.Context, q db.Querier, user id.UserID) ([]id.RoomID, error)
}

// ProfileSource gives a user's current profile avatar.
type ProfileSource interface {
	Profile(ctx context.Context, user id.UserID) (displayName, avatarURL string, err error)
}

// AuditTrail is where uploads and downloads are recorded; a nil
// Options.Audit records nothing. An upload is recorded inside the
// transaction that makes the item fetchable, so an upload that rolls back
// leaves no entry and none commits without one; a download, which writes
// nothing, is recorded alone before the body is sent. Implementations must
// not keep file names or content.
type AuditTrail interface {
	MediaUploaded(ctx context.Context, tx *sql.Tx, user id.UserID, mediaID string, size int64) error
	MediaDownloaded(ctx context.Context, user id.UserID, mediaID string, thumbnail bool) error
	// MediaDownloadRefused records a download of an existing item refused
	// to a user not entitled to it (who is told it does not exist).
	MediaDownloadRefused(ctx context.Context, user id.UserID, mediaID string, thumbnail bool) error
}

// Options configure the media service.
type Options struct {
	ServerName string
	// DataDir is the server's data folder; media lives in DataDir/media.
	DataDir string
	// MaxUploadBytes is the largest body accepted.
	MaxUploadBytes int64
	// QuotaBytes is the total each user may upload; 0 means no quota.
	QuotaBytes int64
	// URLPreviews says whether preview_url may fetch links.
	URLPreviews bool
	Profiles    ProfileSource
	// ProfileVisible decides whether viewer may see owner's profile (and
	// so their avatar). Nil means every local user may, as GET /profile
	// allows today; the clinic policy narrows it when it exists.
	ProfileVisible func(ctx context.Context, viewer, owner id.UserID) (bool, error)
	// IsAdmin says whether a user is an admin (who may read every item,
	// and so vouch for a reference to any); nil means nobody is.
	IsAdmin func(ctx context.Context, user id.UserID) (bool, error)
	Audit   AuditTrail
	Log     *slog.Logger
}

// Service is the content repository.
type Service struct {
	db    *db.DB
	opts  Options
	files *blobStore
	log   *slog.Logger
	now   func() time.Time

	// Rooms answers membership questions; set after construction because
	// rooms, in turn, tells media about appended events.
	Rooms RoomMembership

	// uploaded wakes downloads waiting for an asynchronous upload.
	mu       sync.Mutex
	uploaded chan struct{}
}

// Limits on asynchronous uploads.
const (
	pendingLifetime = 24 * time.Hour
	maxPending      = 100
	// MaxWait bounds timeout_ms on downloads of items not yet uploaded.
	MaxWait = 60 * time.Second
	// DefaultWait is the spec's default timeout_ms.
	DefaultWait = 20 * time.Second
)

// New prepares the media folders and returns the service.
func New(d *db.DB, opts Options) (*Service, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	files, err := newBlobStore(filepath.Join(opts.DataDir, "media"))
	if err != nil {
		return nil, fmt.Errorf("media store: %w", err)
	}
	return &Service{db: d, opts: opts, files: files, log: opts.Log, now: time.Now, uploaded: make(chan struct{})}, nil
}

// MaxUploadBytes is the upload size limit clients are told.
func (s *Service) MaxUploadBytes() int64 { return s.opts.MaxUploadBytes }

// ServerName is the server part of local mxc URIs.
func (s *Service) ServerName() string { return s.opts.ServerName }

// wakeWaiters tells downloads waiting for an upload to look again.
func (s *Service) wakeWaiters() {
	s.mu.Lock()
	close(s.uploaded)
	s.uploaded = make(chan struct{})
	s.mu.Unlock()
}

func (s *Service) waitChan() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.uploaded
}

// Caller is who asks: the authenticated user and whether they are an admin.
type Caller struct {
	UserID  id.UserID
	IsAdmin bool
}

// Dir is the folder media lives in.
func (s *Service) Dir() string { return s.files.root }

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
