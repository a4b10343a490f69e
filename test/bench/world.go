package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

// The generated cluster. Everything is derived from the seed, so two runs of one size create
// the same objects. Per namespace: appsPerNamespace apps, each a Service and a
// ServiceAccount backed by Deployments of 1-3 replicas that add up to podsPerApp Pods, and
// one ServiceAccessPolicy per app whose target selects those podsPerApp Pods.
const (
	appsPerNamespace = 10
	podsPerApp       = 10
	minPodBytes      = 5 << 10
	maxPodBytes      = 10 << 10

	// enforceLabel selects the namespaces of the platform baseline (every other one).
	enforceLabel = "zerotrust.dev/enforce"
	// idleLabel marks the empty namespaces of the baseline scenario.
	idleLabel = "bench.zerotrust.dev/idle"

	platformBaseline = "platform-default"
	idleBaseline     = "idle-namespaces"
)

var appNames = []string{
	"api", "web", "cart", "checkout", "payments", "inventory", "search", "auth", "orders", "catalog",
	"shipping", "users", "notify", "reviews", "pricing", "ledger", "gateway", "billing", "profile", "media",
}

// world is the description of the generated cluster: small enough to keep for 10000
// policies; Deployments and Pods are built from it when they are written.
type world struct {
	seed       uint64
	namespaces []*nsDesc
	idle       []string // empty namespaces of the baseline scenario
}

type nsDesc struct {
	index    int
	name     string
	enforced bool
	apps     []*appDesc
	policies []*ztv1.ServiceAccessPolicy
}

type appDesc struct {
	name        string
	grpc        bool // serves a second port
	deployments []*depDesc
}

type depDesc struct {
	ns       string
	app      *appDesc
	name     string
	replicas int
	podBytes int    // target JSON size of each Pod
	seed     uint64 // of its padding
	root     bool   // runs as user 0 (a finding of the baseline audit)
	hash     string // pod-template-hash
}

func newWorld(seed uint64, policies, idleNamespaces int) *world {
	w := &world{seed: seed}
	nNS := (policies + appsPerNamespace - 1) / appsPerNamespace
	for i := range nNS {
		w.namespaces = append(w.namespaces, &nsDesc{index: i, name: fmt.Sprintf("team-%04d", i), enforced: i%2 == 0})
	}
	for i, ns := range w.namespaces {
		r := rand.New(rand.NewPCG(seed, uint64(i)))
		for _, ai := range r.Perm(len(appNames))[:appsPerNamespace] {
			app := &appDesc{name: appNames[ai], grpc: r.IntN(2) == 0}
			for left, d := podsPerApp, 0; left > 0; d++ {
				n := min(1+r.IntN(3), left)
				left -= n
				app.deployments = append(app.deployments, &depDesc{
					ns: ns.name, app: app, name: fmt.Sprintf("%s-%c", app.name, 'a'+d), replicas: n,
					podBytes: minPodBytes + r.IntN(maxPodBytes-minPodBytes+1), seed: r.Uint64(),
					root: r.IntN(50) == 0, hash: randString(r, 10),
				})
			}
			ns.apps = append(ns.apps, app)
		}
	}
	for i, ns := range w.namespaces {
		r := rand.New(rand.NewPCG(seed^0x9e3779b97f4a7c15, uint64(i)))
		n := min(appsPerNamespace, policies-i*appsPerNamespace)
		for j := range n {
			ns.policies = append(ns.policies, w.policy(r, ns, ns.apps[j]))
		}
	}
	for i := range idleNamespaces {
		w.idle = append(w.idle, fmt.Sprintf("idle-%04d", i))
	}
	return w
}

func (w *world) counts() (policies, pods int) {
	for _, ns := range w.namespaces {
		policies += len(ns.policies)
		for _, a := range ns.apps {
			for _, d := range a.deployments {
				pods += d.replicas
			}
		}
	}
	return policies, pods
}

func (w *world) deployments() []*depDesc {
	var out []*depDesc
	for _, ns := range w.namespaces {
		for _, a := range ns.apps {
			out = append(out, a.deployments...)
		}
	}
	return out
}

// policy opens app to 1-5 callers: Services, ServiceAccounts, Deployments and whole
// namespaces, about a third of them in another namespace.
func (w *world) policy(r *rand.Rand, ns *nsDesc, target *appDesc) *ztv1.ServiceAccessPolicy {
	p := &ztv1.ServiceAccessPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.name, Name: target.name + "-access",
			Labels: map[string]string{"app.kubernetes.io/part-of": target.name, "team": ns.name}},
	}
	if r.IntN(10) == 0 {
		p.Spec.Target.PodSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": target.name}}
		p.Spec.Ports = []ztv1.PortRule{{Port: intstr.FromInt32(8080), Protocol: "TCP"}}
	} else {
		p.Spec.Target.Service = target.name
		switch k := r.IntN(4); {
		case k < 2:
			pr := ztv1.PortRule{Port: intstr.FromString("http"), Protocol: "TCP"}
			if k == 0 {
				pr.HTTP = []ztv1.HTTPRule{{Methods: []ztv1.HTTPMethod{"GET"}, Paths: []string{"/api/*"}}}
			}
			p.Spec.Ports = []ztv1.PortRule{pr}
		case k == 2:
			p.Spec.Ports = []ztv1.PortRule{{Port: intstr.FromInt32(80), Protocol: "TCP"}}
		}
	}
	seen := map[string]bool{}
	for want := 1 + r.IntN(5); len(p.Spec.From) < want; {
		c, key := w.caller(r, ns, target)
		if seen[key] {
			continue
		}
		seen[key] = true
		p.Spec.From = append(p.Spec.From, c)
	}
	return p
}

func (w *world) caller(r *rand.Rand, ns *nsDesc, target *appDesc) (ztv1.Caller, string) {
	kind := r.IntN(100)
	from := ns
	if (kind >= 85 || r.IntN(10) < 3) && len(w.namespaces) > 1 {
		for from == ns {
			from = w.namespaces[r.IntN(len(w.namespaces))]
		}
	}
	var c ztv1.Caller
	if from != ns {
		c.Namespace = from.name
	}
	if kind >= 85 {
		return c, "ns/" + from.name
	}
	app := from.apps[r.IntN(len(from.apps))]
	for app == target {
		app = from.apps[r.IntN(len(from.apps))]
	}
	switch {
	case kind < 35:
		c.Service = app.name
	case kind < 55:
		c.ServiceAccount = app.name
	default:
		d := app.deployments[r.IntN(len(app.deployments))]
		c.Workload = &ztv1.WorkloadReference{Kind: ztv1.WorkloadDeployment, Name: d.name}
	}
	return c, fmt.Sprintf("%s/%s/%s/%v", from.name, c.Service, c.ServiceAccount, c.Workload)
}

// namespaceNames are the names of the namespaces that hold the apps and policies.
func (w *world) namespaceNames() []string {
	names := make([]string, 0, len(w.namespaces))
	for _, ns := range w.namespaces {
		names = append(names, ns.name)
	}
	return names
}

func (w *world) namespaceObjects() []*corev1.Namespace {
	var out []*corev1.Namespace
	for _, ns := range w.namespaces {
		l := map[string]string{"team": ns.name, "environment": "production"}
		if ns.enforced {
			l[enforceLabel] = "true"
		}
		out = append(out, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns.name, Labels: l}})
	}
	return out
}

func (w *world) idleNamespaceObjects() []*corev1.Namespace {
	var out []*corev1.Namespace
	for _, name := range w.idle {
		out = append(out, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{idleLabel: "true"}}})
	}
	return out
}

func helmLabels(app, instance string) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":       app,
		"app.kubernetes.io/instance":   instance,
		"app.kubernetes.io/managed-by": "Helm",
		"helm.sh/chart":                app + "-1.4.2",
	}
}

func helmAnnotations(ns, app string) map[string]string {
	return map[string]string{"meta.helm.sh/release-name": app, "meta.helm.sh/release-namespace": ns}
}

func (w *world) serviceObjects() []*corev1.Service {
	var out []*corev1.Service
	for _, ns := range w.namespaces {
		for _, a := range ns.apps {
			s := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns.name, Name: a.name, Labels: helmLabels(a.name, a.name), Annotations: helmAnnotations(ns.name, a.name)},
				Spec: corev1.ServiceSpec{
					Type:     corev1.ServiceTypeClusterIP,
					Selector: map[string]string{"app.kubernetes.io/name": a.name},
					Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}},
				},
			}
			if a.grpc {
				s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "grpc", Port: 9090, TargetPort: intstr.FromString("grpc"), Protocol: corev1.ProtocolTCP})
			}
			out = append(out, s)
		}
	}
	return out
}

func (w *world) serviceAccountObjects() []*corev1.ServiceAccount {
	var out []*corev1.ServiceAccount
	for _, ns := range w.namespaces {
		for _, a := range ns.apps {
			out = append(out, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns.name, Name: a.name, Labels: helmLabels(a.name, a.name)}})
		}
	}
	return out
}

// deployment builds the Deployment d, its pod template padded with configuration until each
// Pod made from it is about d.podBytes of JSON.
func (d *depDesc) deployment() *appsv1.Deployment {
	r := rand.New(rand.NewPCG(d.seed, 7))
	app := d.app.name
	podLabels := map[string]string{
		"app.kubernetes.io/name":     app,
		"app.kubernetes.io/instance": d.name,
		"app.kubernetes.io/version":  "1.4.2",
	}
	uid := int64(10001)
	if d.root {
		uid = 0
	}
	ports := []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}
	if d.app.grpc {
		ports = append(ports, corev1.ContainerPort{Name: "grpc", ContainerPort: 9090, Protocol: corev1.ProtocolTCP})
	}
	ports = append(ports, corev1.ContainerPort{Name: "metrics", ContainerPort: 9102, Protocol: corev1.ProtocolTCP})
	probe := func(path string) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("http"), Scheme: corev1.URISchemeHTTP}},
			PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3,
		}
	}
	fieldEnv := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: path}}}
	}
	env := []corev1.EnvVar{
		fieldEnv("POD_NAME", "metadata.name"), fieldEnv("POD_NAMESPACE", "metadata.namespace"), fieldEnv("POD_IP", "status.podIP"),
		{Name: "GOMAXPROCS", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "app", Resource: "limits.cpu"}}},
		{Name: "OTEL_SERVICE_NAME", Value: app},
		{Name: "OTEL_EXPORTER_OTLP_ENDPOINT", Value: "http://otel-collector.observability.svc.cluster.local:4317"},
		{Name: "LOG_LEVEL", Value: "info"},
		{Name: "DATABASE_URL", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: app + "-db"}, Key: "url"}}},
	}
	tpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{
			Labels: podLabels,
			Annotations: map[string]string{
				"prometheus.io/scrape":                           "true",
				"prometheus.io/port":                             "9102",
				"prometheus.io/path":                             "/metrics",
				"checksum/config":                                randHex(r, 64),
				"kubectl.kubernetes.io/default-container":        "app",
				"cluster-autoscaler.kubernetes.io/safe-to-evict": "true",
			},
		},
		Spec: corev1.PodSpec{
			ServiceAccountName:            app,
			TerminationGracePeriodSeconds: ptr.To[int64](30),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot: ptr.To(!d.root), RunAsUser: ptr.To(uid), FSGroup: ptr.To[int64](10001),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name: "app", Image: fmt.Sprintf("registry.example.com/%s/%s:1.4.%d", d.ns, app, r.IntN(40)),
				Args:  []string{"--config=/etc/" + app + "/config.yaml", "--listen=:8080", "--metrics-listen=:9102"},
				Ports: ports, Env: env,
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("256Mi")},
				},
				VolumeMounts: []corev1.VolumeMount{
					{Name: "config", MountPath: "/etc/" + app, ReadOnly: true},
					{Name: "tmp", MountPath: "/tmp"},
				},
				LivenessProbe: probe("/healthz"), ReadinessProbe: probe("/ready"),
				ImagePullPolicy: corev1.PullIfNotPresent,
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}, {
				Name: "log-shipper", Image: "cr.fluentbit.io/fluent/fluent-bit:3.1.9",
				Env: []corev1.EnvVar{{Name: "FLUENT_ELASTICSEARCH_HOST", Value: "logs.observability.svc.cluster.local"}, {Name: "FLUENT_ELASTICSEARCH_PORT", Value: "9200"}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
				},
				VolumeMounts:    []corev1.VolumeMount{{Name: "tmp", MountPath: "/var/log/app", ReadOnly: true}},
				ImagePullPolicy: corev1.PullIfNotPresent,
			}},
			Volumes: []corev1.Volume{
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: app + "-config"}}}},
				{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
			Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
				Weight: 100, PodAffinityTerm: corev1.PodAffinityTerm{
					LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/instance": d.name}},
					TopologyKey:   "kubernetes.io/hostname",
				},
			}}}},
			Tolerations: []corev1.Toleration{
				{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
				{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
			},
		},
	}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: d.ns, Name: d.name, Labels: helmLabels(app, d.name),
			Annotations: map[string]string{"deployment.kubernetes.io/revision": fmt.Sprint(1 + r.IntN(20)), "meta.helm.sh/release-name": app, "meta.helm.sh/release-namespace": d.ns},
		},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(d.replicas)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": app, "app.kubernetes.io/instance": d.name}},
			Template: tpl,
		},
	}
	// Pad with configuration the app reads from its environment, to the Pod's target size.
	size := len(mustJSON(d.pod(dep, 0)))
	c := &dep.Spec.Template.Spec.Containers[0]
	names := map[string]bool{}
	for size < d.podBytes {
		e := configEnv(r, app)
		if names[e.Name] {
			continue
		}
		names[e.Name] = true
		c.Env = append(c.Env, e)
		size += len(e.Name) + len(e.Value) + len(`{"name":"","value":""},`)
	}
	return dep
}

// pod is the i-th Pod of the Deployment dep, as its ReplicaSet would have created it.
func (d *depDesc) pod(dep *appsv1.Deployment, i int) *corev1.Pod {
	tpl := dep.Spec.Template.DeepCopy()
	tpl.Labels["pod-template-hash"] = d.hash
	rs := d.name + "-" + d.hash
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: d.ns, Name: fmt.Sprintf("%s-%s", rs, suffix(d.seed, i)),
			Labels: tpl.Labels, Annotations: tpl.Annotations,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs,
				UID: types.UID(fmt.Sprintf("%08x-0000-4000-8000-%012x", d.seed>>32, d.seed&0xffffffffffff)), Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}},
		},
		Spec: tpl.Spec,
	}
	p.Spec.NodeName = fmt.Sprintf("ip-10-0-%d-%d.ec2.internal", (d.seed>>8)%32, (d.seed+uint64(i))%250)
	return p
}

var configWords = []string{"cache", "queue", "db", "timeout", "retry", "pool", "max", "min", "feature", "region",
	"tenant", "tracing", "batch", "size", "ttl", "limit", "rate", "window", "shard", "index", "upstream", "circuit", "breaker", "backoff"}

func configEnv(r *rand.Rand, app string) corev1.EnvVar {
	name := strings.ToUpper(strings.ReplaceAll(app, "-", "_")) + "_" + strings.ToUpper(configWords[r.IntN(len(configWords))]) + "_" +
		strings.ToUpper(configWords[r.IntN(len(configWords))]) + fmt.Sprintf("_%d", r.IntN(100))
	var v string
	switch r.IntN(6) {
	case 0:
		v = fmt.Sprintf("http://%s.%s.svc.cluster.local:%d/%s", configWords[r.IntN(len(configWords))], app, 8000+r.IntN(1000), configWords[r.IntN(len(configWords))])
	case 1:
		v = fmt.Sprint(r.IntN(100000))
	case 2:
		v = fmt.Sprint(r.IntN(2) == 0)
	case 3:
		v = fmt.Sprintf("%ds", 1+r.IntN(300))
	case 4:
		v = fmt.Sprintf(`{"enabled":%v,"percent":%d,"cohort":"%s"}`, r.IntN(2) == 0, r.IntN(100), randString(r, 8))
	default:
		v = randString(r, 32+r.IntN(48))
	}
	return corev1.EnvVar{Name: name, Value: v}
}

func (w *world) baseline(name, label string, dns bool) *ztv1.ZeroTrustBaseline {
	return &ztv1.ZeroTrustBaseline{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: ztv1.ZeroTrustBaselineSpec{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{label: "true"}},
			Network:           &ztv1.BaselineNetwork{DefaultDeny: []ztv1.Direction{ztv1.DirectionIngress, ztv1.DirectionEgress}, AllowDNS: dns},
		},
	}
}

const alnum = "bcdfghjklmnpqrstvwxz2456789"

func randString(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alnum[r.IntN(len(alnum))]
	}
	return string(b)
}

func randHex(r *rand.Rand, n int) string {
	const hex = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = hex[r.IntN(16)]
	}
	return string(b)
}

func suffix(seed uint64, i int) string {
	return randString(rand.New(rand.NewPCG(seed, uint64(i)+1000)), 5)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
