package config

import (
	"os"
	"testing"
)

// FuzzParse: no input makes Parse, Validate, Warnings or Redacted panic,
// and a valid document renders (secrets redacted) to one that parses.
func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("../../config.toml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("[[kick.channels]]\nslug = \"a\"\n[[match.rules]]\nname = \"r\"\nregex = '(?i)x'\n"))
	f.Add([]byte("kick = {username = \"bob\", channels = [{slug = \"a\"}]}\n"))
	f.Add([]byte("[kick.channels]\n[[kick.username]]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.toml")
		if err != nil {
			return
		}
		if c.Validate() != nil {
			return
		}
		c.Warnings()
		out := c.Redacted()
		if _, err := Parse([]byte(out), "redacted"); err != nil {
			t.Fatalf("Redacted() output does not parse: %v\n%s", err, out)
		}
	})
}
