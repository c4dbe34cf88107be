package model

import (
	"encoding/json"
	"fmt"
)

// Clone returns a deep copy of obj of the same type, made by a JSON round trip (so fields
// without a JSON form, like FelixConfigurationSpec.Extra, survive because they marshal).
// It panics if obj's kind is not registered or obj does not marshal: both are programming
// errors for objects that came through Decode or the store.
func Clone(obj Object) Object {
	key, ok := KeyOf(obj)
	if !ok {
		panic(fmt.Sprintf("model.Clone: unregistered kind %v", obj.GetObjectKind().GroupVersionKind()))
	}
	b, err := json.Marshal(obj)
	if err != nil {
		panic(fmt.Sprintf("model.Clone: marshal %s: %v", key, err))
	}
	out := key.Kind.New()
	if err := json.Unmarshal(b, out); err != nil {
		panic(fmt.Sprintf("model.Clone: unmarshal %s: %v", key, err))
	}
	return out
}
