// Command renderer renders a Helm 3 chart the way `helm template` does, for machines without
// helm (the chart tests in test/chart use helm when it is on PATH and this otherwise).
//
// Helm's engine is Go text/template with sprig's function map; this adds what Helm adds on top and
// the Rein chart uses: include, tpl, required, toYaml, fromYaml, toJson, fromJson, lookup (empty, as
// in `helm template`), .Files.Get, .Release, .Chart, .Capabilities, .Template, values merged from
// values.yaml and -f files (numbers become float64, as Helm's JSON round trip makes them),
// missingkey=zero with "<no value>" blanked, and the chart's kubeVersion constraint. It does not
// do subcharts, --set, or the install ordering of kinds: the tests need none of them.
//
// It builds in GOPATH mode from Debian's packages (golang-go, golang-github-masterminds-sprig-dev,
// golang-gopkg-yaml.v2-dev), with no module proxy:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o renderer .
//
// Usage:
//
//	renderer --chart DIR [-f values.yaml]... [--name NAME] [--namespace NS] [--kube-version 1.30.0]
//	         [--api-versions a/v1,b/v1] [--upgrade] [--show-values | --notes]
//
// The manifests go to stdout as a multi-document YAML stream, each document headed by a
// `# Source: <chart>/templates/<file>` comment, as helm prints them; errors go to stderr, exit 1.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/semver"
	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v2"
)

type valueFiles []string

func (v *valueFiles) String() string     { return strings.Join(*v, ",") }
func (v *valueFiles) Set(s string) error { *v = append(*v, s); return nil }

// VersionSet is .Capabilities.APIVersions: templates call .Has "group/version" or "group/version/Kind".
type VersionSet []string

func (v VersionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

// Files is .Files: every chart file outside templates/, by its path in the chart.
type Files map[string][]byte

func (f Files) GetBytes(name string) []byte { return f[name] }
func (f Files) Get(name string) string      { return string(f[name]) }
func (f Files) Lines(name string) []string {
	if f[name] == nil {
		return []string{}
	}
	return strings.Split(strings.TrimRight(string(f[name]), "\n"), "\n")
}

// Helm's built-in API versions for `helm template` without a cluster, trimmed to the groups a chart
// commonly probes; --api-versions adds more (e.g. monitoring.coreos.com/v1).
var defaultAPIVersions = []string{
	"v1", "apps/v1", "batch/v1", "autoscaling/v1", "autoscaling/v2", "policy/v1",
	"networking.k8s.io/v1", "rbac.authorization.k8s.io/v1", "storage.k8s.io/v1",
	"apiextensions.k8s.io/v1", "coordination.k8s.io/v1", "discovery.k8s.io/v1",
	"admissionregistration.k8s.io/v1", "scheduling.k8s.io/v1", "node.k8s.io/v1",
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	var files valueFiles
	chartDir := flag.String("chart", "", "the chart directory (holds Chart.yaml)")
	name := flag.String("name", "release-name", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	kubeVersion := flag.String("kube-version", "1.30.0", "Kubernetes version for .Capabilities")
	apiVersions := flag.String("api-versions", "", "extra API versions for .Capabilities.APIVersions, comma-separated")
	upgrade := flag.Bool("upgrade", false, "render as an upgrade (.Release.IsUpgrade)")
	showValues := flag.Bool("show-values", false, "print the merged values as JSON instead of rendering")
	notes := flag.Bool("notes", false, "print the rendered NOTES.txt instead of the manifests")
	flag.Var(&files, "f", "values file merged over values.yaml (repeatable; later files win)")
	flag.Parse()
	if *chartDir == "" {
		return errors.New("--chart DIR is required")
	}

	chartMeta, err := readYAMLFile(filepath.Join(*chartDir, "Chart.yaml"))
	if err != nil {
		return err
	}
	chartName, _ := chartMeta["name"].(string)
	if chartName == "" {
		return errors.New("Chart.yaml: name is required")
	}
	values, err := readYAMLFile(filepath.Join(*chartDir, "values.yaml"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if values == nil {
		values = map[string]interface{}{}
	}
	for _, f := range files {
		override, err := readYAMLFile(f)
		if err != nil {
			return err
		}
		values = coalesce(values, override)
	}
	if *showValues {
		out, err := json.MarshalIndent(values, "", "  ")
		if err != nil {
			return err
		}
		fmt.Println(string(out))
		return nil
	}

	kv, err := semver.NewVersion(*kubeVersion)
	if err != nil {
		return fmt.Errorf("--kube-version %q: %v", *kubeVersion, err)
	}
	if c, _ := chartMeta["kubeVersion"].(string); c != "" {
		constraint, err := semver.NewConstraint(c)
		if err != nil {
			return fmt.Errorf("Chart.yaml: kubeVersion %q: %v", c, err)
		}
		if !constraint.Check(kv) {
			return fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes v%s", c, kv)
		}
	}
	versions := VersionSet(append([]string{}, defaultAPIVersions...))
	for _, v := range strings.Split(*apiVersions, ",") {
		if v = strings.TrimSpace(v); v != "" {
			versions = append(versions, v)
		}
	}

	chartFiles, templates, err := readChart(*chartDir, chartName)
	if err != nil {
		return err
	}
	top := map[string]interface{}{
		"Values": values,
		"Chart":  chartObject(chartMeta),
		"Release": map[string]interface{}{
			"Name": *name, "Namespace": *namespace, "Service": "Helm", "Revision": 1,
			"IsInstall": !*upgrade, "IsUpgrade": *upgrade,
		},
		"Capabilities": map[string]interface{}{
			"KubeVersion": map[string]interface{}{
				"Version": "v" + kv.String(), "GitVersion": "v" + kv.String(),
				"Major": fmt.Sprint(kv.Major()), "Minor": fmt.Sprint(kv.Minor()),
			},
			"APIVersions": versions,
			"HelmVersion": map[string]interface{}{"Version": "v3-compatible (test renderer)"},
		},
		"Files": chartFiles,
	}
	rendered, err := render(templates, top, chartName)
	if err != nil {
		return err
	}
	notesName := chartName + "/templates/NOTES.txt"
	if *notes {
		fmt.Print(rendered[notesName])
		return nil
	}
	names := make([]string, 0, len(rendered))
	for n := range rendered {
		if n != notesName {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var out strings.Builder
	for _, n := range names {
		for _, doc := range splitManifests(rendered[n]) {
			fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", n, doc)
		}
	}
	_, err = os.Stdout.WriteString(out.String())
	return err
}

// readChart returns .Files (everything outside templates/) and the templates by their Helm names.
func readChart(dir, chartName string) (Files, map[string]string, error) {
	files := Files{}
	templates := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.HasPrefix(rel, "templates/") {
			templates[chartName+"/"+rel] = string(data)
		} else if rel != "Chart.yaml" && rel != "values.yaml" && rel != "values.schema.json" {
			files[rel] = data
		}
		return nil
	})
	return files, templates, err
}

// chartObject is .Chart: Chart.yaml's fields with Helm's Go field names (apiVersion → APIVersion).
func chartObject(meta map[string]interface{}) map[string]interface{} {
	special := map[string]string{"apiVersion": "APIVersion", "appVersion": "AppVersion", "kubeVersion": "KubeVersion"}
	out := map[string]interface{}{}
	for k, v := range meta {
		if s, ok := special[k]; ok {
			out[s] = v
		} else if k != "" {
			out[strings.ToUpper(k[:1])+k[1:]] = v
		}
	}
	return out
}

// render executes every template that is not a partial (`_*`), as Helm's engine does.
func render(templates map[string]string, top map[string]interface{}, chartName string) (map[string]string, error) {
	t := template.New("gotpl").Option("missingkey=zero")
	funcs := funcMap(t)
	t.Funcs(funcs)
	names := make([]string, 0, len(templates))
	for n := range templates {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, err := t.New(n).Parse(templates[n]); err != nil {
			return nil, fmt.Errorf("parse error in %v", err)
		}
	}
	out := map[string]string{}
	for _, n := range names {
		if strings.HasPrefix(path.Base(n), "_") {
			continue
		}
		data := map[string]interface{}{}
		for k, v := range top {
			data[k] = v
		}
		data["Template"] = map[string]interface{}{"Name": n, "BasePath": chartName + "/templates"}
		var buf bytes.Buffer
		if err := t.ExecuteTemplate(&buf, n, data); err != nil {
			return nil, cleanupExecError(err)
		}
		out[n] = strings.ReplaceAll(buf.String(), "<no value>", "")
	}
	return out, nil
}

// Helm reports `fail` and `required` messages without the template engine's wrapping.
func cleanupExecError(err error) error {
	re := regexp.MustCompile(`^template: (.*?): executing "(.*?)" at <(.*?)>: error calling (fail|required): (.*)$`)
	if m := re.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Errorf("execution error at (%s): %s", m[1], m[5])
	}
	return err
}

func funcMap(t *template.Template) template.FuncMap {
	f := sprig.TxtFuncMap()
	// Helm removes these: a chart must render the same on every machine.
	delete(f, "env")
	delete(f, "expandenv")
	includedNames := map[string]int{}
	f["include"] = func(name string, data interface{}) (string, error) {
		if includedNames[name] > 1000 {
			return "", fmt.Errorf("rendering template has a nested reference name: %s", name)
		}
		includedNames[name]++
		defer func() { includedNames[name]-- }()
		var buf bytes.Buffer
		err := t.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	f["tpl"] = func(text string, data interface{}) (string, error) {
		clone, err := t.Clone()
		if err != nil {
			return "", err
		}
		tt, err := clone.New("tpl").Parse(text)
		if err != nil {
			return "", fmt.Errorf("cannot parse template %q: %v", text, err)
		}
		var buf bytes.Buffer
		if err := tt.Execute(&buf, data); err != nil {
			return "", fmt.Errorf("error during tpl function execution for %q: %v", text, err)
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	f["required"] = func(message string, val interface{}) (interface{}, error) {
		if val == nil {
			return val, errors.New(message)
		}
		if s, ok := val.(string); ok && s == "" {
			return val, errors.New(message)
		}
		return val, nil
	}
	f["lookup"] = func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil
	}
	f["toYaml"] = func(v interface{}) string {
		out, err := toYAML(v)
		if err != nil {
			return ""
		}
		return strings.TrimSuffix(out, "\n")
	}
	f["fromYaml"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := unmarshalYAML([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	f["fromYamlArray"] = func(s string) []interface{} {
		var a []interface{}
		if err := unmarshalYAML([]byte(s), &a); err != nil {
			a = []interface{}{err.Error()}
		}
		return a
	}
	f["toJson"] = func(v interface{}) string {
		out, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(out)
	}
	f["fromJson"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	return f
}

// toYAML is sigs.k8s.io/yaml's Marshal, which Helm's toYaml uses: JSON first (so JSON field
// names and number forms), then YAML with sorted keys.
func toYAML(v interface{}) (string, error) {
	j, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	var obj interface{}
	if err := yaml.Unmarshal(j, &obj); err != nil {
		return "", err
	}
	out, err := yaml.Marshal(obj)
	return string(out), err
}

// unmarshalYAML is sigs.k8s.io/yaml's Unmarshal: YAML to JSON, then JSON into the target, so maps
// have string keys and numbers are float64, as Helm's values are.
func unmarshalYAML(data []byte, target interface{}) error {
	var raw interface{}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return err
	}
	j, err := json.Marshal(jsonable(raw))
	if err != nil {
		return err
	}
	return json.Unmarshal(j, target)
}

func jsonable(v interface{}) interface{} {
	switch x := v.(type) {
	case map[interface{}]interface{}:
		m := make(map[string]interface{}, len(x))
		for k, val := range x {
			m[fmt.Sprint(k)] = jsonable(val)
		}
		return m
	case []interface{}:
		for i := range x {
			x[i] = jsonable(x[i])
		}
		return x
	default:
		return v
	}
}

func readYAMLFile(p string) (map[string]interface{}, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	m := map[string]interface{}{}
	if err := unmarshalYAML(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %v", p, err)
	}
	return m, nil
}

// coalesce merges override into base as Helm merges -f files: maps recursively, anything else
// replaced, and a null removes the key.
func coalesce(base, override map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(base))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range override {
		if v == nil {
			delete(out, k)
			continue
		}
		bm, bok := out[k].(map[string]interface{})
		om, ook := v.(map[string]interface{})
		if bok && ook {
			out[k] = coalesce(bm, om)
		} else {
			out[k] = v
		}
	}
	return out
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// splitManifests splits one file's output into its YAML documents, dropping empty ones.
func splitManifests(s string) []string {
	var docs []string
	for _, d := range docSeparator.Split(s, -1) {
		if strings.TrimSpace(d) != "" {
			docs = append(docs, strings.Trim(d, "\n"))
		}
	}
	return docs
}
