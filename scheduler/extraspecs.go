package scheduler

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// matchExtraSpec reports whether a host value satisfies a requirement
// written with Nova's extra-spec operators (nova/scheduler/filters/
// extra_specs_ops.py): "= N" (numeric ≥), "== N", "!= N", ">= N", "<= N"
// (numeric), "s== s", "s!= s", "s< s", "s<= s", "s> s", "s>= s" (string),
// "<in> sub" (substring), "<all-in> a b" (all substrings), "<or> a <or> b"
// (any equal); anything else is string equality with the whole
// requirement. A numeric operator on a non-number does not match.
func matchExtraSpec(value, req string) bool {
	words := strings.Fields(req)
	if len(words) == 0 {
		return value == req
	}
	op := words[0]
	args := words[1:]
	switch op {
	case "<or>":
		for i := 0; i < len(args); i += 2 {
			if args[i] == value {
				return true
			}
			if i+1 < len(args) && args[i+1] != "<or>" {
				// Nova pops the keyword without checking it.
				continue
			}
		}
		return false
	case "=", "==", "!=", ">=", "<=":
		if len(args) == 0 {
			return false
		}
		x, err1 := strconv.ParseFloat(strings.TrimSpace(value), 64)
		y, err2 := strconv.ParseFloat(args[0], 64)
		if err1 != nil || err2 != nil {
			return false
		}
		switch op {
		case "=":
			return x >= y
		case "==":
			return x == y
		case "!=":
			return x != y
		case ">=":
			return x >= y
		default:
			return x <= y
		}
	case "s==", "s!=", "s<", "s<=", "s>", "s>=":
		if len(args) == 0 {
			return false
		}
		y := args[0]
		switch op {
		case "s==":
			return value == y
		case "s!=":
			return value != y
		case "s<":
			return value < y
		case "s<=":
			return value <= y
		case "s>":
			return value > y
		default:
			return value >= y
		}
	case "<in>":
		return len(args) > 0 && strings.Contains(value, args[0])
	case "<all-in>":
		if len(args) == 0 {
			return false
		}
		for _, a := range args {
			if !strings.Contains(value, a) {
				return false
			}
		}
		return true
	}
	return value == req
}

// pyFloat is a float attribute that Python would print with a decimal
// point ("16.0").
type pyFloat float64

// hostAttr returns a named attribute of the host state the way Nova's
// ComputeCapabilitiesFilter and JsonFilter see HostState attributes, falling
// back to the node's stats.
func hostAttr(h *HostState, name string) (any, bool) {
	switch name {
	case "host":
		return h.Host, true
	case "nodename":
		return h.Nodename, true
	case "uuid":
		return h.UUID, true
	case "cell_uuid":
		return h.CellUUID, true
	case "hypervisor_type":
		return h.HypervisorType, true
	case "hypervisor_version":
		return int64(h.HypervisorVersion), true
	case "hypervisor_hostname":
		return h.HypervisorHostname, true
	case "host_ip":
		return h.HostIP, true
	case "cpu_info":
		if h.CPUInfo == "" {
			return nil, false
		}
		return h.CPUInfo, true
	case "total_usable_ram_mb":
		return h.TotalUsableRAMMB, true
	case "free_ram_mb":
		return h.FreeRAMMB, true
	case "total_usable_disk_gb":
		return h.TotalUsableDiskGB, true
	case "free_disk_mb":
		return h.FreeDiskMB, true
	case "disk_mb_used":
		return h.TotalUsableDiskGB*1024 - h.FreeDiskMB, true
	case "vcpus_total":
		return h.VCPUsTotal, true
	case "vcpus_used":
		return h.VCPUsUsed, true
	case "num_instances":
		return int64(h.NumInstances), true
	case "num_io_ops":
		return int64(h.NumIOOps), true
	case "failed_builds":
		return int64(h.FailedBuilds), true
	case "cpu_allocation_ratio":
		return pyFloat(h.CPUAllocationRatio), true
	case "ram_allocation_ratio":
		return pyFloat(h.RAMAllocationRatio), true
	case "disk_allocation_ratio":
		return pyFloat(h.DiskAllocationRatio), true
	case "stats":
		return h.Stats, h.Stats != nil
	}
	v, ok := h.Stats[name]
	return v, ok
}

// lookupPath descends from a host attribute through JSON strings and maps
// (capabilities:cpu_info:features, $stats.key).
func lookupPath(h *HostState, path []string) (any, bool) {
	if len(path) == 0 {
		return nil, false
	}
	cur, ok := hostAttr(h, path[0])
	if !ok || cur == nil {
		return nil, false
	}
	for _, p := range path[1:] {
		if s, isStr := cur.(string); isStr {
			d := json.NewDecoder(strings.NewReader(s))
			d.UseNumber()
			var v any
			if d.Decode(&v) != nil {
				return nil, false
			}
			cur = v
		}
		switch m := cur.(type) {
		case map[string]any:
			cur, ok = m[p]
		case map[string]string:
			cur, ok = m[p]
		default:
			return nil, false
		}
		if !ok || cur == nil {
			return nil, false
		}
	}
	return cur, true
}

// pyStr renders a value as Python's str() would.
func pyStr(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case pyFloat:
		s := strconv.FormatFloat(float64(x), 'f', -1, 64)
		if !strings.ContainsAny(s, ".eE") {
			s += ".0"
		}
		return s
	case float64:
		return pyStr(pyFloat(x))
	case json.Number:
		return x.String()
	case bool:
		if x {
			return "True"
		}
		return "False"
	case []any:
		var b bytes.Buffer
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(pyRepr(e))
		}
		b.WriteByte(']')
		return b.String()
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b bytes.Buffer
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(pyRepr(k) + ": " + pyRepr(x[k]))
		}
		b.WriteByte('}')
		return b.String()
	case map[string]string:
		m := make(map[string]any, len(x))
		for k, v := range x {
			m[k] = v
		}
		return pyStr(m)
	case nil:
		return "None"
	}
	return fmt.Sprint(v)
}

func pyRepr(v any) string {
	if s, ok := v.(string); ok {
		return "'" + s + "'"
	}
	return pyStr(v)
}
