package state

import (
	"bytes"
	"strings"
	"testing"
)

func TestBuilder(t *testing.T) {
	var want strings.Builder
	b := &builder{}
	big := []byte(strings.Repeat("x", shareAbove))
	for i := range 5000 {
		switch i % 3 {
		case 0:
			b.str(`,"k":`)
			want.WriteString(`,"k":`)
		case 1:
			b.raw(big)
			want.Write(big)
		case 2:
			small := []byte(strings.Repeat("y", i%200))
			b.raw(small)
			want.Write(small)
		}
	}
	d := b.done()
	var got bytes.Buffer
	n, err := d.WriteTo(&got)
	if err != nil || int(n) != d.size || d.size != want.Len() {
		t.Fatalf("WriteTo = %d, %v; size %d; want %d bytes", n, err, d.size, want.Len())
	}
	if got.String() != want.String() {
		t.Fatal("document bytes differ from the appended pieces")
	}
	// Large pieces are shared, not copied.
	shared := 0
	for _, s := range d.segs {
		if len(s) > 0 && &s[0] == &big[0] {
			shared++
		}
	}
	if shared != 5000/3+1 {
		t.Errorf("%d shared segments, want %d", shared, 5000/3+1)
	}
}

func TestOpenObject(t *testing.T) {
	for _, tc := range []struct {
		obj    string
		fields bool
	}{{`{}`, false}, {`{"a":1}`, true}} {
		b := &builder{}
		if got := b.openObject([]byte(tc.obj)); got != tc.fields {
			t.Errorf("openObject(%s) = %v, want %v", tc.obj, got, tc.fields)
		}
		b.array(tc.fields, "l", [][]byte{[]byte("1"), []byte("2")})
		b.str("}")
		var out bytes.Buffer
		if _, err := b.done().WriteTo(&out); err != nil {
			t.Fatal(err)
		}
		want := map[bool]string{false: `{"l":[1,2]}`, true: `{"a":1,"l":[1,2]}`}[tc.fields]
		if out.String() != want {
			t.Errorf("got %s, want %s", out.String(), want)
		}
	}
}
