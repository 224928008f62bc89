// Package image is where disk images come from: image records with
// Glance v2's fields and statuses, and [Store], an embedded, durable image
// store in a directory that the all-in-one cloud serves through the
// Glance v2 API of package image/api. Package image/glance is a client
// for a real Glance (or that API) with the same [Contract] methods.
//
// Images go queued → saving → active when data is uploaded (back to
// queued if the upload fails), active ⇄ deactivated by an admin, and are
// deleted for good (records are not kept as "deleted"). The store
// computes size, virtual size (qcow2 header; raw and iso size), the MD5
// checksum and the SHA-512 os_hash_value while the data streams in.
//
// [Seed] creates the default public image (an empty qcow2 disk generated
// in Go) so that `server create --image cirros-0.6.3-x86_64-disk` works
// out of the box.
package image
