package main

import (
	"fmt"
	"strings"
)

// The rules below say, for each kind of swagger 2.0 object, which fields the contract
// keeps (and how their values are filtered) and which it leaves out as prose. A field
// that is neither is an error, so a constraint the published document gains later is
// never dropped silently. x- extensions are always left out.

// action is what happens to one field.
type action int

const (
	unknownField action = iota
	keepField           // kept, its value filtered by the filter returned with it (nil: as is)
	dropField           // prose, left out
)

// filter turns one value into its contract form; where names it in errors.
type filter func(v value, where string) (value, error)

// classifier says what happens to a field of one kind of object.
type classifier func(key string) (action, filter)

// filterObject applies classify to every field of v and sorts the kept ones by key.
func filterObject(v value, where string, classify classifier) (value, error) {
	if v.obj == nil {
		return value{}, fmt.Errorf("%s: not an object", where)
	}
	out := &object{}
	for _, m := range v.obj.members {
		if strings.HasPrefix(m.key, "x-") {
			continue
		}
		act, f := classify(m.key)
		switch act {
		case dropField:
			continue
		case unknownField:
			return value{}, fmt.Errorf("%s: unknown field %q", where, m.key)
		}
		val := m.val
		if f != nil {
			var err error
			if val, err = f(m.val, where+"."+m.key); err != nil {
				return value{}, err
			}
		}
		out.set(m.key, val)
	}
	out.sortKeys()
	return objectValue(out), nil
}

// filterMap applies f to every value of the map v; sorted reorders the keys, else the
// document order is kept.
func filterMap(v value, where string, f filter, sorted bool) (value, error) {
	if v.obj == nil {
		return value{}, fmt.Errorf("%s: not an object", where)
	}
	out := &object{}
	for _, m := range v.obj.members {
		val, err := f(m.val, where+"."+m.key)
		if err != nil {
			return value{}, err
		}
		out.set(m.key, val)
	}
	if sorted {
		out.sortKeys()
	}
	return objectValue(out), nil
}

// filterList applies f to every element of the array v.
func filterList(v value, where string, f filter) (value, error) {
	if !v.isArr {
		return value{}, fmt.Errorf("%s: not an array", where)
	}
	out := value{isArr: true, arr: []value{}}
	for i, e := range v.arr {
		val, err := f(e, fmt.Sprintf("%s[%d]", where, i))
		if err != nil {
			return value{}, err
		}
		out.arr = append(out.arr, val)
	}
	return out, nil
}

// limitField classifies the fields that constrain a value, shared by schemas,
// parameters, items and headers.
func limitField(key string) bool {
	switch key {
	case "type", "format", "enum", "default", "maxLength", "minLength", "pattern",
		"maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum", "multipleOf",
		"maxItems", "minItems", "uniqueItems":
		return true
	}
	return false
}

func infoField(key string) (action, filter) {
	switch key {
	case "title", "version": // both required by swagger 2.0
		return keepField, nil
	case "description", "contact", "license", "termsOfService":
		return dropField, nil
	}
	return unknownField, nil
}

func filterSecurityScheme(v value, where string) (value, error) {
	return filterObject(v, where, func(key string) (action, filter) {
		switch key {
		case "type", "name", "in", "flow", "authorizationUrl", "tokenUrl":
			return keepField, nil
		case "scopes": // scope name → prose; the names are kept, the prose is not
			return keepField, func(v value, where string) (value, error) {
				return filterMap(v, where, func(value, string) (value, error) { return stringValue(""), nil }, true)
			}
		case "description":
			return dropField, nil
		}
		return unknownField, nil
	})
}

func pathItemField(key string) (action, filter) {
	switch key {
	case "get", "put", "post", "delete", "options", "head", "patch":
		return keepField, filterOperation
	case "parameters":
		return keepField, filterParameters
	}
	return unknownField, nil
}

func filterOperation(v value, where string) (value, error) {
	return filterObject(v, where, func(key string) (action, filter) {
		switch key {
		case "consumes", "produces", "schemes", "deprecated", "security":
			return keepField, nil
		case "parameters":
			return keepField, filterParameters
		case "responses":
			return keepField, func(v value, where string) (value, error) {
				return filterMap(v, where, filterResponse, true)
			}
		case "tags", "summary", "description", "operationId", "externalDocs":
			return dropField, nil
		}
		return unknownField, nil
	})
}

func filterParameters(v value, where string) (value, error) {
	return filterList(v, where, func(v value, where string) (value, error) {
		return filterObject(v, where, func(key string) (action, filter) {
			switch {
			case key == "name", key == "in", key == "required", key == "allowEmptyValue",
				key == "collectionFormat", limitField(key):
				return keepField, nil
			case key == "schema":
				return keepField, filterSchema
			case key == "items":
				return keepField, filterItems
			case key == "description":
				return dropField, nil
			}
			return unknownField, nil
		})
	})
}

// filterItems filters the items of a non-body parameter or header.
func filterItems(v value, where string) (value, error) {
	return filterObject(v, where, func(key string) (action, filter) {
		switch {
		case key == "collectionFormat", limitField(key):
			return keepField, nil
		case key == "items":
			return keepField, filterItems
		}
		return unknownField, nil
	})
}

// filterResponse keeps a response's schema and headers. Its description is required by
// swagger 2.0, so it stays, emptied of its prose.
func filterResponse(v value, where string) (value, error) {
	out, err := filterObject(v, where, func(key string) (action, filter) {
		switch key {
		case "schema":
			return keepField, filterSchema
		case "headers":
			return keepField, func(v value, where string) (value, error) {
				return filterMap(v, where, func(v value, where string) (value, error) {
					return filterObject(v, where, func(key string) (action, filter) {
						switch {
						case key == "collectionFormat", limitField(key):
							return keepField, nil
						case key == "items":
							return keepField, filterItems
						case key == "description":
							return dropField, nil
						}
						return unknownField, nil
					})
				}, true)
			}
		case "description", "examples":
			return dropField, nil
		}
		return unknownField, nil
	})
	if err != nil {
		return value{}, err
	}
	out.obj.set("description", stringValue(""))
	out.obj.sortKeys()
	return out, nil
}

// filterSchema filters a schema. Its properties keep their document order.
func filterSchema(v value, where string) (value, error) {
	return filterObject(v, where, func(key string) (action, filter) {
		switch {
		case key == "$ref", key == "required", key == "readOnly", key == "discriminator",
			key == "maxProperties", key == "minProperties", limitField(key):
			return keepField, nil
		case key == "items":
			return keepField, filterSchema
		case key == "allOf":
			return keepField, func(v value, where string) (value, error) { return filterList(v, where, filterSchema) }
		case key == "properties":
			return keepField, func(v value, where string) (value, error) { return filterMap(v, where, filterSchema, false) }
		case key == "additionalProperties":
			return keepField, func(v value, where string) (value, error) {
				if v.obj == nil {
					return v, nil // true or false
				}
				return filterSchema(v, where)
			}
		case key == "title", key == "description", key == "example", key == "externalDocs":
			return dropField, nil
		}
		return unknownField, nil
	})
}
