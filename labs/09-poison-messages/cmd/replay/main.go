// Command replay moves chosen messages from an error queue back to the queue they failed on, keeping their message
// ids, once whatever broke them is fixed:
//
//	go run ./labs/09-poison-messages/cmd/replay -error-queue billing.error m-17 m-18
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	poison "msglabs/labs/09-poison-messages"
)

// runTimeout caps one replay run.
const runTimeout = 30 * time.Second

func main() {
	url := flag.String("amqp", "amqp://guest:guest@127.0.0.1:5672/", "RabbitMQ URL")
	errorQueue := flag.String("error-queue", "", "the error queue to replay from")
	flag.Parse()
	if *errorQueue == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: replay -error-queue QUEUE MESSAGE-ID...")
		os.Exit(2)
	}
	if err := run(*url, *errorQueue, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "replay:", err)
		os.Exit(1)
	}
}

func run(url, errorQueue string, ids []string) error {
	conn, err := amqp.Dial(url)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", url, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	r := &poison.Replayer{Broker: conn, ErrorQueue: errorQueue}
	moved, err := r.Replay(ctx, ids)
	fmt.Printf("moved %d of %d message(s) back to their original queue\n", moved, len(ids))
	return err
}
