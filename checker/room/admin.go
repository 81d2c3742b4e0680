package room

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"
)

// adminTimeout bounds one rabbitmqctl call or one SQL statement of set-up.
const adminTimeout = 30 * time.Second

// Admin carries out set-up and teardown plans on the broker host: rabbitmqctl for RabbitMQ (it must run where the
// broker runs, or inside its container), an administrator's connection for PostgreSQL.
type Admin struct {
	Rabbitmqctl []string // the command, e.g. ["rabbitmqctl"] or ["docker", "exec", "msglabs-room-rabbitmq", "rabbitmqctl"]
	DBAdminURL  string   // a superuser's (or CREATEROLE+CREATEDB) URL on the database server
	// Run runs a command and returns its standard output (tests replace it).
	Run func(ctx context.Context, argv []string) ([]byte, error)
}

// RunCommand runs argv and returns its standard output; a failure carries its standard error.
func RunCommand(ctx context.Context, argv []string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", argv[0], argv[1], err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

func (a Admin) rabbit(ctx context.Context, args ...string) ([]byte, error) {
	argv := append(append([]string(nil), a.Rabbitmqctl...), args...)
	return a.Run(ctx, argv)
}

// Discover reads what the broker and the database server already have.
func (a Admin) Discover(ctx context.Context) (Existing, error) {
	var ex Existing
	var err error
	if ex.Users, err = a.rabbitList(ctx, "list_users", "user"); err != nil {
		return ex, err
	}
	if ex.Vhosts, err = a.rabbitList(ctx, "list_vhosts", "name"); err != nil {
		return ex, err
	}
	conn, err := a.db(ctx)
	if err != nil {
		return ex, err
	}
	defer conn.Close(context.Background())
	if ex.Roles, err = column(ctx, conn, "SELECT rolname FROM pg_roles"); err != nil {
		return ex, err
	}
	if ex.Databases, err = column(ctx, conn, "SELECT datname FROM pg_database"); err != nil {
		return ex, err
	}
	// Readable by superusers only; without it set-up goes on, it just cannot warn about trust.
	ex.Trust, _ = column(ctx, conn, `SELECT format('line %s: %s %s %s %s trust', line_number, type,
		array_to_string(database, ','), array_to_string(user_name, ','), coalesce(address, ''))
		FROM pg_hba_file_rules WHERE auth_method = 'trust' AND type <> 'local' ORDER BY line_number`)
	return ex, nil
}

func (a Admin) rabbitList(ctx context.Context, cmd, field string) ([]string, error) {
	out, err := a.rabbit(ctx, cmd, "--formatter", "json")
	if err != nil {
		return nil, fmt.Errorf("ask RabbitMQ (run this on the broker's host, or pass --rabbitmqctl): %w", err)
	}
	var rows []map[string]any
	if err := json.Unmarshal(out, &rows); err != nil {
		return nil, fmt.Errorf("rabbitmqctl %s: unexpected output: %w", cmd, err)
	}
	var names []string
	for _, r := range rows {
		if s, ok := r[field].(string); ok {
			names = append(names, s)
		}
	}
	return names, nil
}

func (a Admin) db(ctx context.Context) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, a.DBAdminURL)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL as its administrator (--db-admin): %w", err)
	}
	return conn, nil
}

func column(ctx context.Context, conn *pgx.Conn, sql string) ([]string, error) {
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		return nil, fmt.Errorf("ask PostgreSQL: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("ask PostgreSQL: %w", err)
	}
	return out, nil
}

// Apply carries out a plan, printing each step (passwords hidden) to w.
func (a Admin) Apply(ctx context.Context, p Plan, w io.Writer, secrets ...string) error {
	for _, args := range p.Rabbit {
		fmt.Fprintf(w, "  %s\n", p.Redacted(strings.Join(append(append([]string(nil), a.Rabbitmqctl...), args...), " "), secrets...))
		if _, err := a.rabbit(ctx, args...); err != nil {
			return fmt.Errorf("%s", p.Redacted(err.Error(), secrets...))
		}
	}
	if len(p.SQL) == 0 {
		return nil
	}
	conn, err := a.db(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for _, stmt := range p.SQL {
		fmt.Fprintf(w, "  psql: %s;\n", p.Redacted(stmt, secrets...))
		sctx, cancel := context.WithTimeout(ctx, adminTimeout)
		_, err := conn.Exec(sctx, stmt)
		cancel()
		if err != nil {
			return fmt.Errorf("%s: %w", p.Redacted(stmt, secrets...), err)
		}
	}
	return nil
}

// Check connects with the room's own URLs, as an attendee will: to RabbitMQ as the room's user in its vhost, where it
// declares the room's exchange and the dashboard's queue (so events are kept from now on), and to PostgreSQL as the
// room's role. It returns one line per service saying who it connected as.
func Check(ctx context.Context, p Plan, room string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	conn, err := amqp.DialConfig(p.AMQPURL, amqp.Config{Dial: amqp.DefaultDial(10 * time.Second)})
	if err != nil {
		return nil, fmt.Errorf("connect to RabbitMQ as %s: %w", p.User, err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("RabbitMQ as %s: %w", p.User, err)
	}
	if err := Declare(ch, room); err != nil {
		return nil, fmt.Errorf("RabbitMQ as %s: %w", p.User, err)
	}
	db, err := pgx.Connect(ctx, p.DBURL)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL as %s: %w", p.Role, err)
	}
	defer db.Close(context.Background())
	var who, dbname string
	if err := db.QueryRow(ctx, "SELECT current_user, current_database()").Scan(&who, &dbname); err != nil {
		return nil, fmt.Errorf("PostgreSQL as %s: %w", p.Role, err)
	}
	return []string{
		fmt.Sprintf("RabbitMQ: connected as %s to vhost %s; the room's exchange %s and queue %s are there", p.User, p.Vhost, Exchange(room), Queue(room)),
		fmt.Sprintf("PostgreSQL: connected as %s to database %s", who, dbname),
	}, nil
}
