package postgrest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"kickwatch/pipeline"
)

// schemaDir holds schema.sql, the SQL the README shows and the real-server
// tests (real_test.go) run against.
var schemaDir = filepath.Join("..", "..", "testdata", "postgrest")

func readSchema(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(schemaDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The README must show exactly the SQL the tests prove.
func TestREADME_HasSchema(t *testing.T) {
	schema := readSchema(t, "schema.sql")
	readme := readSchema(t, filepath.Join("..", "..", "README.md"))
	if !strings.Contains(readme, "```sql\n"+schema+"```\n") {
		t.Errorf("README.md does not hold testdata/postgrest/schema.sql verbatim in a sql block")
	}
}

// Every key of a Row is a column of schema.sql's CREATE TABLE and of its
// upgrade ALTERs, so a table made or upgraded by it takes the insert.
func TestSchema_HasEveryRowColumn(t *testing.T) {
	schema := readSchema(t, "schema.sql")
	create := regexp.MustCompile(`(?s)CREATE TABLE IF NOT EXISTS public\.kick_notifications \((.*?)\n\);`).FindStringSubmatch(schema)
	if create == nil {
		t.Fatal("no CREATE TABLE public.kick_notifications in schema.sql")
	}
	var created []string
	for _, line := range strings.Split(create[1], "\n") {
		if f := strings.Fields(line); len(f) > 0 && !strings.HasPrefix(f[0], "--") {
			created = append(created, strings.Trim(f[0], `"`))
		}
	}
	added := map[string]bool{}
	for _, m := range regexp.MustCompile(`ADD COLUMN IF NOT EXISTS (\w+)`).FindAllStringSubmatch(schema, -1) {
		added[m[1]] = true
	}
	// Columns the older bot's table already has (legacy.sql).
	legacy := []string{"platform", "type", "channel", "username", "message", "timestamp", "url", "original_message"}

	m := mention(pipeline.KindReply, "x")
	b, err := json.Marshal(NewRow(&m, sent))
	if err != nil {
		t.Fatal(err)
	}
	var row map[string]any
	if err := json.Unmarshal(b, &row); err != nil {
		t.Fatal(err)
	}
	for col := range row {
		if !slices.Contains(created, col) {
			t.Errorf("column %s: not in CREATE TABLE", col)
		}
		if !added[col] && !slices.Contains(legacy, col) {
			t.Errorf("column %s: neither in the older table nor added by an ALTER", col)
		}
	}
}
