// schema.go: the subset of JSON Schema (draft 7) that Helm's values check
// applies and our chart uses: type (one or a list; "integer" = a number
// with no fraction), enum, const, required, properties,
// additionalProperties (false or a schema), items (one schema), minimum,
// maximum, minLength, pattern, minItems. Other keywords ($ref, oneOf, ...)
// are not understood: a schema using them is refused rather than passed
// unchecked.
package main

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strings"
)

var knownKeywords = map[string]bool{
	"$schema": true, "$id": true, "title": true, "description": true, "default": true,
	"examples": true, "type": true, "enum": true, "const": true, "required": true,
	"properties": true, "additionalProperties": true, "items": true, "minimum": true,
	"maximum": true, "minLength": true, "pattern": true, "minItems": true,
}

func validateSchema(schemaText []byte, values map[string]interface{}) []string {
	var schema map[string]interface{}
	if err := json.Unmarshal(schemaText, &schema); err != nil {
		return []string{"values.schema.json: " + err.Error()}
	}
	var errs []string
	check(schema, values, "(root)", &errs)
	return errs
}

func jsonType(v interface{}) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case float64:
		if t == math.Trunc(t) {
			return "integer"
		}
		return "number"
	case int, int64:
		return "integer"
	case map[string]interface{}:
		return "object"
	case []interface{}:
		return "array"
	}
	return fmt.Sprintf("%T", v)
}

func asFloat(v interface{}) (float64, bool) {
	switch t := v.(type) {
	case float64:
		return t, true
	case int:
		return float64(t), true
	case int64:
		return float64(t), true
	}
	return 0, false
}

func typeMatches(want, got string) bool {
	return want == got || (want == "number" && got == "integer")
}

func check(schema map[string]interface{}, v interface{}, at string, errs *[]string) {
	fail := func(format string, a ...interface{}) {
		*errs = append(*errs, at+": "+fmt.Sprintf(format, a...))
	}
	keys := make([]string, 0, len(schema))
	for k := range schema {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !knownKeywords[k] {
			fail("schema keyword %q is not supported by helm-render", k)
		}
	}
	if t, ok := schema["type"]; ok {
		var wants []string
		switch tt := t.(type) {
		case string:
			wants = []string{tt}
		case []interface{}:
			for _, w := range tt {
				wants = append(wants, fmt.Sprint(w))
			}
		}
		got := jsonType(v)
		okType := false
		for _, w := range wants {
			okType = okType || typeMatches(w, got)
		}
		if !okType {
			fail("Invalid type. Expected: %s, given: %s", strings.Join(wants, " or "), got)
			return
		}
	}
	if enum, ok := schema["enum"].([]interface{}); ok {
		found := false
		for _, e := range enum {
			found = found || equalJSON(e, v)
		}
		if !found {
			fail("%s must be one of the following: %s", at, enumText(enum))
		}
	}
	if c, ok := schema["const"]; ok && !equalJSON(c, v) {
		fail("%s does not match: %s", at, toJSON(c))
	}
	if n, ok := asFloat(v); ok {
		if min, ok := schema["minimum"].(float64); ok && n < min {
			fail("Must be greater than or equal to %v", min)
		}
		if max, ok := schema["maximum"].(float64); ok && n > max {
			fail("Must be less than or equal to %v", max)
		}
	}
	if s, ok := v.(string); ok {
		if ml, ok := schema["minLength"].(float64); ok && float64(len([]rune(s))) < ml {
			fail("String length must be greater than or equal to %v", ml)
		}
		if p, ok := schema["pattern"].(string); ok {
			rx, err := regexp.Compile(p)
			if err != nil {
				fail("bad pattern %q: %v", p, err)
			} else if !rx.MatchString(s) {
				fail("Does not match pattern '%s'", p)
			}
		}
	}
	if obj, ok := v.(map[string]interface{}); ok {
		if req, ok := schema["required"].([]interface{}); ok {
			for _, r := range req {
				if _, present := obj[fmt.Sprint(r)]; !present {
					fail("%s is required", r)
				}
			}
		}
		props, _ := schema["properties"].(map[string]interface{})
		names := make([]string, 0, len(obj))
		for k := range obj {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			child := at + "." + k
			if at == "(root)" {
				child = k
			}
			if ps, ok := props[k].(map[string]interface{}); ok {
				check(ps, obj[k], child, errs)
				continue
			}
			switch ap := schema["additionalProperties"].(type) {
			case bool:
				if !ap {
					fail("Additional property %s is not allowed", k)
				}
			case map[string]interface{}:
				check(ap, obj[k], child, errs)
			}
		}
	}
	if arr, ok := v.([]interface{}); ok {
		if mi, ok := schema["minItems"].(float64); ok && float64(len(arr)) < mi {
			fail("Array must have at least %v items", mi)
		}
		if items, ok := schema["items"].(map[string]interface{}); ok {
			for i, e := range arr {
				check(items, e, fmt.Sprintf("%s.%d", at, i), errs)
			}
		}
	}
}

func equalJSON(a, b interface{}) bool {
	fa, oka := asFloat(a)
	fb, okb := asFloat(b)
	if oka && okb {
		return fa == fb
	}
	return reflect.DeepEqual(a, b)
}

func enumText(enum []interface{}) string {
	parts := make([]string, len(enum))
	for i, e := range enum {
		parts[i] = toJSON(e)
	}
	return strings.Join(parts, ", ")
}
