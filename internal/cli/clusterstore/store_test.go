package clusterstore

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func newCluster(id, name, url string) *Cluster {
	c := &Cluster{ID: id, Config: NewConfig()}
	c.Config.Set(KeyURL, url)
	c.Config.Set(KeyName, name)
	c.Config.Set(KeyToken, "secret-"+id)
	return c
}

func TestSaveModesAndRoundTrip(t *testing.T) {
	s := Store{Dir: filepath.Join(t.TempDir(), "basalt")}
	c := newCluster("6a7c-11", "prod", "https://prod.example")
	c.Config.SetBare(KeyTimeout, "45")
	if err := s.Save(c); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{s.Dir, s.root(), s.Path(c.ID)} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o700 {
			t.Errorf("%s: mode %#o, want 0700", d, got)
		}
	}
	fi, err := os.Stat(filepath.Join(s.Path(c.ID), ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("cluster.toml: mode %#o, want 0600", got)
	}
	entries, _ := os.ReadDir(s.Path(c.ID))
	if len(entries) != 1 {
		t.Errorf("cluster dir holds %d entries, want only cluster.toml (no temporary files left)", len(entries))
	}
	got, err := s.Get(c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(c.Config.Encode(), got.Config.Encode()); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if got.Attached {
		t.Error("a saved cluster is attached without Attach")
	}
}

func TestRefusesFileOthersCanRead(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	c := newCluster("abc", "a", "http://a")
	if err := s.Save(c); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(s.Path("abc"), ConfigFile)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := s.Get("abc")
	var ie *InsecureFileError
	if !errors.As(err, &ie) || ie.Path != path {
		t.Fatalf("Get of a 0644 cluster.toml: err = %v, want *InsecureFileError for %s", err, path)
	}
	if _, err := s.List(); !errors.As(err, &ie) {
		t.Errorf("List: err = %v, want the insecure file reported", err)
	}
	// Saving again (as a new login does) restores the mode.
	if err := s.Save(c); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("abc"); err != nil {
		t.Errorf("after Save: %v", err)
	}
}

func TestAttachFindRemove(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	if _, err := s.Attached(); !errors.Is(err, ErrNoneAttached) {
		t.Fatalf("empty store: Attached err = %v", err)
	}
	for _, c := range []*Cluster{
		newCluster("1111-aaaa", "prod", "https://prod"),
		newCluster("2222-bbbb", "dev", "https://dev"),
		newCluster("3333-cccc", "dev", "https://dev2"),
	} {
		if err := s.Save(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Attach("1111-aaaa"); err != nil {
		t.Fatal(err)
	}
	if err := s.Attach("2222-bbbb"); err != nil {
		t.Fatal(err)
	}
	att, err := s.Attached()
	if err != nil || att.ID != "2222-bbbb" {
		t.Fatalf("Attached = %v, %v; want 2222-bbbb", att, err)
	}
	all, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	var attached []string
	for _, c := range all {
		if c.Attached {
			attached = append(attached, c.ID)
		}
	}
	if diff := cmp.Diff([]string{"2222-bbbb"}, attached); diff != "" {
		t.Errorf("attached clusters (-want +got):\n%s", diff)
	}

	for ref, want := range map[string]string{"prod": "1111-aaaa", "3333-cccc": "3333-cccc", "11": "1111-aaaa"} {
		c, err := s.Find(ref)
		if err != nil || c.ID != want {
			t.Errorf("Find(%q) = %v, %v; want %s", ref, c, err, want)
		}
	}
	if _, err := s.Find("dev"); err == nil {
		t.Error("Find of a name two clusters share: no error")
	}
	if _, err := s.Find("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Find(nope) err = %v, want ErrNotFound", err)
	}
	if err := s.Attach("../etc"); err == nil {
		t.Error("Attach(../etc): no error")
	}

	if err := s.Remove("2222-bbbb"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.Path("2222-bbbb")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("removed cluster dir still there: %v", err)
	}
	if _, err := s.Attached(); !errors.Is(err, ErrNoneAttached) {
		t.Errorf("after removing the attached cluster: Attached err = %v", err)
	}
	if err := s.Remove("2222-bbbb"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Remove err = %v, want ErrNotFound", err)
	}
}

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"6a7c3f4e-1b2d-4c5e-8f90-123456789abc": true,
		"local.cluster_1":                      true,
		"":                                     false,
		".":                                    false,
		"..":                                   false,
		"a/b":                                  false,
		"a..b":                                 false,
		"-x":                                   false,
	} {
		if got := ValidID(id); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", id, got, want)
		}
	}
}
