// Command api is the OpenStack Compute API daemon (nova-api) of a
// multi-process novakit cloud: package cloud's RunAPI behind novakit's
// daemon conventions.
//
//	go run ./examples/api -listen 0.0.0.0:8774 \
//	    -db postgres://nova:secret@db/nova -queue amqp://nova:secret@mq:5672/ \
//	    -placement http://placement:8778 -auth http://keystone:5000/v3
//
// Flags (each also NOVAKIT_<FLAG>, or a key of the -config YAML file; -h
// lists them): -listen (127.0.0.1:8774), -db, -queue, -placement,
// -placement-token, -glance or -images DIR, -auth noauth|KEYSTONE_URL
// (with -keystone-user/-keystone-password/-keystone-project), -public-url,
// -log-level, -drain-timeout, -pprof. It logs "listening on ADDR" when ready,
// answers /healthz and /metrics, drains and exits 0 on SIGTERM and exits
// 1 with a one-line reason when it cannot start.
package main

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/novakit/novakit/cloud"
	"github.com/novakit/novakit/identity"
	"github.com/novakit/novakit/identity/keystone"
	"github.com/novakit/novakit/internal/daemon"
)

func main() { daemon.Main("api", run) }

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	var c cloud.APIConfig
	var auth, ksUser, ksPass, ksProject string
	f := daemon.New("api", "OpenStack Compute API")
	f.String(&c.Listen, "listen", cloud.DefaultAPIListen, "host:port to serve the Compute API on")
	f.String(&c.DB, "db", "", "compute database URL (postgres://…, mysql://…, sqlite://FILE)")
	f.String(&c.Queue, "queue", "", "message queue URL (amqp://user:pass@host:5672/)")
	f.String(&c.Placement, "placement", "", "placement URL (http://host:8778 or its database URL); optional")
	f.String(&c.PlacementToken, "placement-token", "admin", "token sent to an http placement")
	f.String(&c.Glance, "glance", "", "image service URL (http://host:9292)")
	f.String(&c.ImagesDir, "images", "", "local image store directory (instead of -glance)")
	f.String(&auth, "auth", "noauth", "noauth (token \"user[:project]\"; \"admin\" is admin) or a Keystone URL")
	f.String(&ksUser, "keystone-user", "nova", "service user validating tokens with -auth KEYSTONE_URL")
	f.String(&ksPass, "keystone-password", "", "its password (prefer the environment or -config)")
	f.String(&ksProject, "keystone-project", "service", "its project")
	f.String(&c.PublicURL, "public-url", "", "base URL of links in bodies (default: from each request)")
	f.Duration(&c.DrainTimeout, "drain-timeout", 30*time.Second, "how long SIGTERM waits for requests in flight")
	f.Bool(&c.Pprof, "pprof", false, "serve Go profiles at /debug/pprof/ on the -listen address (keep it private)")
	if err := f.Parse(args, getenv, stderr, false); err != nil {
		return err
	}
	c.Logger = f.Logger(stderr)
	if auth == "noauth" {
		c.Authenticator = identity.NoAuth()
		c.Logger.Warn("-auth noauth: tokens are not checked")
	} else {
		a, err := keystone.New(keystone.Options{AuthURL: auth, Username: ksUser, Password: ksPass, ProjectName: ksProject})
		if err != nil {
			return errors.New("-auth " + auth + ": " + err.Error())
		}
		c.Authenticator, c.AuthURI = a, auth
	}
	return cloud.RunAPI(ctx, c)
}
