package config

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/pelletier/go-toml/v2"
)

// MaxFileBytes bounds a config file; real ones are a few KiB.
const MaxFileBytes = 1 << 20

// Parse reads a TOML document over Default(). name labels error messages
// (a file path, or EmbeddedSource). It reports syntax errors (with line and
// column), unknown keys, wrong types and unparsable values — all of them,
// each with its line — but not semantic problems: call Validate for those.
// Parse has no side effects.
func Parse(data []byte, name string) (*Config, error) {
	if len(data) > MaxFileBytes {
		return nil, Errors{{File: name, Msg: fmt.Sprintf("file is %d bytes; the limit is %d", len(data), MaxFileBytes)}}
	}
	lines, errs := walk(data, name)
	c := Default()
	c.Source = name
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		if len(errs) == 0 {
			errs = decodeErrors(err, name)
		}
	}
	if len(errs) > 0 {
		return nil, errs.err()
	}
	c.lines = lines
	for _, s := range c.secrets() {
		if _, inFile := lines[s.key]; inFile && *s.ptr != "" {
			c.fileSecrets = append(c.fileSecrets, s.key)
		}
	}
	return c, nil
}

// decodeErrors converts what go-toml reports when the schema walk found
// nothing (duplicate keys, for instance).
func decodeErrors(err error, name string) Errors {
	var sm *toml.StrictMissingError
	if errors.As(err, &sm) {
		var out Errors
		for i := range sm.Errors {
			out = append(out, fromDecodeError(&sm.Errors[i], name, "unknown key"))
		}
		return out
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		return Errors{fromDecodeError(de, name, "")}
	}
	return Errors{{File: name, Msg: err.Error()}}
}

func fromDecodeError(de *toml.DecodeError, name, msg string) *Error {
	line, col := de.Position()
	if msg == "" {
		msg = de.Error()
		if len(msg) > 6 && msg[:6] == "toml: " {
			msg = msg[6:]
		}
	}
	e := &Error{File: name, Line: line, Column: col, Msg: msg}
	for i, k := range de.Key() {
		if i > 0 {
			e.Key += "."
		}
		e.Key += k
	}
	return e
}
