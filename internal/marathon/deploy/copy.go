package deploy

import (
	"reflect"

	"github.com/basalt-dcos/basalt/pkg/marathon"
)

// cloneApp returns a deep copy of a. It walks the value by reflection rather
// than by hand so that a field added to marathon.App later is copied too;
// nil and empty slices and maps stay as they were (they marshal
// differently).
func cloneApp(a marathon.App) marathon.App {
	return deepCopy(reflect.ValueOf(a)).Interface().(marathon.App)
}

func (g GroupMeta) clone() GroupMeta {
	g.Dependencies = cloneStrings(g.Dependencies)
	return g
}

// cloneStrings copies s, keeping nil as nil.
func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string{}, s...)
}

// deepCopy returns a copy of v sharing no pointers, slices or maps with it.
// Unexported struct fields are copied shallowly (reflection cannot set
// them); the wire types have none.
func deepCopy(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return reflect.Zero(v.Type())
		}
		p := reflect.New(v.Type().Elem())
		p.Elem().Set(deepCopy(v.Elem()))
		return p
	case reflect.Slice:
		if v.IsNil() {
			return reflect.Zero(v.Type())
		}
		s := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			s.Index(i).Set(deepCopy(v.Index(i)))
		}
		return s
	case reflect.Array:
		a := reflect.New(v.Type()).Elem()
		for i := range v.Len() {
			a.Index(i).Set(deepCopy(v.Index(i)))
		}
		return a
	case reflect.Map:
		if v.IsNil() {
			return reflect.Zero(v.Type())
		}
		m := reflect.MakeMapWithSize(v.Type(), v.Len())
		it := v.MapRange()
		for it.Next() {
			m.SetMapIndex(it.Key(), deepCopy(it.Value()))
		}
		return m
	case reflect.Struct:
		s := reflect.New(v.Type()).Elem()
		s.Set(v)
		for i := range v.NumField() {
			if s.Field(i).CanSet() {
				s.Field(i).Set(deepCopy(v.Field(i)))
			}
		}
		return s
	case reflect.Interface:
		if v.IsNil() {
			return reflect.Zero(v.Type())
		}
		i := reflect.New(v.Type()).Elem()
		i.Set(deepCopy(v.Elem()))
		return i
	default:
		return v
	}
}
