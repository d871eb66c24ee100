package media

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// blobStore keeps bodies as files named by their SHA-256:
// root/blobs/ab/abcdef…; root/tmp holds uploads in progress.
type blobStore struct {
	root string
	tmp  string
}

func newBlobStore(root string) (*blobStore, error) {
	b := &blobStore{root: root, tmp: filepath.Join(root, "tmp")}
	for _, d := range []string{b.tmp, filepath.Join(root, "blobs")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	// Leftovers of a crash mid-upload are never referenced: remove them.
	if entries, err := os.ReadDir(b.tmp); err == nil {
		for _, e := range entries {
			_ = os.Remove(filepath.Join(b.tmp, e.Name()))
		}
	}
	return b, nil
}

// path is where the body with this hash lives.
func (b *blobStore) path(sum string) string {
	return filepath.Join(b.root, "blobs", sum[:2], sum)
}

// errLimit is returned by write when the body is longer than the limit.
var errLimit = errors.New("body over the limit")

// write streams r into a temporary file, reading at most limit bytes (a
// longer body fails with errLimit), syncs it and renames it to its hash.
// On any failure nothing is left behind.
func (b *blobStore) write(r io.Reader, limit int64) (sum string, size int64, err error) {
	f, err := os.CreateTemp(b.tmp, "upload-*")
	if err != nil {
		return "", 0, err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	h := sha256.New()
	// One byte more than the limit tells an exact fit from an overflow.
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, limit+1))
	if err != nil {
		return "", 0, err
	}
	if n > limit {
		return "", 0, errLimit
	}
	if err = f.Sync(); err != nil {
		return "", 0, err
	}
	if err = f.Close(); err != nil {
		return "", 0, err
	}
	sum = hex.EncodeToString(h.Sum(nil))
	dst := b.path(sum)
	if fileExists(dst) {
		// Same content already stored: keep the one copy.
		os.Remove(tmp)
		return sum, n, nil
	}
	dir := filepath.Dir(dst)
	if err = os.MkdirAll(dir, 0o700); err != nil {
		return "", 0, err
	}
	if err = os.Rename(tmp, dst); err != nil {
		return "", 0, fmt.Errorf("store body: %w", err)
	}
	syncDir(dir)
	return sum, n, nil
}

// open opens the body with this hash.
func (b *blobStore) open(sum string) (*os.File, error) {
	if len(sum) != 64 {
		return nil, os.ErrNotExist
	}
	return os.Open(b.path(sum))
}

// syncDir makes a rename durable.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
