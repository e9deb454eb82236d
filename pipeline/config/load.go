package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// EmbeddedSource is Config.Source when no config file was found and the
// built-in default (the embedded config.toml) was used.
const EmbeddedSource = "embedded default"

// Options tell Load where to look.
type Options struct {
	// Path is the -config flag. When set it must exist; nothing else is tried.
	Path string
	// Defaults is the embedded config.toml, used when no file is found.
	Defaults []byte
	// Getenv reads the environment (XDG_CONFIG_HOME, HOME, secrets);
	// nil means os.Getenv.
	Getenv func(string) string
	// Search replaces SearchPaths(Getenv) when non-nil (tests).
	Search []string
}

func (o *Options) getenv() func(string) string {
	if o.Getenv == nil {
		return os.Getenv
	}
	return o.Getenv
}

// SearchPaths returns the files tried, in order, when no -config is given:
// ./config.toml, $XDG_CONFIG_HOME/kickwatch/config.toml (~/.config when
// unset), /etc/kickwatch/config.toml.
func SearchPaths(getenv func(string) string) []string {
	if getenv == nil {
		getenv = os.Getenv
	}
	paths := []string{"config.toml"}
	if xdg := getenv("XDG_CONFIG_HOME"); xdg != "" && filepath.IsAbs(xdg) {
		paths = append(paths, filepath.Join(xdg, "kickwatch", "config.toml"))
	} else if home := getenv("HOME"); home != "" {
		paths = append(paths, filepath.Join(home, ".config", "kickwatch", "config.toml"))
	}
	return append(paths, "/etc/kickwatch/config.toml")
}

// Locate returns the config file Load would read, or "" for the embedded
// default. A missing explicit path is an error; so is a file in the search
// path that exists but cannot be inspected (it is not silently skipped).
func Locate(opts Options) (string, error) {
	if opts.Path != "" {
		if _, err := os.Stat(opts.Path); err != nil {
			return "", fmt.Errorf("config file %s: %w", opts.Path, pathErr(err))
		}
		return opts.Path, nil
	}
	search := opts.Search
	if search == nil {
		search = SearchPaths(opts.getenv())
	}
	for _, p := range search {
		_, err := os.Stat(p)
		switch {
		case err == nil:
			return p, nil
		case errors.Is(err, fs.ErrNotExist):
			continue
		default:
			return "", fmt.Errorf("config file %s: %w", p, pathErr(err))
		}
	}
	return "", nil
}

// Load finds the config file (see Locate), parses it over the defaults,
// applies the environment, validates, and returns the config with its
// warnings. On failure the error is Errors (every problem, each with its
// file and line or environment variable) or a file error; the warnings
// found so far are returned with it.
func Load(opts Options) (*Config, []Warning, error) {
	path, err := Locate(opts)
	if err != nil {
		return nil, nil, err
	}
	data, name := opts.Defaults, EmbeddedSource
	var mode fs.FileMode
	if path != "" {
		name = path
		if data, mode, err = readConfigFile(path); err != nil {
			return nil, nil, err
		}
	}
	c, err := Parse(data, name)
	if err != nil {
		return nil, nil, err
	}
	warns, envErr := c.ApplyEnv(opts.getenv())
	if path != "" && len(c.fileSecrets) > 0 && mode.Perm()&0o077 != 0 {
		warns = append(warns, Warning{c.fileSecrets[0], fmt.Sprintf(
			"%s holds secrets (%v) but is readable by group or others (mode %04o); run chmod 600 %s, or move the secrets to environment variables",
			path, c.fileSecrets, mode.Perm(), path)})
	}
	var errs Errors
	var es Errors
	if errors.As(envErr, &es) {
		errs = append(errs, es...)
	}
	if errors.As(c.Validate(), &es) {
		errs = append(errs, es...)
	}
	if err := errs.err(); err != nil {
		return nil, warns, err
	}
	return c, append(warns, c.Warnings()...), nil
}

func readConfigFile(path string) ([]byte, fs.FileMode, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, 0, fmt.Errorf("config file %s: %w", path, pathErr(err))
	}
	if st.Size() > MaxFileBytes {
		return nil, 0, fmt.Errorf("config file %s is %d bytes; the limit is %d (1 MiB)", path, st.Size(), MaxFileBytes)
	}
	b, err := readLimited(path, MaxFileBytes)
	if err != nil {
		return nil, 0, fmt.Errorf("config file: %w", err)
	}
	return b, st.Mode(), nil
}
