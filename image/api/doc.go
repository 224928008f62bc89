// Package api serves the Glance v2 image API subset that the openstack
// CLI, openstacksdk, gophercloud and Nova use, on an image.Store: version
// documents, image list (filters name, status, visibility, owner, tag,
// disk/container format, extra properties; marker/limit paging with next
// links; sort_key/sort_dir or sort), create, show, JSON-patch update
// (application/openstack-images-v2.1-json-patch, and the 2.0 form),
// delete, data upload and download, tags, image members (sharing),
// deactivate/reactivate, the schemas, and Glance's error bodies.
//
// Every route but the version documents needs a token, checked by
// identity.Middleware. Visibility follows Glance: a project sees public
// and community images, its own, and shared images it is a member of
// (listed once it accepted them, or with member_status); admins see
// everything; only owners and admins change or delete an image or its
// members, and only the member decides its status. On top of that,
// every route checks a Glance policy rule with identity/policy
// (DefaultRules: Glance's admin/member/reader defaults — readers read,
// members write, admins publish and deactivate), which operators can
// override.
package api
