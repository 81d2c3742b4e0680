package room

import (
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"
)

const (
	pw1 = "0123456789abcdef01234567"
	pw2 = "fedcba9876543210fedcba98"
)

func setupInput(ex Existing) SetupInput {
	return SetupInput{Room: "berlin-1", Host: "192.168.1.20", Existing: ex, BrokerPassword: pw1, DBPassword: pw2}
}

func TestPlanSetupOnAFreshServer(t *testing.T) {
	p, err := PlanSetup(setupInput(Existing{Users: []string{"guest"}, Vhosts: []string{"/"}, Roles: []string{"postgres"}, Databases: []string{"postgres"}}))
	if err != nil {
		t.Fatal(err)
	}
	wantRabbit := [][]string{
		{"add_user", "msglabs-berlin-1", pw1},
		{"add_vhost", "msglabs-berlin-1"},
		{"set_user_tags", "msglabs-berlin-1"},
		{"set_permissions", "-p", "msglabs-berlin-1", "msglabs-berlin-1", ".*", ".*", ".*"},
	}
	if !slices.EqualFunc(p.Rabbit, wantRabbit, slices.Equal) {
		t.Errorf("rabbitmqctl steps:\n got %q\nwant %q", p.Rabbit, wantRabbit)
	}
	wantSQL := []string{
		"CREATE ROLE msglabs_berlin_1 WITH LOGIN PASSWORD '" + pw2 + "'",
		"CREATE DATABASE msglabs_berlin_1 OWNER msglabs_berlin_1",
		"REVOKE ALL ON DATABASE msglabs_berlin_1 FROM PUBLIC",
		"GRANT ALL ON DATABASE msglabs_berlin_1 TO msglabs_berlin_1",
	}
	if !slices.Equal(p.SQL, wantSQL) {
		t.Errorf("SQL:\n got %q\nwant %q", p.SQL, wantSQL)
	}
	wantLine := "export MSGLABS_AMQP_URL=amqp://msglabs-berlin-1:" + pw1 + "@192.168.1.20:5672/msglabs-berlin-1 " +
		"MSGLABS_DATABASE_URL=postgres://msglabs_berlin_1:" + pw2 + "@192.168.1.20:5432/msglabs_berlin_1 MSGLABS_ROOM=berlin-1"
	if p.Line != wantLine {
		t.Errorf("line:\n got %s\nwant %s", p.Line, wantLine)
	}
	if len(p.Notes) != 0 {
		t.Errorf("a LAN address on a password-only server needs no notes, got %q", p.Notes)
	}
}

func TestPlanSetupNeverUsesGuest(t *testing.T) {
	p, _ := PlanSetup(setupInput(Existing{}))
	u, err := url.Parse(p.AMQPURL)
	if err != nil {
		t.Fatal(err)
	}
	if u.User.Username() == "guest" || strings.Contains(p.Line, "guest") {
		t.Fatalf("the room's line uses guest: %s", p.Line)
	}
	if u.Path != "/msglabs-berlin-1" {
		t.Errorf("the room's AMQP URL does not name its own vhost: %s", p.AMQPURL)
	}
}

func TestPlanSetupAgainRotatesPasswordsAndKeepsTheRest(t *testing.T) {
	ex := Existing{Users: []string{"guest", "msglabs-berlin-1"}, Vhosts: []string{"/", "msglabs-berlin-1"},
		Roles: []string{"postgres", "msglabs_berlin_1"}, Databases: []string{"postgres", "msglabs_berlin_1"}}
	p, err := PlanSetup(setupInput(ex))
	if err != nil {
		t.Fatal(err)
	}
	if p.Rabbit[0][0] != "change_password" || slices.ContainsFunc(p.Rabbit, func(a []string) bool { return a[0] == "add_vhost" || a[0] == "add_user" }) {
		t.Errorf("an existing user and vhost: %q, want change_password and no add_*", p.Rabbit)
	}
	if !strings.HasPrefix(p.SQL[0], "ALTER ROLE msglabs_berlin_1 WITH LOGIN PASSWORD") || slices.ContainsFunc(p.SQL, func(s string) bool { return strings.HasPrefix(s, "CREATE") }) {
		t.Errorf("an existing role and database: %q, want ALTER ROLE and no CREATE", p.SQL)
	}
	if len(p.Notes) != 1 || !strings.Contains(p.Notes[0], "attendees paste the new line") {
		t.Errorf("notes %q: want one telling that the line changed", p.Notes)
	}
}

func TestPlanSetupWarnsAboutLoopbackAndTrust(t *testing.T) {
	in := setupInput(Existing{Trust: []string{"line 12: host all all 127.0.0.1/32 trust"}})
	in.Host = "127.0.0.1"
	p, err := PlanSetup(in)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(p.Notes, "\n")
	if !strings.Contains(joined, "reaches this machine only") || !strings.Contains(joined, "pg_hba.conf line 12") {
		t.Fatalf("notes %q: want the loopback warning and the trust line", p.Notes)
	}
}

func TestPlanSetupIPv6HostAndPorts(t *testing.T) {
	in := setupInput(Existing{})
	in.Host, in.AMQPPort, in.PGPort = "fd00::20", 5673, 5433
	p, err := PlanSetup(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.AMQPURL, "@[fd00::20]:5673/") || !strings.Contains(p.DBURL, "@[fd00::20]:5433/") {
		t.Fatalf("URLs %s %s: want the bracketed IPv6 host and the given ports", p.AMQPURL, p.DBURL)
	}
}

func TestPlanSetupRefusesBadInput(t *testing.T) {
	cases := map[string]func(*SetupInput){
		"room":     func(in *SetupInput) { in.Room = "Berlin 1" },
		"host":     func(in *SetupInput) { in.Host = "" },
		"host url": func(in *SetupInput) { in.Host = "x@y/z" },
		"password": func(in *SetupInput) { in.DBPassword = "x'; DROP ROLE postgres; --" },
	}
	for name, spoil := range cases {
		in := setupInput(Existing{})
		spoil(&in)
		if _, err := PlanSetup(in); err == nil {
			t.Errorf("%s: PlanSetup accepted %+v", name, in)
		}
	}
}

func TestPlanTeardownRemovesOnlyWhatExists(t *testing.T) {
	p, err := PlanTeardown("berlin-1", Existing{Users: []string{"guest", "msglabs-berlin-1"}, Databases: []string{"msglabs_berlin_1"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(p.Rabbit, [][]string{{"delete_user", "msglabs-berlin-1"}}, slices.Equal) ||
		!slices.Equal(p.SQL, []string{"DROP DATABASE msglabs_berlin_1 WITH (FORCE)"}) {
		t.Fatalf("teardown: %q %q", p.Rabbit, p.SQL)
	}
	empty, _ := PlanTeardown("berlin-1", Existing{Users: []string{"guest"}})
	if len(empty.Rabbit)+len(empty.SQL) != 0 || len(empty.Notes) != 1 {
		t.Fatalf("teardown of a room that is not there: %+v", empty)
	}
}

func TestNewPasswordIsAcceptedByPlanSetup(t *testing.T) {
	in := setupInput(Existing{})
	in.BrokerPassword, in.DBPassword = NewPassword(), NewPassword()
	if in.BrokerPassword == in.DBPassword {
		t.Fatal("two fresh passwords are equal")
	}
	if _, err := PlanSetup(in); err != nil {
		t.Fatal(err)
	}
}

func TestLANHostPicksTheOnlyPrivateAddress(t *testing.T) {
	ips := func(ss ...string) []net.IP {
		var out []net.IP
		for _, s := range ss {
			out = append(out, net.ParseIP(s))
		}
		return out
	}
	if h, ok := LANHost(ips("127.0.0.1", "::1", "192.168.1.20", "fe80::1")); !ok || h != "192.168.1.20" {
		t.Errorf("loopback, link-local and one LAN address: %q %v, want 192.168.1.20", h, ok)
	}
	for name, in := range map[string][]net.IP{"none": ips("127.0.0.1"), "two": ips("10.0.0.5", "192.168.1.20"), "public": ips("203.0.113.7")} {
		if h, ok := LANHost(in); ok {
			t.Errorf("%s: picked %q; with no single private address the instructor must say", name, h)
		}
	}
}
