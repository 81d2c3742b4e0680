package wire

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"runtime"
	"testing"
)

// FuzzStream feeds arbitrary bytes to a Stream, whole and in chunks, and checks what the proxy relies on: Write never
// fails or panics, every event keeps at most MaxBody bytes of body, and the events do not depend on how the bytes
// were split into writes (the network splits them anywhere). The seed corpus (testdata/fuzz/FuzzStream) holds real
// client and broker traffic of a publish/consume/ack session recorded through the harness's proxy, plus the
// hand-built frames of the unit tests.
func FuzzStream(f *testing.F) {
	body := []byte(`{"order_id":"o-17"}`)
	f.Add(cat([]byte("AMQP\x00\x00\x09\x01"), publishFrames(body), frame(frameHeartbeat, 0, nil)), uint16(3), false)
	f.Add(cat(frame(frameMethod, 2, cat(u16(classBasic), u16(methodBasicDeliver), short("ctag-1"), u64(42), []byte{1},
		short(""), short("billing"))), frame(frameHeader, 2, cat(u16(classBasic), u16(0), u64(0), u16(propMessageID),
		short("m-9")))), uint16(1), true)
	f.Add(cat([]byte("AMQP\x00\x00\x09\x01"), publishFrames(bytes.Repeat([]byte("x"), 2*MaxBody))), uint16(100), false)
	f.Fuzz(func(t *testing.T, data []byte, split uint16, fromServer bool) {
		whole := events(t, data, len(data)+1, fromServer)
		chunked := events(t, data, int(split%64)+1, fromServer)
		if !reflect.DeepEqual(whole, chunked) {
			t.Fatalf("events depend on the write boundaries:\nwhole:   %+v\nchunked: %+v", whole, chunked)
		}
		for _, ev := range whole {
			if len(ev.Body) > MaxBody {
				t.Fatalf("event kept %d bytes of body, more than MaxBody (%d)", len(ev.Body), MaxBody)
			}
		}
	})
}

// events writes data to a fresh Stream in chunks of size chunk and returns what it emitted.
func events(t *testing.T, data []byte, chunk int, fromServer bool) []Event {
	t.Helper()
	var got []Event
	s := NewStream(fromServer, func(e Event) { got = append(got, e) })
	for i := 0; i < len(data); i += chunk {
		part := data[i:min(i+chunk, len(data))]
		if n, err := s.Write(part); n != len(part) || err != nil {
			t.Fatalf("Write(%d bytes) = %d, %v: it must accept everything", len(part), n, err)
		}
	}
	return got
}

// A size field larger than any broker negotiates stops the stream at once instead of buffering for it.
func TestHugeFrameSizeStopsTheStream(t *testing.T) {
	var got []Event
	s := NewStream(true, func(e Event) { got = append(got, e) })
	head := []byte{frameMethod, 0, 1}
	head = binary.BigEndian.AppendUint32(head, 1<<31)
	s.Write(head)
	if !s.broken || s.buf != nil {
		t.Fatalf("a frame announcing 2 GiB was buffered for (broken=%v, %d bytes held)", s.broken, len(s.buf))
	}
	s.Write(frame(frameMethod, 1, cat(u16(classBasic), u16(methodBasicAck), u64(2), []byte{0})))
	if len(got) != 0 {
		t.Fatalf("events after giving up: %+v", got)
	}
}

// A table whose length promises more than the header holds costs nothing: no event, no allocation of that size.
func TestLyingLengthsDoNotAllocate(t *testing.T) {
	header := cat(u16(classBasic), u16(0), u64(0), u16(propHeaders), binary.BigEndian.AppendUint32(nil, 1<<31))
	publish := cat(u16(classBasic), u16(methodBasicPublish), u16(0), short("x"), short("k"), []byte{0})
	stream := cat(frame(frameMethod, 1, publish), frame(frameHeader, 1, header))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s := NewStream(true, func(Event) { t.Fatal("an event from a header that lies about its table's length") })
	s.Write(stream)
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("reading a %d-byte stream allocated %d bytes: a length field is being trusted", len(stream), grew)
	}
}
