// Package glance is a client for the Glance v2 image API — a real
// Glance or this project's image/api — implementing the same contract
// methods as the embedded image.Store (ImageMeta, CreateImage, Upload,
// Download, DeleteImage), plus Get and List. Calls carry the caller's
// token from the context by default, as Nova calls Glance on the user's
// behalf. HTTP errors come back typed: 404 wraps compute.ErrNotFound,
// 401 identity.ErrUnauthorized, 403 ErrForbidden, 409 image.ErrConflict,
// 400 image.ErrInvalid, 5xx and network failures ErrUnavailable.
package glance
