package media

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // registers the GIF decoder
	"image/jpeg"
	"image/png"
	"io"
	"strconv"
	"strings"
	"time"

	"golang.org/x/image/draw"
	_ "golang.org/x/image/webp" // registers the WebP decoder
	"maunium.net/go/mautrix"
)

// ThumbnailRequest is what a client asks for.
type ThumbnailRequest struct {
	Width, Height int
	Method        string // "crop" or "scale"
}

// thumbnailSize is one size the server generates.
type thumbnailSize struct{ W, H int }

// thumbnailSizes are the sizes the spec says servers should produce; a
// request is answered with the smallest that is at least as large, so that
// clients cannot make the server store arbitrary sizes.
var thumbnailSizes = []thumbnailSize{{32, 32}, {96, 96}, {320, 240}, {640, 480}, {800, 600}}

// maxThumbnailPixels bounds the images the server decodes (and so the
// memory one decode takes).
const maxThumbnailPixels = 24 << 20

// thumbnailSlots bounds concurrent decodes.
var thumbnailSlots = make(chan struct{}, 2)

// thumbnailable are the declared types the server decodes. Anything else,
// encrypted attachments (application/octet-stream) above all, is never
// opened as an image.
var thumbnailable = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true}

var errCannotThumbnail = mautrix.MUnknown.WithStatus(400).WithMessage("This content cannot be thumbnailed")

// ParseThumbnailRequest reads the query parameters of a thumbnail request.
func ParseThumbnailRequest(width, height, method string) (ThumbnailRequest, error) {
	if width == "" || height == "" {
		return ThumbnailRequest{}, mautrix.RespError{ErrCode: "M_MISSING_PARAM", Err: "width and height are required", StatusCode: 400}
	}
	w, err1 := strconv.Atoi(width)
	h, err2 := strconv.Atoi(height)
	if err1 != nil || err2 != nil || w <= 0 || h <= 0 || w > 10000 || h > 10000 {
		return ThumbnailRequest{}, mautrix.MInvalidParam.WithMessage("width and height must be whole numbers from 1 to 10000")
	}
	switch method {
	case "":
		method = "scale"
	case "crop", "scale":
	default:
		return ThumbnailRequest{}, mautrix.MInvalidParam.WithMessage("method must be crop or scale")
	}
	return ThumbnailRequest{Width: w, Height: h, Method: method}, nil
}

// pickSize is the generated size and method that answer req: the smallest
// size at least as large, or, above every size, the largest (scaled, as
// the spec lists it). Never the original unchecked: a request above the
// largest size goes through the same size and decode checks as any other.
func pickSize(req ThumbnailRequest) (thumbnailSize, string) {
	for _, sz := range thumbnailSizes {
		if sz.W >= req.Width && sz.H >= req.Height {
			return sz, req.Method
		}
	}
	return thumbnailSizes[len(thumbnailSizes)-1], "scale"
}

// Thumbnail answers a thumbnail request: a cached thumbnail, a new one
// (stored for next time), or the original when it is already small
// enough.
//
// Spec: client-server-api GET /_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}.
func (s *Service) Thumbnail(ctx context.Context, caller Caller, serverName, mediaID string, req ThumbnailRequest, wait time.Duration) (*Content, error) {
	it, err := s.readable(ctx, caller, serverName, mediaID, wait, true)
	if err != nil {
		return nil, err
	}
	mt, _, _ := strings.Cut(it.ContentType, ";")
	if !thumbnailable[mt] {
		return nil, errCannotThumbnail
	}
	size, method := pickSize(req)
	c, err := s.thumbnail(ctx, it, size, method)
	if err != nil {
		return nil, err
	}
	if err := s.recordDownload(ctx, caller, mediaID, true); err != nil {
		c.File.Close()
		return nil, err
	}
	return c, nil
}

func (s *Service) thumbnail(ctx context.Context, it *item, size thumbnailSize, method string) (*Content, error) {
	original := func() (*Content, error) { return s.openBody(it.SHA256, it.ContentType, it.FileName, it.UploadedTS) }
	var sum, ct string
	err := s.db.Read.QueryRowContext(ctx, `SELECT sha256, content_type FROM media_thumbnails
		WHERE source_sha256 = $1 AND width = $2 AND height = $3 AND method = $4`, it.SHA256, size.W, size.H, method).Scan(&sum, &ct)
	switch {
	case err == nil:
		if sum == it.SHA256 {
			return original()
		}
		return s.openBody(sum, ct, "thumbnail", it.UploadedTS)
	case !errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("thumbnail cache: %w", err)
	}
	select {
	case thumbnailSlots <- struct{}{}:
		defer func() { <-thumbnailSlots }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	f, err := s.files.open(it.SHA256)
	if err != nil {
		return nil, errNotFound
	}
	body, ct, err := makeThumbnail(f, size, method)
	f.Close()
	if err != nil {
		return nil, err
	}
	if body == nil {
		// Already small enough: remember to serve the original.
		sum, ct = it.SHA256, it.ContentType
	} else {
		if sum, _, err = s.files.write(bytes.NewReader(body), int64(len(body))); err != nil {
			return nil, fmt.Errorf("store thumbnail: %w", err)
		}
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO media_thumbnails (source_sha256, width, height, method, sha256, content_type, size)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`, it.SHA256, size.W, size.H, method, sum, ct, len(body))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("record thumbnail: %w", err)
	}
	if body == nil {
		return original()
	}
	return s.openBody(sum, ct, "thumbnail", it.UploadedTS)
}

// makeThumbnail decodes r and scales or crops it to size. It returns nil
// bytes when the image is no larger than asked (the spec: never upscale,
// serve the original instead).
func makeThumbnail(r io.ReadSeeker, size thumbnailSize, method string) (out []byte, contentType string, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, errCannotThumbnail
		}
	}()
	cfg, format, err := image.DecodeConfig(r)
	if err != nil || !thumbnailable["image/"+format] {
		return nil, "", errCannotThumbnail
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, "", errCannotThumbnail
	}
	if int64(cfg.Width)*int64(cfg.Height) > maxThumbnailPixels {
		return nil, "", mautrix.MTooLarge.WithMessage("The image is too large to thumbnail")
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, "", err
	}
	src, _, err := image.Decode(r)
	if err != nil {
		return nil, "", errCannotThumbnail
	}
	W, H := src.Bounds().Dx(), src.Bounds().Dy()
	var dst *image.RGBA
	var from image.Rectangle
	if method == "crop" {
		if W <= size.W && H <= size.H {
			return nil, "", nil
		}
		// The largest centred part of the source with the target's aspect,
		// scaled down to the target.
		sw, sh := W, W*size.H/size.W
		if sh > H {
			sw, sh = H*size.W/size.H, H
		}
		dw, dh := size.W, size.H
		if W < size.W || H < size.H {
			// Smaller than asked one way, larger the other (a tall narrow
			// strip): cut the long side to the target, never upscale.
			sw, sh = min(W, size.W), min(H, size.H)
			dw, dh = sw, sh
		}
		x0, y0 := src.Bounds().Min.X+(W-sw)/2, src.Bounds().Min.Y+(H-sh)/2
		from = image.Rect(x0, y0, x0+sw, y0+sh)
		dst = image.NewRGBA(image.Rect(0, 0, max(dw, 1), max(dh, 1)))
	} else {
		if W <= size.W && H <= size.H {
			return nil, "", nil
		}
		w, h := size.W, H*size.W/W
		if h > size.H {
			w, h = W*size.H/H, size.H
		}
		from = src.Bounds()
		dst = image.NewRGBA(image.Rect(0, 0, max(w, 1), max(h, 1)))
	}
	draw.BiLinear.Scale(dst, dst.Bounds(), src, from, draw.Src, nil)
	var buf bytes.Buffer
	if format == "jpeg" {
		err, contentType = jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 85}), "image/jpeg"
	} else {
		err, contentType = png.Encode(&buf, dst), "image/png"
	}
	if err != nil {
		return nil, "", err
	}
	return buf.Bytes(), contentType, nil
}
