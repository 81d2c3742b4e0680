package room

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Default ports attendees reach the room's services on.
const (
	DefaultAMQPPort = 5672
	DefaultPGPort   = 5432
)

// SetupInput is everything `checker room setup` decides from: the room, where attendees reach this machine, what the
// broker and the database already have, and fresh passwords (chosen by the caller, so the decision is repeatable).
type SetupInput struct {
	Room           string
	Host           string // the address attendees use for this machine: its LAN address (127.0.0.1 only for a try-out)
	AMQPPort       int
	PGPort         int
	Existing       Existing
	BrokerPassword string
	DBPassword     string
}

// Existing is what the broker and the database server have before set-up.
type Existing struct {
	Users     []string // RabbitMQ users
	Vhosts    []string // RabbitMQ virtual hosts
	Roles     []string // PostgreSQL roles
	Databases []string // PostgreSQL databases
	Trust     []string // pg_hba.conf lines that let host connections in without a password ("line 12: host all all 127.0.0.1/32 trust")
}

// Plan is what set-up (or teardown) does, in order, and what it prints.
type Plan struct {
	User, Vhost    string     // the room's RabbitMQ user and virtual host
	Role, Database string     // the room's PostgreSQL role and database
	Rabbit         [][]string // rabbitmqctl argument lists
	SQL            []string   // statements for the database server's admin connection, one at a time
	Line           string     // the line attendees paste (set-up only)
	AMQPURL, DBURL string     // the room's URLs (set-up only), for checking them
	Notes          []string   // what the instructor should know or still do
}

var password = regexp.MustCompile(`^[A-Za-z0-9]{16,64}$`)

// NewPassword returns a random password of 24 hex digits (URL- and SQL-safe).
func NewPassword() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// Names are the room's account names: RabbitMQ user and vhost "msglabs-ROOM", PostgreSQL role and database
// "msglabs_ROOM" (dashes become underscores, so the names need no quoting).
func Names(room string) (user, vhost, role, database string) {
	pg := "msglabs_" + strings.ReplaceAll(room, "-", "_")
	return "msglabs-" + room, "msglabs-" + room, pg, pg
}

// PlanSetup decides how to set up a room: a RabbitMQ user (not guest, not an administrator) with its own vhost and
// full permissions there, a PostgreSQL role that logs in with a password and owns the room's database. Running it
// again for the same room changes both passwords (attendees paste the new line) and keeps everything else.
func PlanSetup(in SetupInput) (Plan, error) {
	if err := ValidRoom(in.Room); err != nil {
		return Plan{}, err
	}
	if !password.MatchString(in.BrokerPassword) || !password.MatchString(in.DBPassword) {
		return Plan{}, fmt.Errorf("room passwords must be 16–64 letters or digits")
	}
	host := strings.TrimSpace(in.Host)
	if host == "" || strings.ContainsAny(host, "/@?# ") {
		return Plan{}, fmt.Errorf("host %q: give the address attendees use for this machine, e.g. --host 192.168.1.20", in.Host)
	}
	amqpPort, pgPort := orDefault(in.AMQPPort, DefaultAMQPPort), orDefault(in.PGPort, DefaultPGPort)
	p := Plan{}
	p.User, p.Vhost, p.Role, p.Database = Names(in.Room)
	ex := in.Existing

	if slices.Contains(ex.Users, p.User) {
		p.Rabbit = append(p.Rabbit, []string{"change_password", p.User, in.BrokerPassword})
		p.Notes = append(p.Notes, fmt.Sprintf("RabbitMQ user %s existed: its password changed, so attendees paste the new line", p.User))
	} else {
		p.Rabbit = append(p.Rabbit, []string{"add_user", p.User, in.BrokerPassword})
	}
	if !slices.Contains(ex.Vhosts, p.Vhost) {
		p.Rabbit = append(p.Rabbit, []string{"add_vhost", p.Vhost})
	}
	p.Rabbit = append(p.Rabbit,
		[]string{"set_user_tags", p.User}, // no tags: not an administrator, no management UI
		[]string{"set_permissions", "-p", p.Vhost, p.User, ".*", ".*", ".*"})

	if slices.Contains(ex.Roles, p.Role) {
		p.SQL = append(p.SQL, fmt.Sprintf("ALTER ROLE %s WITH LOGIN PASSWORD '%s'", p.Role, in.DBPassword))
	} else {
		p.SQL = append(p.SQL, fmt.Sprintf("CREATE ROLE %s WITH LOGIN PASSWORD '%s'", p.Role, in.DBPassword))
	}
	if !slices.Contains(ex.Databases, p.Database) {
		p.SQL = append(p.SQL, fmt.Sprintf("CREATE DATABASE %s OWNER %s", p.Database, p.Role))
	}
	p.SQL = append(p.SQL,
		fmt.Sprintf("REVOKE ALL ON DATABASE %s FROM PUBLIC", p.Database),
		fmt.Sprintf("GRANT ALL ON DATABASE %s TO %s", p.Database, p.Role))

	p.AMQPURL = (&url.URL{Scheme: "amqp", User: url.UserPassword(p.User, in.BrokerPassword),
		Host: net.JoinHostPort(host, strconv.Itoa(amqpPort)), Path: "/" + p.Vhost}).String()
	p.DBURL = (&url.URL{Scheme: "postgres", User: url.UserPassword(p.Role, in.DBPassword),
		Host: net.JoinHostPort(host, strconv.Itoa(pgPort)), Path: "/" + p.Database}).String()
	p.Line = fmt.Sprintf("export MSGLABS_AMQP_URL=%s MSGLABS_DATABASE_URL=%s %s=%s", p.AMQPURL, p.DBURL, EnvRoom, in.Room)

	if ip := net.ParseIP(host); (ip != nil && ip.IsLoopback()) || host == "localhost" {
		p.Notes = append(p.Notes, fmt.Sprintf("%s reaches this machine only: for the room, run again with --host <this machine's LAN address>", host))
	}
	for _, t := range ex.Trust {
		p.Notes = append(p.Notes, fmt.Sprintf("PostgreSQL lets host connections in without a password (pg_hba.conf %s): "+
			"for the room, make it scram-sha-256 and reload, or use docker-compose.room.yml", t))
	}
	return p, nil
}

// PlanTeardown decides how to remove a room's accounts: only what exists is removed. The vhost goes with everything
// in it (the room's queues and the labs' leftovers); the database is dropped even with attendees still connected.
func PlanTeardown(room string, ex Existing) (Plan, error) {
	if err := ValidRoom(room); err != nil {
		return Plan{}, err
	}
	p := Plan{}
	p.User, p.Vhost, p.Role, p.Database = Names(room)
	if slices.Contains(ex.Vhosts, p.Vhost) {
		p.Rabbit = append(p.Rabbit, []string{"delete_vhost", p.Vhost})
	}
	if slices.Contains(ex.Users, p.User) {
		p.Rabbit = append(p.Rabbit, []string{"delete_user", p.User})
	}
	if slices.Contains(ex.Databases, p.Database) {
		p.SQL = append(p.SQL, fmt.Sprintf("DROP DATABASE %s WITH (FORCE)", p.Database))
	}
	if slices.Contains(ex.Roles, p.Role) {
		p.SQL = append(p.SQL, fmt.Sprintf("DROP ROLE %s", p.Role))
	}
	if len(p.Rabbit) == 0 && len(p.SQL) == 0 {
		p.Notes = append(p.Notes, fmt.Sprintf("room %s has nothing to remove: no user, vhost, role or database of that name", room))
	}
	return p, nil
}

// Redacted is a command or statement as it is printed: passwords replaced by ***.
func (p Plan) Redacted(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "***")
		}
	}
	return s
}

// LANHost picks the address attendees most likely use for this machine: its only private IPv4 address that is up.
// With none, or several, it returns false and the instructor says which (--host).
func LANHost(addrs []net.IP) (string, bool) {
	var found []string
	for _, ip := range addrs {
		if ip4 := ip.To4(); ip4 != nil && ip4.IsPrivate() && !ip4.IsLoopback() {
			found = append(found, ip4.String())
		}
	}
	if len(found) != 1 {
		return "", false
	}
	return found[0], true
}

// InterfaceIPs lists this machine's addresses on interfaces that are up.
func InterfaceIPs() []net.IP {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []net.IP
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				out = append(out, n.IP)
			}
		}
	}
	return out
}

func orDefault(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}
