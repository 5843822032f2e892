package houserules

import (
	"bufio"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// The rules, as data. Edit these tables (and say why in the commit) rather
// than special-casing code below.

// forbiddenNames are package names that say nothing about what a package is for.
var forbiddenNames = map[string]bool{
	"util": true, "utils": true, "common": true, "helper": true, "helpers": true, "misc": true, "types": true,
}

// domainPackages (module-relative; a trailing "/..." includes subpackages)
// hold pure logic or data and must not import net/http or the CLI.
var domainPackages = []string{
	"internal/mesos/allocator/...",
	"internal/marathon/appdef",
	"internal/marathon/deploy",
	"internal/marathon/match",
	"internal/dns/records",
	"internal/containerizer",
	"pkg/mesosv1",
}

// domainForbidden are the imports domain packages must not have; an entry
// ending in "/" forbids the subtree too. "{mod}" is the module path.
var domainForbidden = []string{"net/http", "net/http/", "{mod}/internal/cli", "github.com/spf13/cobra"}

// guarded packages may be imported only from the listed trees (and their own
// subtree): they compose whole roles, and anything else importing them would
// tangle the layers.
var guarded = map[string][]string{
	"internal/master": {"internal/cli", "internal/clustertest", "e2e"},
	"internal/agent":  {"internal/cli", "internal/clustertest", "e2e"},
}

// exitFuncs end the process; only commands (cmd/ and other package main)
// may call them, and TestMain in tests.
var exitFuncs = map[string][]string{
	"os":      {"Exit"},
	"log":     {"Fatal", "Fatalf", "Fatalln"},
	"syscall": {"Exit"},
}

// readOnlyConstructors produce values nobody mutates; a package-level var
// initialised by one of them needs no "read-only" comment.
var readOnlyConstructors = map[string]bool{
	"errors.New": true, "fmt.Errorf": true, "regexp.MustCompile": true,
}

// insecureTLSAllowed are the only production files that may turn TLS
// verification off (InsecureSkipVerify), each for a reason outside the
// cluster's own trust: in-cluster clients verify every peer against the
// cluster CA (docs/tls.md) and never skip it.
var insecureTLSAllowed = map[string]string{ // read-only
	"internal/cli/dcos_http.go":       "the user's --insecure or core.ssl_verify=false, as in dcos-cli",
	"internal/agent/health/health.go": "HTTPS health checks of tasks, which Mesos runs without verifying (curl -k)",
}

// sourceFile is one parsed .go file.
type sourceFile struct {
	rel  string // slash path relative to the module root
	test bool
	ast  *ast.File
	fset *token.FileSet
}

// sameLineComments returns the comments that start on the line of pos, such
// as "var table = map[string]bool{ // read-only".
func (f sourceFile) sameLineComments(pos token.Pos) []*ast.CommentGroup {
	line := f.fset.Position(pos).Line
	var out []*ast.CommentGroup
	for _, cg := range f.ast.Comments {
		if f.fset.Position(cg.Pos()).Line == line {
			out = append(out, cg)
		}
	}
	return out
}

// check walks the module rooted at root and returns one line per violation,
// "path:line: message", sorted.
func check(root, module string) ([]string, error) {
	dirs := map[string][]sourceFile{} // module-relative dir → files
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "vendor" || name == "node_modules") {
				return filepath.SkipDir
			}
			if p != root {
				if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
					return filepath.SkipDir // another module
				}
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		f, err := parser.ParseFile(fset, p, nil, parser.ParseComments)
		if err != nil {
			return fmt.Errorf("parse: %w", err)
		}
		dirs[path.Dir(rel)] = append(dirs[path.Dir(rel)], sourceFile{rel: rel, test: strings.HasSuffix(name, "_test.go"), ast: f, fset: fset})
		return nil
	})
	if err != nil {
		return nil, err
	}

	type violation struct {
		file string
		line int
		msg  string
	}
	var vs []violation
	report := func(pos token.Pos, format string, args ...any) {
		p := fset.Position(pos)
		rel, _ := filepath.Rel(root, p.Filename)
		vs = append(vs, violation{filepath.ToSlash(rel), p.Line, fmt.Sprintf(format, args...)})
	}
	for dir, files := range dirs {
		checkPackage(dir, module, files, report)
	}
	sort.Slice(vs, func(i, j int) bool {
		if vs[i].file != vs[j].file {
			return vs[i].file < vs[j].file
		}
		if vs[i].line != vs[j].line {
			return vs[i].line < vs[j].line
		}
		return vs[i].msg < vs[j].msg
	})
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = fmt.Sprintf("%s:%d: %s", v.file, v.line, v.msg)
	}
	return out, nil
}

func checkPackage(dir, module string, files []sourceFile, report func(token.Pos, string, ...any)) {
	var prod []sourceFile
	for _, f := range files {
		if !f.test {
			prod = append(prod, f)
		}
	}

	// Package names.
	if len(prod) > 0 {
		name := prod[0].ast.Name.Name
		if forbiddenNames[name] || forbiddenNames[path.Base(dir)] {
			report(prod[0].ast.Name.Pos(), "package %s: name says nothing about its purpose (forbidden: util, common, helpers, misc, types...)", name)
		}
		documented := false
		for _, f := range prod {
			if f.ast.Doc != nil && strings.TrimSpace(f.ast.Doc.Text()) != "" {
				documented = true
			}
		}
		if !documented {
			report(prod[0].ast.Name.Pos(), "package %s has no package doc comment saying what it is for and must not do", name)
		}
	}

	for _, f := range files {
		checkImports(dir, module, f, report)
		if !f.test {
			if _, ok := insecureTLSAllowed[f.rel]; !ok {
				checkInsecureTLS(f, report)
			}
		}
		// Commands may exit: cmd/ and any other package main (benchmarks,
		// examples). Library code returns errors.
		if !strings.HasPrefix(dir+"/", "cmd/") && f.ast.Name.Name != "main" {
			checkExits(f, report)
		}
	}
	checkPackageVars(prod, report)
}

func underAny(dir string, trees []string) bool {
	for _, t := range trees {
		if dir == t || strings.HasPrefix(dir, t+"/") {
			return true
		}
	}
	return false
}

func isDomain(dir string) bool {
	for _, d := range domainPackages {
		if tree, ok := strings.CutSuffix(d, "/..."); ok {
			if underAny(dir, []string{tree}) {
				return true
			}
		} else if dir == d {
			return true
		}
	}
	return false
}

func checkImports(dir, module string, f sourceFile, report func(token.Pos, string, ...any)) {
	for _, imp := range f.ast.Imports {
		p, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			continue
		}
		if underAny(dir, []string{"pkg"}) && underAny(p, []string{module + "/internal"}) {
			report(imp.Pos(), "pkg/ is for outside users and must not import %s", p)
		}
		if !f.test && isDomain(dir) {
			for _, bad := range domainForbidden {
				bad = strings.ReplaceAll(bad, "{mod}", module)
				if p == bad || (strings.HasSuffix(bad, "/") && strings.HasPrefix(p, bad)) {
					report(imp.Pos(), "domain package %s must not import %s", dir, p)
				}
			}
		}
		for g, allowed := range guarded {
			if p != module+"/"+g {
				continue
			}
			if !underAny(dir, append([]string{g}, allowed...)) {
				report(imp.Pos(), "%s may be imported only by %s (and itself)", g, strings.Join(allowed, ", "))
			}
		}
	}
}

// checkInsecureTLS flags every mention of tls.Config's InsecureSkipVerify.
func checkInsecureTLS(f sourceFile, report func(token.Pos, string, ...any)) {
	ast.Inspect(f.ast, func(n ast.Node) bool {
		var id *ast.Ident
		switch n := n.(type) {
		case *ast.KeyValueExpr:
			id, _ = n.Key.(*ast.Ident)
		case *ast.SelectorExpr:
			id = n.Sel
		}
		if id != nil && id.Name == "InsecureSkipVerify" {
			report(id.Pos(), "InsecureSkipVerify outside tests: verify the peer (the cluster CA), or list the file in insecureTLSAllowed with its reason")
		}
		return true
	})
}

// importNames maps the local name of each import in f to its path.
func importNames(f *ast.File) map[string]string {
	m := map[string]string{}
	for _, imp := range f.Imports {
		p, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			continue
		}
		name := path.Base(p)
		if imp.Name != nil {
			name = imp.Name.Name
		}
		m[name] = p
	}
	return m
}

func checkExits(f sourceFile, report func(token.Pos, string, ...any)) {
	names := importNames(f.ast)
	for _, decl := range f.ast.Decls {
		fn, isFunc := decl.(*ast.FuncDecl)
		if isFunc && f.test && fn.Recv == nil && fn.Name.Name == "TestMain" {
			continue
		}
		ast.Inspect(decl, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			x, ok := sel.X.(*ast.Ident)
			if !ok || x.Obj != nil { // a local variable, not a package
				return true
			}
			for _, fname := range exitFuncs[names[x.Name]] {
				if sel.Sel.Name == fname {
					report(call.Pos(), "%s.%s outside cmd/: return an error instead", names[x.Name], fname)
				}
			}
			return true
		})
	}
}

// checkPackageVars flags package-level state that can change. The heuristic
// (documented in README's house rules): a package-level var must be `_`, an
// error/regexp built by a known read-only constructor, or carry a comment
// saying it is "read-only" (tables, or a version string set by the linker);
// and no function may assign to it. The comment may be the var's doc, or
// a comment on the line where its declaration starts.
func checkPackageVars(files []sourceFile, report func(token.Pos, string, ...any)) {
	names := map[string]bool{}
	specs := map[*ast.ValueSpec]bool{}
	for _, f := range files {
		imports := importNames(f.ast)
		for _, decl := range f.ast.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, s := range gd.Specs {
				vs := s.(*ast.ValueSpec)
				specs[vs] = true
				docs := append([]*ast.CommentGroup{vs.Doc, vs.Comment}, f.sameLineComments(vs.Pos())...)
				if len(gd.Specs) == 1 || gd.Lparen.IsValid() {
					docs = append(docs, gd.Doc)
				}
				readOnly := false
				for _, cg := range docs {
					if cg != nil {
						t := strings.ToLower(cg.Text())
						if strings.Contains(t, "read-only") || strings.Contains(t, "read only") {
							readOnly = true
						}
					}
				}
				for i, n := range vs.Names {
					if n.Name == "_" {
						continue
					}
					names[n.Name] = true
					if readOnly || (i < len(vs.Values) && builtReadOnly(vs.Values[i], imports)) {
						continue
					}
					report(n.Pos(), "package-level var %s: make it a const, move it into a struct, or document it as read-only", n.Name)
				}
			}
		}
	}

	isPkgVar := func(e ast.Expr) (string, bool) {
		for {
			switch x := e.(type) {
			case *ast.ParenExpr:
				e = x.X
			case *ast.IndexExpr:
				e = x.X
			case *ast.SelectorExpr:
				e = x.X
			case *ast.StarExpr:
				e = x.X
			case *ast.Ident:
				if x.Obj == nil {
					return x.Name, names[x.Name] // declared in another file of the package
				}
				vs, ok := x.Obj.Decl.(*ast.ValueSpec)
				return x.Name, ok && specs[vs]
			default:
				return "", false
			}
		}
	}
	for _, f := range files {
		for _, decl := range f.ast.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				var lhs []ast.Expr
				switch s := n.(type) {
				case *ast.AssignStmt:
					if s.Tok != token.DEFINE {
						lhs = s.Lhs
					}
				case *ast.IncDecStmt:
					lhs = []ast.Expr{s.X}
				}
				for _, e := range lhs {
					if name, ok := isPkgVar(e); ok {
						report(e.Pos(), "assigns package-level var %s: keep state in a struct", name)
					}
				}
				return true
			})
		}
	}
}

func builtReadOnly(e ast.Expr, imports map[string]string) bool {
	call, ok := e.(*ast.CallExpr)
	if !ok {
		return false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	x, ok := sel.X.(*ast.Ident)
	if !ok {
		return false
	}
	return readOnlyConstructors[imports[x.Name]+"."+sel.Sel.Name]
}

// moduleRoot finds the directory holding go.mod above the test's directory
// and the module path it declares.
func moduleRoot() (dir, module string, err error) {
	dir, err = os.Getwd()
	if err != nil {
		return "", "", err
	}
	for {
		f, err := os.Open(filepath.Join(dir, "go.mod"))
		if err == nil {
			defer f.Close()
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if m, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
					return dir, strings.Trim(strings.TrimSpace(m), `"`), nil
				}
			}
			return "", "", errors.New("go.mod has no module line")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
