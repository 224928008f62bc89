package api

// imageSchema is GET /v2/schemas/image: the JSON schema of an image as
// Glance publishes it (the clients read property names and types).
func imageSchema() map[string]any {
	str := func(desc string) map[string]any { return map[string]any{"type": "string", "description": desc} }
	nstr := func(desc string, max int) map[string]any {
		return map[string]any{"type": []any{"null", "string"}, "description": desc, "maxLength": max}
	}
	readOnly := func(m map[string]any) map[string]any { m["readOnly"] = true; return m }
	return map[string]any{
		"name": "image",
		"properties": map[string]any{
			"id": map[string]any{"type": "string", "description": "An identifier for the image",
				"pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"},
			"name": nstr("Descriptive name for the image", 255),
			"status": readOnly(map[string]any{"type": "string", "description": "Status of the image",
				"enum": []string{"queued", "saving", "active", "killed", "deleted", "uploading", "importing", "pending_delete", "deactivated"}}),
			"visibility": map[string]any{"type": "string", "description": "Scope of image accessibility",
				"enum": []string{"community", "public", "private", "shared"}},
			"protected":     map[string]any{"type": "boolean", "description": "If true, image will not be deletable."},
			"os_hidden":     map[string]any{"type": "boolean", "description": "If true, image will not appear in default image list response."},
			"checksum":      readOnly(nstr("md5 hash of image contents.", 32)),
			"os_hash_algo":  readOnly(nstr("Algorithm to calculate the os_hash_value", 64)),
			"os_hash_value": readOnly(nstr("Hexdigest of the image contents using the algorithm specified by the os_hash_algo", 128)),
			"owner":         nstr("Owner of the image", 255),
			"size":          readOnly(map[string]any{"type": []any{"null", "integer"}, "description": "Size of image file in bytes"}),
			"virtual_size":  readOnly(map[string]any{"type": []any{"null", "integer"}, "description": "Virtual size of image in bytes"}),
			"container_format": map[string]any{"type": []any{"null", "string"}, "description": "Format of the container",
				"enum": []any{nil, "ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"}},
			"disk_format": map[string]any{"type": []any{"null", "string"}, "description": "Format of the disk",
				"enum": []any{nil, "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop"}},
			"created_at": readOnly(str("Date and time of image registration")),
			"updated_at": readOnly(str("Date and time of the last image modification")),
			"tags": map[string]any{"type": "array", "description": "List of strings related to the image",
				"items": map[string]any{"type": "string", "maxLength": 255}},
			"min_ram":    map[string]any{"type": "integer", "description": "Amount of ram (in MB) required to boot image."},
			"min_disk":   map[string]any{"type": "integer", "description": "Amount of disk space (in GB) required to boot image."},
			"self":       readOnly(str("An image self url")),
			"file":       readOnly(str("An image file url")),
			"schema":     readOnly(str("An image schema url")),
			"direct_url": readOnly(str("URL to access the image file kept in external store")),
			"locations": map[string]any{"type": "array", "description": "A set of URLs to access the image file kept in external store",
				"items": map[string]any{"type": "object"}},
		},
		"additionalProperties": map[string]any{"type": "string"},
		"links": []map[string]string{
			{"rel": "self", "href": "{self}"},
			{"rel": "enclosure", "href": "{file}"},
			{"rel": "describedby", "href": "{schema}"},
		},
	}
}

// imagesSchema is GET /v2/schemas/images.
func imagesSchema() map[string]any {
	return map[string]any{
		"name": "images",
		"properties": map[string]any{
			"images": map[string]any{"type": "array", "items": imageSchema()},
			"schema": map[string]any{"type": "string"},
			"first":  map[string]any{"type": "string"},
			"next":   map[string]any{"type": "string"},
		},
		"links": []map[string]string{
			{"rel": "first", "href": "{first}"},
			{"rel": "next", "href": "{next}"},
			{"rel": "describedby", "href": "{schema}"},
		},
	}
}
