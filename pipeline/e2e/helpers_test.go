package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kickwatch/pipeline/discord/discordfake"
)

func TestMain(m *testing.M) {
	code := m.Run()
	RemoveBuild()
	os.Exit(code)
}

// The watched user and how a test mentions it.
const watcher = "e2e_watcher"

// services returns the PostgREST of `make test` and the built binary, or
// skips the test when PostgREST is not set up.
func services(t *testing.T) (PostgREST, string) {
	t.Helper()
	pg, ok := PostgRESTFromEnv()
	if !ok {
		t.Skipf("end-to-end tests need a real PostgREST: %s and %s are unset (run under `make test`, or start testdata/postgrest/env.sh and source its env file)",
			EnvPostgRESTURL, EnvPostgRESTKey)
	}
	// Not the test's context: the build is shared by every test.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 3*time.Minute)
	defer cancel()
	bin, err := BuildOnce(ctx)
	if err != nil {
		t.Fatalf("build kickwatch: %v", err)
	}
	return pg, bin
}

// rig is one test's world: the fakes, a table of its own, a work dir and a
// config.
type rig struct {
	t        *testing.T
	pg       PostgREST
	table    string
	kick     *KickServer
	discord  *discordfake.Server
	dir      string
	settings Settings
	daemon   Daemon
	procs    []*Process
}

// newRig starts the Kick fake and creates a table; Discord is given by the
// caller (its options differ per test).
func newRig(t *testing.T, discord *discordfake.Server, chans []Channel) *rig {
	t.Helper()
	pg, bin := services(t)
	r := &rig{t: t, pg: pg, discord: discord, dir: t.TempDir()}
	r.table = "e2e_" + strings.ToLower(RandomHex(6))
	if err := pg.CreateTable(t.Context(), r.table); err != nil {
		t.Fatalf("create table: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := pg.DropTable(ctx, r.table); err != nil {
			t.Logf("drop table %s: %v", r.table, err)
		}
	})
	r.kick = NewKickServer(nil)
	t.Cleanup(r.kick.Close)
	if discord != nil {
		t.Cleanup(discord.Close)
	}
	r.settings = Settings{
		Username:      watcher,
		Channels:      chans,
		KickURL:       r.kick.URL(),
		RemoteDBURL:   pg.URL,
		RemoteDBKey:   pg.Key,
		RemoteDBTable: r.table,
		StorePath:     filepath.Join(r.dir, "kickwatch.db"),
	}
	if discord != nil {
		r.settings.DiscordURL = discord.WebhookURL()
	}
	r.daemon = Daemon{Binary: bin, Config: filepath.Join(r.dir, "config.toml")}
	return r
}

// writeConfig writes r.settings.
func (r *rig) writeConfig() {
	r.t.Helper()
	if err := WriteConfig(r.daemon.Config, r.settings); err != nil {
		r.t.Fatal(err)
	}
}

// start writes the config, starts the daemon and waits until it has
// subscribed to every channel.
func (r *rig) start(ctx context.Context) *Process {
	r.t.Helper()
	p := r.startNoWait(ctx)
	if err := r.kick.WaitAllSubscribed(ctx, r.settings.Channels); err != nil {
		r.t.Fatalf("daemon did not subscribe: %v\n%s", err, tail(p, 40))
	}
	return p
}

func (r *rig) startNoWait(ctx context.Context) *Process {
	r.t.Helper()
	r.writeConfig()
	p, err := r.daemon.Start(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	r.procs = append(r.procs, p)
	n := len(r.procs)
	r.t.Cleanup(func() {
		p.Close()
		if r.t.Failed() {
			r.t.Logf("daemon run %d log (last lines):\n%s", n, tail(p, 60))
		}
	})
	return p
}

// tail is the last n log lines of p.
func tail(p *Process, n int) string {
	lines := p.Logs.Lines()
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	var sb strings.Builder
	for _, l := range lines {
		sb.WriteString(l.Raw)
		sb.WriteByte('\n')
	}
	return sb.String()
}

// mention publishes a message mentioning the watcher, tagged with tok.
func mention(k *KickServer, ch Channel, id, tok string) int {
	return k.PublishMessage(Message{ID: id, ChatroomID: ch.ChatroomID, SenderID: 4242, Sender: "chatter_1",
		Content: fmt.Sprintf("hey @%s look at this %s", watcher, tok)})
}

// rowsByID indexes rows by message id, counting repeats.
func rowsByID(rows []Row) map[string]int {
	m := make(map[string]int, len(rows))
	for _, r := range rows {
		m[r.MessageID]++
	}
	return m
}

// logHas reports whether any line of p's log contains s.
func logHas(p *Process, s string) bool {
	return p.Logs.Count(func(l LogLine) bool { return strings.Contains(l.Raw, s) }) > 0
}
