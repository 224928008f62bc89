package openstack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/novakit/novakit/api"
)

// M is a JSON object in a schema.
type M = map[string]any

// schemaFn builds a schema for a microversion. Schemas differ between
// microversion ranges the way Nova's do (fields added, removed, made
// strict); the set is compiled lazily, once per (name, version).
type schemaFn func(v Version) M

// schemas compiles and caches the request schemas of one Handler.
type schemas struct {
	fns   map[string]schemaFn
	cache sync.Map // schemaKey -> *jsonschema.Schema
}

type schemaKey struct {
	name string
	v    Version
}

func (s *schemas) get(name string, v Version) (*jsonschema.Schema, error) {
	k := schemaKey{name, v}
	if sch, ok := s.cache.Load(k); ok {
		return sch.(*jsonschema.Schema), nil
	}
	fn, ok := s.fns[name]
	if !ok {
		return nil, fmt.Errorf("openstack: no schema %q", name)
	}
	raw, err := json.Marshal(fn(v))
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	loc := "mem:///" + name + "/" + v.String() + ".json"
	if err := c.AddResource(loc, doc); err != nil {
		return nil, err
	}
	sch, err := c.Compile(loc)
	if err != nil {
		return nil, fmt.Errorf("openstack: compile schema %s at %s: %w", name, v, err)
	}
	s.cache.Store(k, sch)
	return sch, nil
}

// validate checks doc against the named schema and returns a
// *api.BadRequestError naming the field, in Nova's words.
func (s *schemas) validate(name string, v Version, doc any) error {
	sch, err := s.get(name, v)
	if err != nil {
		return err
	}
	err = sch.Validate(doc)
	if err == nil {
		return nil
	}
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return &api.BadRequestError{Message: err.Error()}
	}
	return &api.BadRequestError{Message: describe(ve, doc)}
}

// leaf picks the most specific cause: the deepest instance location,
// preferring errors other than "required"/"additionalProperties" at equal
// depth only through order.
func leaf(e *jsonschema.ValidationError) *jsonschema.ValidationError {
	best := e
	var walk func(x *jsonschema.ValidationError)
	walk = func(x *jsonschema.ValidationError) {
		if len(x.Causes) == 0 {
			if len(x.InstanceLocation) > len(best.InstanceLocation) || len(best.Causes) > 0 {
				best = x
			}
			return
		}
		for _, c := range x.Causes {
			walk(c)
		}
	}
	walk(e)
	return best
}

func valueAt(doc any, loc []string) any {
	cur := doc
	for _, p := range loc {
		switch t := cur.(type) {
		case map[string]any:
			cur = t[p]
		case []any:
			var i int
			fmt.Sscan(p, &i)
			if i >= 0 && i < len(t) {
				cur = t[i]
			} else {
				return nil
			}
		default:
			return nil
		}
	}
	return cur
}

func describe(e *jsonschema.ValidationError, doc any) string {
	l := leaf(e)
	msg := l.ErrorKind.LocalizedString(message.NewPrinter(language.English))
	switch k := l.ErrorKind.(type) {
	case *kind.Required:
		q := make([]string, len(k.Missing))
		for i, m := range k.Missing {
			q[i] = "'" + m + "'"
		}
		msg = strings.Join(q, ", ") + " is a required property"
		if len(l.InstanceLocation) == 0 {
			return "Invalid input for field/attribute " + k.Missing[0] + ". " + msg
		}
		return fmt.Sprintf("Invalid input for field/attribute %s. %s", k.Missing[0], msg)
	case *kind.AdditionalProperties:
		q := make([]string, len(k.Properties))
		for i, m := range k.Properties {
			q[i] = "'" + m + "'"
		}
		verb := "was"
		if len(q) > 1 {
			verb = "were"
		}
		msg = fmt.Sprintf("Additional properties are not allowed (%s %s unexpected)", strings.Join(q, ", "), verb)
		if len(l.InstanceLocation) == 0 {
			return msg
		}
		return fmt.Sprintf("Invalid input for field/attribute %s. Value: %s. %s", l.InstanceLocation[len(l.InstanceLocation)-1], render(valueAt(doc, l.InstanceLocation)), msg)
	}
	if len(l.InstanceLocation) == 0 {
		return "Invalid input: " + msg
	}
	field := l.InstanceLocation[len(l.InstanceLocation)-1]
	// Array items are named by their parent.
	if _, err := fmt.Sscan(field, new(int)); err == nil && len(l.InstanceLocation) > 1 {
		field = l.InstanceLocation[len(l.InstanceLocation)-2]
	}
	return fmt.Sprintf("Invalid input for field/attribute %s. Value: %s. %s", field, render(valueAt(doc, l.InstanceLocation)), msg)
}

func render(v any) string {
	if v == nil {
		return "None"
	}
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 200 {
		b = append(b[:200], "..."...)
	}
	return string(b)
}

// queryDoc turns a query string into the document query schemas check:
// every parameter is a list of strings (as Nova's query schemas see them).
func queryDoc(q url.Values) map[string]any {
	out := make(map[string]any, len(q))
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		l := make([]any, len(q[k]))
		for i, s := range q[k] {
			l[i] = s
		}
		out[k] = l
	}
	return out
}

// ---- schema building blocks (Nova's parameter_types) ----

func object(props M, required ...string) M {
	m := M{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		m["required"] = required
	}
	return m
}

func openObject(props M, required ...string) M {
	m := object(props, required...)
	m["additionalProperties"] = true
	return m
}

func str(min, max int) M {
	m := M{"type": "string", "minLength": min}
	if max > 0 {
		m["maxLength"] = max
	}
	return m
}

// name is Nova's name: 1–255 characters, no leading or trailing spaces.
func name() M {
	return M{"type": "string", "minLength": 1, "maxLength": 255, "pattern": `^\S(?:[\s\S]*\S)?$`}
}

func nullable(m M) M {
	t := m["type"]
	m2 := M{}
	for k, v := range m {
		m2[k] = v
	}
	switch tt := t.(type) {
	case string:
		m2["type"] = []any{tt, "null"}
	case []any:
		m2["type"] = append(append([]any{}, tt...), "null")
	}
	return m2
}

func enum(vals ...any) M { return M{"enum": vals} }

// intLike is Nova's non-negative integer that may come as a string.
func intLike(min int) M {
	return M{"oneOf": []any{
		M{"type": "integer", "minimum": min},
		M{"type": "string", "pattern": `^[0-9]+$`},
	}}
}

func integer(min int) M { return M{"type": "integer", "minimum": min} }

func boolean() M {
	return M{"oneOf": []any{
		M{"type": "boolean"},
		M{"type": "string", "enum": []any{"true", "false", "True", "False", "1", "0", "yes", "no", "on", "off", "TRUE", "FALSE"}},
	}}
}

// metadata is Nova's metadata: string keys 1–255, string values ≤ 255.
func metadata() M {
	return M{
		"type": "object",
		"patternProperties": M{
			`^[a-zA-Z0-9-_:. /]{1,255}$`: M{"type": "string", "maxLength": 255},
		},
		"additionalProperties": false,
	}
}

// query parameter: a list of strings matching item.
func q(item M) M { return M{"type": "array", "items": item} }

func qs() M { return q(M{"type": "string"}) }

func qint(min int) M { return q(M{"type": "string", "pattern": `^-?[0-9]+$`}) }

func qbool() M {
	return q(M{"type": "string", "pattern": `^(?i)(true|false|t|f|yes|no|y|n|on|off|1|0)$`})
}

func qenum(vals ...any) M { return q(M{"enum": vals}) }

func qobject(strict bool, props M) M {
	m := M{"type": "object", "properties": props, "additionalProperties": !strict}
	return m
}
