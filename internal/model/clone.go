package model

import (
	"encoding/json"
	"fmt"
	"reflect"
)

// Clone returns a deep copy of obj, of the same Go type, made by a JSON round trip (fields
// without a Go field of their own, like FelixConfigurationSpec.Extra, survive because they
// marshal). obj need not be registered or carry its TypeMeta. It panics only if obj does not
// survive its own JSON encoding, a programming error for any type in this package or
// k8s.io/api.
func Clone(obj Object) Object {
	t := reflect.TypeOf(obj)
	if t.Kind() != reflect.Pointer {
		panic(fmt.Sprintf("model.Clone: %T is not a pointer", obj))
	}
	b, err := json.Marshal(obj)
	if err != nil {
		panic(fmt.Sprintf("model.Clone: marshal %T %s: %v", obj, obj.GetName(), err))
	}
	out := reflect.New(t.Elem()).Interface().(Object)
	if err := json.Unmarshal(b, out); err != nil {
		panic(fmt.Sprintf("model.Clone: unmarshal %T %s: %v", obj, obj.GetName(), err))
	}
	return out
}
