package room

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"msglabs/shared/infra"
)

// Exit codes, the checker's.
const (
	exitOK  = 0
	exitEnv = 2
)

// Defaults of the room commands.
const (
	DefaultListen = "127.0.0.1:7070"
	DefaultName   = "workshop"
	defaultAdmin  = "postgres://postgres@127.0.0.1:5432/postgres"
	shutdownGrace = 2 * time.Second
)

// Usage is the commands' lines in the checker's usage text.
const Usage = `room serve [--name ROOM] [--listen ADDR] [--token T]
                                 the instructor's live view of the room (default ` + DefaultListen + `)
  room setup [--name ROOM] [--host ADDR]
                                 create the room's RabbitMQ user+vhost and PostgreSQL role+database; prints the line attendees paste
  room teardown [--name ROOM]    remove them again`

// Command is `checker room serve|setup|teardown …`.
func Command(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "checker room: want serve, setup or teardown\n  %s\n", Usage)
		return exitEnv
	}
	switch args[0] {
	case "serve":
		return cmdServe(ctx, args[1:], stdout, stderr, os.Getenv, infra.Resolve)
	case "setup":
		return cmdSetup(ctx, args[1:], stdout, stderr, RunCommand)
	case "teardown":
		return cmdTeardown(ctx, args[1:], stdout, stderr, RunCommand)
	}
	fmt.Fprintf(stderr, "checker room: unknown command %q: want serve, setup or teardown\n", args[0])
	return exitEnv
}

func flags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("checker room "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func parseErr(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitEnv
}

// cmdServe is `checker room serve`: the dashboard, until interrupted.
func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string,
	resolve func(context.Context) (infra.Endpoints, error)) int {
	fs := flags("serve", stderr)
	name := fs.String("name", "", "the room (default: $"+EnvRoom+", else "+DefaultName+")")
	listen := fs.String("listen", DefaultListen, "address to serve the page on (0.0.0.0:7070 for the LAN)")
	token := fs.String("token", "", "require ?token=T on every request (use it on the LAN)")
	schema := fs.String("schema", DefaultSchema, "schema for the room's events in the database")
	if err := fs.Parse(args); err != nil {
		return parseErr(err)
	}
	room := firstOf(*name, getenv(EnvRoom), DefaultName)
	if err := ValidRoom(room); err != nil {
		fmt.Fprintf(stderr, "checker room serve: %v\n", err)
		return exitEnv
	}
	eps, err := resolve(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "checker room serve: %v\n", err)
		return exitEnv
	}
	if err := serve(ctx, serveConfig{room: room, listen: *listen, token: *token, schema: *schema, eps: eps}, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "checker room serve: %v\n", err)
		return exitEnv
	}
	return exitOK
}

type serveConfig struct {
	room, listen, token, schema string
	eps                         infra.Endpoints
	afterStore                  func(id string) // tests only
}

// serve runs the dashboard until ctx ends: it prints the page's address once the consumer is ready.
func serve(ctx context.Context, c serveConfig, stdout, stderr io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pool, err := pgxpool.New(ctx, c.eps.Database.URL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer pool.Close()
	store, err := OpenStore(ctx, pool, c.schema)
	if err != nil {
		return err
	}
	logf := func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
	s, err := NewServer(ctx, c.room, c.eps.AMQP.URL, store, logf)
	if err != nil {
		return err
	}
	s.afterStore = c.afterStore
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.listen, err)
	}
	srv := &http.Server{Handler: s.Handler(c.token), ReadHeaderTimeout: 5 * time.Second}
	httpErr := make(chan error, 1)
	go func() { httpErr <- srv.Serve(ln) }()
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer scancel()
		_ = srv.Shutdown(sctx)
	}()
	consumeErr := make(chan error, 1)
	go func() {
		consumeErr <- s.Consume(ctx, func() {
			fmt.Fprintf(stdout, "room %s: %d event(s) so far; serving http://%s/%s\n", c.room, s.State.View(time.Now()).Events,
				ln.Addr(), tokenQuery(c.token))
			if !loopback(ln.Addr()) && c.token == "" {
				fmt.Fprintln(stderr, "checker room serve: warning: anyone on this network can open the page; add --token T")
			}
		})
	}()
	select {
	case err := <-consumeErr:
		return err
	case err := <-httpErr:
		return fmt.Errorf("serve http: %w", err)
	}
}

func tokenQuery(token string) string {
	if token == "" {
		return ""
	}
	return "?" + tokenParam + "=" + token
}

func loopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// cmdSetup is `checker room setup`: it creates the room's accounts, checks them with the room's own URLs, and prints
// the line attendees paste.
func cmdSetup(ctx context.Context, args []string, stdout, stderr io.Writer, run func(context.Context, []string) ([]byte, error)) int {
	fs := flags("setup", stderr)
	name := fs.String("name", DefaultName, "the room's name")
	host := fs.String("host", "", "the address attendees use to reach this machine (default: its only private IPv4 address)")
	amqpPort := fs.Int("amqp-port", DefaultAMQPPort, "RabbitMQ's port as attendees reach it")
	pgPort := fs.Int("pg-port", DefaultPGPort, "PostgreSQL's port as attendees reach it")
	ctl := fs.String("rabbitmqctl", "rabbitmqctl", "how to run rabbitmqctl (e.g. \"docker exec msglabs-room-rabbitmq rabbitmqctl\")")
	dbAdmin := fs.String("db-admin", defaultAdmin, "a PostgreSQL administrator's URL on the database server")
	dry := fs.Bool("dry-run", false, "print what would be done, change nothing")
	if err := fs.Parse(args); err != nil {
		return parseErr(err)
	}
	if *host == "" {
		lan, ok := LANHost(InterfaceIPs())
		if !ok {
			fmt.Fprintln(stderr, "checker room setup: say which address attendees use for this machine: --host ADDR (127.0.0.1 to try it alone)")
			return exitEnv
		}
		*host = lan
		fmt.Fprintf(stdout, "attendees reach this machine at %s (its only private address; --host to choose another)\n", lan)
	}
	admin := Admin{Rabbitmqctl: strings.Fields(*ctl), DBAdminURL: *dbAdmin, Run: run}
	ex, err := admin.Discover(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "checker room setup: %s\n", err)
		return exitEnv
	}
	in := SetupInput{Room: *name, Host: *host, AMQPPort: *amqpPort, PGPort: *pgPort, Existing: ex,
		BrokerPassword: NewPassword(), DBPassword: NewPassword()}
	p, err := PlanSetup(in)
	if err != nil {
		fmt.Fprintf(stderr, "checker room setup: %v\n", err)
		return exitEnv
	}
	secrets := []string{in.BrokerPassword, in.DBPassword}
	fmt.Fprintf(stdout, "room %s: RabbitMQ user %s, vhost %s; PostgreSQL role %s, database %s\n", *name, p.User, p.Vhost, p.Role, p.Database)
	if *dry {
		printPlan(stdout, p, admin, secrets)
		return exitOK
	}
	if err := admin.Apply(ctx, p, stdout, secrets...); err != nil {
		fmt.Fprintf(stderr, "checker room setup: %v\n", err)
		return exitEnv
	}
	checked, err := Check(ctx, p, *name)
	if err != nil {
		fmt.Fprintf(stderr, "checker room setup: the room's accounts were created, but using them failed: %v\n", p.Redacted(err.Error(), secrets...))
		return exitEnv
	}
	for _, l := range checked {
		fmt.Fprintf(stdout, "  ✓ %s\n", l)
	}
	for _, n := range p.Notes {
		fmt.Fprintf(stdout, "note: %s\n", n)
	}
	fmt.Fprintf(stdout, "\nAttendees paste this line (workshop network only: these credentials are not for anything else):\n\n%s\n\n", p.Line)
	fmt.Fprintf(stdout, "Then `bin/checker doctor`. You: `bin/checker room serve --name %s` (with the same line pasted).\n", *name)
	return exitOK
}

func printPlan(w io.Writer, p Plan, admin Admin, secrets []string) {
	for _, args := range p.Rabbit {
		fmt.Fprintf(w, "  would run: %s\n", p.Redacted(strings.Join(append(append([]string(nil), admin.Rabbitmqctl...), args...), " "), secrets...))
	}
	for _, s := range p.SQL {
		fmt.Fprintf(w, "  would run: psql: %s;\n", p.Redacted(s, secrets...))
	}
	for _, n := range p.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

// cmdTeardown is `checker room teardown`: it removes the room's accounts, vhost and database.
func cmdTeardown(ctx context.Context, args []string, stdout, stderr io.Writer, run func(context.Context, []string) ([]byte, error)) int {
	fs := flags("teardown", stderr)
	name := fs.String("name", DefaultName, "the room's name")
	ctl := fs.String("rabbitmqctl", "rabbitmqctl", "how to run rabbitmqctl")
	dbAdmin := fs.String("db-admin", defaultAdmin, "a PostgreSQL administrator's URL on the database server")
	if err := fs.Parse(args); err != nil {
		return parseErr(err)
	}
	admin := Admin{Rabbitmqctl: strings.Fields(*ctl), DBAdminURL: *dbAdmin, Run: run}
	ex, err := admin.Discover(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "checker room teardown: %s\n", err)
		return exitEnv
	}
	p, err := PlanTeardown(*name, ex)
	if err != nil {
		fmt.Fprintf(stderr, "checker room teardown: %v\n", err)
		return exitEnv
	}
	for _, n := range p.Notes {
		fmt.Fprintf(stdout, "note: %s\n", n)
	}
	if len(p.Rabbit)+len(p.SQL) == 0 {
		return exitOK
	}
	if err := admin.Apply(ctx, p, stdout); err != nil {
		fmt.Fprintf(stderr, "checker room teardown: %v\n", err)
		return exitEnv
	}
	fmt.Fprintf(stdout, "room %s removed: its RabbitMQ user and vhost, its PostgreSQL role and database\n", *name)
	return exitOK
}
