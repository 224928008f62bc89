package openstack

import (
	"net/http"
	"strings"

	"github.com/novakit/novakit/api"
	"github.com/novakit/novakit/compute"
)

// actionSchemas are the body schemas of POST /servers/{id}/action, keyed
// by action name; the whole body is {"<action>": <value>}.
func actionSchemas(v Version) map[string]M {
	null := M{"type": "null"}
	m := map[string]M{
		"os-start": null, "os-stop": null, "pause": null, "unpause": null, "suspend": null, "resume": null,
		"unlock": null, "confirmResize": null, "revertResize": null, "shelveOffload": null,
		"reboot":  object(M{"type": M{"type": "string", "pattern": `^(?i)(SOFT|HARD)$`}}, "type"),
		"lock":    nullable(object(M{})),
		"shelve":  null,
		"migrate": null,
		"resize":  object(M{"flavorRef": M{"oneOf": []any{str(1, 255), M{"type": "integer", "minimum": 1}}}, "OS-DCF:diskConfig": enum("AUTO", "MANUAL")}, "flavorRef"),
		"os-getConsoleOutput": object(M{"length": M{"oneOf": []any{
			M{"type": "integer", "minimum": -1}, M{"type": "string", "pattern": `^-?[0-9]+$`}, M{"type": "null"}}}}),
		"os-resetState": object(M{"state": enum("active", "error")}, "state"),
		"createImage":   object(M{"name": name(), "metadata": metadata()}, "name"),
		"unshelve":      null,
		"evacuate": object(M{
			"host": str(1, 255), "onSharedStorage": boolean(), "adminPass": M{"type": "string"},
		}, "onSharedStorage"),
		"os-getVNCConsole":    object(M{"type": M{"type": "string"}}, "type"),
		"os-getSPICEConsole":  object(M{"type": M{"type": "string"}}, "type"),
		"os-getSerialConsole": object(M{"type": M{"type": "string"}}, "type"),
		"os-getRDPConsole":    object(M{"type": M{"type": "string"}}, "type"),
	}
	if v.AtLeast(73) {
		m["lock"] = nullable(object(M{"locked_reason": str(1, 255)}))
	}
	if v.AtLeast(56) {
		m["migrate"] = nullable(object(M{"host": nullable(str(1, 255))}))
	}
	if v.AtLeast(14) {
		m["evacuate"] = object(M{"host": str(1, 255), "adminPass": M{"type": "string"}})
	}
	if v.AtLeast(29) && !v.AtLeast(68) {
		m["evacuate"]["properties"].(M)["force"] = boolean()
	}
	if v.AtLeast(95) {
		// 2.95 changes only the outcome (the server ends stopped).
		m["evacuate"] = object(M{"host": str(1, 255), "adminPass": M{"type": "string"}})
	}
	if v.AtLeast(77) {
		u := M{"availability_zone": str(1, 255)}
		if v.AtLeast(91) {
			u = M{"availability_zone": nullable(str(1, 255)), "host": str(1, 255)}
		}
		m["unshelve"] = nullable(object(u))
	}
	reb := M{
		"imageRef": str(1, 255), "name": name(), "adminPass": M{"type": "string"}, "metadata": metadata(),
		"preserve_ephemeral": boolean(), "OS-DCF:diskConfig": enum("AUTO", "MANUAL"),
		"accessIPv4": M{"type": "string", "format": "ipv4"}, "accessIPv6": M{"type": "string", "format": "ipv6"},
	}
	if !v.AtLeast(57) {
		reb["personality"] = M{"type": "array"}
	}
	if v.AtLeast(19) {
		reb["description"] = nullable(str(0, 255))
	}
	if v.AtLeast(54) {
		reb["key_name"] = nullable(str(1, 255))
	}
	if v.AtLeast(57) {
		reb["user_data"] = nullable(M{"type": "string", "maxLength": 65535})
	}
	if v.AtLeast(63) {
		reb["trusted_image_certificates"] = nullable(M{"type": "array"})
	}
	if v.AtLeast(90) {
		reb["hostname"] = M{"type": "string", "minLength": 1, "maxLength": 255}
	}
	m["rebuild"] = object(reb, "imageRef")
	return m
}

func actionSchemaName(action string) string { return "action_" + action }

func (h *Handler) serverAction(w http.ResponseWriter, r *http.Request) {
	ri := info(r)
	doc, err := h.body(r, "", nil)
	if err != nil {
		h.failAny(w, r, err)
		return
	}
	top, ok := doc.(map[string]any)
	if !ok || len(top) != 1 {
		h.fail(w, r, &api.BadRequestError{Message: "Malformed request body: exactly one action is expected"})
		return
	}
	var action string
	var val any
	for k, v := range top {
		action, val = k, v
	}
	schemas := actionSchemas(ri.v)
	if _, known := schemas[action]; !known {
		h.fail(w, r, &api.BadRequestError{Message: "There is no such action: " + action})
		return
	}
	if err := h.schemas.validate(actionSchemaName(action), ri.v, doc); err != nil {
		h.fail(w, r, err)
		return
	}
	ctx := r.Context()
	id := r.PathValue("id")
	obj, _ := val.(map[string]any)
	accepted := func(err error) {
		if err != nil {
			h.fail(w, r, err)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}
	switch action {
	case "os-start":
		accepted(h.api.StartServer(ctx, id))
	case "os-stop":
		accepted(h.api.StopServer(ctx, id))
	case "reboot":
		accepted(h.api.RebootServer(ctx, id, strings.EqualFold(anyStr(obj["type"]), "HARD")))
	case "pause":
		accepted(h.api.PauseServer(ctx, id))
	case "unpause":
		accepted(h.api.UnpauseServer(ctx, id))
	case "suspend":
		accepted(h.api.SuspendServer(ctx, id))
	case "resume":
		accepted(h.api.ResumeServer(ctx, id))
	case "lock":
		accepted(h.api.LockServer(ctx, id, anyStr(obj["locked_reason"])))
	case "unlock":
		accepted(h.api.UnlockServer(ctx, id))
	case "os-resetState":
		accepted(h.api.ResetState(ctx, id, compute.VMState(anyStr(obj["state"]))))
	case "resize":
		accepted(h.api.ResizeServer(ctx, id, anyStr(obj["flavorRef"]), anyStr(obj["OS-DCF:diskConfig"])))
	case "confirmResize":
		if err := h.api.ConfirmResize(ctx, id); err != nil {
			h.fail(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case "revertResize":
		accepted(h.api.RevertResize(ctx, id))
	case "migrate":
		accepted(h.api.MigrateServer(ctx, id, anyStr(obj["host"])))
	case "shelve":
		accepted(h.api.ShelveServer(ctx, id))
	case "shelveOffload":
		accepted(h.api.ShelveOffloadServer(ctx, id))
	case "unshelve":
		req := compute.UnshelveRequest{AvailabilityZone: anyStr(obj["availability_zone"]), Host: anyStr(obj["host"])}
		if az, present := obj["availability_zone"]; present && az == nil {
			req.UnpinAZ = true
		}
		accepted(h.api.UnshelveServer(ctx, id, req))
	case "evacuate":
		var onShared *bool
		if x, ok := obj["onSharedStorage"]; ok {
			onShared = compute.Ptr(anyBool(x))
		}
		target := compute.VMActive
		if ri.v.AtLeast(95) {
			target = compute.VMStopped
		}
		pass, err := h.api.EvacuateServer(ctx, id, anyStr(obj["host"]), anyStr(obj["adminPass"]), onShared, target)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if ri.v.AtLeast(14) {
			w.WriteHeader(http.StatusOK)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"adminPass": pass})
	case "createImage":
		md := map[string]string{}
		if m, ok := obj["metadata"].(map[string]any); ok {
			for k, v := range m {
				md[k] = anyStr(v)
			}
		}
		imageID, err := h.api.CreateImage(ctx, id, anyStr(obj["name"]), md)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if ri.v.AtLeast(45) {
			writeJSON(w, http.StatusAccepted, map[string]any{"image_id": imageID})
			return
		}
		w.Header().Set("Location", ri.url("images/"+imageID))
		w.WriteHeader(http.StatusAccepted)
	case "os-getConsoleOutput":
		n := -1
		if x, ok := obj["length"]; ok && x != nil {
			n = anyInt(x, -1)
		}
		out, err := h.api.ConsoleOutput(ctx, id, n)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"output": out})
	case "rebuild":
		h.rebuild(w, r, id, obj)
	case "os-getVNCConsole", "os-getSPICEConsole", "os-getSerialConsole", "os-getRDPConsole":
		if ri.v.AtLeast(6) {
			h.fail(w, r, &api.BadRequestError{Message: "There is no such action: " + action})
			return
		}
		h.consoleUnavailable(w, r, id)
	}
}

func (h *Handler) rebuild(w http.ResponseWriter, r *http.Request, id string, obj map[string]any) {
	req := api.RebuildRequest{
		ImageRef: anyStr(obj["imageRef"]), AdminPass: anyStr(obj["adminPass"]),
		PreserveEphemeral: anyBool(obj["preserve_ephemeral"]),
	}
	str := func(k string) *string {
		x, ok := obj[k]
		if !ok {
			return nil
		}
		s := anyStr(x)
		return &s
	}
	req.Name, req.Description, req.KeyName, req.UserData = str("name"), str("description"), str("key_name"), str("user_data")
	req.AccessIPv4, req.AccessIPv6, req.Hostname = str("accessIPv4"), str("accessIPv6"), str("hostname")
	if m, ok := obj["metadata"].(map[string]any); ok {
		req.Metadata = map[string]string{}
		for k, v := range m {
			req.Metadata[k] = anyStr(v)
		}
	}
	inst, pass, err := h.api.RebuildServer(r.Context(), id, req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	vc := h.newViewCtx(r.Context(), r, []*compute.Instance{inst})
	view := h.serverView(r, vc, inst)
	if pass != "" {
		view["adminPass"] = pass
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"server": view})
}

// consoleUnavailable answers console requests until the console proxies
// exist: the server is looked up (404 and policy as usual), then 501.
func (h *Handler) consoleUnavailable(w http.ResponseWriter, r *http.Request, id string) {
	if _, err := h.api.GetServer(r.Context(), id, api.RuleRemoteConsoles); err != nil {
		h.fail(w, r, err)
		return
	}
	writeFault(w, http.StatusNotImplemented, "Unable to get a console: the console proxies are not available yet in this deployment.")
}

func remoteConsoleSchema(v Version) M {
	protos := []any{"vnc", "spice", "serial", "rdp"}
	types := []any{"novnc", "xvpvnc", "spice-html5", "serial", "rdp-html5"}
	if v.AtLeast(8) {
		protos = append(protos, "mks")
		types = append(types, "webmks")
	}
	return object(M{"remote_console": object(M{"protocol": M{"enum": protos}, "type": M{"enum": types}}, "protocol", "type")}, "remote_console")
}

func (h *Handler) remoteConsole(w http.ResponseWriter, r *http.Request) {
	var body struct {
		RC struct {
			Protocol string `json:"protocol"`
		} `json:"remote_console"`
	}
	if _, err := h.body(r, "remote_console", &body); err != nil {
		h.failAny(w, r, err)
		return
	}
	if body.RC.Protocol == "rdp" {
		h.fail(w, r, &api.BadRequestError{Message: "Unavailable console type rdp."})
		return
	}
	h.consoleUnavailable(w, r, r.PathValue("id"))
}

// ---- metadata ----

func (h *Handler) metadataIndex(w http.ResponseWriter, r *http.Request) {
	md, err := h.api.Metadata(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"metadata": md})
}

func (h *Handler) metadataWrite(replace bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Metadata map[string]string `json:"metadata"`
		}
		if _, err := h.body(r, "metadata", &body); err != nil {
			h.failAny(w, r, err)
			return
		}
		rule := api.RuleMetadataCreate
		if replace {
			rule = api.RuleMetadataUpdateAll
		}
		md, err := h.api.UpdateMetadata(r.Context(), r.PathValue("id"), rule, body.Metadata, replace, "")
		if err != nil {
			h.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"metadata": md})
	}
}

func (h *Handler) metadataShow(w http.ResponseWriter, r *http.Request) {
	md, err := h.api.Metadata(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	key := r.PathValue("key")
	v, ok := md[key]
	if !ok {
		h.fail(w, r, compute.NotFound("Metadata item", key))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"meta": map[string]string{key: v}})
}

func (h *Handler) metadataPutKey(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Meta map[string]string `json:"meta"`
	}
	if _, err := h.body(r, "metadata_item", &body); err != nil {
		h.failAny(w, r, err)
		return
	}
	key := r.PathValue("key")
	if _, ok := body.Meta[key]; !ok || len(body.Meta) != 1 {
		h.fail(w, r, &api.BadRequestError{Message: "Request body and URI mismatch"})
		return
	}
	if _, err := h.api.UpdateMetadata(r.Context(), r.PathValue("id"), api.RuleMetadataUpdate, body.Meta, false, ""); err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"meta": body.Meta})
}

func (h *Handler) metadataDelete(w http.ResponseWriter, r *http.Request) {
	if _, err := h.api.UpdateMetadata(r.Context(), r.PathValue("id"), api.RuleMetadataDelete, nil, false, r.PathValue("key")); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
