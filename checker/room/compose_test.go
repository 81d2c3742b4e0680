package room

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

type composeFile struct {
	Name     string `yaml:"name"`
	Services map[string]struct {
		Environment map[string]string `yaml:"environment"`
		Ports       []string          `yaml:"ports"`
	} `yaml:"services"`
}

func readCompose(t testing.TB, name string) composeFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("%s is not valid YAML: %v", name, err)
	}
	return c
}

// The room's compose file serves the LAN with credentials of its own; the laptop's stays on loopback.
func TestRoomComposeBindsTheLANWithoutDefaultCredentials(t *testing.T) {
	c := readCompose(t, "docker-compose.room.yml")
	mq, pg := c.Services["rabbitmq"], c.Services["postgres"]
	wantPorts := map[string][]string{
		"rabbitmq": {"0.0.0.0:5672:5672", "127.0.0.1:15672:15672"},
		"postgres": {"0.0.0.0:5432:5432"},
	}
	for svc, want := range wantPorts {
		if got := strings.Join(c.Services[svc].Ports, " "); got != strings.Join(want, " ") {
			t.Errorf("%s ports %q, want %q (AMQP and PostgreSQL on the LAN, the management UI on loopback)", svc, got, want)
		}
	}
	if u := mq.Environment["RABBITMQ_DEFAULT_USER"]; u == "" || u == "guest" {
		t.Errorf("RabbitMQ's default user is %q: the room must not have guest", u)
	}
	if m := pg.Environment["POSTGRES_HOST_AUTH_METHOD"]; m != "scram-sha-256" {
		t.Errorf("PostgreSQL's host auth method is %q, want scram-sha-256 (no trust in a room)", m)
	}
	for _, v := range []string{mq.Environment["RABBITMQ_DEFAULT_PASS"], pg.Environment["POSTGRES_PASSWORD"]} {
		if !strings.HasPrefix(v, "${MSGLABS_ROOM_ADMIN_PASSWORD:?") {
			t.Errorf("an administrator password is %q: it must come from MSGLABS_ROOM_ADMIN_PASSWORD, required", v)
		}
	}
	if c.Name == readCompose(t, "docker-compose.yml").Name {
		t.Errorf("the room's compose project is named %q like the laptop's: their containers would be mixed up", c.Name)
	}
}

func TestLaptopComposeStaysOnLoopback(t *testing.T) {
	for svc, s := range readCompose(t, "docker-compose.yml").Services {
		for _, p := range s.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("docker-compose.yml publishes %s port %q beyond loopback", svc, p)
			}
		}
	}
}
