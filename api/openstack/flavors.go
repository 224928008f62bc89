package openstack

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/novakit/novakit/api"
	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store"
)

// ---- flavors ----

func flavorListQuery(v Version) M {
	p := M{
		"minRam": qint(0), "minDisk": qint(0), "is_public": qs(), "sort_key": qenum(anySlice(store.FlavorSortKeys)...),
		"sort_dir": qenum("asc", "desc"), "limit": qint(0), "marker": qs(),
	}
	if v.AtLeast(102) {
		p["name"] = qs()
	}
	return qobject(v.AtLeast(75), p)
}

func anySlice(s []string) []any {
	out := make([]any, len(s))
	for i, x := range s {
		out[i] = x
	}
	return out
}

func (h *Handler) flavorView(r *http.Request, f *compute.Flavor, detail bool) map[string]any {
	ri := info(r)
	m := map[string]any{"id": f.FlavorID, "name": f.Name, "links": ri.links("flavors/" + f.FlavorID)}
	if ri.v.AtLeast(55) {
		m["description"] = nullStr(f.Description)
	}
	if !detail {
		return m
	}
	m["ram"], m["vcpus"], m["disk"] = f.MemoryMB, f.VCPUs, f.RootGB
	m["OS-FLV-EXT-DATA:ephemeral"] = f.EphemeralGB
	m["OS-FLV-DISABLED:disabled"] = f.Disabled
	m["os-flavor-access:is_public"] = f.IsPublic
	m["rxtx_factor"] = f.RXTXFactor
	if ri.v.AtLeast(75) {
		m["swap"] = f.SwapMB
	} else if f.SwapMB == 0 {
		m["swap"] = ""
	} else {
		m["swap"] = f.SwapMB
	}
	if ri.v.AtLeast(61) {
		m["extra_specs"] = orEmpty(f.ExtraSpecs)
	}
	return m
}

func (h *Handler) listFlavors(detail bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ri := info(r)
		if err := h.query(r, "flavors_list"); err != nil {
			h.fail(w, r, err)
			return
		}
		qv := r.URL.Query()
		var f store.FlavorFilter
		var opts compute.ListOptions
		if s := last(qv["minRam"]); s != "" {
			f.MinRAM, _ = strconv.Atoi(s)
		}
		if s := last(qv["minDisk"]); s != "" {
			f.MinDisk, _ = strconv.Atoi(s)
		}
		if s := last(qv["name"]); s != "" {
			f.Name = s
		}
		// Nova: admins see public flavors by default; is_public=none
		// shows all, false the private ones.
		if ri.isAdmin() {
			switch strings.ToLower(last(qv["is_public"])) {
			case "none":
			case "false", "f", "no", "0", "off":
				f.IsPublic = compute.Ptr(false)
			default:
				f.IsPublic = compute.Ptr(true)
			}
			f.ProjectID = ""
		}
		if s := last(qv["limit"]); s != "" {
			opts.Limit, _ = strconv.Atoi(s)
		}
		opts.Marker = last(qv["marker"])
		if k := last(qv["sort_key"]); k != "" {
			opts.Sort = []compute.SortKey{{Key: k, Desc: last(qv["sort_dir"]) == "desc"}}
		} else if d := last(qv["sort_dir"]); d != "" {
			opts.Sort = []compute.SortKey{{Key: "flavorid", Desc: d == "desc"}}
		}
		fls, err := h.api.ListFlavors(r.Context(), f, opts)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		out := make([]any, 0, len(fls))
		for _, fl := range fls {
			out = append(out, h.flavorView(r, fl, detail))
		}
		body := map[string]any{"flavors": out}
		limit := opts.Limit
		if limit <= 0 || limit > h.api.MaxLimit() {
			limit = h.api.MaxLimit()
		}
		if len(fls) > 0 && len(fls) >= limit {
			body["flavors_links"] = []any{map[string]string{"rel": "next", "href": nextLink(ri, r, "flavors", fls[len(fls)-1].FlavorID, detail)}}
		}
		writeJSON(w, http.StatusOK, body)
	}
}

func (h *Handler) showFlavor(w http.ResponseWriter, r *http.Request) {
	fl, err := h.api.GetFlavor(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"flavor": h.flavorView(r, fl, true)})
}

func flavorCreateSchema(v Version) M {
	p := M{
		"name": name(),
		"ram":  intLike(1), "vcpus": intLike(1), "disk": intLike(0), "OS-FLV-EXT-DATA:ephemeral": intLike(0),
		"swap": intLike(0), "rxtx_factor": M{"oneOf": []any{M{"type": "number", "exclusiveMinimum": 0}, M{"type": "string"}}},
		"os-flavor-access:is_public": boolean(),
	}
	// RE2 has no look-arounds: flavor ids are 1-255 of [a-zA-Z0-9. _-]
	// without leading or trailing spaces.
	p["id"] = nullable(M{"oneOf": []any{
		M{"type": "string", "minLength": 1, "maxLength": 255, "pattern": `^[a-zA-Z0-9._-]([a-zA-Z0-9. _-]*[a-zA-Z0-9._-])?$`},
		M{"type": "integer", "minimum": 0},
	}})
	if v.AtLeast(55) {
		p["description"] = nullable(M{"type": "string", "maxLength": 65535})
	}
	return object(M{"flavor": object(p, "name", "ram", "vcpus", "disk")}, "flavor")
}

func (h *Handler) createFlavor(w http.ResponseWriter, r *http.Request) {
	doc, err := h.body(r, "flavor_create", nil)
	if err != nil {
		h.failAny(w, r, err)
		return
	}
	m := doc.(map[string]any)["flavor"].(map[string]any)
	f := &compute.Flavor{
		Name: anyStr(m["name"]), FlavorID: anyStr(m["id"]), MemoryMB: anyInt(m["ram"], 0), VCPUs: anyInt(m["vcpus"], 0),
		RootGB: anyInt(m["disk"], 0), EphemeralGB: anyInt(m["OS-FLV-EXT-DATA:ephemeral"], 0), SwapMB: anyInt(m["swap"], 0),
		IsPublic: true, Description: anyStr(m["description"]), RXTXFactor: 1,
	}
	if x, ok := m["os-flavor-access:is_public"]; ok {
		f.IsPublic = anyBool(x)
	}
	if x, ok := m["rxtx_factor"]; ok {
		if fv, err := strconv.ParseFloat(anyStr(x), 64); err == nil && fv > 0 {
			f.RXTXFactor = fv
		} else {
			h.fail(w, r, &api.BadRequestError{Message: "Invalid input for field/attribute rxtx_factor. Value: " + anyStr(x) + "."})
			return
		}
	}
	if f.FlavorID == "" {
		f.FlavorID = uuid.NewString()
	}
	out, err := h.api.CreateFlavor(r.Context(), f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"flavor": h.flavorView(r, out, true)})
}

func (h *Handler) updateFlavor(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Flavor struct {
			Description *string `json:"description"`
		} `json:"flavor"`
	}
	if _, err := h.body(r, "flavor_update", &body); err != nil {
		h.failAny(w, r, err)
		return
	}
	d := ""
	if body.Flavor.Description != nil {
		d = *body.Flavor.Description
	}
	fl, err := h.api.UpdateFlavorDescription(r.Context(), r.PathValue("id"), d)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"flavor": h.flavorView(r, fl, true)})
}

func (h *Handler) deleteFlavor(w http.ResponseWriter, r *http.Request) {
	if err := h.api.DeleteFlavor(r.Context(), r.PathValue("id")); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (h *Handler) flavorAccess(w http.ResponseWriter, r *http.Request) {
	acc, err := h.api.FlavorAccess(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"flavor_access": accessView(acc)})
}

func accessView(acc []compute.FlavorAccess) []any {
	out := make([]any, 0, len(acc))
	for _, a := range acc {
		out = append(out, map[string]string{"flavor_id": a.FlavorID, "tenant_id": a.ProjectID})
	}
	return out
}

func flavorActionSchema(Version) M {
	t := object(M{"tenant": str(1, 255)}, "tenant")
	return M{"type": "object", "oneOf": []any{
		object(M{"addTenantAccess": t}, "addTenantAccess"),
		object(M{"removeTenantAccess": t}, "removeTenantAccess"),
	}}
}

func (h *Handler) flavorAction(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Add    *struct{ Tenant string } `json:"addTenantAccess"`
		Remove *struct{ Tenant string } `json:"removeTenantAccess"`
	}
	if _, err := h.body(r, "flavor_action", &body); err != nil {
		h.failAny(w, r, err)
		return
	}
	var (
		acc []compute.FlavorAccess
		err error
	)
	if body.Add != nil {
		acc, err = h.api.SetFlavorAccess(r.Context(), r.PathValue("id"), body.Add.Tenant, true)
	} else {
		acc, err = h.api.SetFlavorAccess(r.Context(), r.PathValue("id"), body.Remove.Tenant, false)
	}
	if err != nil {
		if !info(r).v.AtLeast(7) && errors.Is(err, compute.ErrConflict) && strings.Contains(err.Error(), "public flavor") {
			err = &api.BadRequestError{Message: err.Error()}
		}
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"flavor_access": accessView(acc)})
}

func (h *Handler) extraSpecs(w http.ResponseWriter, r *http.Request) {
	fl, err := h.api.GetFlavor(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"extra_specs": orEmpty(fl.ExtraSpecs)})
}

func extraSpecsSchema(Version) M {
	return object(M{"extra_specs": M{
		"type": "object",
		"patternProperties": M{
			`^[a-zA-Z0-9-_:. ]{1,255}$`: M{"oneOf": []any{str(0, 255), M{"type": "number"}, M{"type": "boolean"}}},
		},
		"additionalProperties": false,
	}}, "extra_specs")
}

func extraSpecItemSchema(Version) M {
	return M{"type": "object", "minProperties": 1, "maxProperties": 1,
		"patternProperties":    M{`^[a-zA-Z0-9-_:. ]{1,255}$`: M{"oneOf": []any{str(0, 255), M{"type": "number"}, M{"type": "boolean"}}}},
		"additionalProperties": false}
}

func specsOf(m map[string]any) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		switch t := v.(type) {
		case bool:
			out[k] = strconv.FormatBool(t)
		default:
			out[k] = anyStr(v)
		}
	}
	return out
}

func (h *Handler) createExtraSpecs(w http.ResponseWriter, r *http.Request) {
	doc, err := h.body(r, "extra_specs", nil)
	if err != nil {
		h.failAny(w, r, err)
		return
	}
	specs := specsOf(doc.(map[string]any)["extra_specs"].(map[string]any))
	out, err := h.api.SetExtraSpecs(r.Context(), r.PathValue("id"), api.RuleExtraSpecsCreate, specs)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	_ = out
	writeJSON(w, http.StatusOK, map[string]any{"extra_specs": specs})
}

func (h *Handler) showExtraSpec(w http.ResponseWriter, r *http.Request) {
	fl, err := h.api.GetFlavor(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	k := r.PathValue("key")
	v, ok := fl.ExtraSpecs[k]
	if !ok {
		h.fail(w, r, compute.NotFound("Flavor "+fl.FlavorID+" has no extra specs with key", k))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{k: v})
}

func (h *Handler) putExtraSpec(w http.ResponseWriter, r *http.Request) {
	doc, err := h.body(r, "extra_spec_item", nil)
	if err != nil {
		h.failAny(w, r, err)
		return
	}
	specs := specsOf(doc.(map[string]any))
	k := r.PathValue("key")
	if _, ok := specs[k]; !ok {
		h.fail(w, r, &api.BadRequestError{Message: "Request body and URI mismatch"})
		return
	}
	if _, err := h.api.SetExtraSpecs(r.Context(), r.PathValue("id"), api.RuleExtraSpecsUpdate, specs); err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, specs)
}

func (h *Handler) deleteExtraSpec(w http.ResponseWriter, r *http.Request) {
	if err := h.api.DeleteExtraSpec(r.Context(), r.PathValue("id"), r.PathValue("key")); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// ---- key pairs ----

func keypairCreateSchema(v Version) M {
	p := M{"name": str(1, 255), "public_key": str(0, 0)}
	req := []string{"name"}
	if v.AtLeast(2) {
		p["type"] = enum("ssh", "x509")
	}
	if v.AtLeast(10) {
		p["user_id"] = str(1, 255)
	}
	if v.AtLeast(92) {
		p["public_key"] = str(1, 0)
		req = append(req, "public_key")
	}
	return object(M{"keypair": object(p, req...)}, "keypair")
}

func keypairQuery(v Version) M {
	p := M{}
	if v.AtLeast(10) {
		p["user_id"] = qs()
	}
	if v.AtLeast(35) {
		p["limit"] = qint(0)
		p["marker"] = qs()
	}
	return qobject(v.AtLeast(75), p)
}

func (h *Handler) keypairView(r *http.Request, kp *compute.KeyPair, full bool) map[string]any {
	v := info(r).v
	m := map[string]any{"name": kp.Name, "public_key": kp.PublicKey, "fingerprint": kp.Fingerprint}
	if v.AtLeast(2) {
		m["type"] = string(kp.Type)
	}
	if full {
		m["id"] = kp.ID
		m["user_id"] = kp.UserID
		m["created_at"] = tmicro(kp.CreatedAt)
		m["deleted"] = false
		m["deleted_at"] = nil
		m["updated_at"] = nil
	}
	return m
}

func (h *Handler) listKeypairs(w http.ResponseWriter, r *http.Request) {
	ri := info(r)
	if err := h.query(r, "keypairs_query"); err != nil {
		h.fail(w, r, err)
		return
	}
	qv := r.URL.Query()
	var opts compute.ListOptions
	user := ""
	if ri.v.AtLeast(10) {
		user = last(qv["user_id"])
	}
	if ri.v.AtLeast(35) {
		if s := last(qv["limit"]); s != "" {
			opts.Limit, _ = strconv.Atoi(s)
		}
		opts.Marker = last(qv["marker"])
	}
	kps, err := h.api.ListKeyPairs(r.Context(), user, opts)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]any, 0, len(kps))
	for _, kp := range kps {
		out = append(out, map[string]any{"keypair": h.keypairView(r, kp, false)})
	}
	body := map[string]any{"keypairs": out}
	if ri.v.AtLeast(35) && opts.Limit > 0 && len(kps) >= opts.Limit {
		body["keypairs_links"] = []any{map[string]string{"rel": "next", "href": nextLink(ri, r, "os-keypairs", kps[len(kps)-1].Name, false)}}
	}
	writeJSON(w, http.StatusOK, body)
}

func (h *Handler) createKeypair(w http.ResponseWriter, r *http.Request) {
	ri := info(r)
	var body struct {
		Keypair struct {
			Name      string `json:"name"`
			PublicKey string `json:"public_key"`
			Type      string `json:"type"`
			UserID    string `json:"user_id"`
		} `json:"keypair"`
	}
	if _, err := h.body(r, "keypair_create", &body); err != nil {
		h.failAny(w, r, err)
		return
	}
	k := body.Keypair
	kp, priv, err := h.api.CreateKeyPair(r.Context(), api.KeyPairRequest{
		Name: k.Name, Type: compute.KeyPairType(k.Type), PublicKey: k.PublicKey, UserID: k.UserID,
		AllowGenerate: !ri.v.AtLeast(92), ExtendedNames: ri.v.AtLeast(92),
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	view := h.keypairView(r, kp, false)
	view["user_id"] = kp.UserID
	if priv != "" {
		view["private_key"] = priv
	}
	code := http.StatusOK
	if ri.v.AtLeast(2) {
		code = http.StatusCreated
	}
	writeJSON(w, code, map[string]any{"keypair": view})
}

func (h *Handler) showKeypair(w http.ResponseWriter, r *http.Request) {
	user := ""
	if info(r).v.AtLeast(10) {
		user = r.URL.Query().Get("user_id")
	}
	kp, err := h.api.GetKeyPair(r.Context(), r.PathValue("name"), user)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"keypair": h.keypairView(r, kp, true)})
}

func (h *Handler) deleteKeypair(w http.ResponseWriter, r *http.Request) {
	user := ""
	if info(r).v.AtLeast(10) {
		user = r.URL.Query().Get("user_id")
	}
	if err := h.api.DeleteKeyPair(r.Context(), r.PathValue("name"), user); err != nil {
		h.fail(w, r, err)
		return
	}
	if info(r).v.AtLeast(2) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}
