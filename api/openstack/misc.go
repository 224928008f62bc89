package openstack

import (
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/novakit/novakit/api"
	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store"
)

// ---- limits and quotas ----

func (h *Handler) limits(w http.ResponseWriter, r *http.Request) {
	ri := info(r)
	project := ""
	rule := api.RuleLimits
	if p := r.URL.Query().Get("tenant_id"); p != "" && p != ri.creds.ProjectID {
		project, rule = p, api.RuleLimitsOtherProject
	}
	lim, used, err := h.api.QuotaUsage(r.Context(), project, "", rule)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	abs := map[string]any{
		"maxTotalInstances": lim[compute.QuotaInstances], "maxTotalCores": lim[compute.QuotaCores],
		"maxTotalRAMSize": lim[compute.QuotaRAM], "maxServerMeta": lim[compute.QuotaMetadataItems],
		"maxImageMeta": lim[compute.QuotaMetadataItems], "maxTotalKeypairs": lim[compute.QuotaKeyPairs],
		"maxServerGroups": lim[compute.QuotaServerGroups], "maxServerGroupMembers": lim[compute.QuotaServerGroupMembers],
		"totalInstancesUsed": used[compute.QuotaInstances], "totalCoresUsed": used[compute.QuotaCores],
		"totalRAMUsed": used[compute.QuotaRAM], "totalServerGroupsUsed": used[compute.QuotaServerGroups],
	}
	if !ri.v.AtLeast(57) {
		abs["maxPersonality"], abs["maxPersonalitySize"] = 5, 10240
	}
	if !ri.v.AtLeast(36) {
		abs["maxSecurityGroups"], abs["maxSecurityGroupRules"], abs["maxTotalFloatingIps"] = -1, -1, -1
		abs["totalSecurityGroupsUsed"], abs["totalFloatingIpsUsed"] = 0, 0
	}
	writeJSON(w, http.StatusOK, map[string]any{"limits": map[string]any{"rate": []any{}, "absolute": abs}})
}

func quotaKeys(v Version) []string {
	k := []string{"instances", "cores", "ram", "metadata_items", "key_pairs", "server_groups", "server_group_members"}
	if !v.AtLeast(57) {
		k = append(k, "injected_files", "injected_file_content_bytes", "injected_file_path_bytes")
	}
	if !v.AtLeast(36) {
		k = append(k, "fixed_ips", "floating_ips", "security_groups", "security_group_rules", "networks")
	}
	return k
}

var legacyQuota = map[string]int{
	"injected_files": 5, "injected_file_content_bytes": 10240, "injected_file_path_bytes": 255,
	"fixed_ips": -1, "floating_ips": -1, "security_groups": -1, "security_group_rules": -1, "networks": -1,
}

func quotaView(v Version, id string, lim, used map[string]int, detail bool) map[string]any {
	m := map[string]any{"id": id}
	for _, k := range quotaKeys(v) {
		l, ok := lim[k]
		if !ok {
			l = legacyQuota[k]
		}
		if detail {
			m[k] = map[string]int{"limit": l, "in_use": used[k], "reserved": 0}
		} else {
			m[k] = l
		}
	}
	return m
}

func (h *Handler) quotaShow(detail bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		project := r.PathValue("project")
		user := r.URL.Query().Get("user_id")
		rule := api.RuleQuotaShow
		if detail {
			rule = api.RuleQuotaDetail
		}
		lim, used, err := h.api.QuotaUsage(r.Context(), project, user, rule)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"quota_set": quotaView(info(r).v, project, lim, used, detail)})
	}
}

func (h *Handler) quotaDefaults(w http.ResponseWriter, r *http.Request) {
	d, err := h.api.QuotaDefaults(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"quota_set": quotaView(info(r).v, r.PathValue("project"), d, nil, false)})
}

func quotaUpdateSchema(v Version) M {
	p := M{"force": boolean()}
	for _, k := range quotaKeys(v) {
		p[k] = M{"oneOf": []any{M{"type": "integer", "minimum": -1}, M{"type": "string", "pattern": `^-?[0-9]+$`}}}
	}
	return object(M{"quota_set": object(p)}, "quota_set")
}

func (h *Handler) quotaUpdate(w http.ResponseWriter, r *http.Request) {
	doc, err := h.body(r, "quota_update", nil)
	if err != nil {
		h.failAny(w, r, err)
		return
	}
	m := doc.(map[string]any)["quota_set"].(map[string]any)
	set := map[string]int{}
	force := false
	for k, v := range m {
		if k == "force" {
			force = anyBool(v)
			continue
		}
		if _, legacy := legacyQuota[k]; legacy {
			continue
		}
		n := anyInt(v, -2)
		if n < -1 {
			h.fail(w, r, &api.BadRequestError{Message: "Invalid input for field/attribute " + k + "."})
			return
		}
		set[k] = n
	}
	project := r.PathValue("project")
	user := r.URL.Query().Get("user_id")
	lim, err := h.api.UpdateQuotas(r.Context(), project, user, set, force)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	qv := quotaView(info(r).v, project, lim, nil, false)
	delete(qv, "id")
	writeJSON(w, http.StatusOK, map[string]any{"quota_set": qv})
}

func (h *Handler) quotaDelete(w http.ResponseWriter, r *http.Request) {
	if err := h.api.DeleteQuotas(r.Context(), r.PathValue("project"), r.URL.Query().Get("user_id")); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// ---- availability zones ----

func (h *Handler) availabilityZones(detail bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		rule := api.RuleAZList
		if detail {
			rule = api.RuleAZDetail
		}
		if err := h.api.Authorize(ctx, rule, api.Target{ProjectID: info(r).creds.ProjectID}); err != nil {
			h.fail(w, r, err)
			return
		}
		st := h.api.Store()
		hostAZ, err := st.Aggregates().HostAvailabilityZones(ctx)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		svcs, err := st.Services().List(ctx, store.ServiceFilter{})
		if err != nil {
			h.fail(w, r, err)
			return
		}
		type zone struct {
			available bool
			hosts     map[string]map[string]any
		}
		zones := map[string]*zone{}
		for _, s := range svcs {
			z := compute.InternalAvailabilityZone
			if s.Binary == "nova-compute" {
				z = hostAZ[s.Host]
				if z == "" {
					z = h.api.DefaultAvailabilityZone()
				}
			}
			if z == compute.InternalAvailabilityZone && !detail {
				continue
			}
			zz := zones[z]
			if zz == nil {
				zz = &zone{hosts: map[string]map[string]any{}}
				zones[z] = zz
			}
			up := h.api.ServiceIsUp(s)
			if !s.Disabled && up {
				zz.available = true
			}
			if zz.hosts[s.Host] == nil {
				zz.hosts[s.Host] = map[string]any{}
			}
			zz.hosts[s.Host][s.Binary] = map[string]any{"available": up, "active": !s.Disabled, "updated_at": tmicro(s.UpdatedAt)}
		}
		names := make([]string, 0, len(zones))
		for n := range zones {
			names = append(names, n)
		}
		sort.Strings(names)
		out := []any{}
		for _, n := range names {
			z := zones[n]
			e := map[string]any{"zoneName": n, "zoneState": map[string]bool{"available": z.available}, "hosts": nil}
			if detail {
				e["hosts"] = z.hosts
			}
			out = append(out, e)
		}
		writeJSON(w, http.StatusOK, map[string]any{"availabilityZoneInfo": out})
	}
}

// ---- server groups ----

func serverGroupCreateSchema(v Version) M {
	pols := []any{"affinity", "anti-affinity"}
	if v.AtLeast(15) {
		pols = append(pols, "soft-affinity", "soft-anti-affinity")
	}
	if v.AtLeast(64) {
		return object(M{"server_group": object(M{
			"name": name(), "policy": M{"enum": pols},
			"rules": object(M{"max_server_per_host": intLike(1)}),
		}, "name", "policy")}, "server_group")
	}
	return object(M{"server_group": object(M{
		"name": name(), "policies": M{"type": "array", "minItems": 1, "maxItems": 1, "items": M{"enum": pols}},
	}, "name", "policies")}, "server_group")
}

func (h *Handler) serverGroupView(r *http.Request, g *compute.ServerGroup) map[string]any {
	v := info(r).v
	m := map[string]any{"id": g.UUID, "name": g.Name, "members": orEmptyList(g.Members)}
	if v.AtLeast(64) {
		m["policy"] = g.Policy
		rules := map[string]int{}
		for k, x := range g.Rules {
			rules[k] = x
		}
		m["rules"] = rules
	} else {
		m["policies"] = []string{g.Policy}
		m["metadata"] = map[string]string{}
	}
	if v.AtLeast(13) {
		m["project_id"] = g.ProjectID
		m["user_id"] = g.UserID
	}
	return m
}

func (h *Handler) listServerGroups(w http.ResponseWriter, r *http.Request) {
	qv := r.URL.Query()
	limit, _ := strconv.Atoi(qv.Get("limit"))
	offset, _ := strconv.Atoi(qv.Get("offset"))
	if limit < 0 || offset < 0 {
		h.fail(w, r, &api.BadRequestError{Message: "Invalid input for field/attribute limit/offset."})
		return
	}
	gs, err := h.api.ListServerGroups(r.Context(), truthy(qv.Get("all_projects")) && qv.Has("all_projects"), limit, offset)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]any, 0, len(gs))
	for _, g := range gs {
		out = append(out, h.serverGroupView(r, g))
	}
	writeJSON(w, http.StatusOK, map[string]any{"server_groups": out})
}

func (h *Handler) createServerGroup(w http.ResponseWriter, r *http.Request) {
	doc, err := h.body(r, "server_group_create", nil)
	if err != nil {
		h.failAny(w, r, err)
		return
	}
	m := doc.(map[string]any)["server_group"].(map[string]any)
	g := &compute.ServerGroup{Name: anyStr(m["name"]), Policy: anyStr(m["policy"])}
	if p, ok := m["policies"].([]any); ok && len(p) > 0 {
		g.Policy = anyStr(p[0])
	}
	if rules, ok := m["rules"].(map[string]any); ok {
		g.Rules = map[string]int{}
		for k, v := range rules {
			g.Rules[k] = anyInt(v, 0)
		}
		if len(g.Rules) > 0 && g.Policy != compute.PolicyAntiAffinity {
			h.fail(w, r, &api.BadRequestError{Message: "Only anti-affinity policy supports rules."})
			return
		}
	}
	out, err := h.api.CreateServerGroup(r.Context(), g)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"server_group": h.serverGroupView(r, out)})
}

func (h *Handler) showServerGroup(w http.ResponseWriter, r *http.Request) {
	g, err := h.api.GetServerGroup(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"server_group": h.serverGroupView(r, g)})
}

func (h *Handler) deleteServerGroup(w http.ResponseWriter, r *http.Request) {
	if err := h.api.DeleteServerGroup(r.Context(), r.PathValue("id")); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ---- services ----

func (h *Handler) serviceView(r *http.Request, s *compute.Service, hostAZ map[string]string) map[string]any {
	v := info(r).v
	zone := compute.InternalAvailabilityZone
	if s.Binary == "nova-compute" {
		zone = hostAZ[s.Host]
		if zone == "" {
			zone = h.api.DefaultAvailabilityZone()
		}
	}
	state := "down"
	if h.api.ServiceIsUp(s) {
		state = "up"
	}
	status := "enabled"
	if s.Disabled {
		status = "disabled"
	}
	var id any = s.ID
	if v.AtLeast(53) {
		id = s.UUID
	}
	m := map[string]any{
		"id": id, "binary": s.Binary, "host": s.Host, "zone": zone, "status": status, "state": state,
		"updated_at": tmicro(s.UpdatedAt), "disabled_reason": nullStr(s.DisabledReason),
	}
	if v.AtLeast(11) {
		m["forced_down"] = s.ForcedDown
	}
	return m
}

func servicesQuery(v Version) M {
	return qobject(v.AtLeast(75), M{"host": qs(), "binary": qs()})
}

func (h *Handler) listServices(w http.ResponseWriter, r *http.Request) {
	if err := h.query(r, "services_query"); err != nil {
		h.fail(w, r, err)
		return
	}
	qv := r.URL.Query()
	svcs, err := h.api.ListServices(r.Context(), store.ServiceFilter{Host: qv.Get("host"), Binary: qv.Get("binary")})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	hostAZ, _ := h.api.Store().Aggregates().HostAvailabilityZones(r.Context())
	out := make([]any, 0, len(svcs))
	for _, s := range svcs {
		out = append(out, h.serviceView(r, s, hostAZ))
	}
	writeJSON(w, http.StatusOK, map[string]any{"services": out})
}

func serviceLegacySchema(Version) M {
	return object(M{"host": str(1, 255), "binary": str(1, 255), "disabled_reason": str(1, 255), "forced_down": boolean()}, "host", "binary")
}

func serviceUpdateSchema(Version) M {
	return object(M{"status": enum("enabled", "disabled"), "disabled_reason": str(1, 255), "forced_down": boolean()})
}

// updateServiceLegacy is PUT /os-services/{action} before 2.53.
func (h *Handler) updateServiceLegacy(w http.ResponseWriter, r *http.Request) {
	ri := info(r)
	action := r.PathValue("id")
	if ri.v.AtLeast(53) {
		h.updateService(w, r)
		return
	}
	if action == "force-down" && !ri.v.AtLeast(11) {
		writeFault(w, http.StatusNotFound, "The resource could not be found.")
		return
	}
	switch action {
	case "enable", "disable", "disable-log-reason", "force-down":
	default:
		writeFault(w, http.StatusNotFound, "Unknown action")
		return
	}
	doc, err := h.body(r, "service_legacy", nil)
	if err != nil {
		h.failAny(w, r, err)
		return
	}
	m := doc.(map[string]any)
	host, binary := anyStr(m["host"]), anyStr(m["binary"])
	if err := h.api.Authorize(r.Context(), api.RuleServicesUpdate, api.Target{}); err != nil {
		h.fail(w, r, err)
		return
	}
	svc, err := h.api.Store().Services().GetByHostBinary(r.Context(), host, binary)
	if errors.Is(err, compute.ErrNotFound) {
		h.fail(w, r, compute.NotFound("Service", host+"/"+binary))
		return
	} else if err != nil {
		h.fail(w, r, err)
		return
	}
	var u store.ServiceUpdate
	resp := map[string]any{"host": host, "binary": binary}
	switch action {
	case "enable":
		u.Disabled = compute.Ptr(false)
		resp["status"] = "enabled"
	case "disable":
		u.Disabled = compute.Ptr(true)
		resp["status"] = "disabled"
	case "disable-log-reason":
		reason := anyStr(m["disabled_reason"])
		if reason == "" {
			h.fail(w, r, &api.BadRequestError{Message: "Missing disabled reason field"})
			return
		}
		u.Disabled, u.DisabledReason = compute.Ptr(true), &reason
		resp["status"], resp["disabled_reason"] = "disabled", reason
	case "force-down":
		fd, ok := m["forced_down"]
		if !ok {
			h.fail(w, r, &api.BadRequestError{Message: "Missing forced_down field"})
			return
		}
		u.ForcedDown = compute.Ptr(anyBool(fd))
		resp["forced_down"] = anyBool(fd)
	}
	if _, err := h.api.UpdateService(r.Context(), svc, u); err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"service": resp})
}

// updateService is PUT /os-services/{uuid} from 2.53.
func (h *Handler) updateService(w http.ResponseWriter, r *http.Request) {
	doc, err := h.body(r, "service_update", nil)
	if err != nil {
		h.failAny(w, r, err)
		return
	}
	m := doc.(map[string]any)
	if err := h.api.Authorize(r.Context(), api.RuleServicesUpdate, api.Target{}); err != nil {
		h.fail(w, r, err)
		return
	}
	svc, err := h.api.Store().Services().Get(r.Context(), r.PathValue("id"))
	if err != nil {
		if errors.Is(err, compute.ErrNotFound) {
			err = compute.NotFound("Service", r.PathValue("id"))
		}
		h.fail(w, r, err)
		return
	}
	var u store.ServiceUpdate
	if st, ok := m["status"]; ok {
		u.Disabled = compute.Ptr(anyStr(st) == "disabled")
	}
	if dr, ok := m["disabled_reason"]; ok {
		if u.Disabled == nil || !*u.Disabled {
			h.fail(w, r, &api.BadRequestError{Message: "Specifying 'disabled_reason' with status 'enabled' is invalid."})
			return
		}
		u.DisabledReason = compute.Ptr(anyStr(dr))
	}
	if fd, ok := m["forced_down"]; ok {
		u.ForcedDown = compute.Ptr(anyBool(fd))
	}
	if u.Disabled == nil && u.ForcedDown == nil {
		h.fail(w, r, &api.BadRequestError{Message: "No updates were requested. Fields 'status' or 'forced_down' should be specified."})
		return
	}
	out, err := h.api.UpdateService(r.Context(), svc, u)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	hostAZ, _ := h.api.Store().Aggregates().HostAvailabilityZones(r.Context())
	writeJSON(w, http.StatusOK, map[string]any{"service": h.serviceView(r, out, hostAZ)})
}

func (h *Handler) deleteService(w http.ResponseWriter, r *http.Request) {
	if err := h.api.Authorize(r.Context(), api.RuleServicesDelete, api.Target{}); err != nil {
		h.fail(w, r, err)
		return
	}
	id := r.PathValue("id")
	var (
		svc *compute.Service
		err error
	)
	if info(r).v.AtLeast(53) {
		svc, err = h.api.Store().Services().Get(r.Context(), id)
	} else {
		n, perr := strconv.ParseInt(id, 10, 64)
		if perr != nil {
			h.fail(w, r, &api.BadRequestError{Message: "Invalid ID " + id})
			return
		}
		svc, err = h.api.Store().Services().GetByID(r.Context(), n)
	}
	if err != nil {
		if errors.Is(err, compute.ErrNotFound) {
			err = compute.NotFound("Service", id)
		}
		h.fail(w, r, err)
		return
	}
	if err := h.api.DeleteService(r.Context(), svc); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ---- hypervisors ----

func hypervisorQuery(v Version) M {
	p := M{}
	if v.AtLeast(33) {
		p["limit"] = qint(0)
		p["marker"] = qs()
	}
	if v.AtLeast(53) {
		p["hypervisor_hostname_pattern"] = qs()
		p["with_servers"] = qbool()
	}
	return qobject(v.AtLeast(75), p)
}

func (h *Handler) hypervisorView(r *http.Request, n *compute.ComputeNode, svc *compute.Service, detail bool, servers []*compute.Instance) map[string]any {
	v := info(r).v
	var id any = n.ID
	if v.AtLeast(53) {
		id = n.UUID
	}
	state, status := "down", "enabled"
	if svc != nil {
		if h.api.ServiceIsUp(svc) {
			state = "up"
		}
		if svc.Disabled {
			status = "disabled"
		}
	}
	m := map[string]any{"id": id, "hypervisor_hostname": n.HypervisorHostname, "state": state, "status": status}
	if servers != nil {
		l := make([]any, 0, len(servers))
		for _, i := range servers {
			l = append(l, map[string]string{"name": i.GuestName(), "uuid": i.UUID})
		}
		m["servers"] = l
	}
	if !detail {
		return m
	}
	m["host_ip"] = nullStr(n.HostIP)
	m["hypervisor_type"] = n.HypervisorType
	m["hypervisor_version"] = n.HypervisorVersion
	sv := map[string]any{"host": n.Host, "disabled_reason": nil}
	if svc != nil {
		if v.AtLeast(53) {
			sv["id"] = svc.UUID
		} else {
			sv["id"] = svc.ID
		}
		sv["disabled_reason"] = nullStr(svc.DisabledReason)
	}
	m["service"] = sv
	if v.AtLeast(28) {
		var ci any = map[string]any{}
		if n.CPUInfo != "" {
			var x any
			if json.Unmarshal([]byte(n.CPUInfo), &x) == nil {
				ci = x
			}
		}
		m["cpu_info"] = ci
	} else {
		m["cpu_info"] = n.CPUInfo
	}
	if !v.AtLeast(88) {
		m["vcpus"], m["vcpus_used"] = n.VCPUs, n.VCPUsUsed
		m["memory_mb"], m["memory_mb_used"] = n.MemoryMB, n.MemoryMBUsed
		m["local_gb"], m["local_gb_used"] = n.LocalGB, n.LocalGBUsed
		m["free_ram_mb"], m["free_disk_gb"] = n.FreeRAMMB, n.FreeDiskGB
		m["current_workload"], m["running_vms"] = n.CurrentWorkload, n.RunningVMs
		m["disk_available_least"] = n.DiskAvailableLeast
	}
	return m
}

func (h *Handler) listHypervisors(detail bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ri := info(r)
		rule := api.RuleHypervisorsList
		if detail {
			rule = api.RuleHypervisorsDetail
		}
		if err := h.api.Authorize(r.Context(), rule, api.Target{}); err != nil {
			h.fail(w, r, err)
			return
		}
		if err := h.query(r, "hypervisors_query"); err != nil {
			h.fail(w, r, err)
			return
		}
		qv := r.URL.Query()
		var opts compute.ListOptions
		if s := qv.Get("limit"); s != "" {
			opts.Limit, _ = strconv.Atoi(s)
		}
		opts.Marker = qv.Get("marker")
		f := store.ComputeNodeFilter{HypervisorHostnamePattern: qv.Get("hypervisor_hostname_pattern")}
		if opts.Marker != "" && !ri.v.AtLeast(53) {
			// Before 2.53 the marker is the integer id.
			if _, err := strconv.Atoi(opts.Marker); err != nil {
				h.fail(w, r, &api.BadRequestError{Message: "marker [" + opts.Marker + "] not found"})
				return
			}
		}
		nodes, err := h.nodes(r, f, opts)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		withServers := ri.v.AtLeast(53) && qv.Has("with_servers") && truthy(qv.Get("with_servers"))
		svcs, _ := h.api.HostServices(r.Context())
		out := make([]any, 0, len(nodes))
		for _, n := range nodes {
			var servers []*compute.Instance
			if withServers {
				servers, _ = h.api.Store().Instances().List(r.Context(), compute.InstanceFilter{Host: n.Host, Node: n.HypervisorHostname}, compute.ListOptions{})
				if servers == nil {
					servers = []*compute.Instance{}
				}
			}
			out = append(out, h.hypervisorView(r, n, svcs[n.Host], detail, servers))
		}
		body := map[string]any{"hypervisors": out}
		if ri.v.AtLeast(33) && opts.Limit > 0 && len(nodes) >= opts.Limit {
			last := nodes[len(nodes)-1]
			mk := strconv.FormatInt(last.ID, 10)
			if ri.v.AtLeast(53) {
				mk = last.UUID
			}
			body["hypervisors_links"] = []any{map[string]string{"rel": "next", "href": nextLink(ri, r, "os-hypervisors", mk, detail)}}
		}
		writeJSON(w, http.StatusOK, body)
	}
}

// nodes lists compute nodes, translating pre-2.53 integer markers.
func (h *Handler) nodes(r *http.Request, f store.ComputeNodeFilter, opts compute.ListOptions) ([]*compute.ComputeNode, error) {
	if opts.Marker != "" && !info(r).v.AtLeast(53) {
		all, err := h.api.Store().ComputeNodes().List(r.Context(), f, compute.ListOptions{})
		if err != nil {
			return nil, err
		}
		for _, n := range all {
			if strconv.FormatInt(n.ID, 10) == opts.Marker {
				opts.Marker = n.UUID
				return h.api.Store().ComputeNodes().List(r.Context(), f, opts)
			}
		}
		return nil, &compute.MarkerNotFoundError{Marker: opts.Marker}
	}
	return h.api.Store().ComputeNodes().List(r.Context(), f, opts)
}

func (h *Handler) findNode(r *http.Request, id string) (*compute.ComputeNode, error) {
	if info(r).v.AtLeast(53) {
		n, err := h.api.Store().ComputeNodes().Get(r.Context(), id)
		if errors.Is(err, compute.ErrNotFound) {
			return nil, compute.NotFound("Hypervisor", id)
		}
		return n, err
	}
	all, err := h.api.Store().ComputeNodes().List(r.Context(), store.ComputeNodeFilter{}, compute.ListOptions{})
	if err != nil {
		return nil, err
	}
	if _, perr := strconv.Atoi(id); perr != nil {
		return nil, &api.BadRequestError{Message: "Hypervisor ID " + id + " is not valid"}
	}
	for _, n := range all {
		if strconv.FormatInt(n.ID, 10) == id {
			return n, nil
		}
	}
	return nil, compute.NotFound("Hypervisor", id)
}

func (h *Handler) showHypervisor(w http.ResponseWriter, r *http.Request) {
	ri := info(r)
	if err := h.api.Authorize(r.Context(), api.RuleHypervisorsShow, api.Target{}); err != nil {
		h.fail(w, r, err)
		return
	}
	n, err := h.findNode(r, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	svcs, _ := h.api.HostServices(r.Context())
	var servers []*compute.Instance
	if ri.v.AtLeast(53) && truthy(r.URL.Query().Get("with_servers")) && r.URL.Query().Has("with_servers") {
		servers, _ = h.api.Store().Instances().List(r.Context(), compute.InstanceFilter{Host: n.Host, Node: n.HypervisorHostname}, compute.ListOptions{})
		if servers == nil {
			servers = []*compute.Instance{}
		}
	}
	view := h.hypervisorView(r, n, svcs[n.Host], true, servers)
	if ri.v.AtLeast(88) {
		view["uptime"] = nil
	}
	writeJSON(w, http.StatusOK, map[string]any{"hypervisor": view})
}

func (h *Handler) hypervisorStatistics(w http.ResponseWriter, r *http.Request) {
	if info(r).v.AtLeast(88) {
		writeFault(w, http.StatusNotFound, "The resource could not be found.")
		return
	}
	if err := h.api.Authorize(r.Context(), api.RuleHypervisorsStatistics, api.Target{}); err != nil {
		h.fail(w, r, err)
		return
	}
	nodes, err := h.api.Store().ComputeNodes().List(r.Context(), store.ComputeNodeFilter{}, compute.ListOptions{})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	s := map[string]int{}
	for _, n := range nodes {
		s["count"]++
		s["vcpus"] += n.VCPUs
		s["vcpus_used"] += n.VCPUsUsed
		s["memory_mb"] += n.MemoryMB
		s["memory_mb_used"] += n.MemoryMBUsed
		s["local_gb"] += n.LocalGB
		s["local_gb_used"] += n.LocalGBUsed
		s["free_ram_mb"] += n.FreeRAMMB
		s["free_disk_gb"] += n.FreeDiskGB
		s["current_workload"] += n.CurrentWorkload
		s["running_vms"] += n.RunningVMs
		s["disk_available_least"] += n.DiskAvailableLeast
	}
	for _, k := range []string{"count", "vcpus", "vcpus_used", "memory_mb", "memory_mb_used", "local_gb", "local_gb_used",
		"free_ram_mb", "free_disk_gb", "current_workload", "running_vms", "disk_available_least"} {
		s[k] += 0
	}
	writeJSON(w, http.StatusOK, map[string]any{"hypervisor_statistics": s})
}

// ---- instance actions ----

func actionsQuery(v Version) M {
	p := M{}
	if v.AtLeast(58) {
		p["limit"] = qint(0)
		p["marker"] = qs()
		p["changes-since"] = q(M{"type": "string", "format": "date-time"})
	}
	if v.AtLeast(66) {
		p["changes-before"] = q(M{"type": "string", "format": "date-time"})
	}
	return qobject(v.AtLeast(75), p)
}

func (h *Handler) actionView(r *http.Request, a *compute.InstanceAction, events bool) map[string]any {
	ri := info(r)
	m := map[string]any{
		"action": a.Action, "instance_uuid": a.InstanceUUID, "request_id": a.RequestID, "user_id": a.UserID,
		"project_id": a.ProjectID, "start_time": tmicro(a.StartTime), "message": nullStr(a.Message),
	}
	if ri.v.AtLeast(58) {
		m["updated_at"] = tmicro(a.UpdatedAt)
	}
	if events {
		admin := h.api.Can(r.Context(), api.RuleActionsEvents, api.Target{ProjectID: a.ProjectID})
		details := ri.v.AtLeast(84) && h.api.Can(r.Context(), api.RuleActionsEventsDetails, api.Target{ProjectID: a.ProjectID})
		evs := []any{}
		for _, e := range a.Events {
			ev := map[string]any{"event": e.Event, "start_time": tmicro(e.StartTime), "finish_time": tmicro(e.FinishTime), "result": nullStr(e.Result)}
			if admin {
				ev["traceback"] = nullStr(e.Traceback)
			}
			if ri.v.AtLeast(62) {
				ev["hostId"] = hostID(a.ProjectID, e.Host)
				if admin {
					ev["host"] = e.Host
				}
			}
			if ri.v.AtLeast(84) && (details || admin) {
				ev["details"] = nullStr(e.Details)
			}
			evs = append(evs, ev)
		}
		if admin || ri.v.AtLeast(51) {
			m["events"] = evs
		}
	}
	return m
}

func (h *Handler) listActions(w http.ResponseWriter, r *http.Request) {
	ri := info(r)
	if err := h.query(r, "actions_query"); err != nil {
		h.fail(w, r, err)
		return
	}
	qv := r.URL.Query()
	var f store.ActionFilter
	var opts compute.ListOptions
	if s := qv.Get("limit"); s != "" {
		opts.Limit, _ = strconv.Atoi(s)
	}
	opts.Marker = qv.Get("marker")
	for _, k := range []string{"changes-since", "changes-before"} {
		if s := qv.Get(k); s != "" {
			t, err := parseTime(s)
			if err != nil {
				h.fail(w, r, &api.BadRequestError{Message: "Invalid input for field/attribute " + k + "."})
				return
			}
			if k == "changes-since" {
				f.ChangesSince = t
			} else {
				f.ChangesBefore = t
			}
		}
	}
	var (
		acts []*compute.InstanceAction
		err  error
	)
	if ri.v.AtLeast(21) {
		acts, err = h.api.ListInstanceActions(r.Context(), r.PathValue("id"), f, opts)
	} else {
		if _, err = h.api.GetServer(r.Context(), r.PathValue("id"), api.RuleActionsList); err == nil {
			acts, err = h.api.ListInstanceActions(r.Context(), r.PathValue("id"), f, opts)
		}
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]any, 0, len(acts))
	for _, a := range acts {
		out = append(out, h.actionView(r, a, false))
	}
	body := map[string]any{"instanceActions": out}
	if ri.v.AtLeast(58) && opts.Limit > 0 && len(acts) >= opts.Limit {
		body["links"] = []any{map[string]string{"rel": "next", "href": nextLink(ri, r, "servers/"+r.PathValue("id")+"/os-instance-actions", acts[len(acts)-1].RequestID, false)}}
	}
	writeJSON(w, http.StatusOK, body)
}

func (h *Handler) showAction(w http.ResponseWriter, r *http.Request) {
	a, err := h.api.GetInstanceAction(r.Context(), r.PathValue("id"), r.PathValue("rid"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"instanceAction": h.actionView(r, a, true)})
}

// ---- migrations ----

func migrationsQuery(v Version) M {
	p := M{"host": qs(), "status": qs(), "instance_uuid": qs(), "migration_type": qs(), "source_compute": qs(), "hidden": qs(), "cell_name": qs()}
	if v.AtLeast(59) {
		p["limit"] = qint(0)
		p["marker"] = qs()
		p["changes-since"] = q(M{"type": "string", "format": "date-time"})
	}
	if v.AtLeast(66) {
		p["changes-before"] = q(M{"type": "string", "format": "date-time"})
	}
	if v.AtLeast(80) {
		p["user_id"] = qs()
		p["project_id"] = qs()
	}
	return qobject(v.AtLeast(75), p)
}

func (h *Handler) migrationView(r *http.Request, m *compute.Migration) map[string]any {
	v := info(r).v
	out := map[string]any{
		"id": m.ID, "instance_uuid": m.InstanceUUID, "source_compute": m.SourceCompute, "source_node": m.SourceNode,
		"dest_compute": m.DestCompute, "dest_node": m.DestNode, "dest_host": m.DestHost,
		"old_instance_type_id": m.OldFlavorID, "new_instance_type_id": m.NewFlavorID, "status": m.Status,
		"created_at": tmicro(m.CreatedAt), "updated_at": tmicro(m.UpdatedAt),
	}
	if v.AtLeast(23) {
		out["migration_type"] = m.MigrationType
	}
	if v.AtLeast(59) {
		out["uuid"] = m.UUID
	}
	if v.AtLeast(80) {
		out["user_id"] = m.UserID
		out["project_id"] = m.ProjectID
	}
	return out
}

func (h *Handler) listMigrations(w http.ResponseWriter, r *http.Request) {
	ri := info(r)
	if err := h.api.Authorize(r.Context(), api.RuleMigrationsIndex, api.Target{}); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.query(r, "migrations_query"); err != nil {
		h.fail(w, r, err)
		return
	}
	qv := r.URL.Query()
	f := store.MigrationFilter{
		Host: qv.Get("host"), InstanceUUID: qv.Get("instance_uuid"), MigrationType: qv.Get("migration_type"),
		SourceCompute: qv.Get("source_compute"), UserID: qv.Get("user_id"), ProjectID: qv.Get("project_id"),
	}
	if s := qv.Get("status"); s != "" {
		f.Status = []string{s}
	}
	if s := qv.Get("hidden"); s != "" {
		b := truthy(s)
		f.Hidden = &b
	} else {
		f.Hidden = compute.Ptr(false)
	}
	var opts compute.ListOptions
	if s := qv.Get("limit"); s != "" {
		opts.Limit, _ = strconv.Atoi(s)
	}
	opts.Marker = qv.Get("marker")
	for _, k := range []string{"changes-since", "changes-before"} {
		if s := qv.Get(k); s != "" {
			t, err := parseTime(s)
			if err != nil {
				h.fail(w, r, &api.BadRequestError{Message: "Invalid input for field/attribute " + k + "."})
				return
			}
			if k == "changes-since" {
				f.ChangesSince = t
			} else {
				f.ChangesBefore = t
			}
		}
	}
	ms, err := h.api.Store().Migrations().List(r.Context(), f, opts)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]any, 0, len(ms))
	for _, m := range ms {
		out = append(out, h.migrationView(r, m))
	}
	body := map[string]any{"migrations": out}
	if ri.v.AtLeast(59) && opts.Limit > 0 && len(ms) >= opts.Limit {
		body["migrations_links"] = []any{map[string]string{"rel": "next", "href": nextLink(ri, r, "os-migrations", ms[len(ms)-1].UUID, false)}}
	}
	writeJSON(w, http.StatusOK, body)
}

// ---- aggregates ----

func (h *Handler) aggregateView(r *http.Request, a *compute.Aggregate) map[string]any {
	m := map[string]any{
		"id": a.ID, "name": a.Name, "availability_zone": nullStr(a.AvailabilityZone()),
		"hosts": orEmptyList(a.Hosts), "metadata": orEmpty(a.Metadata),
		"created_at": tmicro(a.CreatedAt), "updated_at": tmicro(a.UpdatedAt), "deleted_at": nil, "deleted": false,
	}
	if info(r).v.AtLeast(41) {
		m["uuid"] = a.UUID
	}
	return m
}

func aggregateCreateSchema(Version) M {
	return object(M{"aggregate": object(M{"name": name(), "availability_zone": nullable(str(1, 255))}, "name")}, "aggregate")
}

func aggregateUpdateSchema(Version) M {
	return object(M{"aggregate": M{"type": "object", "minProperties": 1, "additionalProperties": false,
		"properties": M{"name": name(), "availability_zone": nullable(str(1, 255))}}}, "aggregate")
}

func aggregateActionSchema(Version) M {
	host := object(M{"host": str(1, 255)}, "host")
	md := object(M{"metadata": M{"type": "object", "minProperties": 1,
		"patternProperties":    M{`^[a-zA-Z0-9-_:. /]{1,255}$`: nullable(str(0, 255))},
		"additionalProperties": false}}, "metadata")
	return M{"type": "object", "oneOf": []any{
		object(M{"add_host": host}, "add_host"), object(M{"remove_host": host}, "remove_host"),
		object(M{"set_metadata": md}, "set_metadata"),
	}}
}

func (h *Handler) aggregateID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		h.fail(w, r, &api.BadRequestError{Message: "Invalid aggregate id " + r.PathValue("id")})
		return 0, false
	}
	return id, true
}

func (h *Handler) listAggregates(w http.ResponseWriter, r *http.Request) {
	if err := h.api.Authorize(r.Context(), api.RuleAggregatesIndex, api.Target{}); err != nil {
		h.fail(w, r, err)
		return
	}
	aggs, err := h.api.Store().Aggregates().List(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]any, 0, len(aggs))
	for _, a := range aggs {
		out = append(out, h.aggregateView(r, a))
	}
	writeJSON(w, http.StatusOK, map[string]any{"aggregates": out})
}

func (h *Handler) createAggregate(w http.ResponseWriter, r *http.Request) {
	if err := h.api.Authorize(r.Context(), api.RuleAggregatesCreate, api.Target{}); err != nil {
		h.fail(w, r, err)
		return
	}
	doc, err := h.body(r, "aggregate_create", nil)
	if err != nil {
		h.failAny(w, r, err)
		return
	}
	m := doc.(map[string]any)["aggregate"].(map[string]any)
	a := &compute.Aggregate{Name: anyStr(m["name"]), Metadata: map[string]string{}}
	if az := anyStr(m["availability_zone"]); az != "" {
		a.Metadata[compute.AggregateAZKey] = az
	}
	out, err := h.api.Store().Aggregates().Create(r.Context(), a)
	if err != nil {
		h.aggFail(w, r, err)
		return
	}
	v := h.aggregateView(r, out)
	delete(v, "hosts")
	delete(v, "metadata")
	writeJSON(w, http.StatusOK, map[string]any{"aggregate": v})
}

// aggFail maps store conflicts about zones to 400, as Nova does.
func (h *Handler) aggFail(w http.ResponseWriter, r *http.Request, err error) {
	var dup *compute.DuplicateError
	var sc *store.ConflictError
	switch {
	case errors.As(err, &dup):
		h.fail(w, r, &api.ConflictError{Message: "Aggregate " + dup.Key + " already exists."})
	case errors.As(err, &sc):
		h.fail(w, r, &api.BadRequestError{Message: sc.Error()})
	case errors.Is(err, compute.ErrNotFound):
		h.fail(w, r, compute.NotFound("Aggregate", r.PathValue("id")))
	default:
		h.fail(w, r, err)
	}
}

func (h *Handler) showAggregate(w http.ResponseWriter, r *http.Request) {
	if err := h.api.Authorize(r.Context(), api.RuleAggregatesShow, api.Target{}); err != nil {
		h.fail(w, r, err)
		return
	}
	id, ok := h.aggregateID(w, r)
	if !ok {
		return
	}
	a, err := h.api.Store().Aggregates().Get(r.Context(), id)
	if err != nil {
		h.aggFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"aggregate": h.aggregateView(r, a)})
}

func (h *Handler) updateAggregate(w http.ResponseWriter, r *http.Request) {
	if err := h.api.Authorize(r.Context(), api.RuleAggregatesUpdate, api.Target{}); err != nil {
		h.fail(w, r, err)
		return
	}
	id, ok := h.aggregateID(w, r)
	if !ok {
		return
	}
	doc, err := h.body(r, "aggregate_update", nil)
	if err != nil {
		h.failAny(w, r, err)
		return
	}
	m := doc.(map[string]any)["aggregate"].(map[string]any)
	var u store.AggregateUpdate
	if n, ok := m["name"]; ok {
		u.Name = compute.Ptr(anyStr(n))
	}
	var a *compute.Aggregate
	if az, ok := m["availability_zone"]; ok {
		if az == nil {
			a, err = h.api.Store().Aggregates().SetMetadata(r.Context(), id, map[string]*string{compute.AggregateAZKey: nil})
			if err != nil {
				h.aggFail(w, r, err)
				return
			}
		} else {
			u.AvailabilityZone = compute.Ptr(anyStr(az))
		}
	}
	if u.Name != nil || u.AvailabilityZone != nil {
		a, err = h.api.Store().Aggregates().Update(r.Context(), id, u)
	} else if a == nil {
		a, err = h.api.Store().Aggregates().Get(r.Context(), id)
	}
	if err != nil {
		h.aggFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"aggregate": h.aggregateView(r, a)})
}

func (h *Handler) deleteAggregate(w http.ResponseWriter, r *http.Request) {
	if err := h.api.Authorize(r.Context(), api.RuleAggregatesDelete, api.Target{}); err != nil {
		h.fail(w, r, err)
		return
	}
	id, ok := h.aggregateID(w, r)
	if !ok {
		return
	}
	if err := h.api.Store().Aggregates().Delete(r.Context(), id); err != nil {
		h.aggFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (h *Handler) aggregateAction(w http.ResponseWriter, r *http.Request) {
	id, ok := h.aggregateID(w, r)
	if !ok {
		return
	}
	doc, err := h.body(r, "aggregate_action", nil)
	if err != nil {
		h.failAny(w, r, err)
		return
	}
	m := doc.(map[string]any)
	ctx := r.Context()
	st := h.api.Store().Aggregates()
	var a *compute.Aggregate
	switch {
	case m["add_host"] != nil:
		if err := h.api.Authorize(ctx, api.RuleAggregatesAddHost, api.Target{}); err != nil {
			h.fail(w, r, err)
			return
		}
		host := anyStr(m["add_host"].(map[string]any)["host"])
		if _, err := h.api.Store().Services().GetByHostBinary(ctx, host, "nova-compute"); err != nil {
			if errors.Is(err, compute.ErrNotFound) {
				err = compute.NotFound("Compute host", host)
			}
			h.fail(w, r, err)
			return
		}
		a, err = st.AddHost(ctx, id, host)
		if errors.Is(err, compute.ErrConflict) {
			var sc *store.ConflictError
			if !errors.As(err, &sc) {
				err = &api.ConflictError{Message: "Cannot add host " + host + " in aggregate " + r.PathValue("id") + ": host exists"}
			}
		}
	case m["remove_host"] != nil:
		if err := h.api.Authorize(ctx, api.RuleAggregatesRemoveHost, api.Target{}); err != nil {
			h.fail(w, r, err)
			return
		}
		host := anyStr(m["remove_host"].(map[string]any)["host"])
		a, err = st.RemoveHost(ctx, id, host)
		if errors.Is(err, compute.ErrNotFound) {
			if _, gerr := st.Get(ctx, id); gerr == nil {
				err = compute.NotFound("Aggregate "+r.PathValue("id")+" has no host", host)
			}
		}
	default:
		if err := h.api.Authorize(ctx, api.RuleAggregatesSetMetadata, api.Target{}); err != nil {
			h.fail(w, r, err)
			return
		}
		md := map[string]*string{}
		for k, v := range m["set_metadata"].(map[string]any)["metadata"].(map[string]any) {
			if v == nil {
				md[k] = nil
			} else {
				md[k] = compute.Ptr(anyStr(v))
			}
		}
		a, err = st.SetMetadata(ctx, id, md)
	}
	if err != nil {
		var ce *api.ConflictError
		var nf *compute.NotFoundError
		if errors.As(err, &ce) || (errors.As(err, &nf) && strings.Contains(nf.Kind, "has no host")) {
			h.fail(w, r, err)
			return
		}
		h.aggFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"aggregate": h.aggregateView(r, a)})
}
