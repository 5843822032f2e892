package recordio

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	records := [][]byte{
		[]byte(`{"type":"HEARTBEAT"}`),
		[]byte("x"),
		[]byte("line\nbreaks\n\ninside"),
		bytes.Repeat([]byte("ab"), 70000), // larger than bufio's buffer
		[]byte("12\n"),
	}
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, r := range records {
		if err := w.WriteRecord(r); err != nil {
			t.Fatalf("WriteRecord: %v", err)
		}
	}
	r := NewReader(&buf, 0)
	var got [][]byte
	for {
		rec, err := r.ReadRecord()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("ReadRecord: %v", err)
		}
		got = append(got, rec)
	}
	// bytes.Equal, not cmp.Diff: cmp walks a 140 KB slice element by element.
	if len(got) != len(records) {
		t.Fatalf("read %d records, want %d", len(got), len(records))
	}
	for i := range records {
		if !bytes.Equal(got[i], records[i]) {
			t.Errorf("record %d: got %d bytes %.40q, want %d bytes %.40q", i, len(got[i]), got[i], len(records[i]), records[i])
		}
	}
}

func TestWireFormat(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, r := range []string{"hello", "{}"} {
		if err := w.WriteRecord([]byte(r)); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := buf.String(), "5\nhello2\n{}"; got != want {
		t.Errorf("wire = %q, want %q", got, want)
	}
}

func TestWriterRejectsEmpty(t *testing.T) {
	err := NewWriter(io.Discard).WriteRecord(nil)
	if !errors.Is(err, ErrZeroLength) {
		t.Errorf("err = %v, want ErrZeroLength", err)
	}
}

func TestWriterFlushes(t *testing.T) {
	t.Run("http.Flusher", func(t *testing.T) {
		rec := httptest.NewRecorder()
		if err := NewWriter(rec).WriteRecord([]byte("a")); err != nil {
			t.Fatal(err)
		}
		if !rec.Flushed {
			t.Error("response not flushed")
		}
	})
	t.Run("Flush() error", func(t *testing.T) {
		var buf bytes.Buffer
		bw := bufio.NewWriter(&buf)
		if err := NewWriter(bw).WriteRecord([]byte("abc")); err != nil {
			t.Fatal(err)
		}
		if got := buf.String(); got != "3\nabc" {
			t.Errorf("underlying = %q, want flushed record", got)
		}
	})
}

func TestReaderErrors(t *testing.T) {
	tests := []struct {
		name  string
		input string
		max   int
		want  error
	}{
		{"empty stream", "", 0, io.EOF},
		{"bad length", "a\nx", 0, ErrBadLength},
		{"negative", "-1\nx", 0, ErrBadLength},
		{"space", " 1\nx", 0, ErrBadLength},
		{"crlf", "1\r\nx", 0, ErrBadLength},
		{"empty length line", "\nx", 0, ErrBadLength},
		{"too many digits", strings.Repeat("1", 30) + "\n", 0, ErrBadLength},
		{"zero", "0\n", 0, ErrZeroLength},
		{"zeros", "000\n", 0, ErrZeroLength},
		{"oversize", "11\nhello world", 10, ErrTooLarge},
		{"over default", "999999999999\n", 0, ErrTooLarge},
		{"truncated record", "5\nhel", 0, ErrTruncated},
		{"truncated length", "12", 0, ErrTruncated},
		{"no record after length", "3\n", 0, ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewReader(strings.NewReader(tt.input), tt.max).ReadRecord()
			if !errors.Is(err, tt.want) {
				t.Errorf("ReadRecord(%q) err = %v, want %v", tt.input, err, tt.want)
			}
		})
	}
}

func TestReaderExactLimit(t *testing.T) {
	rec, err := NewReader(strings.NewReader("10\n0123456789"), 10).ReadRecord()
	if err != nil {
		t.Fatalf("ReadRecord: %v", err)
	}
	if string(rec) != "0123456789" {
		t.Errorf("record = %q", rec)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestReaderPassesReadErrors(t *testing.T) {
	boom := errors.New("boom")
	_, err := NewReader(io.MultiReader(strings.NewReader("3\na"), errReader{boom}), 0).ReadRecord()
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want boom", err)
	}
}

func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"", "5\nhello", "5\nhello3\nabc", "0\n", "a\n", "5\nhel", "12", "\n",
		"20\n{\"type\":\"HEARTBEAT\"}", "99999999999999999999\n", "1\n\n1\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data), 1<<16)
		var recs [][]byte
		for {
			rec, err := r.ReadRecord()
			if err != nil {
				break
			}
			if len(rec) == 0 || len(rec) > 1<<16 {
				t.Fatalf("record of length %d", len(rec))
			}
			recs = append(recs, rec)
		}
		// Whatever was read must re-encode to a prefix of the input.
		var buf bytes.Buffer
		w := NewWriter(&buf)
		for _, rec := range recs {
			if err := w.WriteRecord(rec); err != nil {
				t.Fatal(err)
			}
		}
		// Leading zeros in a length are accepted but not reproduced, so
		// compare records, not bytes.
		r2 := NewReader(&buf, 1<<16)
		for i, want := range recs {
			got, err := r2.ReadRecord()
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("record %d: got %q, %v; want %q", i, got, err, want)
			}
		}
		if _, err := r2.ReadRecord(); !errors.Is(err, io.EOF) {
			t.Fatalf("after re-encoded records: err = %v, want EOF", err)
		}
	})
}

func BenchmarkReadRecord(b *testing.B) {
	rec := bytes.Repeat([]byte("x"), 512)
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for range 1000 {
		_ = w.WriteRecord(rec)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r := NewReader(bytes.NewReader(data), 0)
		for {
			if _, err := r.ReadRecord(); err != nil {
				break
			}
		}
	}
}

func BenchmarkWriteRecord(b *testing.B) {
	rec := bytes.Repeat([]byte("x"), 512)
	w := NewWriter(io.Discard)
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		_ = w.WriteRecord(rec)
	}
}
