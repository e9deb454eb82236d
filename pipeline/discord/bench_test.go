package discord_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"kickwatch/pipeline"
	"kickwatch/pipeline/discord"
	"kickwatch/pipeline/discord/discordfake"
)

// BenchmarkDeliverBatch10 is one Deliver of a 10-mention backlog over
// loopback HTTP to the fake: render 10 embeds, encode one request, POST it
// with ?wait=true, read and classify the answer. The fake's bucket is made
// large enough never to pace. Rendering alone is BenchmarkRenderBatch10.
//
//	go test -run '^$' -bench 'RenderBatch10|DeliverBatch10' -benchmem ./pipeline/discord
func BenchmarkDeliverBatch10(b *testing.B) {
	fake := discordfake.New(discordfake.Options{BucketLimit: 1 << 30, BucketWindow: time.Hour, MaxRecorded: 16})
	defer fake.Close()
	sink, err := discord.New(discord.Options{WebhookURL: fake.WebhookURL(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Date(2025, 8, 20, 7, 7, 44, 0, time.UTC)
	ms := make([]pipeline.Mention, 10)
	for i := range ms {
		ms[i] = pipeline.Mention{MessageID: "m" + strconv.Itoa(i), ChatroomID: 2346570, Channel: "xqc", SenderID: 4815162,
			Sender: "Viewer_" + strconv.Itoa(i), Content: "hey @Target_User number " + strconv.Itoa(i) + " [emote:37226:KEKW]",
			Kind: pipeline.KindMention, CreatedAt: t0.Add(time.Duration(i) * time.Second), ReceivedAt: t0, Source: "pusher"}
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		for i, r := range sink.Deliver(ctx, ms) {
			if r.Outcome != pipeline.Delivered {
				b.Fatalf("result %d: %v %v", i, r.Outcome, r.Err)
			}
		}
	}
	if got, want := sink.Stats().Requests, fake.Count(); got != uint64(want) {
		b.Fatalf("sink sent %d requests, fake saw %d", got, want)
	}
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N*len(ms))/s, "mentions/s")
	}
}
