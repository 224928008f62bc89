package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/novakit/novakit/image"
)

// httpError is an error with the HTTP status Glance answers.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func errorf(code int, format string, args ...any) error {
	return &httpError{code: code, msg: fmt.Sprintf(format, args...)}
}

// readOnly are the attributes a caller may not set; reserved those Glance
// keeps for itself.
var (
	readOnly = []string{"status", "size", "virtual_size", "checksum", "os_hash_algo", "os_hash_value",
		"created_at", "updated_at", "self", "file", "schema", "direct_url", "stores"}
	reserved = []string{"deleted", "deleted_at", "is_public", "location", "locations"}
)

// setAttr sets one attribute (core or extra property) of img from a JSON
// value, checking its type; a null name or format clears it.
func setAttr(img *image.Image, key string, raw json.RawMessage, mayPublicize bool) error {
	switch {
	case slices.Contains(readOnly, key):
		return errorf(403, "Attribute '%s' is read-only.", key)
	case slices.Contains(reserved, key):
		return errorf(403, "Attribute '%s' is reserved.", key)
	}
	null := bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
	str := func(allowNull bool) (string, error) {
		if null && allowNull {
			return "", nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", errorf(400, "Invalid value for '%s': must be a string.", key)
		}
		return s, nil
	}
	integer := func() (int, error) {
		var n json.Number
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&n); err != nil {
			return 0, errorf(400, "Invalid value for '%s': must be an integer.", key)
		}
		v, err := n.Int64()
		if err != nil || v < 0 || v > 1<<31-1 {
			return 0, errorf(400, "Invalid value for '%s': must be an integer from 0 to 2147483647.", key)
		}
		return int(v), nil
	}
	boolean := func() (bool, error) {
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return false, errorf(400, "Invalid value for '%s': must be a boolean.", key)
		}
		return b, nil
	}
	var err error
	switch key {
	case "id":
		img.ID, err = str(false)
	case "name":
		img.Name, err = str(true)
	case "disk_format":
		img.DiskFormat, err = str(true)
	case "container_format":
		img.ContainerFormat, err = str(true)
	case "visibility":
		img.Visibility, err = str(false)
		if err == nil && img.Visibility == image.Public && !mayPublicize {
			return errorf(403, "Only administrators may make an image public (policy publicize_image).")
		}
	case "owner":
		img.Owner, err = str(true)
	case "protected":
		img.Protected, err = boolean()
	case "os_hidden":
		img.Hidden, err = boolean()
	case "min_disk":
		img.MinDisk, err = integer()
	case "min_ram":
		img.MinRAM, err = integer()
	case "tags":
		var tags []string
		if e := json.Unmarshal(raw, &tags); e != nil || null {
			return errorf(400, "Invalid value for 'tags': must be an array of strings.")
		}
		img.Tags = tags
	default:
		if key == "" {
			return errorf(400, "Invalid property name %q.", key)
		}
		var v string
		if e := json.Unmarshal(raw, &v); e != nil || null {
			return errorf(400, "Invalid value for '%s': extra properties must be strings.", key)
		}
		if img.Properties == nil {
			img.Properties = map[string]string{}
		}
		img.Properties[key] = v
	}
	return err
}

// parseCreate reads a POST /v2/images body.
func parseCreate(body []byte, mayPublicize bool) (image.Image, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return image.Image{}, errorf(400, "The request body must be a JSON object.")
	}
	var img image.Image
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if err := setAttr(&img, k, m[k], mayPublicize); err != nil {
			return image.Image{}, err
		}
	}
	if img.Visibility == "" {
		img.Visibility = image.Shared // Glance's default
	}
	if err := img.Validate(); err != nil {
		return image.Image{}, errorf(400, "%s", strings.TrimPrefix(err.Error(), "image: invalid: "))
	}
	return img, nil
}

// patchOp is one JSON-patch operation, in either media type's form:
// 2.1 {"op": "replace", "path": "/name", "value": …} or 2.0
// {"replace": "/name", "value": …}.
type patchOp struct {
	op, path string
	value    json.RawMessage
	hasValue bool
}

func parsePatch(body []byte) ([]patchOp, error) {
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, errorf(400, "The request body must be a JSON array of patch operations.")
	}
	ops := make([]patchOp, 0, len(raw))
	for i, m := range raw {
		var p patchOp
		if op, ok := m["op"]; ok {
			if json.Unmarshal(op, &p.op) != nil || json.Unmarshal(m["path"], &p.path) != nil {
				return nil, errorf(400, "Operation %d: op and path must be strings.", i)
			}
		} else {
			for _, name := range []string{"add", "replace", "remove"} {
				if v, ok := m[name]; ok {
					p.op = name
					if json.Unmarshal(v, &p.path) != nil {
						return nil, errorf(400, "Operation %d: the path must be a string.", i)
					}
				}
			}
		}
		switch p.op {
		case "add", "replace", "remove":
		case "":
			return nil, errorf(400, "Operation %d: op is required (add, replace or remove).", i)
		default:
			return nil, errorf(400, "Operation %d: op %q is not supported (add, replace or remove).", i, p.op)
		}
		p.value, p.hasValue = m["value"]
		if p.op != "remove" && !p.hasValue {
			return nil, errorf(400, "Operation %d: %s needs a value.", i, p.op)
		}
		if !strings.HasPrefix(p.path, "/") || strings.Count(p.path, "/") != 1 && !strings.HasPrefix(p.path, "/locations") {
			return nil, errorf(400, "Operation %d: invalid path %q (a single /attribute is expected).", i, p.path)
		}
		p.path = strings.NewReplacer("~1", "/", "~0", "~").Replace(p.path[1:])
		ops = append(ops, p)
	}
	return ops, nil
}

var coreAttrs = []string{"id", "name", "status", "disk_format", "container_format", "visibility", "protected",
	"os_hidden", "min_disk", "min_ram", "owner", "size", "virtual_size", "checksum", "os_hash_algo",
	"os_hash_value", "tags", "created_at", "updated_at", "self", "file", "schema"}

// applyPatch applies ops to img in order (the caller stores the result
// only if every op succeeded).
func applyPatch(img *image.Image, ops []patchOp, mayPublicize bool) error {
	for _, p := range ops {
		key := p.path
		if strings.HasPrefix(key, "locations") {
			return errorf(403, "Image locations are not exposed by this cloud.")
		}
		if key == "id" {
			return errorf(403, "Attribute 'id' is read-only.")
		}
		core := slices.Contains(coreAttrs, key)
		_, exists := img.Properties[key]
		switch p.op {
		case "remove":
			switch {
			case slices.Contains(readOnly, key) || slices.Contains(reserved, key):
				return errorf(403, "Attribute '%s' is read-only.", key)
			case core:
				return errorf(403, "Attribute '%s' is a base attribute and cannot be removed.", key)
			case !exists:
				return errorf(409, "Property %s does not exist.", key)
			}
			delete(img.Properties, key)
			continue
		case "replace":
			if !core && !exists {
				return errorf(409, "Property %s does not exist.", key)
			}
		}
		if err := setAttr(img, key, p.value, mayPublicize); err != nil {
			return err
		}
	}
	if err := img.Validate(); err != nil {
		return errorf(400, "%s", strings.TrimPrefix(err.Error(), "image: invalid: "))
	}
	return nil
}
