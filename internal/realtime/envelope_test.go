package realtime

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// sameEnvelope compares data as JSON values: encoding/json escapes <, >
// and & inside it where the codec keeps the bytes.
func sameEnvelope(a, b Envelope) bool {
	var da, db any
	if json.Unmarshal(a.Data, &da) != nil || json.Unmarshal(b.Data, &db) != nil {
		return false
	}
	return a.Type == b.Type && a.RunID == b.RunID && a.ToRun == b.ToRun && a.Time.Equal(b.Time) &&
		reflect.DeepEqual(da, db) && a.Trace == b.Trace
}

// TestEnvelopeCodecMatchesEncodingJSON: the hand-written codec writes what
// encoding/json writes for Envelope, and each reads the other's output, so
// that instances of two versions can share a Redis and older history stays
// readable.
func TestEnvelopeCodecMatchesEncodingJSON(t *testing.T) {
	run := uuid.MustParse("0193a0c4-7b1e-7c3a-9f00-0123456789ab")
	berlin := time.FixedZone("CET", 3600)
	for _, c := range []struct {
		name  string
		e     Envelope
		bytes bool // byte for byte (encoding/json also escapes <, >, & and U+2028)
	}{
		{"token", Envelope{Type: "agent.token", RunID: run, ToRun: true, Time: time.Date(2026, 12, 7, 2, 30, 0, 123456789, time.UTC), Data: json.RawMessage(`{"text":"hé \"x\"\n"}`)}, true},
		{"whole second, no run", Envelope{Type: "user.updated", Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Data: json.RawMessage(`{}`)}, true},
		{"offset and trace", Envelope{Type: "run.status", RunID: run, Time: time.Date(2026, 6, 1, 12, 0, 0, 1000, berlin), Data: json.RawMessage(`{"status":"running","n":[1,2.5,null,true]}`), Trace: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}, true},
		{"no data", Envelope{Type: "x", Time: time.Unix(0, 0).UTC()}, true},
		{"strings to escape", Envelope{Type: "a\"b\\c\u0001", Time: time.Unix(1, 0).UTC(), Data: json.RawMessage(`"<&>"`), Trace: "t\u2028<>"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ours, err := appendEnvelope([]byte("prefix "), &c.e)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(ours, []byte("prefix ")) {
				t.Fatalf("appendEnvelope dropped what b held: %q", ours)
			}
			ours = ours[len("prefix "):]
			std, err := json.Marshal(c.e)
			if err != nil {
				t.Fatal(err)
			}
			if c.bytes && !bytes.Equal(ours, std) {
				t.Errorf("bytes differ:\n ours %s\n std  %s", ours, std)
			}
			var fromOurs, fromStd Envelope
			if err := json.Unmarshal(ours, &fromOurs); err != nil {
				t.Fatalf("encoding/json cannot read ours %s: %v", ours, err)
			}
			if err := decodeEnvelope(std, &fromStd); err != nil {
				t.Fatalf("decodeEnvelope cannot read encoding/json's %s: %v", std, err)
			}
			want := c.e
			if len(want.Data) == 0 {
				want.Data = json.RawMessage("null") // what encoding/json reads back too
			}
			if !sameEnvelope(fromOurs, want) || !sameEnvelope(fromStd, want) {
				t.Errorf("round trips differ from %+v:\n ours→std %+v\n std→ours %+v", want, fromOurs, fromStd)
			}
		})
	}
}

func TestDecodeEnvelopeIsLenient(t *testing.T) {
	var e Envelope
	in := `{"future":{"x":[1,{"y":2}]},"d":{"a":1},"o":null,"tp":null,"ts":"2026-12-07T02:30:00Z","r":"0193a0c4-7b1e-7c3a-9f00-0123456789ab","t":"agent.final"}`
	if err := decodeEnvelope([]byte(in), &e); err != nil {
		t.Fatal(err)
	}
	var std Envelope
	if err := json.Unmarshal([]byte(in), &std); err != nil {
		t.Fatal(err)
	}
	if !sameEnvelope(e, std) {
		t.Fatalf("decodeEnvelope %+v, encoding/json %+v", e, std)
	}
	for _, bad := range []string{
		``, `[]`, `{"t":"x"} garbage`, `{"t":"x"}{}`, `{"t":1}`, `{"r":"not-a-uuid"}`, `{"ts":"yesterday"}`, `{"o":"yes"}`, `{"d":{"a":}`, `{"t":"x"`,
	} {
		var e Envelope
		if err := decodeEnvelope([]byte(bad), &e); err == nil {
			t.Errorf("decodeEnvelope(%q) took it: %+v", bad, e)
		}
		if err := json.Unmarshal([]byte(bad), &e); err == nil && !strings.Contains(bad, "not-a-uuid") {
			t.Errorf("encoding/json takes %q: the case tests nothing", bad)
		}
	}
}

func TestAppendEnvelopeRefusesWhatEncodingJSONRefuses(t *testing.T) {
	for _, e := range []Envelope{
		{Type: "x", Time: time.Unix(0, 0), Data: json.RawMessage(`{"a":`)},
		{Type: "x", Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Data: json.RawMessage(`{}`)},
		{Type: "x", Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 24*3600+60)), Data: json.RawMessage(`{}`)},
	} {
		if _, err := json.Marshal(e); err == nil {
			t.Fatalf("encoding/json takes %+v: the case tests nothing", e)
		}
		if b, err := appendEnvelope(nil, &e); err == nil {
			t.Errorf("appendEnvelope took %+v: %s", e, b)
		}
	}
}

func BenchmarkEnvelope(b *testing.B) {
	e := Envelope{Type: "agent.token", RunID: uuid.New(), ToRun: true, Time: time.Now().UTC(), Data: json.RawMessage(`{"text":"hello, world"}`)}
	msg, _ := json.Marshal(e)
	b.Run("encode/ours", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := appendEnvelope(nil, &e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode/encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode/ours", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var d Envelope
			if err := decodeEnvelope(msg, &d); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode/encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var d Envelope
			if err := json.Unmarshal(msg, &d); err != nil {
				b.Fatal(err)
			}
		}
	})
}
