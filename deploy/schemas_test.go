package deploy

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// The Kubernetes OpenAPI definitions come from the kustomize module (its
// built-in schema, the API of one Kubernetes release): with no network,
// they are the official schemas at hand. strictSchemas turns them into the
// files kubeconform reads, one per kind, named as its
// {{.ResourceKind}}{{.KindSuffix}}{{.StrictSuffix}}.json template asks.

// openAPIBundle is the part of kustomize's bundle file read here.
type openAPIBundle struct {
	Coverage struct {
		Ceiling string `json:"ceiling"`
	} `json:"coverage"`
	Definitions map[string]map[string]any `json:"definitions"`
}

// readOpenAPIBundle reads a gzipped bundle file.
func readOpenAPIBundle(path string) (*openAPIBundle, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var b openAPIBundle
	if err := json.NewDecoder(zr).Decode(&b); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(b.Definitions) == 0 {
		return nil, fmt.Errorf("%s: no definitions", path)
	}
	return &b, nil
}

// gvk is an x-kubernetes-group-version-kind entry.
type gvk struct{ group, version, kind string }

// schemaFile names g's file as kubeconform's default template does, with
// the strict suffix: deployment-apps-v1-strict.json, service-v1-strict.json.
func (g gvk) schemaFile() string {
	suffix := "-" + strings.ToLower(g.version)
	if g.group != "" {
		suffix = "-" + strings.ToLower(strings.Split(g.group, ".")[0]) + "-" + strings.ToLower(g.version)
	}
	return strings.ToLower(g.kind) + suffix + "-strict.json"
}

// writeStrictSchemas writes a schema file for each kind of b into dir, and
// returns how many.
func writeStrictSchemas(b *openAPIBundle, dir string) (int, error) {
	defs := map[string]any{}
	for name, d := range b.Definitions {
		defs[name] = strict(d, name)
	}
	names := make([]string, 0, len(b.Definitions))
	for name := range b.Definitions {
		names = append(names, name)
	}
	sort.Strings(names)
	n := 0
	for _, name := range names {
		for _, g := range kinds(b.Definitions[name]) {
			reach := map[string]any{}
			reachable(defs, name, reach)
			schema := map[string]any{
				"$schema":     "http://json-schema.org/draft-04/schema#",
				"description": fmt.Sprintf("%s %s/%s of Kubernetes %s (%s), strict", g.kind, g.group, g.version, b.Coverage.Ceiling, name),
				"$ref":        "#/definitions/" + name,
				"definitions": reach,
			}
			data, err := json.Marshal(schema)
			if err != nil {
				return n, err
			}
			if err := os.WriteFile(filepath.Join(dir, g.schemaFile()), data, 0o644); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// kinds returns the group-version-kinds a definition is the schema of.
func kinds(def map[string]any) []gvk {
	var out []gvk
	list, _ := def["x-kubernetes-group-version-kind"].([]any)
	for _, e := range list {
		m, _ := e.(map[string]any)
		g, _ := m["group"].(string)
		v, _ := m["version"].(string)
		k, _ := m["kind"].(string)
		if v != "" && k != "" {
			out = append(out, gvk{g, v, k})
		}
	}
	return out
}

// strict converts an OpenAPI v2 schema to JSON Schema draft 4 as
// kubeconform's strict schemas have it: objects with properties admit no
// others, int-or-string and quantities take either form, and descriptions,
// formats and extensions go (references already point into definitions,
// which each file carries).
func strict(s map[string]any, name string) map[string]any {
	out := map[string]any{}
	switch {
	case s["format"] == "int-or-string":
		return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}
	case name == "io.k8s.apimachinery.pkg.api.resource.Quantity":
		return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}}
	}
	for k, v := range s {
		switch {
		case k == "description", k == "format", strings.HasPrefix(k, "x-"):
		case k == "properties":
			props := map[string]any{}
			for p, ps := range v.(map[string]any) {
				props[p] = strict(ps.(map[string]any), "")
			}
			out[k] = props
		case k == "items" || k == "additionalProperties":
			if m, ok := v.(map[string]any); ok {
				out[k] = strict(m, "")
			} else {
				out[k] = v
			}
		case k == "allOf" || k == "oneOf" || k == "anyOf":
			var list []any
			for _, e := range v.([]any) {
				list = append(list, strict(e.(map[string]any), ""))
			}
			out[k] = list
		default:
			out[k] = v
		}
	}
	if _, ok := s["properties"]; ok {
		if _, ok := s["additionalProperties"]; !ok {
			out["additionalProperties"] = false
		}
	}
	return out
}

// reachable adds name and every definition it refers to, transitively, to
// reach.
func reachable(defs map[string]any, name string, reach map[string]any) {
	if _, ok := reach[name]; ok {
		return
	}
	d, ok := defs[name]
	if !ok {
		return
	}
	reach[name] = d
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if r, ok := v["$ref"].(string); ok {
				reachable(defs, strings.TrimPrefix(r, "#/definitions/"), reach)
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(d)
}
