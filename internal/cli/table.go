package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// table prints aligned columns like the dcos CLI: upper-case headers, two
// spaces between columns, "N/A" for missing values.
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, headers ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)}
	t.row(headers...)
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		if c == "" {
			c = "N/A"
		}
		// A tab or newline in a value would break the columns.
		cells[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(c)
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// scalar reads a scalar resource from a flat resource map.
func scalar(r mesosv1.ResourceMap, name string) float64 {
	switch v := r[name].(type) {
	case float64:
		return v
	case int:
		return float64(v)
	}
	return 0
}

// num formats a resource amount the way the dcos CLI does: no trailing zeros.
func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
