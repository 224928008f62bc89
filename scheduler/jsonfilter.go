package scheduler

import (
	"encoding/json"
	"strconv"
	"strings"
)

// JsonFilter passes hosts satisfying the "query" scheduler hint, a JSON
// list in prefix notation: ["and", [">=", "$free_ram_mb", 1024],
// ["in", "$hypervisor_type", "QEMU", "KVM"]]. Operators: = < > <= >= in
// (first argument compared with each of the rest; "in" with any), not
// (negates each argument), or, and. Strings starting with "$" name host
// attributes (free_ram_mb, free_disk_mb, vcpus_total, hypervisor_type …,
// stats keys, and dotted paths such as $stats.key or $cpu_info.arch);
// an unknown variable is dropped from the argument list, as in Nova.
type JsonFilter struct{}

// Applies implements FilterApplier.
func (JsonFilter) Applies(r *Request) bool { return r.Query != nil }

// HostPasses implements Filter.
func (JsonFilter) HostPasses(h *HostState, r *Request) bool {
	q, _ := r.Query.([]any)
	if len(q) == 0 {
		return true
	}
	return truthy(evalQuery(q, h))
}

func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case []any: // the result of "not": any of its values
		for _, e := range x {
			if truthy(e) {
				return true
			}
		}
		return false
	case float64:
		return x != 0
	case string:
		return x != ""
	}
	return true
}

func evalQuery(q []any, h *HostState) any {
	if len(q) == 0 {
		return true
	}
	op, _ := q[0].(string)
	args := make([]any, 0, len(q)-1)
	for _, a := range q[1:] {
		switch x := a.(type) {
		case []any:
			a = evalQuery(x, h)
		case string:
			if strings.HasPrefix(x, "$") {
				v, ok := lookupPath(h, strings.Split(x[1:], "."))
				if !ok {
					continue
				}
				a = jsonValue(v)
			}
		}
		if a != nil {
			args = append(args, a)
		}
	}
	switch op {
	case "=":
		return compareAll(args, func(c int) bool { return c == 0 })
	case "<":
		return compareAll(args, func(c int) bool { return c < 0 })
	case ">":
		return compareAll(args, func(c int) bool { return c > 0 })
	case "<=":
		return compareAll(args, func(c int) bool { return c <= 0 })
	case ">=":
		return compareAll(args, func(c int) bool { return c >= 0 })
	case "in":
		if len(args) < 2 {
			return false
		}
		for _, b := range args[1:] {
			if c, ok := compareValues(args[0], b); ok && c == 0 {
				return true
			}
		}
		return false
	case "not":
		out := make([]any, len(args))
		for i, a := range args {
			out[i] = !truthy(a)
		}
		return out
	case "or":
		for _, a := range args {
			if truthy(a) {
				return true
			}
		}
		return false
	case "and":
		for _, a := range args {
			if !truthy(a) {
				return false
			}
		}
		return true
	}
	return false
}

// jsonValue turns a host attribute into the JSON-like value the query
// compares: numbers as float64, everything else as its string.
func jsonValue(v any) any {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case int:
		return float64(x)
	case pyFloat:
		return float64(x)
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return x.String()
		}
		return f
	case string, bool, float64:
		return x
	}
	return pyStr(v)
}

func compareAll(args []any, ok func(int) bool) bool {
	if len(args) < 2 {
		return false
	}
	for _, b := range args[1:] {
		c, comparable := compareValues(args[0], b)
		if !comparable || !ok(c) {
			return false
		}
	}
	return true
}

// compareValues compares two query values; numbers with numbers (a string
// holding a number counts as one, since stats are strings), strings with
// strings. Other pairs are not comparable.
func compareValues(a, b any) (int, bool) {
	fa, aNum := asNumber(a)
	fb, bNum := asNumber(b)
	if aNum && bNum {
		switch {
		case fa < fb:
			return -1, true
		case fa > fb:
			return 1, true
		}
		return 0, true
	}
	sa, aStr := a.(string)
	sb, bStr := b.(string)
	if aStr && bStr {
		return strings.Compare(sa, sb), true
	}
	if ba, ok := a.(bool); ok {
		if bb, ok := b.(bool); ok && ba == bb {
			return 0, true
		}
		return 1, true
	}
	return 0, false
}

func asNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case string:
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil
	}
	return 0, false
}
