// Command slides serves the kit's lecture decks in a browser (`make slides`): an index in agenda order, each deck
// with reveal.js, and the speaker view on S. Run it from the kit root.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"msglabs/checker/slides"
)

const shutdownGrace = 2 * time.Second

func main() {
	addr := flag.String("addr", "127.0.0.1:8000", "address to listen on (0.0.0.0:8000 to let the room open the decks too)")
	root := flag.String("root", ".", "the kit root")
	flag.Parse()
	if err := run(*root, *addr); err != nil {
		fmt.Fprintln(os.Stderr, "slides:", err)
		os.Exit(2)
	}
}

func run(root, addr string) error {
	if err := slides.RevealInstalled(root); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (another `make slides`? try SLIDES_ADDR=127.0.0.1:8001)", addr, err)
	}
	srv := &http.Server{Handler: slides.New(root), ReadHeaderTimeout: 5 * time.Second}
	fmt.Printf("slides: http://%s/ (every deck, in agenda order; press S in a deck for the speaker view; Ctrl-C stops)\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
