package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/novakit/novakit/placement"
)

// object is a decoded JSON object whose members are checked one by one, so
// every 400 names the offending field.
type object struct {
	path string
	m    map[string]json.RawMessage
}

// readBody reads and size-limits the request body and checks its content
// type is JSON (415 otherwise, as Placement's require_content).
func (rq *request) readBody() ([]byte, error) {
	mt, _, err := mime.ParseMediaType(rq.r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, errorf(http.StatusUnsupportedMediaType, "The media type %q is not supported, use application/json.", rq.r.Header.Get("Content-Type"))
	}
	b, err := io.ReadAll(http.MaxBytesReader(rq.w, rq.r.Body, rq.s.maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, err
		}
		return nil, badRequest("cannot read body: %v", err)
	}
	return b, nil
}

// bodyObject reads the body as a JSON object.
func (rq *request) bodyObject() (object, error) {
	b, err := rq.readBody()
	if err != nil {
		return object{}, err
	}
	return parseObject(b, "")
}

func jsonKind(raw json.RawMessage) string {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return ""
	}
	switch t[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 'n':
		return "null"
	case 't', 'f':
		return "boolean"
	}
	return "number"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func parseObject(raw []byte, path string) (object, error) {
	if !json.Valid(raw) {
		return object{}, badRequest("Malformed JSON: the body is not valid JSON")
	}
	if k := jsonKind(raw); k != "object" {
		name := path
		if name == "" {
			name = "body"
		}
		return object{}, badRequest("JSON does not validate: %s must be an object, not %s", name, k)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return object{}, badRequest("Malformed JSON: %v", err)
	}
	return object{path: path, m: m}, nil
}

func (o object) has(key string) bool { _, ok := o.m[key]; return ok }

func (o object) keys() []string {
	ks := make([]string, 0, len(o.m))
	for k := range o.m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// only refuses members other than allowed (additionalProperties: false).
func (o object) only(allowed ...string) error {
	for _, k := range o.keys() {
		found := false
		for _, a := range allowed {
			if k == a {
				found = true
				break
			}
		}
		if !found {
			return badRequest("JSON does not validate: additional property %q is not allowed in %s", k, nameOf(o.path))
		}
	}
	return nil
}

// require refuses an object missing one of keys.
func (o object) require(keys ...string) error {
	for _, k := range keys {
		if !o.has(k) {
			return badRequest("JSON does not validate: %q is a required property of %s", k, nameOf(o.path))
		}
	}
	return nil
}

func nameOf(path string) string {
	if path == "" {
		return "the body"
	}
	return path
}

func typeErr(field, want string, raw json.RawMessage) error {
	return badRequest("JSON does not validate: %s must be %s, not %s", field, want, jsonKind(raw))
}

// str returns a string member; null is refused unless nullable (then "" and
// isNull).
func (o object) str(key string, nullable bool) (s string, isNull bool, err error) {
	raw, ok := o.m[key]
	if !ok {
		return "", false, nil
	}
	f := join(o.path, key)
	if jsonKind(raw) == "null" && nullable {
		return "", true, nil
	}
	if jsonKind(raw) != "string" {
		return "", false, typeErr(f, "a string", raw)
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, badRequest("JSON does not validate: %s: %v", f, err)
	}
	return s, false, nil
}

// integer parses an integer member in [lo, hi].
func integer(raw json.RawMessage, field string, lo, hi int64) (int64, error) {
	if jsonKind(raw) != "number" {
		return 0, typeErr(field, "an integer", raw)
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
	if err != nil {
		return 0, badRequest("JSON does not validate: %s must be an integer, got %s", field, bytes.TrimSpace(raw))
	}
	if n < lo || n > hi {
		return 0, badRequest("JSON does not validate: %s must be between %d and %d, got %d", field, lo, hi, n)
	}
	return n, nil
}

func (o object) int(key string, lo, hi int64) (int64, error) {
	return integer(o.m[key], join(o.path, key), lo, hi)
}

// nullableInt returns nil for JSON null.
func (o object) nullableInt(key string, lo, hi int64) (*int64, error) {
	raw := o.m[key]
	if jsonKind(raw) == "null" {
		return nil, nil
	}
	n, err := integer(raw, join(o.path, key), lo, hi)
	if err != nil {
		return nil, err
	}
	return &n, nil
}

func (o object) number(key string) (float64, error) {
	raw := o.m[key]
	f := join(o.path, key)
	if jsonKind(raw) != "number" {
		return 0, typeErr(f, "a number", raw)
	}
	x, err := strconv.ParseFloat(string(bytes.TrimSpace(raw)), 64)
	if err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
		return 0, badRequest("JSON does not validate: %s must be a finite number", f)
	}
	return x, nil
}

func (o object) obj(key string) (object, error) {
	raw := o.m[key]
	f := join(o.path, key)
	if jsonKind(raw) != "object" {
		return object{}, typeErr(f, "an object", raw)
	}
	return parseObject(raw, f)
}

// strings returns an array-of-strings member.
func (o object) strings(key string) ([]string, error) {
	return stringArray(o.m[key], join(o.path, key))
}

func stringArray(raw json.RawMessage, f string) ([]string, error) {
	if jsonKind(raw) != "array" {
		return nil, typeErr(f, "an array", raw)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, badRequest("JSON does not validate: %s: %v", f, err)
	}
	out := make([]string, 0, len(items))
	for i, it := range items {
		if jsonKind(it) != "string" {
			return nil, typeErr(f+"["+strconv.Itoa(i)+"]", "a string", it)
		}
		var s string
		if err := json.Unmarshal(it, &s); err != nil {
			return nil, badRequest("JSON does not validate: %s: %v", f, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// uuidLike mirrors oslo's is_uuid_like: 32 hex digits, optionally in the
// dashed canonical form.
func uuidLike(s string) bool {
	h := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
			h++
		case c == '-':
		default:
			return false
		}
	}
	if h != 32 {
		return false
	}
	return len(s) == 32 || len(s) == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-'
}

func (o object) uuid(key string, nullable bool) (string, bool, error) {
	s, isNull, err := o.str(key, nullable)
	if err != nil || isNull {
		return s, isNull, err
	}
	if o.has(key) && !uuidLike(s) {
		return "", false, badRequest("JSON does not validate: %s: %q is not a 'uuid'", join(o.path, key), s)
	}
	return s, false, nil
}

// inventory parses one inventory object; path names it in errors.
func inventoryOf(o object, v placement.Version, extra ...string) (placement.Inventory, error) {
	allowed := append([]string{"total", "reserved", "min_unit", "max_unit", "step_size", "allocation_ratio"}, extra...)
	if err := o.only(allowed...); err != nil {
		return placement.Inventory{}, err
	}
	if err := o.require("total"); err != nil {
		return placement.Inventory{}, err
	}
	inv := placement.NewInventory(0)
	var err error
	if inv.Total, err = o.int("total", 1, placement.MaxInt); err != nil {
		return inv, err
	}
	for _, f := range []struct {
		key string
		dst *int64
		lo  int64
	}{{"reserved", &inv.Reserved, 0}, {"min_unit", &inv.MinUnit, 1}, {"max_unit", &inv.MaxUnit, 1}, {"step_size", &inv.StepSize, 1}} {
		if o.has(f.key) {
			if *f.dst, err = o.int(f.key, f.lo, placement.MaxInt); err != nil {
				return inv, err
			}
		}
	}
	if o.has("allocation_ratio") {
		if inv.AllocationRatio, err = o.number("allocation_ratio"); err != nil {
			return inv, err
		}
		if inv.AllocationRatio < 0 || inv.AllocationRatio > math.MaxFloat32 {
			return inv, badRequest("JSON does not validate: %s must be between 0 and %g", join(o.path, "allocation_ratio"), math.MaxFloat32)
		}
	}
	if inv.Reserved > inv.Total || !v.AtLeast(26) && inv.Reserved == inv.Total {
		return inv, badRequest("Unable to update inventory %s: reserved (%d) must be less than total (%d)%s", nameOf(o.path), inv.Reserved, inv.Total,
			map[bool]string{true: "", false: " before microversion 1.26"}[v.AtLeast(26)])
	}
	return inv, nil
}

// checkClass validates a resource class name syntactically.
func checkClass(name, field string) error {
	if err := placement.ValidateResourceClassName(name); err != nil {
		return badRequest("JSON does not validate: %s: invalid resource class %q", field, name)
	}
	return nil
}

func inventoryJSON(inv placement.Inventory) map[string]any {
	return map[string]any{
		"total": inv.Total, "reserved": inv.Reserved, "min_unit": inv.MinUnit,
		"max_unit": inv.MaxUnit, "step_size": inv.StepSize, "allocation_ratio": inv.AllocationRatio,
	}
}

func trimmed(s string) bool { return strings.TrimSpace(s) == s }

func jsonValid(b []byte) bool { return json.Valid(b) }

func rawArray(raw json.RawMessage, f string) ([]json.RawMessage, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, badRequest("JSON does not validate: %s: %v", f, err)
	}
	return items, nil
}

func itoa(i int) string { return strconv.Itoa(i) }
