package layering

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/turnstile-streams/turnstile"

// layers are the module's packages, lowest first (paths relative to the
// module; "x/..." is x and every package below it). Outside its tests, a
// package imports only packages of its own layer or a lower one.
var layers = []struct {
	name string
	pkgs []string
}{
	{"foundations", []string{"schemas", "watermark", "internal/...", "broker", "registry", "clientconf", "console"}},
	{"core", []string{"windows", "wire", "state", "codecs", "emitter"}},
	{"runtime", []string{"processors"}},
	{"services", []string{"httpapi", "status", "dashboard", "datalake", "producer", "provision", "replay"}},
	{"assemblies", []string{"devstack", "bench"}},
	{"commands", []string{"cmd/...", "schemas/internal/recordgen"}},
}

// testSupport is imported by tests only (its own packages included): it
// may import any layer, and no layer may import it. systest and interop
// hold only tests.
var testSupport = []string{"testsupport/...", "systest", "interop"}

// supportUsers lists the packages outside tests that may import a test
// support package, and which: make bench checks the windows of a real MTA
// week against the independent reference. bench is a measuring tool that
// no deployment runs.
var supportUsers = map[string][]string{
	"bench": {"testsupport/reference"},
}

// onlyImports lists, for a few packages, every package of the project
// they may import at all. The reference is the independent definition the
// pipeline is compared with: it shares no code with windows or processors.
var onlyImports = map[string][]string{
	"testsupport/reference": {"schemas"},
}

// pkg is what go list says of one package.
type pkg struct {
	ImportPath string
	Imports    []string // the non-test imports
}

func TestLayers(t *testing.T) {
	pkgs := list(t)
	if len(pkgs) < 20 {
		t.Fatalf("go list found %d packages of %s; the test runs inside the module", len(pkgs), module)
	}
	for _, v := range violations(pkgs) {
		t.Error(v)
	}
}

// TestViolationsFound: each rule fires on a graph that breaks it, and a
// graph that keeps them passes.
func TestViolationsFound(t *testing.T) {
	p := func(path string, imports ...string) pkg {
		full := make([]string, len(imports))
		for i, s := range imports {
			full[i] = module + "/" + s
		}
		return pkg{ImportPath: module + "/" + path, Imports: append(full, "fmt")}
	}
	ok := []pkg{
		p("schemas"), p("state"), p("processors", "state", "schemas", "internal/gokalog"),
		p("internal/gokalog"), p("testsupport/testenv", "processors"),
		p("testsupport/reference", "schemas"), p("cmd/turnstile", "processors"),
	}
	if v := violations(ok); len(v) > 0 {
		t.Errorf("a graph that keeps the rules: %q", v)
	}
	for _, c := range []struct {
		name string
		pkg  pkg
		want string
	}{
		{"upward", p("state", "processors"), "state (core) imports processors (runtime)"},
		{"test support", p("processors", "testsupport/testenv"), "processors imports test support testsupport/testenv"},
		{"internal not a leaf", p("internal/gokalog", "schemas"), "internal/gokalog imports schemas"},
		{"no layer", p("newthing"), "newthing is in no layer"},
		{"reference", p("testsupport/reference", "windows"), "testsupport/reference imports windows"},
	} {
		v := violations(append(slices.Clone(ok), c.pkg))
		if len(v) != 1 || !strings.Contains(v[0], c.want) {
			t.Errorf("%s: violations %q, want one saying %q", c.name, v, c.want)
		}
	}
}

// violations says every way pkgs break the rules of the package doc.
func violations(pkgs []pkg) []string {
	var out []string
	for _, p := range pkgs {
		from, ok := strings.CutPrefix(p.ImportPath, module+"/")
		if !ok {
			continue
		}
		fromLayer, fromSupport := place(from)
		if fromLayer < 0 && !fromSupport {
			out = append(out, fmt.Sprintf("%s is in no layer: add it to layers (internal/layering) and to docs/development.md", from))
			continue
		}
		for _, imp := range p.Imports {
			to, ok := strings.CutPrefix(imp, module+"/")
			if !ok {
				continue
			}
			toLayer, toSupport := place(to)
			switch {
			case toSupport && !fromSupport && !slices.Contains(supportUsers[from], to):
				out = append(out, fmt.Sprintf("%s imports test support %s: only tests may", from, to))
			case under(from, "internal") && !under(to, "internal"):
				out = append(out, fmt.Sprintf("%s imports %s: a package under internal/ imports nothing of the project outside internal/", from, to))
			case fromLayer >= 0 && toLayer > fromLayer:
				out = append(out, fmt.Sprintf("%s (%s) imports %s (%s), a higher layer", from, layers[fromLayer].name, to, layers[toLayer].name))
			}
			if allowed, ok := onlyImports[from]; ok && !slices.Contains(allowed, to) {
				out = append(out, fmt.Sprintf("%s imports %s: it may import only %v of the project", from, to, allowed))
			}
		}
	}
	return out
}

// place returns the layer of path (-1 if none) and whether it is test
// support.
func place(path string) (layer int, support bool) {
	for _, pat := range testSupport {
		if match(pat, path) {
			return -1, true
		}
	}
	for i, l := range layers {
		for _, pat := range l.pkgs {
			if match(pat, path) {
				return i, false
			}
		}
	}
	return -1, false
}

func match(pattern, path string) bool {
	if dir, ok := strings.CutSuffix(pattern, "/..."); ok {
		return under(path, dir)
	}
	return path == pattern
}

func under(path, dir string) bool { return path == dir || strings.HasPrefix(path, dir+"/") }

// list runs go list on the whole module.
func list(t *testing.T) []pkg {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to read the import graph: %v", err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(goTool, "list", "-json=ImportPath,Imports", module+"/...")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	for dec := json.NewDecoder(&stdout); ; {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}
