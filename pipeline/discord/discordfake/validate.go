package discordfake

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Payload is an Execute Webhook body as the fake decoded it.
type Payload struct {
	Content         string           `json:"content,omitempty"`
	Username        *string          `json:"username,omitempty"`
	AvatarURL       string           `json:"avatar_url,omitempty"`
	Embeds          []Embed          `json:"embeds,omitempty"`
	AllowedMentions *AllowedMentions `json:"allowed_mentions,omitempty"`
	Flags           int              `json:"flags,omitempty"`
}

// Embed is one embed of a Payload.
type Embed struct {
	Title       string  `json:"title,omitempty"`
	Description string  `json:"description,omitempty"`
	URL         string  `json:"url,omitempty"`
	Color       int     `json:"color,omitempty"`
	Timestamp   string  `json:"timestamp,omitempty"`
	Fields      []Field `json:"fields,omitempty"`
	Footer      *Footer `json:"footer,omitempty"`
}

// Field is one embed field.
type Field struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Inline bool   `json:"inline,omitempty"`
}

// Footer is an embed footer.
type Footer struct {
	Text string `json:"text"`
}

// AllowedMentions is the allowed_mentions object.
type AllowedMentions struct {
	Parse []string `json:"parse"`
	Users []string `json:"users,omitempty"`
	Roles []string `json:"roles,omitempty"`
}

// formError is one 50035 "Invalid Form Body" leaf: a field path and its error.
type formError struct {
	path    []string
	code    string
	message string
}

// body renders the 50035 answer with Discord's nested "errors" object
// (reference A3: leaves are _errors arrays of {code, message}).
func (fe formError) body() string {
	leaf := map[string]any{"_errors": []map[string]string{{"code": fe.code, "message": fe.message}}}
	var node any = leaf
	for i := len(fe.path) - 1; i >= 0; i-- {
		node = map[string]any{fe.path[i]: node}
	}
	b, _ := json.Marshal(map[string]any{"message": "Invalid Form Body", "code": 50035, "errors": node})
	return string(b)
}

func count(s string) int { return utf8.RuneCountInString(strings.TrimSpace(s)) }

func maxLen(path []string, s string, limit int) *formError {
	if count(s) > limit {
		return &formError{path, "BASE_TYPE_MAX_LENGTH", fmt.Sprintf("Must be %d or fewer in length.", limit)}
	}
	return nil
}

// validate applies Discord's documented checks (reference A1, A3, A4, A5).
// It returns the 400 body, or "" when the payload is acceptable.
func validate(p *Payload) string {
	if p.Content == "" && len(p.Embeds) == 0 {
		return `{"message": "Cannot send an empty message", "code": 50006}`
	}
	if fe := check(p); fe != nil {
		return fe.body()
	}
	return ""
}

func check(p *Payload) *formError {
	if fe := maxLen([]string{"content"}, p.Content, 2000); fe != nil {
		return fe
	}
	if p.Username != nil {
		u := strings.TrimSpace(*p.Username)
		l := strings.ToLower(u)
		n := utf8.RuneCountInString(u)
		switch {
		case n < 1 || n > 80:
			return &formError{[]string{"username"}, "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 80 in length."}
		case strings.Contains(l, "discord"):
			return &formError{[]string{"username"}, "USERNAME_INVALID_CONTAINS", `Username cannot contain "discord"`}
		case strings.Contains(l, "clyde"):
			return &formError{[]string{"username"}, "USERNAME_INVALID_CONTAINS", `Username cannot contain "clyde"`}
		case l == "here" || l == "everyone":
			return &formError{[]string{"username"}, "USERNAME_INVALID", fmt.Sprintf("Username cannot be %q", l)}
		}
	}
	if am := p.AllowedMentions; am != nil {
		for _, v := range am.Parse {
			if v != "users" && v != "roles" && v != "everyone" {
				return &formError{[]string{"allowed_mentions", "parse"}, "BASE_TYPE_CHOICES", "Value must be one of {'users', 'roles', 'everyone'}."}
			}
		}
	}
	if len(p.Embeds) > 10 {
		return &formError{[]string{"embeds"}, "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length."}
	}
	total := 0
	for i, e := range p.Embeds {
		at := func(p ...string) []string { return append([]string{"embeds", strconv.Itoa(i)}, p...) }
		if fe := maxLen(at("title"), e.Title, 256); fe != nil {
			return fe
		}
		if fe := maxLen(at("description"), e.Description, 4096); fe != nil {
			return fe
		}
		if len(e.Fields) > 25 {
			return &formError{at("fields"), "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."}
		}
		total += count(e.Title) + count(e.Description)
		for j, f := range e.Fields {
			fp := func(k string) []string { return at("fields", strconv.Itoa(j), k) }
			if count(f.Name) == 0 {
				return &formError{fp("name"), "BASE_TYPE_REQUIRED", "This field is required"}
			}
			if count(f.Value) == 0 {
				return &formError{fp("value"), "BASE_TYPE_REQUIRED", "This field is required"}
			}
			if fe := maxLen(fp("name"), f.Name, 256); fe != nil {
				return fe
			}
			if fe := maxLen(fp("value"), f.Value, 1024); fe != nil {
				return fe
			}
			total += count(f.Name) + count(f.Value)
		}
		if e.Footer != nil {
			if fe := maxLen(at("footer", "text"), e.Footer.Text, 2048); fe != nil {
				return fe
			}
			total += count(e.Footer.Text)
		}
	}
	if total > 6000 {
		return &formError{[]string{"embeds"}, "BASE_TYPE_MAX_LENGTH", "Embed size exceeds maximum size of 6000"}
	}
	return nil
}

// markerError is the 400 for a payload whose embed i contains the reject
// marker, pointing at that embed's description like Discord would.
func markerError(i int) string {
	return formError{[]string{"embeds", strconv.Itoa(i), "description"}, "BASE_TYPE_BAD_VALUE", "Rejected by the fake: contains the reject marker."}.body()
}

// containsMarker returns the index of the first embed containing marker.
func containsMarker(p *Payload, marker string) int {
	if marker == "" {
		return -1
	}
	for i, e := range p.Embeds {
		if strings.Contains(e.Title, marker) || strings.Contains(e.Description, marker) {
			return i
		}
		for _, f := range e.Fields {
			if strings.Contains(f.Name, marker) || strings.Contains(f.Value, marker) {
				return i
			}
		}
	}
	return -1
}
