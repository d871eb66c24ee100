package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// EnvPrefix starts the name of every environment variable Ward reads.
const EnvPrefix = "WARD_"

// Load builds the effective configuration: the defaults, then the YAML file
// at path (when path is not empty; a key the file does not know is an
// error, so a typo never silently falls back to a default), then the
// environment through getenv (key foo_bar from WARD_FOO_BAR; an empty
// variable counts as unset), and validates the result. It reports every
// problem at once, as an errors.Join of Problem values: the file's, the
// environment's, then Validate's on whatever could be read. A value that
// could not be read (Problem.Unread) leaves its key as it was before.
func Load(path string, getenv func(string) string) (Config, error) {
	cfg, err := Read(path, getenv)
	return cfg, errors.Join(err, cfg.Validate())
}

// Read is Load without the validation: the defaults, the file and the
// environment, with every value that could not be read reported.
func Read(path string, getenv func(string) string) (Config, error) {
	cfg := Defaults()
	var ps []error
	if path != "" {
		ps = append(ps, readFile(&cfg, path)...)
	}
	if getenv != nil {
		v := reflect.ValueOf(&cfg).Elem()
		for _, f := range fields() {
			name := EnvName(f.key)
			raw := getenv(name)
			if raw == "" {
				continue
			}
			if err := setFromString(v.Field(f.index), raw); err != nil {
				ps = append(ps, Problem{Key: name, Reason: err.Error(), Unread: true})
			}
		}
	}
	return cfg, errors.Join(ps...)
}

// readFile applies the YAML file at path to cfg. It goes key by key, so
// that one bad value does not hide the others, and it is stricter than
// YAML's own decoding: a whole-number key takes only a whole number (1.5
// is not truncated), a number key takes no NaN or infinity, and a key
// given twice or a second document is an error.
func readFile(cfg *Config, path string) []error {
	fileProblem := func(format string, args ...any) Problem {
		return Problem{Key: "config file " + path, Reason: fmt.Sprintf(format, args...), Unread: true}
	}
	body, err := os.ReadFile(path)
	if err != nil {
		return []error{fileProblem("cannot read config: %v", err)}
	}
	dec := yaml.NewDecoder(bytes.NewReader(body))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // empty, or only comments
		}
		return []error{fileProblem("%s", strings.TrimPrefix(err.Error(), "yaml: "))}
	}
	var ps []error
	var second yaml.Node
	switch err := dec.Decode(&second); {
	case err == nil:
		ps = append(ps, fileProblem("line %d: a second YAML document starts here; Ward reads one: put every key in one document, without ---", second.Line))
	case !errors.Is(err, io.EOF):
		ps = append(ps, fileProblem("after the first YAML document: %s", strings.TrimPrefix(err.Error(), "yaml: ")))
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return ps // "---" alone
	}
	if root.Kind != yaml.MappingNode {
		return append(ps, fileProblem("line %d: must be a mapping of keys to values, like server_name: clinic.example.org", root.Line))
	}
	byKey := map[string]field{}
	for _, f := range fields() {
		byKey[f.key] = f
	}
	seen := map[string]int{}
	v := reflect.ValueOf(cfg).Elem()
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, val := root.Content[i], root.Content[i+1]
		at := fmt.Sprintf("line %d of %s", k.Line, path)
		f, ok := byKey[k.Value]
		if !ok || k.Kind != yaml.ScalarNode {
			ps = append(ps, Problem{Key: k.Value, Reason: at + ": not a configuration key", Unread: true})
			continue
		}
		if first, dup := seen[k.Value]; dup {
			ps = append(ps, Problem{Key: k.Value, Reason: fmt.Sprintf("%s: given twice (first at line %d)", at, first), Unread: true})
			continue
		}
		seen[k.Value] = k.Line
		if err := decodeValue(v.Field(f.index), val); err != nil {
			ps = append(ps, Problem{Key: k.Value, Reason: at + ": " + err.Error(), Unread: true})
		}
	}
	return ps
}

// decodeValue sets field from one YAML value, leaving it unchanged when
// the value does not fit.
func decodeValue(field reflect.Value, n *yaml.Node) error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.ScalarNode {
		return errors.New("must be a single value, not a list or a mapping")
	}
	tag := n.ShortTag()
	isDuration := field.Type() == durationType
	switch field.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if isDuration {
			if tag != "!!str" && tag != "!!null" {
				return wrongType(field.Type(), n.Value)
			}
		} else if tag != "!!int" && tag != "!!null" {
			return wrongType(field.Type(), n.Value)
		}
	}
	tmp := reflect.New(field.Type())
	if err := n.Decode(tmp.Interface()); err != nil {
		// YAML's own wording names Go types (!!str into time.Duration).
		return wrongType(field.Type(), n.Value)
	}
	if err := checkNumber(tmp.Elem()); err != nil {
		return err
	}
	field.Set(tmp.Elem())
	return nil
}

// wrongType says what a key of type t takes, and what it got instead.
func wrongType(t reflect.Type, got string) error {
	return fmt.Errorf("want %s, got %q", wanted(t), got)
}

// wanted describes the values of a key of type t for a person.
func wanted(t reflect.Type) string {
	if t == durationType {
		return "a duration such as 30s or 24h"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number, 0 or more"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "text"
	}
	return "a " + t.String()
}

// checkNumber refuses NaN and the infinities: no setting means either.
func checkNumber(v reflect.Value) error {
	if k := v.Kind(); k == reflect.Float32 || k == reflect.Float64 {
		if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("must be a finite number, got %v", f)
		}
	}
	return nil
}

// EnvName is the environment variable that sets a configuration key.
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(key)
}

// field is one configuration key.
type field struct {
	key    string
	index  int
	secret bool // the whole value is secret (tag secret:"true")
	dsn    bool // a database setting that may hold a password (tag secret:"dsn")
}

// fields lists the keys of Config in declaration order.
func fields() []field {
	t := reflect.TypeFor[Config]()
	var out []field
	for i := range t.NumField() {
		sf := t.Field(i)
		key, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if key == "" || key == "-" || !sf.IsExported() {
			continue
		}
		out = append(out, field{key: key, index: i, secret: sf.Tag.Get("secret") == "true", dsn: sf.Tag.Get("secret") == "dsn"})
	}
	return out
}

// Keys lists every configuration key in declaration order.
func Keys() []string {
	var out []string
	for _, f := range fields() {
		out = append(out, f.key)
	}
	return out
}

var durationType = reflect.TypeFor[time.Duration]()

func setFromString(v reflect.Value, raw string) error {
	if v.Type() == durationType {
		d, err := time.ParseDuration(raw)
		if err != nil {
			return wrongType(v.Type(), raw)
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return wrongType(v.Type(), raw)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(raw, 10, v.Type().Bits())
		if err != nil {
			return wrongType(v.Type(), raw)
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(raw, 10, v.Type().Bits())
		if err != nil {
			return wrongType(v.Type(), raw)
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		n, err := strconv.ParseFloat(raw, v.Type().Bits())
		if err != nil {
			return wrongType(v.Type(), raw)
		}
		if math.IsNaN(n) || math.IsInf(n, 0) {
			return fmt.Errorf("must be a finite number, got %q", raw)
		}
		v.SetFloat(n)
	default:
		return fmt.Errorf("cannot be set from the environment (type %s)", v.Type())
	}
	return nil
}

// Print writes the configuration as YAML, in the same shape the file takes.
// Secrets are never printed: they show as "<redacted>" when set and
// "<unset>" when empty, and the database setting shows without its
// password (postgres://user:<redacted>@host/db, password=<redacted>).
func (c Config) Print(w io.Writer) error {
	doc := &yaml.Node{Kind: yaml.MappingNode}
	v := reflect.ValueOf(c)
	for _, f := range fields() {
		fv := v.Field(f.index)
		var node yaml.Node
		switch {
		case f.secret && fv.IsZero():
			node = yaml.Node{Kind: yaml.ScalarNode, Value: "<unset>"}
		case f.secret:
			node = yaml.Node{Kind: yaml.ScalarNode, Value: "<redacted>"}
		case f.dsn:
			node = yaml.Node{Kind: yaml.ScalarNode, Value: RedactDSN(fv.String())}
		case fv.Type() == durationType:
			node = yaml.Node{Kind: yaml.ScalarNode, Value: time.Duration(fv.Int()).String()}
		default:
			if err := node.Encode(fv.Interface()); err != nil {
				return fmt.Errorf("print %s: %w", f.key, err)
			}
		}
		doc.Content = append(doc.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: f.key}, &node)
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return err
	}
	return enc.Close()
}

// UnknownEnv lists the variables of environ (KEY=value pairs, as
// os.Environ gives them) that start with WARD_ but set no configuration
// key, such as a misspelt WARD_REGISTRATON, each with the variable it
// probably meant ("" when none is close). WARD_CONFIG and the test
// suite's WARD_TEST_* are not keys but are Ward's own.
func UnknownEnv(environ []string) (names, meant []string) {
	candidates := []string{EnvPrefix + "CONFIG"}
	for _, k := range Keys() {
		candidates = append(candidates, EnvName(k))
	}
	known := map[string]bool{}
	for _, c := range candidates {
		known[c] = true
	}
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) || known[name] || strings.HasPrefix(name, EnvPrefix+"TEST_") {
			continue
		}
		best, bestD := "", 4 // suggest only names a few edits away
		for _, k := range candidates {
			if d := editDistance(name, k); d < bestD {
				best, bestD = k, d
			}
		}
		names, meant = append(names, name), append(meant, best)
	}
	return names, meant
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
