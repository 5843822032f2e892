// Package recordio implements the RecordIO framing that the Mesos v1 HTTP APIs
// use for streams: every record is its length in ASCII decimal, a newline, and
// then exactly that many bytes.
//
// It only frames bytes: it does not decode records (JSON or protobuf), open
// connections, or retry. A Writer and a Reader are not safe for concurrent use.
package recordio

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// maxLengthDigits bounds the length line; 19 digits already exceed any int64
// record a sane peer would send, so a longer line is garbage, not a record.
const maxLengthDigits = 19

// Errors returned by Reader.ReadRecord. They are wrapped with detail; match them
// with errors.Is.
var (
	// ErrBadLength means the length line is not a positive decimal number.
	ErrBadLength = errors.New("recordio: bad record length")
	// ErrZeroLength means a record announced length 0, which Mesos never sends.
	ErrZeroLength = errors.New("recordio: zero record length")
	// ErrTooLarge means a record is longer than the reader's limit.
	ErrTooLarge = errors.New("recordio: record too large")
	// ErrTruncated means the stream ended inside a length line or a record.
	ErrTruncated = errors.New("recordio: truncated record")
)

// flusher is implemented by writers that buffer, such as *bufio.Writer.
type flusher interface{ Flush() error }

// Writer writes records to an underlying writer.
type Writer struct {
	w   io.Writer
	buf []byte
}

// NewWriter returns a Writer on w. After every record it flushes w if w is an
// http.Flusher (a streaming HTTP response) or has a Flush() error method.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w}
}

// WriteRecord writes one record. An empty record is rejected, because a zero
// length is not valid on the wire.
func (w *Writer) WriteRecord(p []byte) error {
	if len(p) == 0 {
		return ErrZeroLength
	}
	// One Write per record keeps the length and the payload in the same chunk
	// of a chunked HTTP response, so readers never see a dangling length line.
	w.buf = strconv.AppendInt(w.buf[:0], int64(len(p)), 10)
	w.buf = append(w.buf, '\n')
	w.buf = append(w.buf, p...)
	if _, err := w.w.Write(w.buf); err != nil {
		return fmt.Errorf("recordio: write record: %w", err)
	}
	if cap(w.buf) > 1<<20 {
		w.buf = nil // do not pin one huge record's buffer forever
	}
	switch f := w.w.(type) {
	case http.Flusher:
		f.Flush()
	case flusher:
		if err := f.Flush(); err != nil {
			return fmt.Errorf("recordio: flush: %w", err)
		}
	}
	return nil
}

// Reader reads records from an underlying reader.
type Reader struct {
	r   *bufio.Reader
	max int
}

// DefaultMaxRecord is the record size limit NewReader uses when given
// maxRecord <= 0. An OFFERS event for a large cluster can run to megabytes.
const DefaultMaxRecord = 64 << 20

// NewReader returns a Reader on r that rejects records longer than maxRecord
// bytes (DefaultMaxRecord if maxRecord <= 0), so a bad peer cannot make it
// allocate without bound.
func NewReader(r io.Reader, maxRecord int) *Reader {
	if maxRecord <= 0 {
		maxRecord = DefaultMaxRecord
	}
	return &Reader{r: bufio.NewReader(r), max: maxRecord}
}

// ReadRecord returns the next record. It returns io.EOF when the stream ends
// cleanly between records, and an error wrapping ErrBadLength, ErrZeroLength,
// ErrTooLarge or ErrTruncated (or the underlying read error) otherwise. The
// returned slice is freshly allocated and owned by the caller.
func (r *Reader) ReadRecord() ([]byte, error) {
	n, err := r.readLength()
	if err != nil {
		return nil, err
	}
	rec := make([]byte, n)
	if _, err := io.ReadFull(r.r, rec); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: want %d bytes", ErrTruncated, n)
		}
		return nil, fmt.Errorf("recordio: read record: %w", err)
	}
	return rec, nil
}

func (r *Reader) readLength() (int, error) {
	var n int
	digits := 0
	for {
		c, err := r.r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				if digits == 0 {
					return 0, io.EOF
				}
				return 0, fmt.Errorf("%w: in length line", ErrTruncated)
			}
			return 0, fmt.Errorf("recordio: read length: %w", err)
		}
		if c == '\n' {
			break
		}
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: unexpected byte %q", ErrBadLength, c)
		}
		digits++
		if digits > maxLengthDigits {
			return 0, fmt.Errorf("%w: length line too long", ErrBadLength)
		}
		d := int(c - '0')
		if n > (maxInt-d)/10 {
			return 0, fmt.Errorf("%w: length overflows", ErrTooLarge)
		}
		n = n*10 + d
	}
	switch {
	case digits == 0:
		return 0, fmt.Errorf("%w: empty length line", ErrBadLength)
	case n == 0:
		return 0, ErrZeroLength
	case n > r.max:
		return 0, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, n, r.max)
	}
	return n, nil
}

const maxInt = int(^uint(0) >> 1)
