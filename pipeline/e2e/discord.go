package e2e

import (
	"regexp"

	"kickwatch/pipeline/discord/discordfake"
)

// Tokens tags chat messages so they can be recognised wherever they end up:
// a Discord embed shows the message text but not its id. A token is letters
// and digits only, so Discord's markdown escaping leaves it alone.
type Tokens struct {
	prefix string
	re     *regexp.Regexp
}

// NewTokens returns a token space unique to this run.
func NewTokens() Tokens {
	p := "kw" + RandomHex(4) + "n"
	return Tokens{prefix: p, re: regexp.MustCompile(p + `[0-9]{7}`)}
}

// Token is the i-th token.
func (t Tokens) Token(i int) string {
	b := []byte(t.prefix + "0000000")
	for j := len(b) - 1; i > 0 && j >= len(t.prefix); j-- {
		b[j] = byte('0' + i%10)
		i /= 10
	}
	return string(b)
}

// Find returns the tokens in s.
func (t Tokens) Find(s string) []string { return t.re.FindAllString(s, -1) }

// Post is one Discord request the fake accepted (2xx), with the tokens of
// the mentions it carried, in embed order.
type Post struct {
	Seq    int
	Status int
	Tokens []string
}

// Posts returns the accepted requests of a Discord fake, oldest first, with
// the tokens found in each embed's fields.
func (t Tokens) Posts(reqs []discordfake.Request) []Post {
	var out []Post
	for _, r := range reqs {
		if r.Status < 200 || r.Status > 299 || r.Payload == nil {
			continue
		}
		p := Post{Seq: r.Seq, Status: r.Status}
		for _, e := range r.Payload.Embeds {
			seen := map[string]bool{}
			for _, f := range e.Fields {
				for _, tok := range t.Find(f.Value) {
					if !seen[tok] {
						seen[tok] = true
						p.Tokens = append(p.Tokens, tok)
					}
				}
			}
		}
		out = append(out, p)
	}
	return out
}

// Delivery sums up the posts: how often each token arrived, how many posts
// repeated a token an earlier post already carried, and the total number of
// extra copies.
type Delivery struct {
	Count          map[string]int
	DuplicatePosts int // posts carrying at least one token already delivered
	ExtraCopies    int // deliveries beyond the first, over all tokens
}

// Deliveries sums up posts.
func Deliveries(posts []Post) Delivery {
	d := Delivery{Count: map[string]int{}}
	for _, p := range posts {
		dup := false
		for _, tok := range p.Tokens {
			if d.Count[tok] > 0 {
				dup = true
				d.ExtraCopies++
			}
			d.Count[tok]++
		}
		if dup {
			d.DuplicatePosts++
		}
	}
	return d
}
