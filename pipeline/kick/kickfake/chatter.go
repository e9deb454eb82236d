package kickfake

// Chatter is ordinary chat that mentions nobody kickwatch watches in the
// benchmarks and the load tool: what the fast path must drop without
// decoding. Wrapped the way Kick sends them, the lines make ~400-byte frames;
// there are several so branch prediction does not learn one.
var Chatter = []string{
	"that was a good one lol, see you tomorrow",
	"KEKW [emote:37226:KEKW] no way he did that",
	"first time here, love the stream \U0001F389",
	"what game is this? looks sick",
	"LMAO chat is wild today",
	"gg wp, that last round was close",
	"can you show the settings again pls",
	"@Viewer_Two yeah i saw it too",
}
