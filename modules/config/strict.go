package config

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/knadh/koanf/v2"
)

// UnknownError is a setting the service does not know: a key in the config
// file or an APP_ environment variable. A misspelt setting would otherwise
// be ignored and its default used without a word.
type UnknownError struct {
	File    string // the config file's path; empty for the environment
	Name    string // the key as the file spells it, or the variable's name
	Nearest string // the closest known key or variable; empty when none is close
}

// Error is one line: "config: APP_X: no such setting; did you mean APP_Y?",
// or for the file "config: config.toml: http.adress: no such setting; did you
// mean http.addr?".
func (e *UnknownError) Error() string {
	var b strings.Builder
	b.WriteString("config: ")
	if e.File != "" {
		b.WriteString(e.File + ": ")
	}
	b.WriteString(printable(e.Name) + ": no such setting")
	if e.Nearest != "" {
		b.WriteString("; did you mean " + e.Nearest + "?")
	}
	return b.String()
}

// knownKeys are every key the file may hold, sorted: the keys of defaults()
// and each secret's _file.
func knownKeys() []string {
	keys := slices.Collect(maps.Keys(defaults()))
	for _, s := range secretKeys() {
		keys = append(keys, s+fileSuffix)
	}
	slices.Sort(keys)
	return keys
}

// unknownInFile reports the first of the file's keys (as koanf flattens
// them, sorted) that is not known. A known section with nothing in it, like
// a bare [kafka], is fine.
func unknownInFile(path string, file *koanf.Koanf, known []string) error {
	sections := map[string]bool{}
	for _, k := range known {
		section, _, _ := strings.Cut(k, ".")
		sections[section] = true
	}
	for _, k := range file.Keys() {
		if slices.Contains(known, k) {
			continue
		}
		if table, ok := file.Get(k).(map[string]any); ok && len(table) == 0 && sections[k] {
			continue
		}
		return &UnknownError{File: path, Name: k, Nearest: nearest(k, known, ".")}
	}
	return nil
}

// unknownInEnv reports the first APP_ variable (in sorted order) that names
// no key. A name is known only as EnvName spells it, upper case.
func unknownInEnv(environ, known []string) error {
	names := make([]string, len(known))
	for i, k := range known {
		names[i] = strings.TrimPrefix(EnvName(k), EnvPrefix)
	}
	var unknown []string
	for _, kv := range environ {
		name, _, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		if !slices.Contains(names, strings.TrimPrefix(name, EnvPrefix)) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	e := &UnknownError{Name: unknown[0]}
	if n := nearest(strings.TrimPrefix(unknown[0], EnvPrefix), names, "_"); n != "" {
		e.Nearest = EnvPrefix + n
	}
	return e
}

// nearest is the known name closest to give by edit distance (ignoring
// case), when within two thirds of the length of give's part after the
// section; failing that, a known name in another section with the same part
// after the section ("postgres.brokers", "addr" -> kafka.brokers, http.addr).
// Empty when nothing is close: a guess that is far off misleads.
func nearest(give string, known []string, sep string) string {
	after := func(s string) string {
		if _, rest, ok := strings.Cut(s, sep); ok {
			return rest
		}
		return s
	}
	g := strings.ToLower(give)
	best, bestDist := "", max(1, 2*len(after(g))/3)+1
	for _, k := range known {
		if d := levenshtein(g, strings.ToLower(k)); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best != "" {
		return best
	}
	for _, k := range known {
		if strings.EqualFold(after(k), after(g)) {
			return k
		}
	}
	return ""
}

// levenshtein is the least number of single-rune insertions, deletions and
// substitutions that turn a into b.
func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// printable quotes a name holding anything but printable characters (a TOML
// key may be any quoted string), so the message stays one line.
func printable(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
