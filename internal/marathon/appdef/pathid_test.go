package appdef

import (
	"errors"
	"testing"
)

func TestCanonicalID(t *testing.T) {
	tests := []struct {
		id, base, want string
		wantErr        bool
	}{
		{id: "/a/b", base: "/x", want: "/a/b"},
		{id: "b", base: "/a", want: "/a/b"},
		{id: "b", base: "/", want: "/b"},
		{id: "b", base: "", want: "/b"},
		{id: "./b", base: "/a", want: "/a/b"},
		{id: "../c", base: "/a/b", want: "/a/c"},
		{id: "/a/../b", base: "/", want: "/b"},
		{id: "/a//b/", base: "/", want: "/a/b"},
		{id: "/", base: "/x", want: "/"},
		{id: "..", base: "/a", want: "/"},
		{id: "/my.app-1/web", base: "/", want: "/my.app-1/web"},
		{id: "", base: "/", wantErr: true},
		{id: "../..", base: "/a", wantErr: true},
		{id: "/A", base: "/", wantErr: true},
		{id: "/a_b", base: "/", wantErr: true},
		{id: "/-a", base: "/", wantErr: true},
		{id: "/a-", base: "/", wantErr: true},
		{id: "/a..b", base: "/", wantErr: true},
		{id: "/.a", base: "/", wantErr: true},
		{id: "b", base: "/Bad", wantErr: true},
	}
	for _, tt := range tests {
		got, err := CanonicalID(tt.id, tt.base)
		if tt.wantErr {
			if !errors.Is(err, ErrInvalidID) {
				t.Errorf("CanonicalID(%q, %q) = %q, %v; want ErrInvalidID", tt.id, tt.base, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("CanonicalID(%q, %q) = %q, %v; want %q", tt.id, tt.base, got, err, tt.want)
		}
	}
}

func TestPathForms(t *testing.T) {
	tests := []struct{ id, parent, safe, task string }{
		{id: "/group/app", parent: "/group", safe: "group_app", task: "app.group"},
		{id: "/a/b/c", parent: "/a/b", safe: "a_b_c", task: "c.b.a"},
		{id: "/app", parent: "/", safe: "app", task: "app"},
		{id: "/", parent: "/", safe: "", task: ""},
	}
	for _, tt := range tests {
		if got := Parent(tt.id); got != tt.parent {
			t.Errorf("Parent(%q) = %q, want %q", tt.id, got, tt.parent)
		}
		if got := SafePath(tt.id); got != tt.safe {
			t.Errorf("SafePath(%q) = %q, want %q", tt.id, got, tt.safe)
		}
		if got := MesosTaskName(tt.id); got != tt.task {
			t.Errorf("MesosTaskName(%q) = %q, want %q", tt.id, got, tt.task)
		}
	}
}
