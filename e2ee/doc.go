// Package e2ee owns the server side of end-to-end encryption: device
// identity keys, one-time and fallback keys and their claiming, cross-signing
// keys and the signatures users upload for each other's keys, the tracking
// of device-list changes (who must refetch whose keys), the to-device
// inbox that carries key-sharing messages between devices, and each user's
// dehydrated device (MSC3814): a device no one logs in as, whose keys and
// inbox keep the room keys sent while none of the user's devices is online.
//
// It stores and hands out what clients upload and checks the signatures
// that bind keys to their owners. It never looks inside encrypted content:
// to-device message contents and key objects are opaque to it beyond the
// fields the specification asks a server to check.
//
// Spec: client-server-api "End-to-End Encryption" and "Send-to-Device
// messaging"; MSC3814 "Dehydrated devices with SSSS".
package e2ee
