package testsvc

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

const rabbitServerScript = "/usr/lib/rabbitmq/bin/rabbitmq-server"

type rabbitEngine struct {
	script string
	epmd   string
	acct   *account
	lay    *layout
	base   string // owned by the rabbitmq user: home, mnesia, log, config
	node   string // nk<hex>@localhost
	logf   string // stdout+stderr of rabbitmq-server (RabbitMQ logs to the console only)
	epmdLg string

	port, distPort, epmdPort int
	epmdProc                 *proc // private epmd, lives until destroy
}

// StartRabbitMQ starts a RabbitMQ node (Debian's rabbitmq-server) with its data under dir (created if
// missing). The node is isolated from any other node on the machine: unique node name nk<random>@localhost,
// its own free AMQP port, Erlang distribution port and private epmd (on its own free port; nothing
// listens on 4369), its own Erlang cookie, config file and enabled-plugins file (no plugins, so no
// management UI). Everything listens on 127.0.0.1 only; the default user guest/guest works over loopback.
// It returns once an AMQP connection to the node succeeds.
//
// When running as root the node runs as the system user "rabbitmq". Data lives in dir/rabbitmq, or under
// the system temp directory (linked from dir/rabbitmq) when that user cannot reach dir. The node's log is
// dir/rabbitmq.log. Stop/Start keep the node name and Mnesia directory, so durable queues and persistent
// messages survive. If the binaries are missing the error wraps ErrNotInstalled.
func StartRabbitMQ(ctx context.Context, dir string) (*Server, error) {
	return startRabbitMQ(ctx, startOpts{dir: dir})
}

func rabbitBinaries() (script, epmd string, err error) {
	script = findBinary(rabbitServerScript)
	epmd = findBinary("/usr/bin/epmd", "/usr/lib/erlang/bin/epmd", "epmd")
	if script == "" || epmd == "" {
		return "", "", fmt.Errorf("%w: rabbitmq: %s or epmd not found (apt-get install rabbitmq-server)", ErrNotInstalled, rabbitServerScript)
	}
	return script, epmd, nil
}

func startRabbitMQ(ctx context.Context, o startOpts) (*Server, error) {
	script, epmd, err := rabbitBinaries()
	if err != nil {
		return nil, err
	}
	acct, err := serviceAccount("rabbitmq")
	if err != nil {
		return nil, err
	}
	lay, err := newLayout(o)
	if err != nil {
		return nil, fmt.Errorf("testsvc: rabbitmq: %w", err)
	}
	e := &rabbitEngine{script: script, epmd: epmd, acct: acct, lay: lay, node: "nk" + randomHex(6) + "@localhost"}
	if err := e.init(); err != nil {
		_ = lay.remove()
		return nil, fmt.Errorf("testsvc: rabbitmq: %w", err)
	}
	if err := e.repick(); err != nil {
		_ = lay.remove()
		return nil, err
	}
	if o.port != 0 {
		e.port = o.port
	}
	return newServer(ctx, kindRabbitMQ, e)
}

// init writes the node's private home (cookie), configuration and empty plugin list.
func (e *rabbitEngine) init() error {
	e.logf = e.lay.path("rabbitmq.log")
	e.epmdLg = e.lay.path("epmd.log")
	base, err := e.lay.privateBase(e.acct, "rabbitmq")
	if err != nil {
		return err
	}
	e.base = base
	for _, d := range []string{"home", "mnesia", "log"} {
		if err := os.Mkdir(filepath.Join(base, d), 0o700); err != nil {
			return err
		}
	}
	files := []struct {
		name, content string
		mode          os.FileMode
	}{
		{"home/.erlang.cookie", "NK" + randomHex(12), 0o400},
		{"enabled_plugins", "[].\n", 0o644},
		{"rabbitmq-env.conf", "# testsvc: intentionally empty, the environment sets everything\n", 0o644},
		{"rabbitmq.conf", "log.file = false\nlog.console = true\nlog.console.level = info\nlog.console.use_colors = off\n" +
			"loopback_users.guest = true\n", 0o644},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(base, f.name), []byte(f.content), f.mode); err != nil {
			return err
		}
	}
	return e.acct.chown(base)
}

func (e *rabbitEngine) repick() error {
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	e.port, e.distPort = ports[0], ports[1]
	if e.epmdProc == nil {
		e.epmdPort = ports[2]
	}
	return nil
}

func (e *rabbitEngine) addr() string { return "127.0.0.1:" + strconv.Itoa(e.port) }

func (e *rabbitEngine) url() string { return fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", e.port) }

func (e *rabbitEngine) logFiles() []string { return []string{e.logf, e.epmdLg} }

func (e *rabbitEngine) env() []string {
	return childEnv(filepath.Join(e.base, "home"),
		"RABBITMQ_NODENAME="+e.node,
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT="+strconv.Itoa(e.port),
		"RABBITMQ_DIST_PORT="+strconv.Itoa(e.distPort),
		"ERL_EPMD_ADDRESS=127.0.0.1",
		"ERL_EPMD_PORT="+strconv.Itoa(e.epmdPort),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(e.base, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(e.base, "log"),
		"RABBITMQ_PID_FILE="+filepath.Join(e.base, "rabbit.pid"),
		"RABBITMQ_CONF_ENV_FILE="+filepath.Join(e.base, "rabbitmq-env.conf"),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(e.base, "rabbitmq.conf"),
		"RABBITMQ_ADVANCED_CONFIG_FILE="+filepath.Join(e.base, "advanced.config"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(e.base, "enabled_plugins"),
		"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1} -start_epmd false",
	)
}

// startEpmd starts the node's private epmd if it is not running.
func (e *rabbitEngine) startEpmd(ctx context.Context) error {
	if e.epmdProc != nil {
		if e.epmdProc.alive() {
			return nil
		}
		e.epmdProc.release()
		e.epmdProc = nil
	}
	sp := procSpec{
		path: e.epmd,
		args: []string{"-port", strconv.Itoa(e.epmdPort), "-address", "127.0.0.1"},
		env:  e.env(),
		dir:  e.base,
		cred: e.acct.cred,
		log:  e.epmdLg,
	}
	p, err := bootWith(ctx, sp, []string{e.epmdLg}, func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", "127.0.0.1:"+strconv.Itoa(e.epmdPort))
		if err != nil {
			return err
		}
		return c.Close()
	})
	if err != nil {
		return fmt.Errorf("epmd on port %d: %w", e.epmdPort, err)
	}
	e.epmdProc = p
	return nil
}

func (e *rabbitEngine) boot(ctx context.Context) (*proc, error) {
	if err := e.startEpmd(ctx); err != nil {
		return nil, err
	}
	sp := procSpec{path: e.script, env: e.env(), dir: e.base, cred: e.acct.cred, log: e.logf, cleanup: e.lay.paths()}
	return bootWith(ctx, sp, e.logFiles(), e.probe)
}

// probe opens an AMQP connection and checks that the broker answering is this node.
func (e *rabbitEngine) probe(ctx context.Context) error {
	timeout := probeTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	conn, err := amqp.DialConfig(e.url(), amqp.Config{
		Dial:       amqp.DefaultDial(timeout),
		Properties: amqp.Table{"connection_name": "testsvc readiness probe"},
	})
	if err != nil {
		return err
	}
	defer conn.Close()
	// The default cluster name is the node name with the host's FQDN: nk<hex>@<fqdn>.
	short, _, _ := strings.Cut(e.node, "@")
	if name, _ := conn.Properties["cluster_name"].(string); name != "" && !strings.HasPrefix(name, short+"@") {
		return fmt.Errorf("port %d is answered by another RabbitMQ node (cluster %s)", e.port, name)
	}
	return nil
}

// shutdown sends SIGTERM to the rabbitmq-server wrapper script, which forwards it to the Erlang VM (a
// graceful shutdown) and exits after the VM.
func (e *rabbitEngine) shutdown(p *proc) error { return p.signal(syscall.SIGTERM) }

func (e *rabbitEngine) destroy() error {
	if e.epmdProc != nil {
		e.epmdProc.release()
		e.epmdProc = nil
	}
	return e.lay.remove()
}
