package deploy

import (
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/basalt-dcos/basalt/pkg/marathon"
)

// cleanID makes id an absolute, clean path: "" and "/" are the root,
// trailing slashes are dropped, and a missing leading slash is added.
func cleanID(id string) string {
	if !strings.HasPrefix(id, "/") {
		id = "/" + id
	}
	return path.Clean(id)
}

// parentOf is the group enclosing id ("/" for "/" itself).
func parentOf(id string) string { return path.Dir(id) }

// isUnder reports whether id lies strictly below group g.
func isUnder(id, g string) bool {
	if g == "/" {
		return id != "/"
	}
	return strings.HasPrefix(id, g+"/")
}

// resolve makes dependency dep absolute, relative ones against base.
func resolve(base, dep string) string {
	if strings.HasPrefix(dep, "/") {
		return path.Clean(dep)
	}
	return path.Join(base, dep)
}

func (r Root) tree(id string) (marathon.Group, bool) {
	id = cleanID(id)
	if !r.hasGroup(id) {
		return marathon.Group{}, false
	}
	// One pass to index children by parent, then a walk from id.
	apps := make(map[string][]string)
	groups := make(map[string]map[string]bool)
	addGroup := func(g string) {
		for g != "/" {
			p := parentOf(g)
			if groups[p] == nil {
				groups[p] = make(map[string]bool)
			}
			if groups[p][g] {
				return // ancestors already added
			}
			groups[p][g] = true
			g = p
		}
	}
	for appID := range r.Apps {
		if !isUnder(appID, id) {
			continue
		}
		p := parentOf(appID)
		apps[p] = append(apps[p], appID)
		addGroup(p)
	}
	for g := range r.Groups {
		if isUnder(g, id) {
			addGroup(g)
		}
	}
	return r.build(id, apps, groups), true
}

// hasGroup reports whether id is a group: the root, an explicit group, or
// the implicit parent of some app or explicit group.
func (r Root) hasGroup(id string) bool {
	if id == "/" {
		return true
	}
	if _, ok := r.Groups[id]; ok {
		return true
	}
	for appID := range r.Apps {
		if isUnder(appID, id) {
			return true
		}
	}
	for g := range r.Groups {
		if isUnder(g, id) {
			return true
		}
	}
	return false
}

func (r Root) build(id string, apps map[string][]string, groups map[string]map[string]bool) marathon.Group {
	meta := r.Groups[id]
	enforce := meta.EnforceRole
	g := marathon.Group{
		ID:           id,
		Apps:         []marathon.App{},
		Pods:         []any{},
		Groups:       []marathon.Group{},
		Dependencies: []string{},
		Version:      meta.Version,
		EnforceRole:  &enforce,
	}
	g.Dependencies = append(g.Dependencies, meta.Dependencies...)
	appIDs := apps[id]
	slices.Sort(appIDs)
	for _, a := range appIDs {
		g.Apps = append(g.Apps, cloneApp(r.Apps[a]))
	}
	children := make([]string, 0, len(groups[id]))
	for c := range groups[id] {
		children = append(children, c)
	}
	slices.Sort(children)
	for _, c := range children {
		g.Groups = append(g.Groups, r.build(c, apps, groups))
	}
	return g
}

func (r *Root) init() {
	if r.Apps == nil {
		r.Apps = make(map[string]marathon.App)
	}
	if r.Groups == nil {
		r.Groups = make(map[string]GroupMeta)
	}
}

func (r *Root) putGroup(g marathon.Group, replace bool) {
	r.init()
	top := cleanID(g.ID)
	keepApps := make(map[string]bool)
	keepGroups := make(map[string]bool)
	var put func(g marathon.Group)
	put = func(g marathon.Group) {
		id := cleanID(g.ID)
		meta := GroupMeta{ID: id, Dependencies: []string{}, Version: g.Version}
		meta.Dependencies = append(meta.Dependencies, g.Dependencies...)
		if g.EnforceRole != nil {
			meta.EnforceRole = *g.EnforceRole
		}
		r.Groups[id] = meta
		keepGroups[id] = true
		for _, a := range g.Apps {
			a = cloneApp(a)
			a.ID = cleanID(a.ID)
			r.Apps[a.ID] = a
			keepApps[a.ID] = true
		}
		for _, c := range g.Groups {
			put(c)
		}
	}
	put(g)
	if !replace {
		return
	}
	for id := range r.Apps {
		if isUnder(id, top) && !keepApps[id] {
			delete(r.Apps, id)
		}
	}
	for id := range r.Groups {
		if isUnder(id, top) && !keepGroups[id] {
			delete(r.Groups, id)
		}
	}
}

func (r *Root) deleteGroup(id string) {
	id = cleanID(id)
	for appID := range r.Apps {
		if isUnder(appID, id) {
			delete(r.Apps, appID)
		}
	}
	for g := range r.Groups {
		if g == id || isUnder(g, id) {
			delete(r.Groups, g)
		}
	}
}

// depIndex answers dependency questions about one root: the app ids sorted,
// so that the apps under a group are one contiguous run.
type depIndex struct {
	root Root
	ids  []string
}

func newDepIndex(r Root) depIndex {
	ids := make([]string, 0, len(r.Apps))
	for id := range r.Apps {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return depIndex{root: r, ids: ids}
}

// expand appends to dst the apps dep names: the app dep and every app
// under the group dep.
func (x depIndex) expand(dst []string, dep string) []string {
	if _, ok := x.root.Apps[dep]; ok {
		dst = append(dst, dep)
	}
	prefix := dep + "/"
	if dep == "/" {
		prefix = "/"
	}
	for i := sort.SearchStrings(x.ids, prefix); i < len(x.ids) && strings.HasPrefix(x.ids[i], prefix); i++ {
		dst = append(dst, x.ids[i])
	}
	return dst
}

func (x depIndex) dependencies(appID string) []string {
	app, ok := x.root.Apps[appID]
	if !ok {
		return nil
	}
	var deps []string
	for _, d := range app.Dependencies {
		deps = x.expand(deps, resolve(parentOf(appID), d))
	}
	for g := parentOf(appID); ; g = parentOf(g) {
		for _, d := range x.root.Groups[g].Dependencies {
			target := resolve(parentOf(g), d)
			if appID == target || isUnder(appID, target) {
				continue
			}
			deps = x.expand(deps, target)
		}
		if g == "/" {
			break
		}
	}
	deps = slices.DeleteFunc(deps, func(d string) bool { return d == appID })
	slices.Sort(deps)
	return slices.Compact(deps)
}
