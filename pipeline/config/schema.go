package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// The schema walk reads the TOML syntax tree next to go-toml's decoder. The
// decoder stops at the first problem; the walk records the line of every key
// (for Validate's messages) and collects every unknown key, wrong type and
// unparsable value in one pass.

var (
	durationType    = reflect.TypeFor[Duration]()
	consoleModeType = reflect.TypeFor[ConsoleMode]()
)

// table is where the walk is: a struct type and its key path.
type table struct {
	typ  reflect.Type // nil: unknown table, its keys were reported already
	path string
}

type walker struct {
	p      unstable.Parser
	file   string
	lines  map[string]int
	counts map[string]int // array-of-tables path → elements so far
	errs   Errors
}

// walk returns the line of every key path and every schema problem. A
// syntax error ends the walk and is returned alone.
func walk(data []byte, file string) (map[string]int, Errors) {
	w := &walker{file: file, lines: map[string]int{}, counts: map[string]int{}}
	w.p.Reset(data)
	cur := table{typ: reflect.TypeFor[Config]()}
	root := cur
	for w.p.NextExpression() {
		e := w.p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			cur = w.header(root, e)
		case unstable.KeyValue:
			if cur.typ != nil {
				w.keyValue(cur, e)
			}
		}
	}
	if err := w.p.Error(); err != nil {
		return w.lines, Errors{w.syntaxError(data, err)}
	}
	return w.lines, w.errs
}

func (w *walker) line(n *unstable.Node) int {
	if n == nil {
		return 0
	}
	return w.p.Shape(n.Raw).Start.Line
}

func (w *walker) fail(line int, key, value, format string, args ...any) {
	if value != "" && isSecretKey(key) {
		value = Redacted
	}
	w.errs = append(w.errs, &Error{File: w.file, Line: line, Key: key, Value: value, Msg: fmt.Sprintf(format, args...)})
}

func (w *walker) syntaxError(data []byte, err error) *Error {
	e := &Error{File: w.file, Msg: "invalid TOML: " + err.Error()}
	if pe, ok := err.(*unstable.ParserError); ok && pe.Highlight != nil {
		off := cap(data) - cap(pe.Highlight)
		if off >= 0 && off <= len(data) {
			e.Line = 1 + strings.Count(string(data[:off]), "\n")
			e.Column = off - strings.LastIndexByte(string(data[:off]), '\n')
		}
	}
	return e
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// field finds the struct field whose toml tag is name.
func field(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if tag := tagName(f); f.IsExported() && tag != "-" && tag != "" && tag == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func tagName(f reflect.StructField) string {
	tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	return tag
}

// isTable reports whether t is written as a TOML table (not a leaf value).
func isTable(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t != durationType
}

func isArrayOfTables(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && isTable(t.Elem())
}

func (w *walker) unknown(t reflect.Type, path, name string, line int) {
	msg := "unknown key"
	if s := suggest(t, name); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	w.fail(line, join(path, name), "", "%s", msg)
}

// descend moves from table t into its sub-table name, as a header or a
// dotted key does. Arrays of tables resolve to their last element.
func (w *walker) descend(t table, k *unstable.Node) table {
	name := string(k.Data)
	f, ok := field(t.typ, name)
	switch {
	case !ok:
		w.unknown(t.typ, t.path, name, w.line(k))
		return table{}
	case isTable(f.Type):
		return table{typ: f.Type, path: join(t.path, name)}
	case isArrayOfTables(f.Type):
		p := join(t.path, name)
		n := w.counts[p]
		if n == 0 {
			w.fail(w.line(k), p, "", "is an array of tables; write [[%s]]", p)
			return table{}
		}
		return table{typ: f.Type.Elem(), path: fmt.Sprintf("%s[%d]", p, n-1)}
	default:
		w.fail(w.line(k), join(t.path, name), "", "is a value, not a table")
		return table{}
	}
}

func (w *walker) header(root table, e *unstable.Node) table {
	cur := root
	it := e.Key()
	for it.Next() {
		k := it.Node()
		if e.Kind == unstable.ArrayTable && it.IsLast() {
			name := string(k.Data)
			f, ok := field(cur.typ, name)
			if !ok {
				w.unknown(cur.typ, cur.path, name, w.line(k))
				return table{}
			}
			p := join(cur.path, name)
			if !isArrayOfTables(f.Type) {
				w.fail(w.line(k), p, "", "is not an array of tables; write [%s]", p)
				return table{}
			}
			n := w.counts[p]
			w.counts[p] = n + 1
			t := table{typ: f.Type.Elem(), path: fmt.Sprintf("%s[%d]", p, n)}
			w.lines[t.path] = w.line(k)
			return t
		}
		cur = w.descend(cur, k)
		if cur.typ == nil {
			return cur
		}
	}
	if _, seen := w.lines[cur.path]; !seen {
		w.lines[cur.path] = w.line(e.Child())
	}
	return cur
}

func (w *walker) keyValue(t table, e *unstable.Node) {
	it := e.Key()
	for it.Next() {
		k := it.Node()
		if !it.IsLast() {
			if t = w.descend(t, k); t.typ == nil {
				return
			}
			continue
		}
		name := string(k.Data)
		f, ok := field(t.typ, name)
		if !ok {
			w.unknown(t.typ, t.path, name, w.line(k))
			return
		}
		p := join(t.path, name)
		w.lines[p] = w.line(k)
		w.value(p, f.Type, e.Value(), w.line(k))
	}
}

// value checks one value node against the Go type it decodes into.
func (w *walker) value(path string, t reflect.Type, v *unstable.Node, line int) {
	raw := string(w.p.Raw(v.Raw))
	switch v.Kind {
	case unstable.Array:
		raw = "[…]" // the parser keeps no raw range for containers
	case unstable.InlineTable:
		raw = "{…}"
	}
	switch {
	case t == durationType:
		if v.Kind != unstable.String {
			w.fail(line, path, raw, "want a duration string such as \"30s\"")
			return
		}
		if _, err := parseDuration(string(v.Data)); err != nil {
			w.fail(line, path, quote(string(v.Data)), "%v", err)
		}
	case t == consoleModeType:
		if v.Kind != unstable.String && v.Kind != unstable.Bool {
			w.fail(line, path, raw, "want \"auto\", true or false")
		}
	case t.Kind() == reflect.String:
		w.want(path, v, unstable.String, "a string", raw, line)
	case t.Kind() == reflect.Bool:
		w.want(path, v, unstable.Bool, "true or false", raw, line)
	case t.Kind() == reflect.Int || t.Kind() == reflect.Int64:
		if w.want(path, v, unstable.Integer, "an integer", raw, line) {
			s := strings.ReplaceAll(string(v.Data), "_", "")
			if _, err := strconv.ParseInt(s, 0, t.Bits()); err != nil {
				w.fail(line, path, raw, "integer out of range")
			}
		}
	case t.Kind() == reflect.Slice:
		if !w.want(path, v, unstable.Array, "an array", raw, line) {
			return
		}
		i := 0
		for it := v.Children(); it.Next(); i++ {
			el := it.Node()
			p := fmt.Sprintf("%s[%d]", path, i)
			w.lines[p] = w.line(el)
			w.value(p, t.Elem(), el, w.line(el))
		}
	case isTable(t):
		if !w.want(path, v, unstable.InlineTable, "a table", raw, line) {
			return
		}
		for it := v.Children(); it.Next(); {
			if kv := it.Node(); kv.Kind == unstable.KeyValue {
				w.keyValue(table{typ: t, path: path}, kv)
			}
		}
	default:
		w.fail(line, path, raw, "unsupported type %s", t)
	}
}

func (w *walker) want(path string, v *unstable.Node, kind unstable.Kind, what, raw string, line int) bool {
	if v.Kind == kind {
		return true
	}
	if len(raw) > 80 {
		raw = raw[:80] + "…"
	}
	w.fail(line, path, raw, "wrong type: want %s", what)
	return false
}

// suggest returns the key of t closest to name, if it is a likely typo.
func suggest(t reflect.Type, name string) string {
	best, bestD := "", max(1, len(name)/3)+1
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || tagName(f) == "-" || tagName(f) == "" {
			continue
		}
		if d := distance(strings.ToLower(name), tagName(f)); d < bestD {
			best, bestD = tagName(f), d
		}
	}
	return best
}

// distance is the Levenshtein distance, bounded to short keys.
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
