package kiln_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// rootOnlyKilntype are the exported names of kilntype that the root does
// not re-export, each with why a user does not need it.
var rootOnlyKilntype = map[string]string{
	"JobStates":      "lists the JobState constants, which the root re-exports",
	"BulkActions":    "lists the BulkAction constants, which the root re-exports",
	"ParseKeep":      "parses the CLI's and the HTTP API's retention text; Go callers give a time.Duration",
	"RetentionScope": "words of the CLI's and the dashboard's messages",
}

// publicSelectors are the packages of this module that the root's
// exported API may name: store.Store is the driver a user passes in
// Config.Store (from store/sqlite or store/postgres), schedule parses the
// schedules of recurring entries.
var publicSelectors = map[string]bool{"store.Store": true, "schedule": true}

// parseDir parses the non-test Go files of dir, with comments.
func parseDir(t *testing.T, dir string) []*ast.File {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// moduleImports returns the names under which f imports packages of this
// module.
func moduleImports(f *ast.File) map[string]bool {
	names := map[string]bool{}
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		if !strings.HasPrefix(p, "github.com/kilnjobs/kiln/") {
			continue
		}
		name := p[strings.LastIndex(p, "/")+1:]
		if imp.Name != nil {
			name = imp.Name.Name
		}
		names[name] = true
	}
	return names
}

// TestRootSpeaksItsOwnNames checks the root package's exported surface:
// its signatures, fields and interface methods name no type of another
// package of this module (kilntype's re-exported names are written as the
// root's, so that go doc shows kiln.JobRow), except store.Store and
// package schedule; every exported name of kilntype is re-exported under
// the same name or listed in rootOnlyKilntype; and every re-export has a
// doc comment that starts with its name (or, in a group, the group's) and
// says where it comes from. Users need not import kilntype.
func TestRootSpeaksItsOwnNames(t *testing.T) {
	t.Parallel()
	reexported := map[string]bool{}
	for _, f := range parseDir(t, ".") {
		mod := moduleImports(f)
		leak := func(where string, n ast.Node) {
			ast.Inspect(n, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				x, ok := sel.X.(*ast.Ident)
				if ok && mod[x.Name] && !publicSelectors[x.Name] && !publicSelectors[x.Name+"."+sel.Sel.Name] {
					t.Errorf("%s names %s.%s: write the root's name, or keep it out of the public API", where, x.Name, sel.Sel.Name)
				}
				return true
			})
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() || d.Recv != nil && !ast.IsExported(recvName(d.Recv)) {
					continue
				}
				leak(d.Name.Name, d.Type)
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						if !s.Name.IsExported() {
							continue
						}
						if s.Assign != 0 {
							reexported[s.Name.Name] = true
							checkReexportDoc(t, s.Name.Name, s.Doc, d)
							continue
						}
						leakFields(s.Name.Name, s.Type, leak)
					case *ast.ValueSpec:
						for i, name := range s.Names {
							if !name.IsExported() || i >= len(s.Values) {
								continue
							}
							if sel, ok := s.Values[i].(*ast.SelectorExpr); ok {
								if x, ok := sel.X.(*ast.Ident); ok && x.Name == "kilntype" && sel.Sel.Name == name.Name {
									reexported[name.Name] = true
									checkReexportDoc(t, name.Name, s.Doc, d)
								}
							}
						}
					}
				}
			}
		}
	}
	for _, f := range parseDir(t, "kilntype") {
		for name, obj := range f.Scope.Objects {
			if !ast.IsExported(name) || obj.Kind == ast.Bad {
				continue
			}
			if !reexported[name] && rootOnlyKilntype[name] == "" {
				t.Errorf("kilntype.%s is not re-exported by the root: add it (a user must not need kilntype) or say why in rootOnlyKilntype", name)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(rootOnlyKilntype)) {
		if reexported[name] {
			t.Errorf("kilntype.%s is re-exported: remove it from rootOnlyKilntype", name)
		}
	}
}

// recvName returns the name of a method receiver's type.
func recvName(recv *ast.FieldList) string {
	typ := recv.List[0].Type
	if star, ok := typ.(*ast.StarExpr); ok {
		typ = star.X
	}
	switch x := typ.(type) {
	case *ast.IndexExpr:
		typ = x.X
	case *ast.IndexListExpr:
		typ = x.X
	}
	if id, ok := typ.(*ast.Ident); ok {
		return id.Name
	}
	return ""
}

// leakFields checks the exported fields of a struct type and the methods
// of an interface type, or the whole of another type.
func leakFields(name string, typ ast.Expr, leak func(string, ast.Node)) {
	var fields *ast.FieldList
	switch x := typ.(type) {
	case *ast.StructType:
		fields = x.Fields
	case *ast.InterfaceType:
		fields = x.Methods
	default:
		leak(name, typ)
		return
	}
	for _, field := range fields.List {
		if len(field.Names) == 0 { // embedded
			leak(name, field.Type)
			continue
		}
		for _, fn := range field.Names {
			if fn.IsExported() {
				leak(name+"."+fn.Name, field.Type)
			}
		}
	}
}

// checkReexportDoc fails the test unless the re-export name, declared
// with doc in decl, has a doc comment that says it comes from kilntype: a
// declaration of its own must start with the name; in a group, its own
// comment or the group's may say it.
func checkReexportDoc(t *testing.T, name string, doc *ast.CommentGroup, decl *ast.GenDecl) {
	t.Helper()
	if !decl.Lparen.IsValid() {
		doc = decl.Doc
		if doc == nil || !strings.HasPrefix(doc.Text(), name+" ") {
			t.Errorf("%s (from kilntype) has no doc comment that starts with its name", name)
			return
		}
	}
	text := decl.Doc.Text()
	if doc != nil {
		text += doc.Text()
	}
	if !strings.Contains(text, "kilntype") {
		t.Errorf("the doc comment of %s does not say it is re-exported from kilntype: %q", name, text)
	}
}
