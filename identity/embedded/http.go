package embedded

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/novakit/novakit/identity"
)

const (
	apiVersion  = "v3.14"
	apiUpdated  = "2020-04-07T00:00:00Z"
	maxBodySize = 1 << 20
)

// ServeHTTP serves the Identity v3 subset (see the package doc).
func (i *Issuer) ServeHTTP(w http.ResponseWriter, r *http.Request) { i.mux.ServeHTTP(w, r) }

func (i *Issuer) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", i.versions)
	m.HandleFunc("GET /v3", i.version)
	m.HandleFunc("GET /v3/{$}", i.version)
	m.HandleFunc("POST /v3/auth/tokens", i.createToken)
	m.HandleFunc("GET /v3/auth/tokens", i.checkToken)
	m.HandleFunc("DELETE /v3/auth/tokens", i.revokeToken)
	m.HandleFunc("GET /v3/auth/catalog", i.authed(i.authCatalog))
	m.HandleFunc("GET /v3/auth/projects", i.authed(i.authProjects))
	m.HandleFunc("GET /v3/auth/domains", i.authed(i.authDomains))
	m.HandleFunc("GET /v3/auth/system", i.authed(i.authSystem))
	m.HandleFunc("GET /v3/users", i.authed(i.listUsers))
	m.HandleFunc("GET /v3/users/{id}", i.authed(i.getUser))
	m.HandleFunc("GET /v3/users/{id}/projects", i.authed(i.userProjects))
	m.HandleFunc("GET /v3/projects", i.authed(i.listProjects))
	m.HandleFunc("GET /v3/projects/{id}", i.authed(i.getProject))
	m.HandleFunc("GET /v3/domains", i.authed(i.listDomains))
	m.HandleFunc("GET /v3/domains/{id}", i.authed(i.getDomain))
	m.HandleFunc("GET /v3/roles", i.authed(i.listRoles))
	m.HandleFunc("GET /v3/roles/{id}", i.authed(i.getRole))
	m.HandleFunc("GET /v3/role_assignments", i.authed(i.listAssignments))
	m.HandleFunc("GET /v3/services", i.authed(i.listServices))
	m.HandleFunc("GET /v3/endpoints", i.authed(i.listEndpoints))
	m.HandleFunc("GET /v3/regions", i.authed(i.listRegions))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		identity.WriteError(w, http.StatusNotFound, "Could not find the requested resource.")
	})
	i.mux = m
}

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Vary", "X-Auth-Token")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func versionDoc(r *http.Request) map[string]any {
	return map[string]any{
		"id": apiVersion, "status": "stable", "updated": apiUpdated,
		"links": []map[string]string{{"rel": "self", "href": baseURL(r) + "/v3/"}},
		"media-types": []map[string]string{{"base": "application/json",
			"type": "application/vnd.openstack.identity-v3+json"}},
	}
}

func (i *Issuer) versions(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusMultipleChoices, map[string]any{"versions": map[string]any{"values": []any{versionDoc(r)}}})
}

func (i *Issuer) version(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"version": versionDoc(r)})
}

type domainRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type authBody struct {
	Auth *struct {
		Identity *struct {
			Methods  []string `json:"methods"`
			Password *struct {
				User *struct {
					ID       string     `json:"id"`
					Name     string     `json:"name"`
					Password string     `json:"password"`
					Domain   *domainRef `json:"domain"`
				} `json:"user"`
			} `json:"password"`
			Token *struct {
				ID string `json:"id"`
			} `json:"token"`
		} `json:"identity"`
		Scope json.RawMessage `json:"scope"`
	} `json:"auth"`
}

type scopeBody struct {
	Project *struct {
		ID     string     `json:"id"`
		Name   string     `json:"name"`
		Domain *domainRef `json:"domain"`
	} `json:"project"`
	Domain *domainRef `json:"domain"`
	System *struct {
		All bool `json:"all"`
	} `json:"system"`
	Unscoped *struct{} `json:"unscoped"`
}

// parseScope reads the auth.scope member: absent, "unscoped", or an
// object with one of project, domain, system.
func parseScope(raw json.RawMessage) (Scope, error) {
	var s Scope
	t := strings.TrimSpace(string(raw))
	if t == "" || t == "null" {
		return s, nil
	}
	if t == `"unscoped"` {
		return Scope{Unscoped: true}, nil
	}
	var b scopeBody
	if err := json.Unmarshal(raw, &b); err != nil {
		return s, fmt.Errorf("auth.scope: %w", err)
	}
	n := 0
	if b.Project != nil {
		n++
		if b.Project.ID == "" && b.Project.Name == "" {
			return s, errors.New("auth.scope.project: id or name is required")
		}
		s.ProjectID, s.ProjectName = b.Project.ID, b.Project.Name
		if b.Project.ID == "" {
			if b.Project.Domain == nil || (b.Project.Domain.ID == "" && b.Project.Domain.Name == "") {
				return s, errors.New("auth.scope.project.domain: id or name is required with a project name")
			}
			s.ProjectDomainID, s.ProjectDomainName = b.Project.Domain.ID, b.Project.Domain.Name
		}
	}
	if b.Domain != nil {
		n++
		if b.Domain.ID == "" && b.Domain.Name == "" {
			return s, errors.New("auth.scope.domain: id or name is required")
		}
		s.DomainID, s.DomainName = b.Domain.ID, b.Domain.Name
	}
	if b.System != nil {
		n++
		if !b.System.All {
			return s, errors.New("auth.scope.system: only {\"all\": true} is supported")
		}
		s.System = true
	}
	if b.Unscoped != nil {
		n++
		s.Unscoped = true
	}
	if n > 1 {
		return s, errors.New("auth.scope: specify only one of project, domain, system")
	}
	return s, nil
}

func (i *Issuer) createToken(w http.ResponseWriter, r *http.Request) {
	var body authBody
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBodySize))
	if err := dec.Decode(&body); err != nil {
		identity.WriteError(w, http.StatusBadRequest, "Malformed request body: "+err.Error())
		return
	}
	if body.Auth == nil || body.Auth.Identity == nil {
		identity.WriteError(w, http.StatusBadRequest, "auth.identity is required.")
		return
	}
	id := body.Auth.Identity
	scope, err := parseScope(body.Auth.Scope)
	if err != nil {
		identity.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	var p *payload
	switch {
	case len(id.Methods) == 1 && id.Methods[0] == "password":
		if id.Password == nil || id.Password.User == nil {
			identity.WriteError(w, http.StatusBadRequest, "auth.identity.password.user is required.")
			return
		}
		u := id.Password.User
		a := PasswordAuth{UserID: u.ID, UserName: u.Name, Password: u.Password}
		if u.Domain != nil {
			a.DomainID, a.DomainName = u.Domain.ID, u.Domain.Name
		}
		p, err = i.issue(a, scope)
	case len(id.Methods) == 1 && id.Methods[0] == "token":
		if id.Token == nil || id.Token.ID == "" {
			identity.WriteError(w, http.StatusBadRequest, "auth.identity.token.id is required.")
			return
		}
		var old *payload
		if old, err = i.validate(id.Token.ID); err == nil {
			p, err = i.rescope(old, scope)
		}
	case len(id.Methods) == 0:
		identity.WriteError(w, http.StatusBadRequest, "auth.identity.methods is required.")
		return
	default:
		identity.WriteError(w, http.StatusUnauthorized, "Attempted to authenticate with an unsupported method.")
		return
	}
	switch {
	case errors.Is(err, errBadRequest):
		identity.WriteError(w, http.StatusBadRequest, strings.TrimPrefix(err.Error(), "bad request: "))
		return
	case err != nil:
		identity.WriteError(w, http.StatusUnauthorized, "The request you have made requires authentication.")
		return
	}
	tok, err := i.s.seal(p)
	if err != nil {
		identity.WriteError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("X-Subject-Token", tok)
	writeJSON(w, http.StatusCreated, map[string]any{"token": i.tokenBody(r, p, r.URL.Query().Has("nocatalog"))})
}

func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

func (i *Issuer) tokenBody(r *http.Request, p *payload, nocatalog bool) map[string]any {
	tb := map[string]any{
		"methods":    p.Methods,
		"expires_at": fmtTime(p.expires()),
		"issued_at":  fmtTime(p.issued()),
		"audit_ids":  p.AuditIDs,
		"user": map[string]any{
			"id": p.UserID, "name": p.UserName, "password_expires_at": nil,
			"domain": domainRef{ID: p.UserDomainID, Name: p.UserDomainName},
		},
	}
	scoped := true
	switch {
	case p.ProjectID != "":
		tb["project"] = map[string]any{"id": p.ProjectID, "name": p.ProjectName,
			"domain": domainRef{ID: p.ProjDomainID, Name: p.ProjDomainName}}
		tb["is_domain"] = false
	case p.DomainID != "":
		tb["domain"] = domainRef{ID: p.DomainID, Name: p.DomainName}
	case p.System != "":
		tb["system"] = map[string]bool{"all": true}
	default:
		scoped = false
	}
	if scoped {
		roles := make([]map[string]string, len(p.Roles))
		for k, rr := range p.Roles {
			roles[k] = map[string]string{"id": rr.ID, "name": rr.Name}
		}
		tb["roles"] = roles
		if !nocatalog {
			tb["catalog"] = i.catalog()
		}
	}
	return tb
}

func (i *Issuer) catalog() []any {
	out := []any{}
	for _, s := range i.dir.services {
		eps := make([]map[string]string, 0, len(s.Endpoints))
		for _, e := range s.Endpoints {
			eps = append(eps, map[string]string{"id": e.ID, "interface": e.Interface, "region": e.Region,
				"region_id": e.Region, "url": e.URL})
		}
		out = append(out, map[string]any{"id": s.ID, "type": s.Type, "name": s.Name, "endpoints": eps})
	}
	return out
}

// caller validates X-Auth-Token and writes 401 when it is not valid.
func (i *Issuer) caller(w http.ResponseWriter, r *http.Request) *payload {
	tok := r.Header.Get("X-Auth-Token")
	if tok == "" {
		identity.WriteError(w, http.StatusUnauthorized, "The request you have made requires authentication.")
		return nil
	}
	p, err := i.validate(tok)
	if err != nil {
		identity.WriteError(w, http.StatusUnauthorized, "The request you have made requires authentication.")
		return nil
	}
	return p
}

func (i *Issuer) authed(h func(http.ResponseWriter, *http.Request, *payload)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if p := i.caller(w, r); p != nil {
			h(w, r, p)
		}
	}
}

func hasRole(p *payload, names ...string) bool {
	for _, r := range p.Roles {
		if slices.Contains(names, r.Name) {
			return true
		}
	}
	return false
}

// isAdmin: Keystone's admin_required (the admin role in any scope).
func isAdmin(p *payload) bool { return hasRole(p, "admin") }

func forbidden(w http.ResponseWriter, action string) {
	identity.WriteError(w, http.StatusForbidden, "You are not authorized to perform the requested action: "+action+".")
}

// subject validates X-Subject-Token on behalf of caller: the caller may
// check its own tokens; admins and services may check any.
func (i *Issuer) subject(w http.ResponseWriter, r *http.Request, action string) (*payload, string) {
	caller := i.caller(w, r)
	if caller == nil {
		return nil, ""
	}
	tok := r.Header.Get("X-Subject-Token")
	if tok == "" {
		identity.WriteError(w, http.StatusBadRequest, "X-Subject-Token header is required.")
		return nil, ""
	}
	p, err := i.validate(tok)
	if err != nil {
		identity.WriteError(w, http.StatusNotFound, "Could not find token: "+truncate(tok)+".")
		return nil, ""
	}
	if p.UserID != caller.UserID && !hasRole(caller, "admin", "service") {
		forbidden(w, action)
		return nil, ""
	}
	return p, tok
}

func truncate(s string) string {
	if len(s) > 16 {
		return s[:16] + "…"
	}
	return s
}

func (i *Issuer) checkToken(w http.ResponseWriter, r *http.Request) {
	p, tok := i.subject(w, r, "identity:validate_token")
	if p == nil {
		return
	}
	w.Header().Set("X-Subject-Token", tok)
	writeJSON(w, http.StatusOK, map[string]any{"token": i.tokenBody(r, p, r.URL.Query().Has("nocatalog"))})
}

func (i *Issuer) revokeToken(w http.ResponseWriter, r *http.Request) {
	p, tok := i.subject(w, r, "identity:revoke_token")
	if p == nil {
		return
	}
	if err := i.Revoke(r.Context(), tok); err != nil {
		identity.WriteError(w, http.StatusNotFound, "Could not find token.")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func listBody(r *http.Request, key string, items any) map[string]any {
	return map[string]any{key: items, "links": map[string]any{
		"self": baseURL(r) + r.URL.RequestURI(), "previous": nil, "next": nil}}
}

func (i *Issuer) authCatalog(w http.ResponseWriter, r *http.Request, p *payload) {
	if p.ProjectID == "" && p.DomainID == "" && p.System == "" {
		forbidden(w, "identity:get_auth_catalog (an unscoped token has no catalog)")
		return
	}
	writeJSON(w, http.StatusOK, listBody(r, "catalog", i.catalog()))
}

func (i *Issuer) authProjects(w http.ResponseWriter, r *http.Request, p *payload) {
	i.writeProjects(w, r, i.dir.projectsOf(p.UserID))
}

func (i *Issuer) authDomains(w http.ResponseWriter, r *http.Request, p *payload) {
	out := []any{}
	for k := range i.dir.domainRoles {
		if k[0] == p.UserID {
			out = append(out, i.domainJSON(r, i.dir.domains[k[1]]))
		}
	}
	writeJSON(w, http.StatusOK, listBody(r, "domains", out))
}

func (i *Issuer) authSystem(w http.ResponseWriter, r *http.Request, p *payload) {
	out := []any{}
	if len(i.dir.sysRoles[p.UserID]) > 0 {
		out = append(out, map[string]bool{"all": true})
	}
	writeJSON(w, http.StatusOK, listBody(r, "system", out))
}

func (i *Issuer) projectJSON(r *http.Request, p *Project) map[string]any {
	return map[string]any{
		"id": p.ID, "name": p.Name, "domain_id": p.DomainID, "description": p.Description,
		"enabled": !p.Disabled, "is_domain": false, "parent_id": p.DomainID, "tags": []string{}, "options": map[string]any{},
		"links": map[string]string{"self": baseURL(r) + "/v3/projects/" + p.ID},
	}
}

func (i *Issuer) domainJSON(r *http.Request, d *Domain) map[string]any {
	return map[string]any{"id": d.ID, "name": d.Name, "description": d.Description, "enabled": !d.Disabled,
		"tags": []string{}, "options": map[string]any{},
		"links": map[string]string{"self": baseURL(r) + "/v3/domains/" + d.ID}}
}

func (i *Issuer) userJSON(r *http.Request, u *User) map[string]any {
	m := map[string]any{"id": u.ID, "name": u.Name, "domain_id": u.DomainID, "enabled": !u.Disabled,
		"password_expires_at": nil, "options": map[string]any{},
		"links": map[string]string{"self": baseURL(r) + "/v3/users/" + u.ID}}
	if u.Email != "" {
		m["email"] = u.Email
	}
	if u.DefaultProjectID != "" {
		m["default_project_id"] = u.DefaultProjectID
	}
	return m
}

func (i *Issuer) writeProjects(w http.ResponseWriter, r *http.Request, ps []*Project) {
	q := r.URL.Query()
	out := []any{}
	for _, p := range ps {
		if (q.Has("name") && p.Name != q.Get("name")) || (q.Has("domain_id") && p.DomainID != q.Get("domain_id")) {
			continue
		}
		out = append(out, i.projectJSON(r, p))
	}
	writeJSON(w, http.StatusOK, listBody(r, "projects", out))
}

func (i *Issuer) userProjects(w http.ResponseWriter, r *http.Request, p *payload) {
	id := r.PathValue("id")
	if id != p.UserID && !isAdmin(p) {
		forbidden(w, "identity:list_user_projects")
		return
	}
	if i.dir.users[id] == nil {
		identity.WriteError(w, http.StatusNotFound, "Could not find user: "+id+".")
		return
	}
	i.writeProjects(w, r, i.dir.projectsOf(id))
}

func sortedValues[T any](m map[string]*T, name func(*T) string) []*T {
	out := make([]*T, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b *T) int { return strings.Compare(name(a), name(b)) })
	return out
}

func (i *Issuer) listProjects(w http.ResponseWriter, r *http.Request, p *payload) {
	if !isAdmin(p) {
		i.writeProjects(w, r, i.dir.projectsOf(p.UserID))
		return
	}
	i.writeProjects(w, r, sortedValues(i.dir.projects, func(p *Project) string { return p.Name }))
}

func (i *Issuer) getProject(w http.ResponseWriter, r *http.Request, p *payload) {
	id := r.PathValue("id")
	proj := i.dir.projects[id]
	if proj == nil {
		identity.WriteError(w, http.StatusNotFound, "Could not find project: "+id+".")
		return
	}
	if !isAdmin(p) && p.ProjectID != id && i.dir.projRoles[[2]string{p.UserID, id}] == nil {
		forbidden(w, "identity:get_project")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"project": i.projectJSON(r, proj)})
}

func (i *Issuer) listUsers(w http.ResponseWriter, r *http.Request, p *payload) {
	q := r.URL.Query()
	out := []any{}
	for _, u := range sortedValues(i.dir.users, func(u *User) string { return u.Name }) {
		if !isAdmin(p) && u.ID != p.UserID {
			continue
		}
		if (q.Has("name") && u.Name != q.Get("name")) || (q.Has("domain_id") && u.DomainID != q.Get("domain_id")) {
			continue
		}
		out = append(out, i.userJSON(r, u))
	}
	writeJSON(w, http.StatusOK, listBody(r, "users", out))
}

func (i *Issuer) getUser(w http.ResponseWriter, r *http.Request, p *payload) {
	id := r.PathValue("id")
	u := i.dir.users[id]
	if u == nil {
		identity.WriteError(w, http.StatusNotFound, "Could not find user: "+id+".")
		return
	}
	if id != p.UserID && !isAdmin(p) {
		forbidden(w, "identity:get_user")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": i.userJSON(r, u)})
}

func (i *Issuer) listDomains(w http.ResponseWriter, r *http.Request, p *payload) {
	q := r.URL.Query()
	out := []any{}
	for _, d := range sortedValues(i.dir.domains, func(d *Domain) string { return d.Name }) {
		if !isAdmin(p) && d.ID != p.UserDomainID && d.ID != p.ProjDomainID {
			continue
		}
		if q.Has("name") && d.Name != q.Get("name") {
			continue
		}
		out = append(out, i.domainJSON(r, d))
	}
	writeJSON(w, http.StatusOK, listBody(r, "domains", out))
}

func (i *Issuer) getDomain(w http.ResponseWriter, r *http.Request, p *payload) {
	id := r.PathValue("id")
	d := i.dir.domains[id]
	if d == nil {
		identity.WriteError(w, http.StatusNotFound, "Could not find domain: "+id+".")
		return
	}
	if !isAdmin(p) && d.ID != p.UserDomainID && d.ID != p.ProjDomainID && d.ID != p.DomainID {
		forbidden(w, "identity:get_domain")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"domain": i.domainJSON(r, d)})
}

func (i *Issuer) roleJSON(r *http.Request, x *Role) map[string]any {
	return map[string]any{"id": x.ID, "name": x.Name, "domain_id": nil, "description": nil, "options": map[string]any{},
		"links": map[string]string{"self": baseURL(r) + "/v3/roles/" + x.ID}}
}

func (i *Issuer) listRoles(w http.ResponseWriter, r *http.Request, p *payload) {
	if !hasRole(p, "admin", "reader") {
		forbidden(w, "identity:list_roles")
		return
	}
	q := r.URL.Query()
	out := []any{}
	for _, x := range sortedValues(i.dir.roles, func(x *Role) string { return x.Name }) {
		if q.Has("name") && x.Name != strings.ToLower(q.Get("name")) {
			continue
		}
		out = append(out, i.roleJSON(r, x))
	}
	writeJSON(w, http.StatusOK, listBody(r, "roles", out))
}

func (i *Issuer) getRole(w http.ResponseWriter, r *http.Request, p *payload) {
	id := r.PathValue("id")
	x := i.dir.roles[id]
	if x == nil {
		identity.WriteError(w, http.StatusNotFound, "Could not find role: "+id+".")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"role": i.roleJSON(r, x)})
}

// listAssignments serves GET /v3/role_assignments with the filters
// user.id, role.id, scope.project.id, scope.domain.id, scope.system, and
// effective (implied roles expanded) and include_names. Non-admins see
// only their own assignments.
func (i *Issuer) listAssignments(w http.ResponseWriter, r *http.Request, p *payload) {
	q := r.URL.Query()
	d := i.dir
	names := q.Has("include_names") && q.Get("include_names") != "false" && q.Get("include_names") != "0"
	effective := q.Has("effective")
	type row struct {
		user, role, kind, target string
	}
	var rows []row
	add := func(user, kind, target string, roles []string) {
		if effective {
			roles = d.expand(roles)
		}
		for _, role := range roles {
			rows = append(rows, row{user, role, kind, target})
		}
	}
	for k, roles := range d.projRoles {
		add(k[0], "project", k[1], roles)
	}
	for k, roles := range d.domainRoles {
		add(k[0], "domain", k[1], roles)
	}
	for u, roles := range d.sysRoles {
		add(u, "system", "all", roles)
	}
	slices.SortFunc(rows, func(a, b row) int {
		return strings.Compare(a.user+a.kind+a.target+a.role, b.user+b.kind+b.target+b.role)
	})
	out := []any{}
	for _, x := range rows {
		if !isAdmin(p) && x.user != p.UserID {
			continue
		}
		if (q.Has("user.id") && x.user != q.Get("user.id")) || (q.Has("role.id") && x.role != q.Get("role.id")) ||
			(q.Has("scope.project.id") && (x.kind != "project" || x.target != q.Get("scope.project.id"))) ||
			(q.Has("scope.domain.id") && (x.kind != "domain" || x.target != q.Get("scope.domain.id"))) ||
			(q.Has("scope.system") && x.kind != "system") {
			continue
		}
		user := map[string]any{"id": x.user}
		role := map[string]any{"id": x.role}
		target := map[string]any{"id": x.target}
		if names {
			u := d.users[x.user]
			user["name"] = u.Name
			user["domain"] = map[string]string{"id": u.DomainID, "name": d.domains[u.DomainID].Name}
			role["name"] = d.roles[x.role].Name
			switch x.kind {
			case "project":
				pr := d.projects[x.target]
				target["name"] = pr.Name
				target["domain"] = map[string]string{"id": pr.DomainID, "name": d.domains[pr.DomainID].Name}
			case "domain":
				target["name"] = d.domains[x.target].Name
			}
		}
		scope := map[string]any{x.kind: target}
		if x.kind == "system" {
			scope = map[string]any{"system": map[string]bool{"all": true}}
		}
		out = append(out, map[string]any{"user": user, "role": role, "scope": scope,
			"links": map[string]string{"assignment": baseURL(r) + "/v3/" + x.kind + "s/" + x.target + "/users/" + x.user + "/roles/" + x.role}})
	}
	writeJSON(w, http.StatusOK, listBody(r, "role_assignments", out))
}

func (i *Issuer) listServices(w http.ResponseWriter, r *http.Request, p *payload) {
	q := r.URL.Query()
	out := []any{}
	for _, s := range i.dir.services {
		if q.Has("type") && s.Type != q.Get("type") {
			continue
		}
		out = append(out, map[string]any{"id": s.ID, "type": s.Type, "name": s.Name, "enabled": true,
			"links": map[string]string{"self": baseURL(r) + "/v3/services/" + s.ID}})
	}
	writeJSON(w, http.StatusOK, listBody(r, "services", out))
}

func (i *Issuer) listEndpoints(w http.ResponseWriter, r *http.Request, p *payload) {
	q := r.URL.Query()
	out := []any{}
	for _, s := range i.dir.services {
		if q.Has("service_id") && s.ID != q.Get("service_id") {
			continue
		}
		for _, e := range s.Endpoints {
			if q.Has("interface") && e.Interface != q.Get("interface") {
				continue
			}
			out = append(out, map[string]any{"id": e.ID, "interface": e.Interface, "region": e.Region,
				"region_id": e.Region, "url": e.URL, "service_id": s.ID, "enabled": true,
				"links": map[string]string{"self": baseURL(r) + "/v3/endpoints/" + e.ID}})
		}
	}
	writeJSON(w, http.StatusOK, listBody(r, "endpoints", out))
}

func (i *Issuer) listRegions(w http.ResponseWriter, r *http.Request, p *payload) {
	seen := map[string]bool{}
	out := []any{}
	for _, s := range i.dir.services {
		for _, e := range s.Endpoints {
			if !seen[e.Region] {
				seen[e.Region] = true
				out = append(out, map[string]any{"id": e.Region, "description": "", "parent_region_id": nil,
					"links": map[string]string{"self": baseURL(r) + "/v3/regions/" + e.Region}})
			}
		}
	}
	writeJSON(w, http.StatusOK, listBody(r, "regions", out))
}
