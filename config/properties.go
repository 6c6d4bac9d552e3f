package config

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Property is one key/value pair of a properties file, with the line its
// logical line starts on.
type Property struct {
	Key, Value string
	Line       int
}

// ParseProperties reads text in the format of Java's Properties.load,
// which is what Kafka reads server.properties with:
//
//   - lines end at \n, \r or \r\n; a line whose first non-blank character
//     is # or ! is a comment, and a blank line is ignored;
//   - a line ending in an odd number of backslashes continues on the next
//     line, whose leading blanks are dropped (a comment line never
//     continues);
//   - the key runs to the first unescaped '=', ':' or blank; after it come
//     optional blanks, at most one '=' or ':', more optional blanks, and
//     the value (which keeps trailing blanks); blanks are space, tab and
//     form feed;
//   - in keys and values \t \n \r \f are control characters, \uXXXX is a
//     UTF-16 code unit (surrogate pairs combine), and a backslash before
//     any other character stands for that character.
//
// Unlike Java, which reads the bytes as ISO-8859-1, the text is taken as
// UTF-8 (invalid bytes pass through unchanged). A malformed \u escape is
// an error naming its line. Later duplicates of a key are kept in order;
// callers let the last one win, as Java does.
func ParseProperties(text string) ([]Property, error) {
	var out []Property
	lines := splitNaturalLines(text)
	for i := 0; i < len(lines); i++ {
		startLine := i + 1
		line := trimLeftBlank(lines[i])
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		// Join continuation lines.
		for endsWithContinuation(line) && i+1 < len(lines) {
			line = line[:len(line)-1] + trimLeftBlank(lines[i+1])
			i++
		}
		if endsWithContinuation(line) { // backslash at end of input: dropped, as Java does
			line = line[:len(line)-1]
		}
		k, v := splitKeyValue(line)
		key, err := unescape(k)
		if err != nil {
			return nil, fmt.Errorf("properties line %d: %w", startLine, err)
		}
		val, err := unescape(v)
		if err != nil {
			return nil, fmt.Errorf("properties line %d: %w", startLine, err)
		}
		out = append(out, Property{Key: key, Value: val, Line: startLine})
	}
	return out, nil
}

func splitNaturalLines(text string) []string {
	var lines []string
	start := 0
	for i := 0; i < len(text); i++ {
		switch text[i] {
		case '\n':
			lines = append(lines, text[start:i])
			start = i + 1
		case '\r':
			lines = append(lines, text[start:i])
			if i+1 < len(text) && text[i+1] == '\n' {
				i++
			}
			start = i + 1
		}
	}
	if start < len(text) {
		lines = append(lines, text[start:])
	}
	return lines
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\f' }

func trimLeftBlank(s string) string {
	i := 0
	for i < len(s) && isBlank(s[i]) {
		i++
	}
	return s[i:]
}

// endsWithContinuation reports whether s ends in an odd run of backslashes.
func endsWithContinuation(s string) bool {
	n := 0
	for i := len(s) - 1; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// splitKeyValue splits a logical line into its raw (still escaped) key and
// value.
func splitKeyValue(line string) (string, string) {
	keyEnd := len(line)
	valStart := len(line)
	hasSep := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		if c == '\\' {
			i++ // skip the escaped character
			continue
		}
		if c == '=' || c == ':' {
			keyEnd, valStart, hasSep = i, i+1, true
			break
		}
		if isBlank(c) {
			keyEnd, valStart = i, i+1
			break
		}
	}
	if keyEnd > len(line) {
		keyEnd = len(line)
	}
	rest := ""
	if valStart <= len(line) {
		rest = line[valStart:]
	}
	rest = trimLeftBlank(rest)
	if !hasSep && rest != "" && (rest[0] == '=' || rest[0] == ':') {
		rest = trimLeftBlank(rest[1:])
	}
	return line[:keyEnd], rest
}

func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	var pendingHigh rune = -1 // a high surrogate waiting for its low half
	flushHigh := func() {
		if pendingHigh >= 0 {
			b.WriteRune(utf8.RuneError)
			pendingHigh = -1
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			flushHigh()
			b.WriteByte(c)
			continue
		}
		i++
		switch s[i] {
		case 't':
			flushHigh()
			b.WriteByte('\t')
		case 'n':
			flushHigh()
			b.WriteByte('\n')
		case 'r':
			flushHigh()
			b.WriteByte('\r')
		case 'f':
			flushHigh()
			b.WriteByte('\f')
		case 'u':
			if i+5 > len(s) {
				return "", fmt.Errorf(`malformed \uxxxx encoding`)
			}
			var r rune
			for _, h := range s[i+1 : i+5] {
				var d rune
				switch {
				case h >= '0' && h <= '9':
					d = h - '0'
				case h >= 'a' && h <= 'f':
					d = h - 'a' + 10
				case h >= 'A' && h <= 'F':
					d = h - 'A' + 10
				default:
					return "", fmt.Errorf(`malformed \uxxxx encoding`)
				}
				r = r<<4 | d
			}
			i += 4
			switch {
			case r >= 0xD800 && r < 0xDC00:
				flushHigh()
				pendingHigh = r
			case r >= 0xDC00 && r < 0xE000:
				if pendingHigh >= 0 {
					b.WriteRune(0x10000 + (pendingHigh-0xD800)<<10 + (r - 0xDC00))
					pendingHigh = -1
				} else {
					b.WriteRune(utf8.RuneError)
				}
			default:
				flushHigh()
				b.WriteRune(r)
			}
		default:
			flushHigh()
			b.WriteByte(s[i])
		}
	}
	flushHigh()
	return b.String(), nil
}
