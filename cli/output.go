package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// jsonOut reports whether the command prints JSON.
func (e *env) jsonOut() bool { return e.g.format == "json" }

// emit prints v as one indented JSON document with --format json, and
// calls text otherwise. JSON field names are the CLI's contract with
// scripts: snake_case, stable, errors as an "error" string beside the item
// they concern.
func (e *env) emit(v any, text func(w io.Writer)) error {
	if e.jsonOut() {
		enc := json.NewEncoder(e.io.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text(e.io.Stdout)
	return nil
}

// table is a human table: columns aligned with two spaces, a header in
// capitals, empty cells as "-".
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row(toAny(header)...)
	return t
}

func toAny(s []string) []any {
	a := make([]any, len(s))
	for i, v := range s {
		a[i] = v
	}
	return a
}

func (t *table) row(cells ...any) {
	parts := make([]string, len(cells))
	for i, c := range cells {
		s := fmt.Sprint(c)
		if s == "" {
			s = "-"
		}
		// A tab or newline inside a cell would break the alignment.
		parts[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(s)
	}
	fmt.Fprintln(t.tw, strings.Join(parts, "\t"))
}

func (t *table) flush() { t.tw.Flush() }

// errText is err as the CLI shows it: the Kafka error name and description
// (kerr's text), then the broker's message when it adds something; "" for
// no error.
func errText(err error, msg string) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if msg != "" && !strings.Contains(s, msg) {
		s += " (" + msg + ")"
	}
	return s
}

// int32s formats a replica list as 1,2,3.
func int32s(v []int32) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.Itoa(int(x))
	}
	return strings.Join(parts, ",")
}

// nonNil keeps a JSON array an array ([] rather than null) when empty.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// failed is the error of a command whose answer carried per-item errors;
// the items were already printed with their errors.
func failed(n, of int, what string) error {
	if n == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d %s failed", n, of, what)
}
