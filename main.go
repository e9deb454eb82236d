// Command kickwatch watches Kick live-stream chat and delivers every mention
// of its user to Discord, a Supabase/PostgREST table or the console, through
// a persistent outbox so that no mention is lost. See README.md.
package main

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"kickwatch/pipeline/app"
)

// version is set at build time: -ldflags "-X main.version=…".
var version = "dev"

// defaultConfig is the annotated example config, also the built-in default.
//
//go:embed config.toml
var defaultConfig []byte

// demoChat is the scripted chat the demo mode plays.
//
//go:embed testdata/demo/chat.jsonl
var demoChat []byte

func main() {
	// After the first signal the daemon drains; a second one aborts. One
	// channel stays registered for both, with room for both: a second signal
	// that came before a handler for it was set up would otherwise be lost
	// (or, with no handler at all, kill the process without a word).
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() {
		<-sigs
		stop()
		<-sigs
		fmt.Fprintln(os.Stderr, "kickwatch: second signal, exiting now")
		os.Exit(1)
	}()
	// SIGHUP re-reads the config.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	reload := make(chan struct{}, 1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				select {
				case reload <- struct{}{}:
				default: // one pending reload is enough
				}
			}
		}
	}()
	os.Exit(app.Main(ctx, os.Args[1:], app.Env{
		Stdout:        os.Stdout,
		Stderr:        os.Stderr,
		Getenv:        os.Getenv,
		Version:       version,
		DefaultConfig: defaultConfig,
		DemoChat:      demoChat,
		Reload:        reload,
	}))
}
