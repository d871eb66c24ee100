package media

import (
	"context"
	"os"
	"time"

	"maunium.net/go/mautrix"
)

// Content is a body ready to serve. The caller closes File.
type Content struct {
	File        *os.File
	Size        int64
	ContentType string
	Disposition string
	ModTime     time.Time
}

var errNotYetUploaded = mautrix.RespError{ErrCode: "M_NOT_YET_UPLOADED", Err: "The content has not been uploaded yet", StatusCode: 504}

// readable finds an item the caller may read, waiting up to wait for an
// asynchronous upload to arrive.
func (s *Service) readable(ctx context.Context, caller Caller, serverName, mediaID string, wait time.Duration, thumbnail bool) (*item, error) {
	if serverName != s.opts.ServerName || !ValidMediaID(mediaID) {
		// Ward does not fetch media from other servers.
		return nil, errNotFound
	}
	it, err := s.loadItem(ctx, s.db.Read, mediaID)
	if err != nil {
		return nil, err
	}
	ok, err := s.mayRead(ctx, s.db.Read, caller, it)
	if err != nil {
		return nil, err
	}
	if !ok {
		s.recordRefusal(ctx, caller, mediaID, thumbnail)
		return nil, errNotFound
	}
	wait = min(max(wait, 0), MaxWait)
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	poll := time.NewTicker(time.Second) // another instance may take the upload
	defer poll.Stop()
	for it.SHA256 == "" {
		if it.ExpiresTS != 0 && it.ExpiresTS <= s.now().UnixMilli() {
			return nil, errNotFound
		}
		woken := s.waitChan()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			return nil, errNotYetUploaded
		case <-woken:
		case <-poll.C:
		}
		if it, err = s.loadItem(ctx, s.db.Read, mediaID); err != nil {
			return nil, err
		}
	}
	return it, nil
}

// Download opens an item for the caller. fileName, when not empty,
// replaces the uploader's file name.
//
// Spec: client-server-api GET /_matrix/client/v1/media/download/{serverName}/{mediaId}[/{fileName}].
func (s *Service) Download(ctx context.Context, caller Caller, serverName, mediaID, fileName string, wait time.Duration) (*Content, error) {
	it, err := s.readable(ctx, caller, serverName, mediaID, wait, false)
	if err != nil {
		return nil, err
	}
	if fileName == "" {
		fileName = it.FileName
	}
	c, err := s.openBody(it.SHA256, it.ContentType, fileName, it.UploadedTS)
	if err != nil {
		return nil, err
	}
	if err := s.recordDownload(ctx, caller, mediaID, false); err != nil {
		c.File.Close()
		return nil, err
	}
	return c, nil
}

func (s *Service) openBody(sum, contentType, fileName string, ts int64) (*Content, error) {
	f, err := s.files.open(sum)
	if os.IsNotExist(err) {
		s.log.Error("media body missing", "sha256", sum)
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	ct, disp := ServingHeaders(contentType, fileName)
	return &Content{File: f, Size: st.Size(), ContentType: ct, Disposition: disp, ModTime: time.UnixMilli(ts)}, nil
}
