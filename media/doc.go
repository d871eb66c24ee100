// Package media owns the content repository: uploads (plain and
// asynchronous), downloads, thumbnails, the media configuration, and the
// access rule that decides who may fetch an item.
//
// It owns the files under data_dir/media (bodies named by their SHA-256,
// deduplicated, written to a temporary file, synced and renamed so that no
// partial file is ever served) and the media tables (metadata, thumbnails,
// which room events reference which item).
//
// It must never buffer a whole upload in memory, never serve an item to
// someone the access rule does not allow (they get M_NOT_FOUND, with no hint
// that it exists), never thumbnail or otherwise interpret a body whose
// declared type is not an image it can decode (encrypted attachments are
// opaque blobs), never fetch a URL for a preview unless the operator turned
// previews on, and never log a file name or content.
//
// Spec: client-server-api "Content repository".
package media
