package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/prometheus/client_golang/prometheus"

	"kickwatch/pipeline/config"
	"kickwatch/pipeline/kickhook"
)

// webhookRx is Kick's official webhook receiver on its own listener.
type webhookRx struct {
	recv *kickhook.Receiver
	srv  *http.Server
	ln   net.Listener
}

// newWebhookRx builds the receiver when [kick.webhook] is enabled; nil
// otherwise. The listener is opened here so a taken port fails at start.
func (d *daemon) newWebhookRx(cfg *config.Config) (*webhookRx, error) {
	w := cfg.Kick.Webhook
	if !w.Enabled {
		return nil, nil
	}
	pub, err := kickhook.LoadPublicKey(w.PublicKeyFile)
	if err != nil {
		return nil, &configError{fmt.Errorf("kick.webhook.public_key_file: %w", err)}
	}
	log := d.log.With("component", "webhook")
	recv, err := kickhook.NewReceiver(kickhook.ReceiverOptions{
		PublicKey:    pub,
		MaxSkew:      w.MaxSkew.Duration,
		MaxBodyBytes: int64(w.MaxBodyBytes),
		Submit:       d.ingest.Submit,
		ChatroomID:   d.source.chatroomOf,
		Logger:       log,
	})
	if err != nil {
		return nil, &configError{fmt.Errorf("kick.webhook: %w", err)}
	}
	ln, err := net.Listen("tcp", w.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on kick.webhook.listen %s: %w", w.Listen, err)
	}
	mux := http.NewServeMux()
	mux.Handle(w.Path, recv)
	d.metrics.Registry().MustRegister(webhookCollector{recv})
	return &webhookRx{recv: recv, srv: kickhook.NewServer(w.Listen, mux, log), ln: ln}, nil
}

// serve runs the listener until shutdown is called.
func (rx *webhookRx) serve(log *slog.Logger, path string) {
	log.Info("kick webhook receiver up", "addr", rx.ln.Addr().String(), "path", path)
	if err := rx.srv.Serve(rx.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("kick webhook listener stopped", "error", err)
	}
}

// chatroomOf is the chatroom id of a configured channel slug; 0 if unknown.
func (s *source) chatroomOf(slug string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.resolved {
		if strings.EqualFold(c.Slug, slug) {
			return c.ChatroomID
		}
	}
	return 0
}

var descWebhook = prometheus.NewDesc("kickwatch_webhook_requests_total",
	"Kick webhook deliveries by result (accepted, matched, bad_signature, stale, replay, …).", []string{"result"}, nil)

// webhookCollector exports the receiver's counters at scrape time.
type webhookCollector struct{ recv *kickhook.Receiver }

func (c webhookCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descWebhook }

func (c webhookCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.recv.Stats().Map()
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}) {
		ch <- prometheus.MustNewConstMetric(descWebhook, prometheus.CounterValue, float64(m[k]), k)
	}
}

const webhookUsage = `webhook subscribe|list|unsubscribe [flags]

  subscribe [-config FILE] [SLUG...]   subscribe Kick's chat.message.sent for these channels
                                       (default: every [[kick.channels]] slug)
  list [-config FILE]                  list this app's event subscriptions
  unsubscribe [-config FILE] ID...     delete subscriptions by id (from list)

Needs kick.webhook.client_id and client_secret (or KICKWATCH_KICK_CLIENT_ID /
KICKWATCH_KICK_CLIENT_SECRET): a Kick app from https://kick.com/settings/developer.`

// apiURLs lets tests point the webhook verbs at a fake Kick.
type apiURLs struct{ token, api string }

var kickAPI = apiURLs{}

func cmdWebhook(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 || isHelp(args[0]) {
		fmt.Fprintf(env.Stderr, "Usage: kickwatch %s\n", webhookUsage)
		if len(args) == 0 {
			return usagef("webhook needs a sub-command: subscribe, list or unsubscribe")
		}
		return nil
	}
	sub, args := args[0], args[1:]
	fs := flagSet(env, "webhook "+sub, webhookUsage)
	path := fs.String("config", "", "config file")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path, env, newLogger(env.Stderr, nil, nil))
	if err != nil {
		return err
	}
	w := cfg.Kick.Webhook
	if w.ClientID == "" || w.ClientSecret == "" {
		return usagef("set kick.webhook.client_id and client_secret (or KICKWATCH_KICK_CLIENT_ID / KICKWATCH_KICK_CLIENT_SECRET)")
	}
	api := kickhook.NewAPIClient(kickhook.APIOptions{ClientID: w.ClientID, ClientSecret: w.ClientSecret,
		TokenURL: kickAPI.token, APIURL: kickAPI.api})
	switch sub {
	case "subscribe":
		slugs := fs.Args()
		if len(slugs) == 0 {
			for _, c := range cfg.Kick.Channels {
				slugs = append(slugs, c.Slug)
			}
		}
		if len(slugs) == 0 {
			return usagef("no channels: name them, or add [[kick.channels]] to the config")
		}
		res, err := api.Subscribe(ctx, slugs, "")
		if err != nil {
			return err
		}
		failed := false
		for _, r := range res {
			switch {
			case r.Err != nil:
				failed = true
				fmt.Fprintf(env.Stdout, "%-24s FAIL  %v\n", r.Slug, r.Err)
			case r.Existing:
				fmt.Fprintf(env.Stdout, "%-24s ok    already subscribed (%s)\n", r.Slug, r.SubscriptionID)
			default:
				fmt.Fprintf(env.Stdout, "%-24s ok    subscribed %s v%d (%s)\n", r.Slug, r.Event, r.Version, r.SubscriptionID)
			}
		}
		if failed {
			return errors.New("webhook subscribe: some channels were not subscribed (see above)")
		}
		return nil
	case "list":
		subs, err := api.List(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tBROADCASTER\tEVENT\tVERSION\tMETHOD\tCREATED")
		for _, s := range subs {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%s\n", s.ID, s.BroadcasterUserID, s.Event, s.Version, s.Method,
				s.CreatedAt.UTC().Format("2006-01-02 15:04Z"))
		}
		return tw.Flush()
	case "unsubscribe":
		if fs.NArg() == 0 {
			return usagef("unsubscribe needs subscription ids (see 'kickwatch webhook list')")
		}
		if err := api.Unsubscribe(ctx, fs.Args()); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "unsubscribed %d subscription(s)\n", fs.NArg())
		return nil
	}
	return usagef("unknown webhook sub-command %q (subscribe, list, unsubscribe)", sub)
}
