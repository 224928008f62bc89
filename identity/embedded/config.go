package embedded

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"
)

// Config is everything the issuer knows: domains, projects, users, roles,
// role assignments, the service catalog, token lifetime and the token
// keys. It is read once by New; later changes to it have no effect.
// Every field may come from a YAML file (see LoadConfig); durations are
// Go durations ("1h").
type Config struct {
	Domains  []Domain  `yaml:"domains"`
	Projects []Project `yaml:"projects"`
	Users    []User    `yaml:"users"`
	Roles    []Role    `yaml:"roles"`
	// ImpliedRoles maps a role name to the role names it implies, as
	// Keystone's implied roles: a token carries every implied role too
	// (the default: admin implies member, member implies reader).
	ImpliedRoles map[string][]string `yaml:"implied_roles"`
	Assignments  []Assignment        `yaml:"assignments"`
	// Services form the catalog returned with project-scoped tokens.
	Services []Service `yaml:"services"`
	// TokenTTL is how long a token is valid (default 1h).
	TokenTTL time.Duration `yaml:"token_ttl"`
	// Keys are the token keys, base64 (standard or URL alphabet) of 32
	// random bytes each. The first encrypts new tokens; all validate, so
	// a key can be rotated in by putting it first. Any process holding a
	// key validates tokens without shared state (see NewValidator).
	// Empty: New makes a random key, valid for this process only.
	Keys []string `yaml:"keys"`
	// BcryptCost is the cost for hashing plain-text passwords given in
	// Users (default bcrypt.DefaultCost).
	BcryptCost int `yaml:"bcrypt_cost"`
}

// Domain is a Keystone domain.
type Domain struct {
	ID          string `yaml:"id"`
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	Disabled    bool   `yaml:"disabled"`
}

// Project is a Keystone project in a domain.
type Project struct {
	ID          string `yaml:"id"`
	Name        string `yaml:"name"`
	DomainID    string `yaml:"domain_id"`
	Description string `yaml:"description"`
	Disabled    bool   `yaml:"disabled"`
}

// User is a Keystone user. Give Password (plain text, hashed with bcrypt
// by New and then forgotten) or PasswordHash (a bcrypt hash).
type User struct {
	ID               string `yaml:"id"`
	Name             string `yaml:"name"`
	DomainID         string `yaml:"domain_id"`
	Password         string `yaml:"password"`
	PasswordHash     string `yaml:"password_hash"`
	Email            string `yaml:"email"`
	DefaultProjectID string `yaml:"default_project_id"`
	Disabled         bool   `yaml:"disabled"`
}

// Role is a Keystone role. Names are compared case-insensitively.
type Role struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
}

// Assignment grants Role to User on exactly one of Project, Domain or
// the system. User, Role, Project and Domain are ids or (unique) names.
type Assignment struct {
	User    string `yaml:"user"`
	Role    string `yaml:"role"`
	Project string `yaml:"project"`
	Domain  string `yaml:"domain"`
	System  bool   `yaml:"system"`
}

// Service is one catalog entry.
type Service struct {
	ID        string     `yaml:"id"`
	Type      string     `yaml:"type"`
	Name      string     `yaml:"name"`
	Endpoints []Endpoint `yaml:"endpoints"`
}

// Endpoint is one URL of a service, for one interface (public, internal
// or admin) in one region.
type Endpoint struct {
	ID        string `yaml:"id"`
	Interface string `yaml:"interface"`
	Region    string `yaml:"region"`
	URL       string `yaml:"url"`
}

// Well-known names of the all-in-one configuration.
const (
	DefaultDomainID   = "default"
	DefaultDomainName = "Default"
	DefaultRegion     = "RegionOne"
)

// StableID derives a Keystone-style id (32 hex digits) from a kind and a
// name, so the all-in-one configuration's ids survive restarts.
func StableID(kind, name string) string {
	u := uuid.NewSHA1(uuid.NameSpaceOID, []byte("novakit/"+kind+"/"+name))
	return strings.ReplaceAll(u.String(), "-", "")
}

// AllInOne returns the all-in-one configuration: domain Default (id
// "default"); projects admin, demo and service; roles admin, member,
// reader and service with admin ⇒ member ⇒ reader implied; user admin
// (admin on project admin and on the system) and user demo (member and
// reader on project demo), with the given passwords. Add the catalog
// with AddService and keys before calling New.
func AllInOne(adminPassword, demoPassword string) Config {
	c := Config{
		Domains: []Domain{{ID: DefaultDomainID, Name: DefaultDomainName, Description: "The default domain"}},
		ImpliedRoles: map[string][]string{
			"admin":  {"member"},
			"member": {"reader"},
		},
	}
	for _, p := range []string{"admin", "demo", "service"} {
		c.Projects = append(c.Projects, Project{ID: StableID("project", p), Name: p, DomainID: DefaultDomainID})
	}
	for _, r := range []string{"admin", "member", "reader", "service"} {
		c.Roles = append(c.Roles, Role{ID: StableID("role", r), Name: r})
	}
	c.Users = []User{
		{ID: StableID("user", "admin"), Name: "admin", DomainID: DefaultDomainID, Password: adminPassword,
			DefaultProjectID: StableID("project", "admin")},
		{ID: StableID("user", "demo"), Name: "demo", DomainID: DefaultDomainID, Password: demoPassword,
			DefaultProjectID: StableID("project", "demo")},
	}
	c.Assignments = []Assignment{
		{User: "admin", Role: "admin", Project: "admin"},
		{User: "admin", Role: "admin", System: true},
		{User: "demo", Role: "member", Project: "demo"},
		{User: "demo", Role: "reader", Project: "demo"},
	}
	return c
}

// AddService adds a catalog entry of type typ (compute, placement,
// image, identity …) named name whose public, internal and admin
// endpoints in region (default RegionOne) are url.
func (c *Config) AddService(typ, name, region, url string) {
	if region == "" {
		region = DefaultRegion
	}
	s := Service{ID: StableID("service", typ+"/"+name), Type: typ, Name: name}
	for _, iface := range []string{"public", "internal", "admin"} {
		s.Endpoints = append(s.Endpoints, Endpoint{ID: StableID("endpoint", typ+"/"+name+"/"+region+"/"+iface),
			Interface: iface, Region: region, URL: url})
	}
	c.Services = append(c.Services, s)
}

// NewKey returns a fresh random token key, encoded for Config.Keys.
func NewKey() string {
	b := make([]byte, keySize)
	mustRand(b)
	return base64.URLEncoding.EncodeToString(b)
}

// LoadConfig reads a Config from a YAML (or JSON) file. Unknown fields
// are an error naming them.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("embedded: %w", err)
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("embedded: config %s: %w", path, err)
	}
	return c, nil
}

// directory is the validated, indexed form of a Config.
type directory struct {
	domains     map[string]*Domain
	projects    map[string]*Project
	users       map[string]*User
	roles       map[string]*Role
	implied     map[string][]string // role id → implied role ids
	projRoles   map[[2]string][]string
	domainRoles map[[2]string][]string
	sysRoles    map[string][]string
	services    []Service
	ttl         time.Duration
}

func buildDirectory(c Config) (*directory, error) {
	d := &directory{
		domains: map[string]*Domain{}, projects: map[string]*Project{}, users: map[string]*User{},
		roles: map[string]*Role{}, implied: map[string][]string{}, projRoles: map[[2]string][]string{},
		domainRoles: map[[2]string][]string{}, sysRoles: map[string][]string{}, ttl: c.TokenTTL,
	}
	if d.ttl == 0 {
		d.ttl = time.Hour
	}
	if d.ttl < 0 {
		return nil, errors.New("embedded: config: token_ttl must be positive")
	}
	cost := c.BcryptCost
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	for i := range c.Domains {
		x := c.Domains[i]
		if x.ID == "" || x.Name == "" {
			return nil, fmt.Errorf("embedded: config: domains[%d]: id and name are required", i)
		}
		if _, dup := d.domains[x.ID]; dup {
			return nil, fmt.Errorf("embedded: config: domains[%d]: duplicate id %q", i, x.ID)
		}
		d.domains[x.ID] = &x
	}
	for i := range c.Projects {
		x := c.Projects[i]
		if x.ID == "" || x.Name == "" {
			return nil, fmt.Errorf("embedded: config: projects[%d]: id and name are required", i)
		}
		if _, ok := d.domains[x.DomainID]; !ok {
			return nil, fmt.Errorf("embedded: config: projects[%d].domain_id: unknown domain %q", i, x.DomainID)
		}
		if _, dup := d.projects[x.ID]; dup {
			return nil, fmt.Errorf("embedded: config: projects[%d]: duplicate id %q", i, x.ID)
		}
		d.projects[x.ID] = &x
	}
	for i := range c.Users {
		x := c.Users[i]
		if x.ID == "" || x.Name == "" {
			return nil, fmt.Errorf("embedded: config: users[%d]: id and name are required", i)
		}
		if _, ok := d.domains[x.DomainID]; !ok {
			return nil, fmt.Errorf("embedded: config: users[%d].domain_id: unknown domain %q", i, x.DomainID)
		}
		if _, dup := d.users[x.ID]; dup {
			return nil, fmt.Errorf("embedded: config: users[%d]: duplicate id %q", i, x.ID)
		}
		switch {
		case x.PasswordHash != "":
			if _, err := bcrypt.Cost([]byte(x.PasswordHash)); err != nil {
				return nil, fmt.Errorf("embedded: config: users[%d].password_hash: %w", i, err)
			}
		case x.Password != "":
			h, err := bcrypt.GenerateFromPassword([]byte(x.Password), cost)
			if err != nil {
				return nil, fmt.Errorf("embedded: config: users[%d].password: %w", i, err)
			}
			x.PasswordHash = string(h)
		}
		x.Password = ""
		d.users[x.ID] = &x
	}
	for i := range c.Roles {
		x := c.Roles[i]
		if x.ID == "" || x.Name == "" {
			return nil, fmt.Errorf("embedded: config: roles[%d]: id and name are required", i)
		}
		x.Name = strings.ToLower(x.Name)
		d.roles[x.ID] = &x
	}
	for from, tos := range c.ImpliedRoles {
		f, err := d.role(from)
		if err != nil {
			return nil, fmt.Errorf("embedded: config: implied_roles: %w", err)
		}
		for _, to := range tos {
			t, err := d.role(to)
			if err != nil {
				return nil, fmt.Errorf("embedded: config: implied_roles[%s]: %w", from, err)
			}
			d.implied[f.ID] = append(d.implied[f.ID], t.ID)
		}
	}
	for i, a := range c.Assignments {
		u, err := d.user(a.User)
		if err != nil {
			return nil, fmt.Errorf("embedded: config: assignments[%d].user: %w", i, err)
		}
		r, err := d.role(a.Role)
		if err != nil {
			return nil, fmt.Errorf("embedded: config: assignments[%d].role: %w", i, err)
		}
		n := 0
		if a.Project != "" {
			n++
		}
		if a.Domain != "" {
			n++
		}
		if a.System {
			n++
		}
		if n != 1 {
			return nil, fmt.Errorf("embedded: config: assignments[%d]: exactly one of project, domain and system is required", i)
		}
		switch {
		case a.Project != "":
			p, err := d.project(a.Project)
			if err != nil {
				return nil, fmt.Errorf("embedded: config: assignments[%d].project: %w", i, err)
			}
			k := [2]string{u.ID, p.ID}
			d.projRoles[k] = appendUnique(d.projRoles[k], r.ID)
		case a.Domain != "":
			dom, err := d.domain(a.Domain)
			if err != nil {
				return nil, fmt.Errorf("embedded: config: assignments[%d].domain: %w", i, err)
			}
			k := [2]string{u.ID, dom.ID}
			d.domainRoles[k] = appendUnique(d.domainRoles[k], r.ID)
		default:
			d.sysRoles[u.ID] = appendUnique(d.sysRoles[u.ID], r.ID)
		}
	}
	for i, s := range c.Services {
		if s.Type == "" {
			return nil, fmt.Errorf("embedded: config: services[%d].type is required", i)
		}
		if s.ID == "" {
			s.ID = StableID("service", s.Type+"/"+s.Name)
		}
		eps := slices.Clone(s.Endpoints)
		for j := range eps {
			e := &eps[j]
			switch e.Interface {
			case "public", "internal", "admin":
			default:
				return nil, fmt.Errorf("embedded: config: services[%d].endpoints[%d].interface: %q is not public, internal or admin", i, j, e.Interface)
			}
			if e.URL == "" {
				return nil, fmt.Errorf("embedded: config: services[%d].endpoints[%d].url is required", i, j)
			}
			if e.Region == "" {
				e.Region = DefaultRegion
			}
			if e.ID == "" {
				e.ID = StableID("endpoint", s.ID+"/"+e.Region+"/"+e.Interface)
			}
		}
		s.Endpoints = eps
		d.services = append(d.services, s)
	}
	return d, nil
}

func appendUnique(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

func (d *directory) user(ref string) (*User, error) {
	if u, ok := d.users[ref]; ok {
		return u, nil
	}
	var found *User
	for _, u := range d.users {
		if u.Name == ref {
			if found != nil {
				return nil, fmt.Errorf("user name %q is ambiguous: use its id", ref)
			}
			found = u
		}
	}
	if found == nil {
		return nil, fmt.Errorf("unknown user %q", ref)
	}
	return found, nil
}

func (d *directory) role(ref string) (*Role, error) {
	if r, ok := d.roles[ref]; ok {
		return r, nil
	}
	for _, r := range d.roles {
		if strings.EqualFold(r.Name, ref) {
			return r, nil
		}
	}
	return nil, fmt.Errorf("unknown role %q", ref)
}

func (d *directory) project(ref string) (*Project, error) {
	if p, ok := d.projects[ref]; ok {
		return p, nil
	}
	var found *Project
	for _, p := range d.projects {
		if p.Name == ref {
			if found != nil {
				return nil, fmt.Errorf("project name %q is ambiguous: use its id", ref)
			}
			found = p
		}
	}
	if found == nil {
		return nil, fmt.Errorf("unknown project %q", ref)
	}
	return found, nil
}

func (d *directory) domain(ref string) (*Domain, error) {
	if x, ok := d.domains[ref]; ok {
		return x, nil
	}
	for _, x := range d.domains {
		if x.Name == ref {
			return x, nil
		}
	}
	return nil, fmt.Errorf("unknown domain %q", ref)
}

// expand returns role ids with every implied role added, in a stable
// order (assigned first).
func (d *directory) expand(ids []string) []string {
	out := slices.Clone(ids)
	for i := 0; i < len(out); i++ {
		for _, imp := range d.implied[out[i]] {
			if !slices.Contains(out, imp) {
				out = append(out, imp)
			}
		}
	}
	return out
}

// projectsOf returns the enabled projects where user has a role.
func (d *directory) projectsOf(userID string) []*Project {
	var out []*Project
	for k := range d.projRoles {
		if k[0] == userID {
			if p := d.projects[k[1]]; p != nil && !p.Disabled && !d.domains[p.DomainID].Disabled {
				out = append(out, p)
			}
		}
	}
	slices.SortFunc(out, func(a, b *Project) int { return strings.Compare(a.Name, b.Name) })
	return out
}
