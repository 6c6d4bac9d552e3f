package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseProperties(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want []Property
	}{
		{"equals", "a=b\n", []Property{{"a", "b", 1}}},
		{"colon", "a: b", []Property{{"a", "b", 1}}},
		{"space", "a   b c", []Property{{"a", "b c", 1}}},
		{"space then equals", "a = b", []Property{{"a", "b", 1}}},
		{"space then colon", "a\t:\tb", []Property{{"a", "b", 1}}},
		{"second separator is value", "a==b", []Property{{"a", "=b", 1}}},
		{"empty value", "a=\nb\n", []Property{{"a", "", 1}, {"b", "", 2}}},
		{"trailing blanks kept", "a=b  ", []Property{{"a", "b  ", 1}}},
		{"leading blanks", "   \t a=b", []Property{{"a", "b", 1}}},
		{"comments", "# c\n! c\n  # c\na=b # not a comment", []Property{{"a", "b # not a comment", 4}}},
		{"blank lines", "\n\n \t\na=b", []Property{{"a", "b", 4}}},
		{"crlf and cr", "a=1\r\nb=2\rc=3", []Property{{"a", "1", 1}, {"b", "2", 2}, {"c", "3", 3}}},
		{"continuation", "a=one,\\\n    two,\\\n\tthree\nb=2", []Property{{"a", "one,two,three", 1}, {"b", "2", 4}}},
		{"even backslashes do not continue", "a=x\\\\\nb=y", []Property{{"a", `x\`, 1}, {"b", "y", 2}}},
		{"continuation at eof", "a=x\\", []Property{{"a", "x", 1}}},
		{"comment does not continue", "# c \\\na=b", []Property{{"a", "b", 2}}},
		{"escaped separators in key", `a\=b\:c\ d=e`, []Property{{"a=b:c d", "e", 1}}},
		{"escapes", `k=\t\n\r\f\\\q`, []Property{{"k", "\t\n\r\f\\q", 1}}},
		{"unicode", `k=\u00e9\u4e2D`, []Property{{"k", "é中", 1}}},
		{"surrogate pair", `k=\ud83d\ude00`, []Property{{"k", "😀", 1}}},
		{"utf8 passes through", "k=héllo", []Property{{"k", "héllo", 1}}},
		{"key only", "justakey", []Property{{"justakey", "", 1}}},
		{"duplicates kept in order", "a=1\na=2", []Property{{"a", "1", 1}, {"a", "2", 2}}},
		{"empty", "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseProperties(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %#v\nwant %#v", got, c.want)
			}
		})
	}
}

func TestParsePropertiesMalformedUnicode(t *testing.T) {
	for _, in := range []string{`a=\u12`, `a=\uzzzz`, "x=1\n\\u00g1=2"} {
		if _, err := ParseProperties(in); err == nil {
			t.Errorf("%q: expected an error", in)
		}
	}
	_, err := ParseProperties("x=1\nb=\\u12")
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("error should name line 2: %v", err)
	}
}

func FuzzParseProperties(f *testing.F) {
	for _, s := range []string{
		"a=b", "a: b\n# c\n! d\n", "k=one,\\\n  two", `k=\u00e9\t\\`, "\r\n\r", "a\\", `\u`, "=", ":x", " \\\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		props, err := ParseProperties(in)
		if err != nil {
			return
		}
		for _, p := range props {
			if p.Line < 1 {
				t.Fatalf("line %d < 1", p.Line)
			}
		}
		// Re-encoding each pair and parsing it again gives the same pair.
		for _, p := range props {
			again, err := ParseProperties(escapeKey(p.Key) + "=" + escapeValue(p.Value))
			if err != nil || len(again) != 1 || again[0].Key != p.Key || again[0].Value != p.Value {
				t.Fatalf("round trip of %q=%q gave %#v, %v", p.Key, p.Value, again, err)
			}
		}
	})
}

// escapeKey and escapeValue write a string in properties syntax.
func escapeKey(s string) string { return escapeProps(s, true) }

func escapeValue(s string) string { return escapeProps(s, false) }

func escapeProps(s string, key bool) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			out = append(out, '\\', '\\')
		case c == '\n':
			out = append(out, '\\', 'n')
		case c == '\r':
			out = append(out, '\\', 'r')
		case c == '\t':
			out = append(out, '\\', 't')
		case c == '\f':
			out = append(out, '\\', 'f')
		case c == ' ' && (key || i == 0):
			out = append(out, '\\', ' ')
		case (c == '=' || c == ':' || c == '#' || c == '!') && (key || i == 0):
			out = append(out, '\\', c)
		default:
			out = append(out, c)
		}
	}
	return string(out)
}
