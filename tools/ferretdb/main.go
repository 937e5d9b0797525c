// Command ferretdb runs an embedded FerretDB 1.x server (MongoDB wire protocol)
// backed by SQLite, for use by the users-service integration tests.
//
// Usage:
//
//	ferretdb -listen-addr 127.0.0.1:27017 -data-dir ./data
//
// Data is stored as SQLite files (one per MongoDB database) in -data-dir,
// so stopping and restarting the server on the same directory keeps the data.
// The server prints "FerretDB ready: mongodb://HOST:PORT/" to stderr once it
// accepts connections, and shuts down cleanly on SIGINT/SIGTERM.
//
// We embed github.com/FerretDB/FerretDB/ferretdb instead of building
// github.com/FerretDB/FerretDB/cmd/ferretdb: that command panics at start-up
// when build/version/version.txt is absent (as it is in the module zip), while
// the embeddable package skips the version files when FerretDB is not the main
// module.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listenAddr := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to listen on (host:port)")
	dataDir := flag.String("data-dir", "", "directory for SQLite database files (created if missing; required)")
	logLevel := flag.String("log-level", "info", "log level: debug, info, warn or error")
	flag.Parse()

	if err := run(*listenAddr, *dataDir, *logLevel); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: %s\n", err)
		os.Exit(1)
	}
}

func run(listenAddr, dataDir, logLevel string) error {
	if dataDir == "" {
		return errors.New("-data-dir is required")
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("invalid -log-level %q: %w", logLevel, err)
	}

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(logger)

	dir, err := filepath.Abs(dataDir)
	if err != nil {
		return fmt.Errorf("resolving -data-dir: %w", err)
	}

	if err = os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating -data-dir: %w", err)
	}

	// The SQLite backend requires a "file:" URI whose path is an existing
	// directory and ends with "/".
	sqliteURL := (&url.URL{Scheme: "file", Path: strings.TrimSuffix(dir, "/") + "/"}).String()

	f, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{
			TCP: listenAddr,
		},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: sqliteURL,
	})
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	done := make(chan error, 1)
	go func() {
		done <- f.Run(ctx)
	}()

	// In FerretDB 1.24 the TCP listener is already bound when New returns;
	// MongoDBURI blocks until it is.
	uri := f.MongoDBURI()
	fmt.Fprintf(os.Stderr, "FerretDB ready: %s (data dir %s)\n", uri, dir)

	<-ctx.Done()
	stop() // a second signal now kills the process immediately

	logger.Info("Shutting down FerretDB (connected clients get up to 3s to disconnect)...")
	start := time.Now()

	err = <-done
	logger.Info("FerretDB stopped", slog.Duration("took", time.Since(start)))

	return err
}
