package mappings

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

//go:embed defaults/*.yaml
var defaultFiles embed.FS

// DefaultFiles returns the six embedded default mapping files (organisations.yaml, …).
func DefaultFiles() fs.FS {
	sub, err := fs.Sub(defaultFiles, "defaults")
	if err != nil { // cannot happen: the directory is embedded
		return defaultFiles
	}
	return sub
}

// Default loads the six embedded default mapping files. Property names are not checked
// against the APIs (no Schemas); use [DefaultWith] for that.
func Default() (*Set, error) { return DefaultWith(Schemas{}) }

// DefaultWith loads the embedded default mapping files, checking property names with s.
func DefaultWith(s Schemas) (*Set, error) {
	return loadFS(DefaultFiles(), "defaults", s)
}

// LoadDir loads every *.yaml file of dir. The error, a *LoadError, lists every problem with
// file, line and field.
func LoadDir(dir string, s Schemas) (*Set, error) {
	return loadFS(os.DirFS(dir), dir, s)
}

// LoadFS is LoadDir for any file system; files are named relative to fsys in messages.
func LoadFS(fsys fs.FS, s Schemas) (*Set, error) { return loadFS(fsys, "", s) }

// Check returns every problem in the mapping files of dir (none when they are fine).
func Check(dir string, s Schemas) []Problem {
	_, probs := loadAll(os.DirFS(dir), dir, s)
	return probs
}

// CheckFS is Check for any file system (e.g. [DefaultFiles]).
func CheckFS(fsys fs.FS, s Schemas) []Problem {
	_, probs := loadAll(fsys, "", s)
	return probs
}

// Problem is one thing wrong in a mapping file.
type Problem struct {
	File    string
	Line    int    // 0 when the problem concerns the whole file or set
	Field   string // the canonical field, or the key (e.g. "delete.policy"); may be empty
	Message string
}

// String formats the problem as "file:line: field: message".
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteString(":" + strconv.Itoa(p.Line))
	}
	b.WriteString(": ")
	if p.Field != "" {
		b.WriteString(p.Field + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// LoadError lists every problem found while loading mapping files.
type LoadError struct{ Problems []Problem }

// Error lists every problem, one a line.
func (e *LoadError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return fmt.Sprintf("mappings: %d problem(s):\n%s", len(e.Problems), strings.Join(lines, "\n"))
}

// Set is a validated set of pairings.
type Set struct {
	pairings map[string]*Pairing
	order    []string
}

// Pairing returns the named pairing.
func (s *Set) Pairing(name string) (*Pairing, bool) {
	p, ok := s.pairings[name]
	return p, ok
}

// Names returns the pairing names in dependency order: every pairing comes after the
// pairings it depends on; pairings at the same depth are in alphabetical order.
func (s *Set) Names() []string { return slices.Clone(s.order) }

// Pairings returns the pairings in dependency order.
func (s *Set) Pairings() []*Pairing {
	out := make([]*Pairing, len(s.order))
	for i, n := range s.order {
		out[i] = s.pairings[n]
	}
	return out
}

// ForWebCRM returns the pairing of a webCRM entity.
func (s *Set) ForWebCRM(entity string) (*Pairing, bool) {
	for _, n := range s.order {
		if p := s.pairings[n]; p.WebCRMEntity == entity {
			return p, true
		}
	}
	return nil, false
}

// ForERP returns the pairing an ERP record of resource belongs to (by the pairings' ERP
// filters; e.g. a contact with contactType employee belongs to users).
func (s *Set) ForERP(resource string, rec map[string]any) (*Pairing, bool) {
	for _, n := range s.order {
		if p := s.pairings[n]; p.ERPResource == resource && p.Accepts(rec) {
			return p, true
		}
	}
	return nil, false
}

func loadFS(fsys fs.FS, prefix string, s Schemas) (*Set, error) {
	set, probs := loadAll(fsys, prefix, s)
	if len(probs) > 0 {
		return nil, &LoadError{Problems: probs}
	}
	return set, nil
}

// loadAll parses every file, then checks the set as a whole.
func loadAll(fsys fs.FS, prefix string, s Schemas) (*Set, []Problem) {
	display := func(name string) string {
		if prefix == "" {
			return name
		}
		return filepath.Join(prefix, name)
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, []Problem{{File: display("."), Message: fmt.Sprintf("cannot read mapping directory: %v", err)}}
	}
	var probs []Problem
	var parsed []*parsedFile
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || (path.Ext(name) != ".yaml" && path.Ext(name) != ".yml") {
			continue
		}
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			probs = append(probs, Problem{File: display(name), Message: fmt.Sprintf("cannot read: %v", err)})
			continue
		}
		pf, ps := parseFile(display(name), strings.TrimSuffix(strings.TrimSuffix(name, ".yaml"), ".yml"), data, s)
		probs = append(probs, ps...)
		if pf != nil {
			parsed = append(parsed, pf)
		}
	}
	if len(parsed) == 0 && len(probs) == 0 {
		probs = append(probs, Problem{File: display("."), Message: "no mapping files (*.yaml)"})
	}
	set, ps := checkSet(parsed)
	probs = append(probs, ps...)
	sortProblems(probs)
	return set, probs
}

func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].File != ps[j].File {
			return ps[i].File < ps[j].File
		}
		return ps[i].Line < ps[j].Line
	})
}

// checkSet checks what concerns several files: unique names, references to existing
// pairings, no dependency cycles. It returns the set (nil when there are problems).
func checkSet(files []*parsedFile) (*Set, []Problem) {
	var probs []Problem
	byName := map[string]*parsedFile{}
	for _, pf := range files {
		if other, dup := byName[pf.p.Name]; dup {
			probs = append(probs, Problem{File: pf.file, Line: pf.nameLine, Field: "pairing",
				Message: fmt.Sprintf("pairing %q is also defined in %s", pf.p.Name, other.file)})
			continue
		}
		byName[pf.p.Name] = pf
	}
	for _, pf := range files {
		for _, d := range pf.p.DependsOn {
			if _, ok := byName[d]; !ok {
				probs = append(probs, Problem{File: pf.file, Line: pf.depLines[d], Field: pf.depFields[d],
					Message: fmt.Sprintf("refers to pairing %q, which does not exist (pairings: %s)", d, strings.Join(sortedKeys(byName), ", "))})
			}
		}
	}
	order, cyc := dependencyOrder(byName)
	if cyc != nil {
		first := byName[cyc[0]]
		probs = append(probs, Problem{File: first.file, Line: first.depLines[cyc[1]], Field: first.depFields[cyc[1]],
			Message: "dependency cycle: " + strings.Join(cyc, " → ") + " (a pairing cannot depend on itself, directly or through others)"})
	}
	if len(probs) > 0 || len(files) == 0 {
		return nil, probs
	}
	for _, pf := range files {
		if pf.failed {
			return nil, probs
		}
	}
	set := &Set{pairings: map[string]*Pairing{}, order: order}
	for n, pf := range byName {
		set.pairings[n] = pf.p
	}
	return set, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// dependencyOrder orders pairings by depth (a pairing's depth is one more than the deepest
// pairing it depends on), alphabetically within a depth. It returns a cycle (first name
// repeated at the end) when there is one. Unknown dependencies are ignored here.
func dependencyOrder(byName map[string]*parsedFile) ([]string, []string) {
	const (
		unseen = iota
		active
		done
	)
	state := map[string]int{}
	depth := map[string]int{}
	var stack []string
	var cycle []string
	var visit func(n string) int
	visit = func(n string) int {
		switch state[n] {
		case done:
			return depth[n]
		case active:
			if cycle == nil {
				i := slices.Index(stack, n)
				cycle = append(slices.Clone(stack[i:]), n)
			}
			return 0
		}
		state[n] = active
		stack = append(stack, n)
		d := 0
		for _, dep := range byName[n].p.DependsOn {
			if _, ok := byName[dep]; ok {
				d = max(d, visit(dep)+1)
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
		depth[n] = d
		return d
	}
	names := sortedKeys(byName)
	for _, n := range names {
		visit(n)
	}
	if cycle != nil {
		return nil, cycle
	}
	sort.SliceStable(names, func(i, j int) bool { return depth[names[i]] < depth[names[j]] })
	return names, nil
}

var yamlLine = regexp.MustCompile(`line (\d+)`)
