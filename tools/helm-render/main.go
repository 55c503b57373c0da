// helm-render: renders a Helm chart the way `helm template` does, for the
// chart checks of `make test` (Helm itself cannot be installed here).
//
//	helm-render [--name N] [--namespace NS] [-f values.yaml]... [--set a.b=c]...
//	            [--set-string a.b=c]... [--api-versions group/version]...
//	            [--kube-version v1.21.2] [--show-only templates/x.yaml]...
//	            [--cluster objects.yaml] [--notes] CHART_DIR
//
// What it shares with Helm 3 (pkg/engine, pkg/chartutil, pkg/releaseutil):
//   - Go text/template with sprig's TxtFuncMap minus env/expandenv, plus
//     Helm's own include, tpl, required, toYaml, fromYaml, fromYamlArray,
//     toJson, fromJson and lookup (empty, as with `helm template`: there is
//     no cluster; --cluster FILE gives it objects to find, one YAML document
//     each, as `helm upgrade` would find them in the cluster; .Release then
//     says IsUpgrade);
//   - .Values: values.yaml coalesced with each -f file in order, then --set
//     (maps merge, a null override deletes the key); numbers from YAML files
//     are float64 (Helm reads them through JSON), --set integers int64;
//   - .Release (Name, Namespace, Service "Helm", IsInstall, IsUpgrade,
//     Revision), .Chart (Chart.yaml with Helm's field names: Name, Version,
//     AppVersion, APIVersion, ...), .Capabilities (KubeVersion: v1.29.0 or
//     --kube-version's, as `helm template --kube-version`; APIVersions
//     .Has), .Template (Name, BasePath), .Files (Get, GetBytes, Glob,
//     AsConfig, AsSecrets, Lines) over the chart's files outside templates/;
//   - missingkey=zero with "<no value>" removed from the output;
//   - every file of templates/ is parsed (so its defines are visible), the
//     ones named _* and NOTES.txt are not output; each rendered document is
//     printed as "---\n# Source: <chart>/templates/<file>\n...", empty ones
//     dropped, sorted by Helm's install order of kinds;
//   - values.schema.json is checked before rendering (schema.go says which
//     keywords), and a failure is an error, as with Helm;
//   - Chart.yaml's kubeVersion constraint is checked against KubeVersion,
//     and a mismatch is Helm's error.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig" // sprig v3, at its GOPATH path in Debian
	yaml2 "gopkg.in/yaml.v2"
	"gopkg.in/yaml.v3"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// ---- values

// normalize turns YAML-decoded data into what Helm's sigs.k8s.io/yaml gives:
// JSON types (map[string]interface{}, []interface{}, float64, string, bool).
func normalize(v interface{}) (interface{}, error) {
	b, err := json.Marshal(stringKeys(v))
	if err != nil {
		return nil, err
	}
	var out interface{}
	err = json.Unmarshal(b, &out)
	return out, err
}

// stringKeys converts map[interface{}]interface{} (yaml.v2) to string keys.
func stringKeys(v interface{}) interface{} {
	switch t := v.(type) {
	case map[interface{}]interface{}:
		m := make(map[string]interface{}, len(t))
		for k, e := range t {
			m[fmt.Sprint(k)] = stringKeys(e)
		}
		return m
	case map[string]interface{}:
		m := make(map[string]interface{}, len(t))
		for k, e := range t {
			m[k] = stringKeys(e)
		}
		return m
	case []interface{}:
		s := make([]interface{}, len(t))
		for i, e := range t {
			s[i] = stringKeys(e)
		}
		return s
	}
	return v
}

func readYAMLMap(file string) (map[string]interface{}, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var raw interface{}
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	if raw == nil {
		return map[string]interface{}{}, nil
	}
	n, err := normalize(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	m, ok := n.(map[string]interface{})
	if !ok {
		return nil, fmt.Errorf("%s: not a mapping", file)
	}
	return m, nil
}

// coalesce merges src into dst as Helm's chartutil.CoalesceTables does for
// user values over defaults: src wins, maps merge, a null in src deletes.
func coalesce(dst, src map[string]interface{}) map[string]interface{} {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		sm, sok := v.(map[string]interface{})
		dm, dok := dst[k].(map[string]interface{})
		if sok && dok {
			dst[k] = coalesce(dm, sm)
		} else {
			dst[k] = v
		}
	}
	return dst
}

// setValue applies one --set assignment list "a.b=c,d=e" (Helm's strvals
// for dotted keys; list indexes a[0] are not supported and rejected).
func setValue(values map[string]interface{}, expr string, asString bool) error {
	for _, part := range splitUnescaped(expr, ',') {
		eq := strings.IndexByte(part, '=')
		if eq <= 0 {
			return fmt.Errorf("--set %q: expected key=value", part)
		}
		key, raw := part[:eq], part[eq+1:]
		if strings.ContainsAny(key, "[]") {
			return fmt.Errorf("--set %q: list indexes are not supported", part)
		}
		var val interface{} = raw
		if !asString {
			val = typedScalar(raw)
		}
		keys := splitUnescaped(key, '.')
		m := values
		for _, k := range keys[:len(keys)-1] {
			next, ok := m[k].(map[string]interface{})
			if !ok {
				next = map[string]interface{}{}
				m[k] = next
			}
			m = next
		}
		last := keys[len(keys)-1]
		if val == nil {
			delete(m, last)
		} else {
			m[last] = val
		}
	}
	return nil
}

// typedScalar: Helm's strvals typing of --set values.
func typedScalar(s string) interface{} {
	switch s {
	case "true":
		return true
	case "false":
		return false
	case "null":
		return nil
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil && (s == "0" || s[0] != '0') {
		return i
	}
	return s
}

// splitUnescaped splits on sep not preceded by a backslash, unescaping it.
func splitUnescaped(s string, sep byte) []string {
	var out []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && s[i+1] == sep {
			cur.WriteByte(sep)
			i++
			continue
		}
		if s[i] == sep {
			out = append(out, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteByte(s[i])
	}
	return append(out, cur.String())
}

// ---- .Chart

// chartFields maps Chart.yaml keys to Helm's chart.Metadata field names.
var chartFields = map[string]string{
	"apiVersion": "APIVersion", "appVersion": "AppVersion", "kubeVersion": "KubeVersion",
}

func chartObject(meta map[string]interface{}) map[string]interface{} {
	out := map[string]interface{}{}
	for k, v := range meta {
		name, ok := chartFields[k]
		if !ok {
			name = strings.ToUpper(k[:1]) + k[1:]
		}
		out[name] = v
	}
	return out
}

// ---- .Files

// Files is Helm's engine Files: path -> content, with its methods.
type Files map[string][]byte

func (f Files) GetBytes(name string) []byte { return f[name] }
func (f Files) Get(name string) string      { return string(f[name]) }

// Glob keeps the files matching a gobwas/glob-style pattern ("**" crosses
// directories, "*" and "?" do not).
func (f Files) Glob(pattern string) Files {
	var re strings.Builder
	re.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; {
		case c == '*' && i+1 < len(pattern) && pattern[i+1] == '*':
			re.WriteString(".*")
			i++
		case c == '*':
			re.WriteString("[^/]*")
		case c == '?':
			re.WriteString("[^/]")
		default:
			re.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	re.WriteString("$")
	rx := regexp.MustCompile(re.String())
	out := Files{}
	for name, data := range f {
		if rx.MatchString(name) {
			out[name] = data
		}
	}
	return out
}

// AsConfig: the files as a ConfigMap's data block (base name -> content).
func (f Files) AsConfig() string {
	if len(f) == 0 {
		return ""
	}
	m := map[string]string{}
	for k, v := range f {
		m[path.Base(k)] = string(v)
	}
	return toYAML(m)
}

// AsSecrets: the same, base64-encoded, for a Secret's data.
func (f Files) AsSecrets() string {
	if len(f) == 0 {
		return ""
	}
	m := map[string]string{}
	for k, v := range f {
		m[path.Base(k)] = base64.StdEncoding.EncodeToString(v)
	}
	return toYAML(m)
}

func (f Files) Lines(name string) []string {
	s := string(f[name])
	if s == "" {
		return []string{}
	}
	return strings.Split(s, "\n")
}

// ---- Helm's own template functions (pkg/engine/funcs.go)

// toYAML as Helm: through JSON, then yaml.v2 (sigs.k8s.io/yaml), trailing
// newline trimmed; errors give "".
func toYAML(v interface{}) string {
	j, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	var obj interface{}
	if err := yaml2.Unmarshal(j, &obj); err != nil {
		return ""
	}
	data, err := yaml2.Marshal(obj)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(data), "\n")
}

func fromYAML(s string) map[string]interface{} {
	m := map[string]interface{}{}
	var raw interface{}
	if err := yaml.Unmarshal([]byte(s), &raw); err != nil {
		m["Error"] = err.Error()
		return m
	}
	n, err := normalize(raw)
	if err != nil {
		m["Error"] = err.Error()
		return m
	}
	if nm, ok := n.(map[string]interface{}); ok {
		return nm
	}
	m["Error"] = "not a mapping"
	return m
}

func fromYAMLArray(s string) []interface{} {
	var raw interface{}
	if err := yaml.Unmarshal([]byte(s), &raw); err != nil {
		return []interface{}{err.Error()}
	}
	n, err := normalize(raw)
	if err != nil {
		return []interface{}{err.Error()}
	}
	if a, ok := n.([]interface{}); ok {
		return a
	}
	return []interface{}{"not a list"}
}

func toJSON(v interface{}) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

func fromJSON(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

// ---- capabilities

type apiVersions []string

func (a apiVersions) Has(v string) bool {
	for _, x := range a {
		if x == v {
			return true
		}
	}
	return false
}

// the built-in groups of a Kubernetes 1.29 API server that charts ask about
var defaultAPIVersions = []string{
	"v1", "apps/v1", "batch/v1", "autoscaling/v1", "autoscaling/v2",
	"networking.k8s.io/v1", "policy/v1", "rbac.authorization.k8s.io/v1",
	"coordination.k8s.io/v1", "storage.k8s.io/v1", "apiextensions.k8s.io/v1",
}

// ---- rendering

// installOrder: Helm's releaseutil.InstallOrder (kinds not listed go last,
// ordered by kind name).
var installOrder = []string{
	"PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange",
	"PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList",
	"ConfigMap", "StorageClass", "PersistentVolume", "PersistentVolumeClaim",
	"CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
	"ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service",
	"DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
	"HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress",
	"APIService",
}

type manifest struct {
	source, kind, body string
}

var kindRe = regexp.MustCompile(`(?m)^kind:\s*["']?([A-Za-z0-9]+)`)
var docSep = regexp.MustCompile(`(?m)^---[ \t]*$\n?`)

type renderer struct {
	chartDir  string
	chartName string
	tmpl      *template.Template
	files     Files
	templates map[string]string        // "owx/templates/x.yaml" -> text
	cluster   []map[string]interface{} // what lookup finds (--cluster)
}

// lookup as Helm's: one object by apiVersion, kind, namespace and name, or
// {"items": [...]} of them all when name is ""; an empty map when none.
func (r *renderer) lookup(apiVersion, kind, ns, name string) (map[string]interface{}, error) {
	var items []interface{}
	for _, o := range r.cluster {
		meta, _ := o["metadata"].(map[string]interface{})
		if o["apiVersion"] != apiVersion || o["kind"] != kind || meta == nil {
			continue
		}
		if ons, _ := meta["namespace"].(string); ns != "" && ons != ns {
			continue
		}
		if name == "" {
			items = append(items, o)
		} else if meta["name"] == name {
			return o, nil
		}
	}
	if name == "" && items != nil {
		return map[string]interface{}{"items": items}, nil
	}
	return map[string]interface{}{}, nil
}

func (r *renderer) funcs() template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	f["toYaml"] = toYAML
	f["fromYaml"] = fromYAML
	f["fromYamlArray"] = fromYAMLArray
	f["toJson"] = toJSON
	f["fromJson"] = fromJSON
	f["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return v, errors.New(msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return v, errors.New(msg)
		}
		return v, nil
	}
	f["lookup"] = r.lookup
	f["include"] = func(name string, data interface{}) (string, error) {
		var buf bytes.Buffer
		if err := r.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
	f["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := r.tmpl.Clone()
		if err != nil {
			return "", err
		}
		t, err = t.New("tpl").Parse(text)
		if err != nil {
			return "", fmt.Errorf("tpl: %v", err)
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, data); err != nil {
			return "", fmt.Errorf("tpl: %v", err)
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	return f
}

func (r *renderer) load() error {
	r.files = Files{}
	r.templates = map[string]string{}
	return filepath.WalkDir(r.chartDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(r.chartDir, p)
		rel = filepath.ToSlash(rel)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		switch {
		case strings.HasPrefix(rel, "templates/"):
			r.templates[r.chartName+"/"+rel] = string(data)
		case rel == "Chart.yaml" || rel == "values.yaml" || rel == "values.schema.json" ||
			strings.HasPrefix(rel, "charts/"):
		default:
			r.files[rel] = data
		}
		return nil
	})
}

func (r *renderer) render(top map[string]interface{}, showOnly []string, notes bool) (string, error) {
	r.tmpl = template.New("gotpl").Option("missingkey=zero").Funcs(r.funcs())
	names := make([]string, 0, len(r.templates))
	for n := range r.templates {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, err := r.tmpl.New(n).Parse(r.templates[n]); err != nil {
			return "", fmt.Errorf("parse error in %s", strings.TrimPrefix(err.Error(), "template: "))
		}
	}
	exec := func(n string) (string, error) {
		data := map[string]interface{}{}
		for k, v := range top {
			data[k] = v
		}
		data["Template"] = map[string]interface{}{
			"Name": n, "BasePath": r.chartName + "/templates"}
		var buf bytes.Buffer
		if err := r.tmpl.ExecuteTemplate(&buf, n, data); err != nil {
			return "", fmt.Errorf("render error in %s", strings.TrimPrefix(err.Error(), "template: "))
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	if notes {
		return exec(r.chartName + "/templates/NOTES.txt")
	}
	var out []manifest
	for _, n := range names {
		base := path.Base(n)
		if strings.HasPrefix(base, "_") || base == "NOTES.txt" {
			continue
		}
		if len(showOnly) > 0 && !contains(showOnly, strings.TrimPrefix(n, r.chartName+"/")) {
			continue
		}
		text, err := exec(n)
		if err != nil {
			return "", err
		}
		for _, doc := range docSep.Split(text, -1) {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			kind := ""
			if m := kindRe.FindStringSubmatch(doc); m != nil {
				kind = m[1]
			}
			out = append(out, manifest{n, kind, strings.TrimSpace(doc)})
		}
	}
	rank := func(kind string) int {
		for i, k := range installOrder {
			if k == kind {
				return i
			}
		}
		return len(installOrder)
	}
	sort.SliceStable(out, func(i, j int) bool {
		ri, rj := rank(out[i].kind), rank(out[j].kind)
		if ri != rj {
			return ri < rj
		}
		if ri == len(installOrder) && out[i].kind != out[j].kind {
			return out[i].kind < out[j].kind
		}
		return false
	})
	var b strings.Builder
	for _, m := range out {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", m.source, m.body)
	}
	return b.String(), nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func run(args []string) (string, error) {
	var valueFiles, sets, setStrings, apis, showOnly multiFlag
	name, ns, chartDir, clusterFile := "owx", "default", "", ""
	kubeVersion := "v1.29.0"
	notes := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		next := func() (string, error) {
			if k := strings.IndexByte(a, '='); k > 0 && strings.HasPrefix(a, "--") {
				return a[k+1:], nil
			}
			if i+1 >= len(args) {
				return "", fmt.Errorf("%s needs a value", a)
			}
			i++
			return args[i], nil
		}
		flag := a
		if k := strings.IndexByte(a, '='); k > 0 && strings.HasPrefix(a, "--") {
			flag = a[:k]
		}
		var v string
		var err error
		switch flag {
		case "-f", "--values", "--name", "--namespace", "-n", "--set", "--set-string",
			"--api-versions", "-a", "--show-only", "-s", "--cluster", "--kube-version":
			if v, err = next(); err != nil {
				return "", err
			}
		}
		switch flag {
		case "-f", "--values":
			valueFiles.Set(v)
		case "--name":
			name = v
		case "--namespace", "-n":
			ns = v
		case "--set":
			sets.Set(v)
		case "--set-string":
			setStrings.Set(v)
		case "--api-versions", "-a":
			apis.Set(v)
		case "--show-only", "-s":
			showOnly.Set(v)
		case "--cluster":
			clusterFile = v
		case "--kube-version":
			kubeVersion = v
		case "--notes":
			notes = true
		case "-h", "--help":
			return "", errors.New("usage: helm-render [--name N] [--namespace NS] [-f values.yaml]... " +
				"[--set k=v]... [--set-string k=v]... [--api-versions g/v]... " +
				"[--kube-version v1.x.y] [--show-only templates/x.yaml]... [--cluster objects.yaml] [--notes] CHART_DIR")
		default:
			if strings.HasPrefix(a, "-") || chartDir != "" {
				return "", fmt.Errorf("unexpected argument %q", a)
			}
			chartDir = a
		}
	}
	if chartDir == "" {
		return "", errors.New("no chart directory given")
	}
	meta, err := readYAMLMap(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return "", err
	}
	chartName, _ := meta["name"].(string)
	if chartName == "" {
		return "", errors.New("Chart.yaml: no name")
	}
	values, err := readYAMLMap(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return "", err
	}
	for _, f := range valueFiles {
		over, err := readYAMLMap(f)
		if err != nil {
			return "", err
		}
		values = coalesce(values, over)
	}
	for _, s := range sets {
		if err := setValue(values, s, false); err != nil {
			return "", err
		}
	}
	for _, s := range setStrings {
		if err := setValue(values, s, true); err != nil {
			return "", err
		}
	}
	if schema, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json")); err == nil {
		if errs := validateSchema(schema, values); len(errs) > 0 {
			return "", fmt.Errorf("values don't meet the specifications of the schema(s) in the "+
				"following chart(s):\n%s:\n- %s", chartName, strings.Join(errs, "\n- "))
		}
	}
	kube, err := parseKubeVersion(kubeVersion)
	if err != nil {
		return "", err
	}
	if c, _ := meta["kubeVersion"].(string); c != "" {
		compare := sprig.TxtFuncMap()["semverCompare"].(func(string, string) (bool, error))
		if ok, err := compare(c, kube["GitVersion"].(string)); err != nil || !ok {
			return "", fmt.Errorf("chart requires kubeVersion: %s which is incompatible "+
				"with Kubernetes %s", c, kube["GitVersion"])
		}
	}
	r := &renderer{chartDir: chartDir, chartName: chartName}
	if err := r.load(); err != nil {
		return "", err
	}
	if clusterFile != "" {
		if r.cluster, err = readObjects(clusterFile); err != nil {
			return "", err
		}
	}
	top := map[string]interface{}{
		"Values": values,
		"Release": map[string]interface{}{
			"Name": name, "Namespace": ns, "Service": "Helm", "IsInstall": clusterFile == "",
			"IsUpgrade": clusterFile != "", "Revision": 1,
		},
		"Chart": chartObject(meta),
		"Capabilities": map[string]interface{}{
			"KubeVersion": kube,
			"APIVersions": append(apiVersions(append([]string{}, defaultAPIVersions...)), apis...),
			"HelmVersion": map[string]interface{}{"Version": "v3.14.0"},
		},
		"Files": r.files,
	}
	return r.render(top, showOnly, notes)
}

// parseKubeVersion: "v1.21.2", "1.21" or "v1.21.2-k3s1" as Helm's
// .Capabilities.KubeVersion (Version and GitVersion with the "v").
func parseKubeVersion(v string) (map[string]interface{}, error) {
	v = "v" + strings.TrimPrefix(v, "v")
	parts := strings.SplitN(strings.SplitN(v[1:], "-", 2)[0], ".", 3)
	if len(parts) < 2 {
		return nil, fmt.Errorf("--kube-version %q: not MAJOR.MINOR[.PATCH]", v)
	}
	for _, p := range parts {
		if _, err := strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("--kube-version %q: not MAJOR.MINOR[.PATCH]", v)
		}
	}
	if len(parts) == 2 {
		v = "v" + parts[0] + "." + parts[1] + ".0"
	}
	return map[string]interface{}{"Version": v, "GitVersion": v, "Major": parts[0],
		"Minor": parts[1]}, nil
}

// readObjects: the YAML documents of a file as Kubernetes objects (JSON types).
func readObjects(file string) ([]map[string]interface{}, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var out []map[string]interface{}
	for _, doc := range docSep.Split(string(b), -1) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var raw interface{}
		if err := yaml.Unmarshal([]byte(doc), &raw); err != nil {
			return nil, fmt.Errorf("%s: %v", file, err)
		}
		n, err := normalize(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", file, err)
		}
		m, ok := n.(map[string]interface{})
		if !ok {
			return nil, fmt.Errorf("%s: a document is not an object", file)
		}
		out = append(out, m)
	}
	return out, nil
}

func main() {
	out, err := run(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
	fmt.Print(out)
}
