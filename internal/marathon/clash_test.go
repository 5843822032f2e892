package marathon

import (
	"testing"

	"github.com/basalt-dcos/basalt/internal/marathon/deploy"
	v2 "github.com/basalt-dcos/basalt/pkg/marathon"
)

func TestCheckIDClashes(t *testing.T) {
	apps := func(ids ...string) map[string]v2.App {
		m := map[string]v2.App{}
		for _, id := range ids {
			m[id] = v2.App{ID: id}
		}
		return m
	}
	for _, tc := range []struct {
		name  string
		root  deploy.Root
		clash bool
	}{
		{"siblings", deploy.Root{Apps: apps("/a", "/a-b", "/b/c")}, false},
		{"app under app", deploy.Root{Apps: apps("/a", "/a/c")}, true},
		{"deep", deploy.Root{Apps: apps("/x/y", "/x/y/z/w")}, true},
		{"explicit group", deploy.Root{Apps: apps("/g"), Groups: map[string]deploy.GroupMeta{"/g": {ID: "/g"}}}, true},
		{"prefix is not a parent", deploy.Root{Apps: apps("/ab", "/a/b")}, false},
	} {
		if err := checkIDClashes(tc.root); (err != nil) != tc.clash {
			t.Errorf("%s: err = %v, want clash %v", tc.name, err, tc.clash)
		}
	}
}
