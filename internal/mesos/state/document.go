package state

import (
	"bytes"
	"io"
)

// document is a rendered JSON document held as segments. The big documents
// (/master/state with 100,000 tasks is ~100 MB) reference the per-task and
// per-agent bytes cached across snapshots instead of copying them into one
// huge buffer, which would cost an allocation, a clear and a copy of the
// whole document for every snapshot.
type document struct {
	segs [][]byte
	size int
}

func wholeDocument(b []byte) *document { return &document{segs: [][]byte{b}, size: len(b)} }

// WriteTo writes the document's bytes to w.
func (d *document) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for _, s := range d.segs {
		m, err := w.Write(s)
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// builder assembles a document from small appended pieces (copied into
// fixed-size chunks, never regrown) and large shared slices (referenced).
type builder struct {
	d   document
	cur []byte
}

const (
	chunkSize = 64 << 10
	// shareAbove: slices at least this long are referenced, not copied.
	shareAbove = 256
)

// flush ends the current segment; the rest of its chunk stays available
// for the next pieces (appending there never touches the ended segment).
func (b *builder) flush() {
	if len(b.cur) > 0 {
		n := len(b.cur)
		b.d.segs = append(b.d.segs, b.cur[:n:n])
		b.cur = b.cur[n:]
	}
}

func (b *builder) grow(n int) {
	if cap(b.cur)-len(b.cur) < n {
		b.flush()
		b.cur = make([]byte, 0, max(chunkSize, n))
	}

}

// str appends a literal piece of JSON.
func (b *builder) str(s string) {
	b.grow(len(s))
	b.cur = append(b.cur, s...)
	b.d.size += len(s)
}

// raw appends JSON bytes; long ones are shared, so p must never change.
func (b *builder) raw(p []byte) {
	if len(p) >= shareAbove {
		b.flush()
		b.d.segs = append(b.d.segs, p)
		b.d.size += len(p)
		return
	}
	b.grow(len(p))
	b.cur = append(b.cur, p...)
	b.d.size += len(p)
}

// openObject appends an encoded JSON object without its closing brace, so that
// more fields can follow; it reports whether the object had fields.
func (b *builder) openObject(obj []byte) (hasFields bool) {
	inner := bytes.TrimSuffix(obj, []byte("}"))
	b.raw(inner)
	return len(bytes.TrimSpace(inner)) > 1
}

// array appends `"name":[e1,e2,...]`, with a leading comma if comma.
func (b *builder) array(comma bool, name string, elems [][]byte) {
	if comma {
		b.str(",")
	}
	b.str(`"` + name + `":[`)
	for i, e := range elems {
		if i > 0 {
			b.str(",")
		}
		b.raw(e)
	}
	b.str("]")
}

func (b *builder) done() *document {
	b.flush()
	return &b.d
}
