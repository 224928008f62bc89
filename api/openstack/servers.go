package openstack

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/novakit/novakit/api"
	"github.com/novakit/novakit/compute"
)

const (
	isoTime      = "2006-01-02T15:04:05Z"
	isoMicroNoZ  = "2006-01-02T15:04:05.000000"
	isoMicroZone = "2006-01-02T15:04:05.000000-07:00"
)

func tz(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(isoTime)
}

func tmicro(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(isoMicroNoZ)
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// hostID is Nova's hostId: sha224(project_id + host) in hex, "" without a
// host.
func hostID(project, host string) string {
	if host == "" {
		return ""
	}
	s := sha256.Sum224([]byte(project + host))
	return hex.EncodeToString(s[:])
}

// viewCtx carries the per-listing lookups a server view needs.
type viewCtx struct {
	faults   map[string]*compute.InstanceFault
	services map[string]*compute.Service
	groups   map[string][]string
	extended bool // admin attributes
	hostStat bool
}

func (h *Handler) newViewCtx(ctx context.Context, r *http.Request, insts []*compute.Instance) *viewCtx {
	ri := info(r)
	vc := &viewCtx{extended: h.api.Can(ctx, api.RuleExtendedAttributes, api.Target{ProjectID: ri.creds.ProjectID})}
	var ids []string
	for _, i := range insts {
		if i.VMState == compute.VMError || i.VMState == compute.VMDeleted {
			ids = append(ids, i.UUID)
		}
	}
	if len(ids) > 0 {
		vc.faults, _ = h.api.Faults(ctx, ids)
	}
	if ri.v.AtLeast(16) && h.api.Can(ctx, api.RuleServersShowHostStatus, api.Target{ProjectID: ri.creds.ProjectID}) {
		vc.hostStat = true
		vc.services, _ = h.api.HostServices(ctx)
	}
	return vc
}

func progressShown(status string) bool {
	switch status {
	case compute.StatusActive, compute.StatusBuild, compute.StatusRebuild, compute.StatusResize,
		compute.StatusVerifyResize, compute.StatusMigrating:
		return true
	}
	return false
}

// serverView renders a server at the request's microversion.
func (h *Handler) serverView(r *http.Request, vc *viewCtx, i *compute.Instance) map[string]any {
	ri := info(r)
	v := ri.v
	status := i.Status()
	s := map[string]any{
		"id": i.UUID, "name": i.Name, "status": status, "tenant_id": i.ProjectID, "user_id": i.UserID,
		"metadata": orEmpty(i.Metadata), "hostId": hostID(i.ProjectID, i.Host),
		"created": tz(i.CreatedAt), "updated": tz(i.UpdatedAt),
		"addresses": map[string]any{}, "accessIPv4": i.AccessIPv4, "accessIPv6": i.AccessIPv6,
		"key_name": nullStr(i.KeyName), "links": ri.links("servers/" + i.UUID),
		"OS-DCF:diskConfig": orDefault(i.DiskConfig, "MANUAL"), "OS-EXT-AZ:availability_zone": i.AvailabilityZone,
		"OS-EXT-STS:vm_state": string(i.VMState), "OS-EXT-STS:task_state": nullStr(string(i.TaskState)),
		"OS-EXT-STS:power_state": int(i.PowerState),
		"OS-SRV-USG:launched_at": tmicro(i.LaunchedAt), "OS-SRV-USG:terminated_at": tmicro(i.TerminatedAt),
		"os-extended-volumes:volumes_attached": []any{},
	}
	if i.ConfigDrive {
		s["config_drive"] = "True"
	} else {
		s["config_drive"] = ""
	}
	if i.VMState != compute.VMBuilding && i.VMState != compute.VMDeleted {
		s["security_groups"] = []any{map[string]string{"name": "default"}}
	}
	if i.ImageRef == "" {
		s["image"] = ""
	} else {
		s["image"] = map[string]any{"id": i.ImageRef, "links": ri.bookmark("images/" + i.ImageRef)}
	}
	if v.AtLeast(47) {
		f := map[string]any{
			"original_name": i.Flavor.Name, "vcpus": i.Flavor.VCPUs, "ram": i.Flavor.MemoryMB,
			"disk": i.Flavor.RootGB, "ephemeral": i.Flavor.EphemeralGB, "swap": i.Flavor.SwapMB,
		}
		f["extra_specs"] = orEmpty(i.Flavor.ExtraSpecs)
		s["flavor"] = f
	} else {
		s["flavor"] = map[string]any{"id": i.Flavor.FlavorID, "links": ri.bookmark("flavors/" + i.Flavor.FlavorID)}
	}
	if progressShown(status) {
		s["progress"] = i.Progress
	}
	if vc.extended {
		s["OS-EXT-SRV-ATTR:host"] = nullStr(i.Host)
		s["OS-EXT-SRV-ATTR:hypervisor_hostname"] = nullStr(i.Node)
		s["OS-EXT-SRV-ATTR:instance_name"] = i.GuestName()
		if v.AtLeast(3) {
			s["OS-EXT-SRV-ATTR:reservation_id"] = i.ReservationID
			s["OS-EXT-SRV-ATTR:launch_index"] = i.LaunchIndex
			s["OS-EXT-SRV-ATTR:kernel_id"] = ""
			s["OS-EXT-SRV-ATTR:ramdisk_id"] = ""
			s["OS-EXT-SRV-ATTR:hostname"] = i.Hostname
			s["OS-EXT-SRV-ATTR:root_device_name"] = nullStr(i.RootDeviceName)
			s["OS-EXT-SRV-ATTR:user_data"] = nullStr(i.UserData)
		}
	}
	if v.AtLeast(90) {
		s["OS-EXT-SRV-ATTR:hostname"] = i.Hostname
	}
	if v.AtLeast(9) {
		s["locked"] = i.Locked
	}
	if v.AtLeast(73) {
		s["locked_reason"] = nullStr(i.LockedReason)
	}
	if v.AtLeast(19) {
		s["description"] = nullStr(i.Description)
	}
	if v.AtLeast(26) {
		s["tags"] = orEmptyList(i.Tags)
	}
	if v.AtLeast(63) {
		s["trusted_image_certificates"] = nil
	}
	if v.AtLeast(71) {
		if g, ok := vc.groups[i.UUID]; ok {
			s["server_groups"] = g
		} else {
			s["server_groups"] = []string{}
		}
	}
	if v.AtLeast(96) {
		s["pinned_availability_zone"] = nil
	}
	if vc.hostStat {
		hs := ""
		if i.Host != "" {
			svc, ok := vc.services[i.Host]
			switch {
			case !ok:
				hs = "UNKNOWN"
			case svc.ForcedDown:
				hs = "DOWN"
			case svc.Disabled:
				hs = "MAINTENANCE"
			case !h.api.ServiceIsUp(svc):
				hs = "UNKNOWN"
			default:
				hs = "UP"
			}
		}
		s["host_status"] = hs
	}
	if f, ok := vc.faults[i.UUID]; ok && (i.VMState == compute.VMError || i.VMState == compute.VMDeleted) {
		fv := map[string]any{"code": f.Code, "created": tz(f.CreatedAt), "message": f.Message}
		if f.Code != 500 || vc.extended {
			fv["details"] = f.Details
		}
		s["fault"] = fv
	}
	return s
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func orEmptyList(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// ---- list ----

var serverListKeys = []string{
	"reservation_id", "name", "status", "image", "flavor", "ip", "changes-since", "all_tenants",
	"ip6", "tags", "tags-any", "not-tags", "not-tags-any", "changes-before", "locked",
	"availability_zone", "config_drive", "key_name", "created_at", "launched_at", "terminated_at",
	"power_state", "task_state", "vm_state", "progress", "user_id", "hostname",
	// admin only
	"host", "node", "tenant_id", "project_id", "deleted", "uuid", "all_tenants", "image_ref",
	"instance_type_id", "display_name", "display_description", "description", "access_ip_v4",
	"access_ip_v6", "launch_index", "root_device_name", "kernel_id", "ramdisk_id", "os_type",
	"architecture", "cell_name", "auto_disk_config", "vm_mode", "terminated_at", "soft_deleted",
	"sort_key", "sort_dir", "limit", "marker", "fields", "hidden",
}

func serverListQuery(v Version) M {
	props := M{}
	for _, k := range serverListKeys {
		props[k] = qs()
	}
	props["limit"] = qint(0)
	props["locked"] = qbool()
	props["all_tenants"] = q(M{"type": "string"})
	props["deleted"] = qbool()
	props["sort_dir"] = qenum("asc", "desc")
	props["changes-since"] = q(M{"type": "string", "format": "date-time"})
	props["changes-before"] = q(M{"type": "string", "format": "date-time"})
	return qobject(v.AtLeast(75), props)
}

func last(vals []string) string {
	if len(vals) == 0 {
		return ""
	}
	return vals[len(vals)-1]
}

func truthy(s string) bool {
	switch strings.ToLower(s) {
	case "", "1", "true", "t", "yes", "y", "on":
		return true
	}
	return false
}

func parseTime(s string) (time.Time, error) {
	for _, l := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04:05.999999", "2006-01-02"} {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("bad time %q", s)
}

// nonAdminFilters are the filters a non-admin may use at v.
func nonAdminFilters(v Version) map[string]bool {
	m := map[string]bool{"reservation_id": true, "name": true, "status": true, "image": true, "flavor": true,
		"ip": true, "changes-since": true, "all_tenants": true}
	if v.AtLeast(5) {
		m["ip6"] = true
	}
	if v.AtLeast(26) {
		for _, k := range []string{"tags", "tags-any", "not-tags", "not-tags-any"} {
			m[k] = true
		}
	}
	if v.AtLeast(66) {
		m["changes-before"] = true
	}
	if v.AtLeast(73) {
		m["locked"] = true
	}
	if v.AtLeast(83) {
		for _, k := range []string{"availability_zone", "config_drive", "key_name", "created_at", "launched_at",
			"terminated_at", "power_state", "task_state", "vm_state", "progress", "user_id"} {
			m[k] = true
		}
	}
	if v.AtLeast(90) {
		m["hostname"] = true
	}
	return m
}

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseServerList turns the query string into a filter, listing options
// and the all_tenants flag; empty=true means the answer is an empty list
// (an unknown status before 2.38).
func (h *Handler) parseServerList(r *http.Request) (f compute.InstanceFilter, opts compute.ListOptions, all, empty bool, err error) {
	ri := info(r)
	if err = h.query(r, "servers_list"); err != nil {
		return
	}
	qv := r.URL.Query()
	admin := ri.isAdmin()
	allowed := nonAdminFilters(ri.v)
	get := func(k string) (string, bool) {
		vals, ok := qv[k]
		if !ok || (!admin && !allowed[k]) {
			return "", false
		}
		return last(vals), true
	}
	if s, ok := get("all_tenants"); ok {
		all = truthy(s)
	}
	if s, ok := get("reservation_id"); ok {
		f.ReservationID = s
	}
	if s, ok := get("name"); ok {
		f.Name = s
	}
	if s, ok := get("hostname"); ok {
		f.Hostname = s
	}
	if s, ok := get("image"); ok {
		f.ImageRef = idFromRef(s)
	}
	if s, ok := get("flavor"); ok {
		f.FlavorID = idFromRef(s)
	}
	if s, ok := get("key_name"); ok {
		f.KeyName = s
	}
	if s, ok := get("availability_zone"); ok {
		f.AvailabilityZone = s
	}
	if s, ok := get("user_id"); ok {
		f.UserID = s
	}
	if s, ok := get("host"); ok {
		f.Host = s
	}
	if s, ok := get("node"); ok {
		f.Node = s
	}
	if s, ok := get("uuid"); ok {
		f.UUIDs = []string{s}
	}
	if admin && all {
		if s, ok := get("project_id"); ok {
			f.ProjectID = s
		} else if s, ok := get("tenant_id"); ok {
			f.ProjectID = s
		}
	}
	if s, ok := get("locked"); ok {
		b, perr := strconv.ParseBool(s)
		if perr != nil {
			err = &api.BadRequestError{Message: "Invalid input for field/attribute locked. Value: " + s + ". Unrecognized value, expected a boolean"}
			return
		}
		f.Locked = &b
	}
	if _, ok := get("vm_state"); ok {
		for _, x := range qv["vm_state"] {
			f.VMStates = append(f.VMStates, compute.VMState(x))
		}
	}
	if _, ok := get("task_state"); ok {
		for _, x := range qv["task_state"] {
			f.TaskStates = append(f.TaskStates, compute.TaskState(x))
		}
	}
	if s, ok := get("power_state"); ok {
		n, perr := strconv.Atoi(s)
		if perr != nil {
			err = &api.BadRequestError{Message: "Invalid input for field/attribute power_state. Value: " + s + "."}
			return
		}
		f.PowerState = compute.Ptr(compute.PowerState(n))
	}
	for _, k := range []string{"tags", "tags-any", "not-tags", "not-tags-any"} {
		if s, ok := get(k); ok {
			l := splitComma(s)
			switch k {
			case "tags":
				f.Tags = l
			case "tags-any":
				f.TagsAny = l
			case "not-tags":
				f.NotTags = l
			default:
				f.NotTagsAny = l
			}
		}
	}
	for _, k := range []string{"changes-since", "changes-before"} {
		if s, ok := get(k); ok {
			t, perr := parseTime(s)
			if perr != nil {
				err = &api.BadRequestError{Message: fmt.Sprintf("Invalid input for field/attribute %s. Value: %s. is not a 'date-time'", k, s)}
				return
			}
			if k == "changes-since" {
				f.ChangesSince = t
			} else {
				f.ChangesBefore = t
			}
		}
	}
	if !f.ChangesSince.IsZero() && !f.ChangesBefore.IsZero() && f.ChangesBefore.Before(f.ChangesSince) {
		err = &api.BadRequestError{Message: "The value of changes-since must be less than or equal to changes-before."}
		return
	}
	if s, ok := get("deleted"); ok && admin {
		if b, _ := strconv.ParseBool(s); b {
			f.Deleted = compute.ReadDeletedOnly
		}
	}
	if _, ok := get("status"); ok {
		var pairs []compute.StatePair
		for _, st := range qv["status"] {
			p, known := compute.StatesForStatus(st)
			if !known {
				if ri.v.AtLeast(38) {
					err = &api.BadRequestError{Message: "Invalid status value"}
					return
				}
				empty = true
				return
			}
			if strings.EqualFold(st, compute.StatusDeleted) {
				if !admin {
					empty = true
					return
				}
				f.Deleted = compute.ReadDeletedOnly
			}
			pairs = append(pairs, p...)
		}
		f.States = pairs
	}
	// Paging and sorting.
	if s := last(qv["limit"]); s != "" {
		n, perr := strconv.Atoi(s)
		if perr != nil || n < 0 {
			err = &api.BadRequestError{Message: "limit param must be an integer"}
			return
		}
		opts.Limit = n
		if n == 0 {
			opts.Limit = -1
		}
	}
	opts.Marker = last(qv["marker"])
	keys, dirs := qv["sort_key"], qv["sort_dir"]
	for idx, k := range keys {
		if (k == "host" || k == "node") && !admin {
			continue
		}
		sk := serverSortColumn(k)
		if sk == "" {
			err = &api.BadRequestError{Message: "Invalid input for field/attribute sort_key. Value: " + k + "."}
			return
		}
		desc := true
		if idx < len(dirs) {
			desc = dirs[idx] != "asc"
		} else if len(dirs) > 0 {
			desc = dirs[len(dirs)-1] != "asc"
		}
		opts.Sort = append(opts.Sort, compute.SortKey{Key: sk, Desc: desc})
	}
	return
}

// serverSortColumn maps an API sort key to the store's.
func serverSortColumn(k string) string {
	switch k {
	case "display_name":
		return "display_name"
	case "name":
		return "display_name"
	}
	if slices.Contains(compute.InstanceSortKeys, k) {
		return k
	}
	return ""
}

func (h *Handler) listServers(detail bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ri := info(r)
		f, opts, all, empty, err := h.parseServerList(r)
		if err != nil {
			h.failAny(w, r, err)
			return
		}
		rule := api.RuleServersIndex
		if detail {
			rule = api.RuleServersDetail
		}
		var insts []*compute.Instance
		if !empty && opts.Limit >= 0 {
			insts, err = h.api.ListServers(r.Context(), f, opts, all, rule)
			if err != nil {
				h.failAny(w, r, err)
				return
			}
		} else if !empty {
			// limit=0: nothing, but still check the caller may list.
			if _, err := h.api.ListServers(r.Context(), compute.InstanceFilter{UUIDs: []string{"-"}}, compute.ListOptions{Limit: 1}, false, rule); err != nil {
				h.failAny(w, r, err)
				return
			}
		}
		out := make([]any, 0, len(insts))
		if detail {
			vc := h.newViewCtx(r.Context(), r, insts)
			for _, i := range insts {
				out = append(out, h.serverView(r, vc, i))
			}
		} else {
			for _, i := range insts {
				out = append(out, map[string]any{"id": i.UUID, "name": i.Name, "links": ri.links("servers/" + i.UUID)})
			}
		}
		body := map[string]any{"servers": out}
		limit := opts.Limit
		if limit <= 0 || limit > h.api.MaxLimit() {
			limit = h.api.MaxLimit()
		}
		if len(insts) > 0 && len(insts) >= limit {
			body["servers_links"] = []any{map[string]string{"rel": "next", "href": nextLink(ri, r, "servers", insts[len(insts)-1].UUID, detail)}}
		}
		writeJSON(w, http.StatusOK, body)
	}
}

func nextLink(ri *reqInfo, r *http.Request, coll, marker string, detail bool) string {
	qv := url.Values{}
	for k, v := range r.URL.Query() {
		if k != "marker" {
			qv[k] = v
		}
	}
	qv.Set("marker", marker)
	p := coll
	if detail {
		p += "/detail"
	}
	return ri.url(p) + "?" + qv.Encode()
}

func idFromRef(ref string) string {
	ref = strings.TrimRight(ref, "/")
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		return ref[i+1:]
	}
	return ref
}

// ---- show, update, delete ----

func (h *Handler) showServer(w http.ResponseWriter, r *http.Request) {
	inst, err := h.api.GetServer(r.Context(), r.PathValue("id"), api.RuleServersShow)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.writeServer(w, r, http.StatusOK, inst)
}

func (h *Handler) writeServer(w http.ResponseWriter, r *http.Request, code int, inst *compute.Instance) {
	vc := h.newViewCtx(r.Context(), r, []*compute.Instance{inst})
	if info(r).v.AtLeast(71) {
		if g, err := h.api.Store().ServerGroups().GetByInstance(r.Context(), inst.UUID); err == nil {
			vc.groups = map[string][]string{inst.UUID: {g.UUID}}
		}
	}
	writeJSON(w, code, map[string]any{"server": h.serverView(r, vc, inst)})
}

func serverUpdateSchema(v Version) M {
	p := M{
		"name": name(), "accessIPv4": M{"type": "string", "format": "ipv4"}, "accessIPv6": M{"type": "string", "format": "ipv6"},
		"OS-DCF:diskConfig": enum("AUTO", "MANUAL"),
	}
	if v.AtLeast(19) {
		p["description"] = nullable(str(0, 255))
	}
	if v.AtLeast(90) {
		p["hostname"] = M{"type": "string", "minLength": 1, "maxLength": 63, "pattern": `^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$`}
	}
	return object(M{"server": object(p)}, "server")
}

func (h *Handler) updateServer(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Server struct {
			Name        *string `json:"name"`
			Description *string `json:"description"`
			Hostname    *string `json:"hostname"`
			AccessIPv4  *string `json:"accessIPv4"`
			AccessIPv6  *string `json:"accessIPv6"`
			DiskConfig  *string `json:"OS-DCF:diskConfig"`
		} `json:"server"`
	}
	doc, err := h.body(r, "server_update", &body)
	if err != nil {
		h.failAny(w, r, err)
		return
	}
	s := body.Server
	u := api.ServerUpdate{Name: s.Name, Hostname: s.Hostname, AccessIPv4: s.AccessIPv4, AccessIPv6: s.AccessIPv6, DiskConfig: s.DiskConfig}
	if srv, _ := doc.(map[string]any)["server"].(map[string]any); srv != nil {
		if d, ok := srv["description"]; ok {
			ds, _ := d.(string)
			u.Description = &ds
		}
	}
	inst, err := h.api.UpdateServer(r.Context(), r.PathValue("id"), u)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.writeServer(w, r, http.StatusOK, inst)
}

func (h *Handler) deleteServer(w http.ResponseWriter, r *http.Request) {
	if err := h.api.DeleteServer(r.Context(), r.PathValue("id")); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ---- create ----

func serverCreateSchema(v Version) M {
	netItem := M{
		"uuid": M{"type": "string"}, "port": nullable(M{"type": "string", "format": "uuid"}),
		"fixed_ip": M{"type": "string", "anyOf": []any{M{"format": "ipv4"}, M{"format": "ipv6"}}},
	}
	if v.AtLeast(37) {
		netItem["uuid"] = M{"type": "string", "format": "uuid"}
	}
	if v.AtLeast(32) && !(v.AtLeast(37) && !v.AtLeast(42)) || v.AtLeast(42) {
		netItem["tag"] = str(1, 60)
	}
	var networks any = M{"type": "array", "items": object(netItem)}
	if v.AtLeast(37) {
		networks = M{"oneOf": []any{networks, M{"type": "string", "enum": []any{"none", "auto"}}}}
	}
	bdm := M{
		"boot_index":  nullable(M{"oneOf": []any{M{"type": "integer"}, M{"type": "string", "pattern": `^-?[0-9]+$`}}}),
		"uuid":        M{"type": "string", "minLength": 1, "maxLength": 255, "pattern": `^[a-zA-Z0-9._-]*$`},
		"source_type": enum("volume", "image", "snapshot", "blank"), "destination_type": enum("local", "volume"),
		"volume_size": nullable(intLike(1)), "delete_on_termination": boolean(), "device_name": nullable(str(1, 255)),
		"device_type": nullable(str(0, 255)), "disk_bus": nullable(str(0, 255)), "guest_format": nullable(str(0, 255)),
		"no_device": M{}, "volume_id": M{"type": "string"}, "snapshot_id": M{"type": "string"}, "image_id": M{"type": "string"},
	}
	if v.AtLeast(42) || (v.AtLeast(32) && !v.AtLeast(37)) {
		bdm["tag"] = str(1, 60)
	}
	if v.AtLeast(67) {
		bdm["volume_type"] = nullable(str(0, 255))
	}
	p := M{
		"name": name(), "imageRef": M{"type": "string", "maxLength": 255}, "flavorRef": M{"oneOf": []any{str(1, 255), M{"type": "integer", "minimum": 1}}},
		"adminPass": M{"type": "string"}, "metadata": metadata(), "networks": networks,
		"OS-DCF:diskConfig": enum("AUTO", "MANUAL"), "accessIPv4": M{"type": "string", "format": "ipv4"},
		"accessIPv6": M{"type": "string", "format": "ipv6"}, "availability_zone": str(1, 255),
		"key_name": str(1, 255), "user_data": M{"type": "string", "maxLength": 65535, "pattern": `^[A-Za-z0-9+/=\s]*$`},
		"config_drive": boolean(), "min_count": intLike(1), "max_count": intLike(1), "return_reservation_id": boolean(),
		"security_groups":         M{"type": "array", "items": object(M{"name": str(1, 255)})},
		"block_device_mapping_v2": M{"type": "array", "items": object(bdm)},
		"block_device_mapping":    M{"type": "array"},
	}
	if !v.AtLeast(57) {
		p["personality"] = M{"type": "array", "items": object(M{"path": str(1, 255), "contents": M{"type": "string"}})}
	}
	if v.AtLeast(19) {
		p["description"] = nullable(str(0, 255))
	}
	if v.AtLeast(52) {
		p["tags"] = M{"type": "array", "maxItems": 50, "items": M{"type": "string", "minLength": 1, "maxLength": 60, "pattern": `^[^,/]*$`}}
	}
	if v.AtLeast(63) {
		p["trusted_image_certificates"] = nullable(M{"type": "array", "minItems": 1, "maxItems": 50, "items": str(1, 0)})
	}
	if v.AtLeast(74) {
		p["host"] = str(1, 255)
		p["hypervisor_hostname"] = str(1, 255)
	}
	if v.AtLeast(90) {
		p["hostname"] = M{"type": "string", "minLength": 1, "maxLength": 255, "pattern": `^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?$`}
	}
	req := []string{"name", "flavorRef"}
	if v.AtLeast(37) {
		req = append(req, "networks")
	}
	hints := M{
		"type": "object",
		"properties": M{
			"group":          M{"type": "string", "format": "uuid"},
			"different_host": M{"oneOf": []any{M{"type": "string", "format": "uuid"}, M{"type": "array", "items": M{"type": "string", "format": "uuid"}}}},
			"same_host":      M{"oneOf": []any{M{"type": "string", "format": "uuid"}, M{"type": "array", "items": M{"type": "string", "format": "uuid"}}}},
			"query":          M{"type": []any{"string", "object"}},
			"target_cell":    str(1, 255), "different_cell": M{"type": []any{"string", "array"}},
			"build_near_host_ip": M{"type": "string", "anyOf": []any{M{"format": "ipv4"}, M{"format": "ipv6"}}},
			"cidr":               M{"type": "string", "pattern": `^/[0-9a-f.:]+$`},
		},
		"additionalProperties": true,
	}
	return object(M{"server": object(p, req...), "OS-SCH-HNT:scheduler_hints": hints, "os:scheduler_hints": hints}, "server")
}

type createBody struct {
	Server struct {
		Name             string            `json:"name"`
		Description      string            `json:"description"`
		Hostname         string            `json:"hostname"`
		ImageRef         string            `json:"imageRef"`
		AdminPass        string            `json:"adminPass"`
		Metadata         map[string]string `json:"metadata"`
		DiskConfig       string            `json:"OS-DCF:diskConfig"`
		AccessIPv4       string            `json:"accessIPv4"`
		AccessIPv6       string            `json:"accessIPv6"`
		AvailabilityZone string            `json:"availability_zone"`
		KeyName          string            `json:"key_name"`
		UserData         string            `json:"user_data"`
		Host             string            `json:"host"`
		Hypervisor       string            `json:"hypervisor_hostname"`
		Tags             []string          `json:"tags"`
		SecurityGroups   []struct {
			Name string `json:"name"`
		} `json:"security_groups"`
		Personality []struct {
			Path     string `json:"path"`
			Contents string `json:"contents"`
		} `json:"personality"`
	} `json:"server"`
}

func anyInt(v any, def int) int {
	switch t := v.(type) {
	case nil:
		return def
	case string:
		n, err := strconv.Atoi(t)
		if err != nil {
			return def
		}
		return n
	case interface{ Int64() (int64, error) }:
		n, _ := t.Int64()
		return int(n)
	case float64:
		return int(t)
	}
	return def
}

func anyBool(v any) bool {
	switch t := v.(type) {
	case bool:
		return t
	case string:
		return truthy(t) && t != ""
	}
	return false
}

func anyStr(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case interface{ String() string }:
		return t.String()
	}
	return ""
}

func (h *Handler) createServer(w http.ResponseWriter, r *http.Request) {
	ri := info(r)
	var body createBody
	doc, err := h.body(r, "server_create", &body)
	if err != nil {
		h.failAny(w, r, err)
		return
	}
	top := doc.(map[string]any)
	srv := top["server"].(map[string]any)
	b := body.Server
	req := api.CreateRequest{
		Name: b.Name, Description: b.Description, Hostname: b.Hostname, ImageRef: b.ImageRef,
		FlavorRef: anyStr(srv["flavorRef"]), KeyName: b.KeyName, UserData: b.UserData, Metadata: b.Metadata,
		AvailabilityZone: b.AvailabilityZone, Host: b.Host, HypervisorHostname: b.Hypervisor,
		AdminPass: b.AdminPass, AccessIPv4: b.AccessIPv4, AccessIPv6: b.AccessIPv6,
		ConfigDrive: anyBool(srv["config_drive"]), DiskConfig: b.DiskConfig,
		MinCount: anyInt(srv["min_count"], 1), Tags: b.Tags,
	}
	req.MaxCount = anyInt(srv["max_count"], req.MinCount)
	if _, ok := srv["max_count"]; ok {
		if _, ok := srv["min_count"]; !ok {
			req.MinCount = 1
		}
	}
	for _, sg := range b.SecurityGroups {
		req.SecurityGroups = append(req.SecurityGroups, sg.Name)
	}
	for _, p := range b.Personality {
		data, err := base64.StdEncoding.DecodeString(p.Contents)
		if err != nil {
			h.fail(w, r, &api.BadRequestError{Message: "Personality content for " + p.Path + " cannot be decoded"})
			return
		}
		req.InjectedFiles = append(req.InjectedFiles, compute.InjectedFile{Path: p.Path, Contents: data})
	}
	switch nets := srv["networks"].(type) {
	case string:
		req.Networks = []compute.RequestedNetwork{{Auto: nets == "auto", None: nets == "none"}}
	case []any:
		for _, n := range nets {
			m := n.(map[string]any)
			rn := compute.RequestedNetwork{NetworkID: anyStr(m["uuid"]), PortID: anyStr(m["port"]), FixedIP: anyStr(m["fixed_ip"]), Tag: anyStr(m["tag"])}
			if rn.NetworkID == "" && rn.PortID == "" {
				h.fail(w, r, &api.BadRequestError{Message: "Bad networks format: network uuid is not in proper format ()"})
				return
			}
			req.Networks = append(req.Networks, rn)
		}
	}
	if bdms, ok := srv["block_device_mapping_v2"].([]any); ok {
		for _, x := range bdms {
			m := x.(map[string]any)
			bd := compute.BlockDeviceMapping{
				SourceType: anyStr(m["source_type"]), DestinationType: anyStr(m["destination_type"]),
				VolumeSize: anyInt(m["volume_size"], 0), DeleteOnTermination: anyBool(m["delete_on_termination"]),
				DeviceName: anyStr(m["device_name"]), DeviceType: anyStr(m["device_type"]), DiskBus: anyStr(m["disk_bus"]),
				GuestFormat: anyStr(m["guest_format"]), Tag: anyStr(m["tag"]), VolumeType: anyStr(m["volume_type"]),
			}
			if bi, ok := m["boot_index"]; ok && bi != nil {
				bd.BootIndex = compute.Ptr(anyInt(bi, 0))
			}
			id := anyStr(m["uuid"])
			switch bd.SourceType {
			case "image":
				bd.ImageID = id
			case "volume":
				bd.VolumeID = id
			case "snapshot":
				bd.SnapshotID = id
			}
			if bd.DestinationType == "" {
				bd.DestinationType = "volume"
				if bd.SourceType == "blank" {
					bd.DestinationType = "local"
				}
			}
			if bd.SourceType == "" {
				h.fail(w, r, &api.BadRequestError{Message: "Block Device Mapping is Invalid: source_type is required."})
				return
			}
			req.BlockDevices = append(req.BlockDevices, bd)
		}
	}
	hints := map[string][]string{}
	for _, key := range []string{"OS-SCH-HNT:scheduler_hints", "os:scheduler_hints"} {
		if hm, ok := top[key].(map[string]any); ok {
			for k, v := range hm {
				switch t := v.(type) {
				case []any:
					for _, x := range t {
						hints[k] = append(hints[k], anyStr(x))
					}
				case map[string]any:
					hints[k] = append(hints[k], render(t))
				default:
					hints[k] = append(hints[k], anyStr(t))
				}
			}
		}
	}
	if len(hints) > 0 {
		req.SchedulerHints = hints
	}
	res, err := h.api.CreateServers(r.Context(), req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if anyBool(srv["return_reservation_id"]) {
		writeJSON(w, http.StatusAccepted, map[string]any{"reservation_id": res.ReservationID})
		return
	}
	first := res.Instances[0]
	out := map[string]any{
		"id": first.UUID, "links": ri.links("servers/" + first.UUID),
		"OS-DCF:diskConfig": orDefault(first.DiskConfig, "MANUAL"),
		"security_groups":   []any{map[string]string{"name": "default"}},
	}
	if len(req.SecurityGroups) > 0 {
		sgs := []any{}
		for _, sg := range req.SecurityGroups {
			sgs = append(sgs, map[string]string{"name": sg})
		}
		out["security_groups"] = sgs
	}
	if res.AdminPass != "" {
		out["adminPass"] = res.AdminPass
	}
	w.Header().Set("Location", ri.url("servers/"+first.UUID))
	writeJSON(w, http.StatusAccepted, map[string]any{"server": out})
}
