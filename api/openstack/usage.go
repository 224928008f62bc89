package openstack

import (
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/novakit/novakit/api"
	"github.com/novakit/novakit/compute"
)

func usageQuery(v Version) M {
	p := M{"start": qs(), "end": qs(), "detailed": qs()}
	if v.AtLeast(40) {
		p["limit"] = qint(0)
		p["marker"] = qs()
	}
	return qobject(v.AtLeast(75), p)
}

// usagePeriod reads start and end (default: end now, start 1970),
// refusing end before start.
func usagePeriod(r *http.Request, now time.Time) (start, end time.Time, err error) {
	q := r.URL.Query()
	end = now
	if s := q.Get("end"); s != "" {
		if end, err = parseTime(s); err != nil {
			return start, end, &api.BadRequestError{Message: "Invalid end time " + s}
		}
	}
	if s := q.Get("start"); s != "" {
		if start, err = parseTime(s); err != nil {
			return start, end, &api.BadRequestError{Message: "Invalid start time " + s}
		}
	}
	if end.After(now) {
		end = now // usage is not projected into the future
	}
	if end.Before(start) {
		return start, end, &api.BadRequestError{Message: "Invalid start time. The start time cannot occur after the end time."}
	}
	return start, end, nil
}

type tenantUsage struct {
	project               string
	gb, vcpus, mem, hours float64
	servers               []any
}

// usages sums instance hours per project over [start, end] (Nova's
// os-simple-tenant-usage: a server counts from launch to termination,
// clipped to the period).
func (h *Handler) usages(r *http.Request, project string, start, end time.Time, detailed bool) (map[string]*tenantUsage, error) {
	f := compute.InstanceFilter{ProjectID: project, Deleted: compute.ReadDeletedYes}
	var opts compute.ListOptions
	if info(r).v.AtLeast(40) {
		// 2.40 pages by instance: limit and marker (an instance uuid).
		q := r.URL.Query()
		if s := q.Get("limit"); s != "" {
			opts.Limit, _ = strconv.Atoi(s)
		}
		opts.Marker = q.Get("marker")
		opts.Sort = []compute.SortKey{{Key: "created_at"}, {Key: "uuid"}}
	}
	insts, err := h.api.Store().Instances().List(r.Context(), f, opts)
	if err != nil {
		return nil, err
	}
	now := h.api.Now()
	out := map[string]*tenantUsage{}
	for _, i := range insts {
		if i.LaunchedAt.IsZero() || i.LaunchedAt.After(end) {
			continue
		}
		if !i.TerminatedAt.IsZero() && i.TerminatedAt.Before(start) {
			continue
		}
		from := i.LaunchedAt
		if from.Before(start) {
			from = start
		}
		to := end
		if !i.TerminatedAt.IsZero() && i.TerminatedAt.Before(to) {
			to = i.TerminatedAt
		}
		hours := to.Sub(from).Hours()
		if hours < 0 {
			hours = 0
		}
		tu := out[i.ProjectID]
		if tu == nil {
			tu = &tenantUsage{project: i.ProjectID, servers: []any{}}
			out[i.ProjectID] = tu
		}
		gb := i.Flavor.RootGB + i.Flavor.EphemeralGB
		tu.hours += hours
		tu.gb += hours * float64(gb)
		tu.vcpus += hours * float64(i.Flavor.VCPUs)
		tu.mem += hours * float64(i.Flavor.MemoryMB)
		if detailed {
			state := string(i.VMState)
			up := now.Sub(i.LaunchedAt)
			if !i.TerminatedAt.IsZero() {
				state, up = "terminated", i.TerminatedAt.Sub(i.LaunchedAt)
			}
			tu.servers = append(tu.servers, map[string]any{
				"instance_id": i.UUID, "name": i.Name, "hours": hours, "memory_mb": i.Flavor.MemoryMB,
				"local_gb": gb, "vcpus": i.Flavor.VCPUs, "tenant_id": i.ProjectID, "flavor": i.Flavor.Name,
				"started_at": tmicro(i.LaunchedAt), "ended_at": tmicro(i.TerminatedAt), "state": state,
				"uptime": int(up.Seconds()),
			})
		}
	}
	return out, nil
}

func usageView(tu *tenantUsage, start, end time.Time, detailed bool) map[string]any {
	m := map[string]any{
		"tenant_id": tu.project, "total_local_gb_usage": tu.gb, "total_vcpus_usage": tu.vcpus,
		"total_memory_mb_usage": tu.mem, "total_hours": tu.hours,
		"start": start.UTC().Format(isoMicroNoZ), "stop": end.UTC().Format(isoMicroNoZ),
	}
	if detailed {
		m["server_usages"] = tu.servers
	}
	return m
}

func (h *Handler) usageList(w http.ResponseWriter, r *http.Request) {
	if err := h.api.Authorize(r.Context(), api.RuleUsageList, api.Target{}); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.query(r, "usage_query"); err != nil {
		h.fail(w, r, err)
		return
	}
	start, end, err := usagePeriod(r, h.api.Now())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	detailed := truthy(r.URL.Query().Get("detailed")) && r.URL.Query().Get("detailed") != ""
	us, err := h.usages(r, "", start, end, detailed)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	keys := make([]string, 0, len(us))
	for k := range us {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]any, 0, len(keys))
	for _, k := range keys {
		out = append(out, usageView(us[k], start, end, detailed))
	}
	writeJSON(w, http.StatusOK, map[string]any{"tenant_usages": out})
}

func (h *Handler) usageShow(w http.ResponseWriter, r *http.Request) {
	project := r.PathValue("project")
	if err := h.api.Authorize(r.Context(), api.RuleUsageShow, api.Target{ProjectID: project}); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.query(r, "usage_query"); err != nil {
		h.fail(w, r, err)
		return
	}
	start, end, err := usagePeriod(r, h.api.Now())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	us, err := h.usages(r, project, start, end, true)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	tu := us[project]
	if tu == nil {
		writeJSON(w, http.StatusOK, map[string]any{"tenant_usage": map[string]any{}})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tenant_usage": usageView(tu, start, end, true)})
}
