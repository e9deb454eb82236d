package config

import (
	"errors"
	"strings"
	"testing"
)

// parseAndValidate runs both phases and returns the error text.
func parseAndValidate(doc string) error {
	c, err := Parse([]byte(doc), "test.toml")
	if err != nil {
		return err
	}
	return c.Validate()
}

func TestParse_BadInput(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string // a whole line of the error text
	}{
		{"broken toml", "[kick]\nusername = \"bob\n", `test.toml:2:16: invalid TOML: basic strings cannot have new lines`},
		{"unclosed table", "[kick\n", "test.toml:1:6: invalid TOML: expected ']' to close table name"},
		{"unknown key", "[kick]\nusername = \"bob\"\nping_intervl = \"5s\"\n", `test.toml:3: kick.ping_intervl: unknown key (did you mean "ping_interval"?)`},
		{"unknown table", "[discrod]\nwebhook_url = \"\"\n", `test.toml:1: discrod: unknown key (did you mean "discord"?)`},
		{"unknown key in array table", "[[kick.channels]]\nslug = \"a\"\nroom = 1\n", "test.toml:3: kick.channels[0].room: unknown key"},
		{"unknown dotted key", "discord.timeoutt = \"5s\"\n", "test.toml:1: discord.timeoutt: unknown key"},
		{"wrong type string", "[store]\npath = 42\n", "test.toml:2: store.path = 42: wrong type: want a string"},
		{"wrong type int", "[store]\noutbox_cap_total = \"many\"\n", `test.toml:2: store.outbox_cap_total = "many": wrong type: want an integer`},
		{"wrong type bool", "[match]\nbare_names = \"yes\"\n", `test.toml:2: match.bare_names = "yes": wrong type: want true or false`},
		{"wrong type array", "[kick]\naliases = \"bob\"\n", `test.toml:2: kick.aliases = "bob": wrong type: want an array`},
		{"wrong element type", "[kick]\naliases = [\"a\", 2]\n", "test.toml:2: kick.aliases[1] = 2: wrong type: want a string"},
		{"table as value", "kick = 1\n", "test.toml:1: kick = 1: wrong type: want a table"},
		{"value as table", "[kick.username]\n", "test.toml:1: kick.username: is a value, not a table"},
		{"duration as number", "[discord]\ntimeout = 12\n", `test.toml:2: discord.timeout = 12: want a duration string such as "30s"`},
		{"bad duration", "[discord]\ntimeout = \"5 parsecs\"\n", `test.toml:2: discord.timeout = "5 parsecs": not a duration (write e.g. "30s", "5m", "1h30m")`},
		{"integer overflow", "[kick]\nuser_id = 99999999999999999999\n", "test.toml:2: kick.user_id = 99999999999999999999: integer out of range"},
		{"secret of wrong type", "[remote_db]\napi_key = 12345\n", "test.toml:2: remote_db.api_key = [redacted]: wrong type: want a string"},
		{"array for string", "[store]\npath = [\"a\"]\n", "test.toml:2: store.path = […]: wrong type: want a string"},
		{"duplicate key", "[kick]\nusername = \"a\"\nusername = \"b\"\n", "test.toml:3:1: username: key username is already defined"},
		{"negative cap", "[store]\noutbox_cap_per_channel = -1\n", "test.toml:2: store.outbox_cap_per_channel = -1: must be at least 1"},
		{"zero cap", "[store]\noutbox_cap_total = 0\n", "test.toml:2: store.outbox_cap_total = 0: must be at least 1"},
		{"total below per channel", "[store]\noutbox_cap_total = 10\n", "test.toml:2: store.outbox_cap_total = 10: must be at least store.outbox_cap_per_channel (500)"},
		{"zero timeout", "[discord]\ntimeout = \"0s\"\n", `test.toml:2: discord.timeout = "0s": must be greater than zero`},
		{"negative timeout", "[remote_db]\ntimeout = \"-5s\"\n", `test.toml:2: remote_db.timeout = "-5s": must be greater than zero`},
		{"zero threshold", "[discord]\nfailure_threshold = 0\n", "test.toml:2: discord.failure_threshold = 0: must be at least 1"},
		{"negative silence alarm", "[kick]\nsilence_alarm = \"-1h\"\n", `test.toml:2: kick.silence_alarm = "-1h": must not be negative (0 turns it off)`},
		{"unknown enum", "[store]\nsynchronous = \"off\"\n", `test.toml:2: store.synchronous = "off": must be one of "full", "normal"`},
		{"unknown transport", "[kick]\ntransport = \"smoke\"\n", `test.toml:2: kick.transport = "smoke": must be one of "auto", "centrifugo", "pusher"`},
		{"unknown log level", "[log]\nlevel = \"loud\"\n", `test.toml:2: log.level = "loud": must be one of "debug", "info", "warn", "error"`},
		{"console enum", "[console]\nenabled = \"maybe\"\n", `test.toml:2: console.enabled = "maybe": must be one of "auto", "true", "false"`},
		{"ws url scheme", "[kick]\nws_url = \"https://ws.example\"\n", `test.toml:2: kick.ws_url = "https://ws.example": scheme must be ws or wss`},
		{"api url", "[kick]\napi_url = \"kick.com\"\n", `test.toml:2: kick.api_url = "kick.com": not a URL`},
		{"discord url host", "[discord]\nwebhook_url = \"https://evil.example/api/webhooks/1/tok\"\n",
			`test.toml:2: discord.webhook_url = "https://evil.example/[redacted]": must be an https://discord.com/api/webhooks/… URL (http is allowed only for a loopback test server)`},
		{"discord url http", "[discord]\nwebhook_url = \"http://discord.com/api/webhooks/1/tok\"\n", `discord.webhook_url = "http://discord.com/[redacted]": must be an https://discord.com/api/webhooks/…`},
		{"discord url path", "[discord]\nwebhook_url = \"https://discord.com/channels/1/2\"\n", `test.toml:2: discord.webhook_url = "https://discord.com/[redacted]": path must be /api/webhooks/<id>/<token>`},
		{"discord username", "[discord]\nusername = \"Discord Bot\"\n", `test.toml:2: discord.username = "Discord Bot": Discord rejects`},
		{"remote db http", "[remote_db]\nurl = \"http://db.example/rest/v1\"\n", `test.toml:2: remote_db.url = "http://db.example/rest/v1": must be https`},
		{"remote db creds", "[remote_db]\nurl = \"https://u:p@db.example/rest/v1\"\n", `test.toml:2: remote_db.url = "https://db.example/[redacted]": must not contain credentials`},
		{"table name", "[remote_db]\ntable = \"a; drop\"\n", `test.toml:2: remote_db.table = "a; drop": must be a plain table name`},
		{"bad regex", "[[match.rules]]\nname = \"r\"\nregex = \"(unclosed\"\n", `test.toml:3: match.rules[0].regex = "(unclosed": not an RE2 regular expression: missing closing ): ` + "`(?i)(unclosed`"},
		{"perl regex", "[[match.rules]]\nname = \"r\"\nregex = '(?=x)'\n", `test.toml:3: match.rules[0].regex = "(?=x)": not an RE2 regular expression`},
		{"empty-matching regex", "[[match.rules]]\nname = \"r\"\nregex = 'x*'\n", `test.toml:3: match.rules[0].regex = "x*": matches every message`},
		{"rule without pattern", "\n[[match.rules]]\nname = \"r\"\n", "test.toml:2: match.rules[0].keyword: a rule needs a keyword or a regex"},
		{"rule both", "[[match.rules]]\nname = \"r\"\nkeyword = \"a\"\nregex = \"b\"\n", `test.toml:4: match.rules[0].regex = "b": a rule has a keyword or a regex, not both`},
		{"rule without name", "[[match.rules]]\nkeyword = \"a\"\n", "test.toml:1: match.rules[0].name: missing"},
		{"channel without slug", "[kick]\nusername = \"bob\"\n[[kick.channels]]\nchatroom_id = 5\n", "test.toml:3: kick.channels[0].slug: missing"},
		{"duplicate channel", "[[kick.channels]]\nslug = \"a\"\n[[kick.channels]]\nslug = \"A\"\n", `test.toml:4: kick.channels[1].slug = "a": channel listed twice`},
		{"username with at", "[kick]\nusername = \"@bob\"\n", `test.toml:2: kick.username = "@bob": write the name without the @`},
		{"bad alias", "[kick]\naliases = [\"ok\", \"no spaces\"]\n", `test.toml:2: kick.aliases[1] = "no spaces": not a Kick username`},
		{"negative chatroom", "[[kick.channels]]\nslug = \"a\"\nchatroom_id = -3\n", "test.toml:3: kick.channels[0].chatroom_id = -3: must not be negative"},
		{"listen", "[http]\nlisten = \"9090\"\n", `test.toml:2: http.listen = "9090": not a host:port address`},
		{"webhook path", "[kick.webhook]\npath = \"hook\"\n", `test.toml:2: kick.webhook.path = "hook": must be a URL path starting with /`},
		{"retry max below initial", "[delivery]\nretry_initial = \"10s\"\nretry_max = \"1s\"\n", `test.toml:3: delivery.retry_max = "1s": must be at least delivery.retry_initial (10s)`},
		{"frame limit", "[kick]\nmax_frame_bytes = 10\n", "test.toml:2: kick.max_frame_bytes = 10: must be between 1024"},
		{"ignore everyone", "[match]\nignore_senders = [\"*\"]\n", `test.toml:2: match.ignore_senders[0] = "*": matches every sender`},
		{"auth half set", "[http]\nbasic_auth_user = \"admin\"\n", "test.toml:2: http.basic_auth_user: set both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := parseAndValidate(tt.doc)
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error %T is not Errors: %v", err, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n%v\nwant a line containing:\n%s", err, tt.want)
			}
		})
	}
}

func TestParse_GoodEdgeCases(t *testing.T) {
	docs := map[string]string{
		"empty file":              "",
		"comments only":           "# nothing\n",
		"inline channels":         "[kick]\nusername = \"bob\"\nchannels = [{slug = \"a\"}, {slug = \"b\", chatroom_id = 2}]\n",
		"dotted keys":             "kick.username = \"bob\"\ndiscord.timeout = \"3s\"\n",
		"zero means off":          "[kick]\nsilence_alarm = \"0s\"\n[match]\ncooldown = \"0\"\n",
		"loopback discord":        "[discord]\nwebhook_url = \"http://127.0.0.1:8080/api/webhooks/1/t\"\n",
		"discordapp with version": "[discord]\nwebhook_url = \"https://discordapp.com/api/v10/webhooks/123/abc-DEF_1\"\n",
		"http listen off":         "[http]\nlisten = \"\"\n",
		"underscored integer":     "[store]\noutbox_cap_total = 50_000\n",
		"crlf":                    "[kick]\r\nusername = \"bob\"\r\n",
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			if err := parseAndValidate(doc); err != nil {
				t.Errorf("error: %v", err)
			}
		})
	}
}

// A file with many problems reports each of them, with its line.
func TestParse_ReportsEverySchemaError(t *testing.T) {
	doc := `[kick]
usernme = "bob"
ping_interval = "5 parsecs"
connect_timeout = 30

[store]
path = 1
outbox_cap_total = "lots"

[nonsense]
x = 1
`
	_, err := Parse([]byte(doc), "test.toml")
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("err=%v, want Errors", err)
	}
	wantLines := []int{2, 3, 4, 7, 8, 10}
	if got, want := len(es), len(wantLines); got != want {
		t.Fatalf("got %d errors, want %d:\n%v", got, want, err)
	}
	for i, e := range es {
		if e.Line != wantLines[i] {
			t.Errorf("error %d at line %d, want %d: %v", i, e.Line, wantLines[i], e)
		}
	}
}

func TestValidate_ReportsEverySemanticError(t *testing.T) {
	doc := `[kick]
username = "@bob"
transport = "carrier pigeon"

[store]
outbox_cap_per_channel = -1
synchronous = "sometimes"

[discord]
timeout = "0s"
webhook_url = "https://example.com/hook"

[[match.rules]]
name = "r"
regex = "("
`
	err := parseAndValidate(doc)
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("err=%v, want Errors", err)
	}
	wantKeys := []string{"kick.username", "kick.transport", "store.outbox_cap_per_channel", "store.synchronous", "discord.timeout", "discord.webhook_url", "match.rules[0].regex"}
	wantLines := []int{2, 3, 6, 7, 10, 11, 15}
	if len(es) != len(wantKeys) {
		t.Fatalf("got %d errors, want %d:\n%v", len(es), len(wantKeys), err)
	}
	for i, e := range es {
		if e.Key != wantKeys[i] || e.Line != wantLines[i] {
			t.Errorf("error %d: key %s line %d, want %s line %d", i, e.Key, e.Line, wantKeys[i], wantLines[i])
		}
	}
}

func TestParse_SizeLimit(t *testing.T) {
	doc := make([]byte, MaxFileBytes+1)
	for i := range doc {
		doc[i] = '\n'
	}
	_, err := Parse(doc, "big.toml")
	if err == nil || !strings.Contains(err.Error(), "the limit is 1048576") {
		t.Fatalf("err=%v, want a size-limit error", err)
	}
}
