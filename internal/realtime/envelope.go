package realtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/go-faster/jx"
	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/internal/events"
)

// An Envelope crosses Redis as JSON twice per event (pub/sub to every
// instance, and the history stream), on the emit path that workers stream
// tokens through. encoding/json's reflection took a sixth of the sockets
// instance's CPU at 10k events/s (decoding) and a twentieth of the emitting
// one's (encoding), so the envelope is written and read by hand here. The
// bytes are what encoding/json writes for Envelope's tags, and either side
// reads the other's (instances of two versions share a Redis during a
// deploy, and history written before stays readable):
// TestEnvelopeCodecMatchesEncodingJSON.

// appendEnvelope appends e's JSON to b, e.Data embedded as is. The
// Publisher has already compacted and checked it; the check here (~0.1 µs)
// keeps the Broker's own contract, as encoding/json's did: an invalid
// envelope would be dropped by every listener, so it is refused here.
func appendEnvelope(b []byte, e *Envelope) ([]byte, error) {
	if len(e.Data) > 0 && !json.Valid(e.Data) {
		return b, errors.New("event data is not valid JSON")
	}
	var w jx.Encoder
	w.SetBytes(slices.Grow(b, 128+len(e.Type)+len(e.Data)+len(e.Trace)))
	w.ObjStart()
	w.FieldStart("t")
	w.Str(string(e.Type))
	if e.RunID != uuid.Nil {
		w.FieldStart("r")
		var id [36]byte
		w.ByteStr(appendUUID(id[:0], e.RunID))
	}
	if e.ToRun {
		w.FieldStart("o")
		w.Bool(true)
	}
	w.FieldStart("ts")
	var ts [64]byte
	t, err := e.Time.AppendText(ts[:0]) // RFC 3339 with nanoseconds, refusing what MarshalJSON refuses
	if err != nil {
		return b, fmt.Errorf("event time: %w", err)
	}
	w.ByteStr(t)
	w.FieldStart("d")
	if len(e.Data) == 0 {
		w.Null()
	} else {
		w.Raw(e.Data)
	}
	if e.Trace != "" {
		w.FieldStart("tp")
		w.Str(e.Trace)
	}
	w.ObjEnd()
	return w.Bytes(), nil
}

// appendUUID appends id's canonical text (8-4-4-4-12 lower-case hex, as
// its String and MarshalText) without allocating a string for it.
func appendUUID(b []byte, id uuid.UUID) []byte {
	const hex = "0123456789abcdef"
	for i, c := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hex[c>>4], hex[c&0xf])
	}
	return b
}

// decodeEnvelope reads an Envelope's JSON as encoding/json would: fields in
// any order, unknown ones and nulls ignored, nothing after the object. (It
// matches names exactly, where encoding/json also takes other cases: no
// writer of envelopes ever wrote those.) e.Data keeps a slice of data.
func decodeEnvelope(data []byte, e *Envelope) error {
	d := jx.DecodeBytes(data)
	if err := decodeEnvelopeFields(d, e); err != nil {
		return err
	}
	if err := d.Skip(); !errors.Is(err, io.EOF) {
		return errors.New("data after the envelope")
	}
	return nil
}

func decodeEnvelopeFields(d *jx.Decoder, e *Envelope) error {
	return d.ObjBytes(func(d *jx.Decoder, key []byte) error {
		if d.Next() == jx.Null && string(key) != "d" {
			return d.Null()
		}
		switch string(key) {
		case "t":
			s, err := d.Str()
			e.Type = events.Type(s)
			return err
		case "r":
			s, err := d.StrBytes()
			if err != nil {
				return err
			}
			if e.RunID, err = uuid.ParseBytes(s); err != nil {
				return fmt.Errorf("run id: %w", err)
			}
			return nil
		case "o":
			v, err := d.Bool()
			e.ToRun = v
			return err
		case "ts":
			s, err := d.StrBytes()
			if err != nil {
				return err
			}
			if err := e.Time.UnmarshalText(s); err != nil {
				return fmt.Errorf("event time: %w", err)
			}
			return nil
		case "d":
			raw, err := d.Raw()
			e.Data = json.RawMessage(raw)
			return err
		case "tp":
			s, err := d.Str()
			e.Trace = s
			return err
		default:
			return d.Skip()
		}
	})
}
