package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
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
// environment through getenv (key foo_bar from WARD_FOO_BAR). An empty
// variable counts as unset. Load does not validate: call Validate.
func Load(path string, getenv func(string) string) (Config, error) {
	cfg := Defaults()
	if path != "" {
		body, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("read config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(body))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			return cfg, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	if getenv == nil {
		return cfg, nil
	}
	var errs []error
	v := reflect.ValueOf(&cfg).Elem()
	for _, f := range fields() {
		name := EnvName(f.key)
		raw := getenv(name)
		if raw == "" {
			continue
		}
		if err := setFromString(v.Field(f.index), raw); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	return cfg, errors.Join(errs...)
}

// EnvName is the environment variable that sets a configuration key.
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(key)
}

// field is one configuration key.
type field struct {
	key    string
	index  int
	secret bool
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
		out = append(out, field{key: key, index: i, secret: sf.Tag.Get("secret") == "true"})
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
			return fmt.Errorf("not a duration (like 30s or 5m): %q", raw)
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
			return fmt.Errorf("not true or false: %q", raw)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(raw, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("not a whole number: %q", raw)
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(raw, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("not a whole number >= 0: %q", raw)
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		n, err := strconv.ParseFloat(raw, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("not a number: %q", raw)
		}
		v.SetFloat(n)
	default:
		return fmt.Errorf("cannot be set from the environment (type %s)", v.Type())
	}
	return nil
}

// Print writes the configuration as YAML, in the same shape the file takes.
// Secrets are never printed: they show as "<redacted>" when set and
// "<unset>" when empty.
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
