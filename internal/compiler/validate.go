package compiler

import (
	"fmt"
	"net/netip"
	"regexp"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

// The patterns of the CRD schema (api/v1alpha1 markers).
var (
	serviceNameRE   = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)
	namespaceNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	portNameRE      = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	hasLetterRE     = regexp.MustCompile(`[a-z]`)
	pathRE          = regexp.MustCompile(`^/[^*?#\s]*\*?$`)
	timeZoneRE      = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$`)
	startRE         = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)
	endRE           = regexp.MustCompile(`^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$`)
)

var (
	workloadKinds = []string{string(ztv1.WorkloadDeployment), string(ztv1.WorkloadStatefulSet), string(ztv1.WorkloadDaemonSet)}
	protocols     = []string{"TCP", "UDP", "SCTP"}
	modes         = []string{string(ztv1.ModeEnforce), string(ztv1.ModeAudit), string(ztv1.ModeDryRun)}
	httpMethods   = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}
	directions    = []string{string(ztv1.DirectionIngress), string(ztv1.DirectionEgress)}
	mtlsModes     = []string{string(ztv1.MTLSStrict), string(ztv1.MTLSPermissive)}
	psaLevels     = []string{string(ztv1.PodSecurityPrivileged), string(ztv1.PodSecurityBaseline), string(ztv1.PodSecurityRestricted)}
	dayNames      = []string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}
)

// Validate checks a ServiceAccessPolicy against the rules of its CRD schema and CEL
// validation. In a cluster the API server has already done this, so Compile only calls it
// as a safety net; kubectl-zt calls it because the YAML it reads was never validated by a
// server, and a pipeline must not approve a policy the cluster would reject.
//
// It checks what can be checked on the object alone; whether references exist is for
// Compile to report in status.
func Validate(p *ztv1.ServiceAccessPolicy) field.ErrorList {
	var errs field.ErrorList
	md := field.NewPath("metadata")
	if p.Name == "" {
		errs = append(errs, field.Required(md.Child("name"), ""))
	} else if len(p.Name) > 63 {
		errs = append(errs, field.Invalid(md.Child("name"), p.Name, nameTooLong))
	} else {
		for _, msg := range validation.IsDNS1123Subdomain(p.Name) {
			errs = append(errs, field.Invalid(md.Child("name"), p.Name, msg))
		}
	}
	if p.Namespace == "" {
		errs = append(errs, field.Required(md.Child("namespace"), "a ServiceAccessPolicy is namespaced"))
	}

	spec := &p.Spec
	sp := field.NewPath("spec")
	errs = append(errs, validateTarget(&spec.Target, sp.Child("target"))...)

	fp := sp.Child("from")
	errs = append(errs, sizeOf(fp, spec.From == nil, len(spec.From), 1, 32, "list at least one caller")...)
	external, api := false, false
	for i := range spec.From {
		c := &spec.From[i]
		errs = append(errs, validateCaller(c, fp.Index(i))...)
		external = external || (spec.Target.External != nil && (c.Namespace != "" || c.CIDR != ""))
		api = api || (spec.Target.KubernetesAPI != nil && c.ServiceAccount == "" && c.Workload == nil)
	}
	// The CRD's rules on the whole spec name spec.from (their fieldPath): so does this.
	if external {
		errs = append(errs, field.Forbidden(fp, "an external target opens egress of callers in this namespace only: remove namespace and cidr from every from entry"))
	}
	if api {
		errs = append(errs, field.Invalid(fp, "", "a kubernetesAPI target is reached by ServiceAccounts: every from entry must set serviceAccount, or workload (the ServiceAccount it runs as)"))
	}

	pp := sp.Child("ports")
	if spec.Target.KubernetesAPI != nil && len(spec.Ports) > 0 {
		errs = append(errs, field.Forbidden(pp, "a kubernetesAPI target takes no ports; list the API rules in spec.target.kubernetesAPI.rules"))
	}
	if len(spec.Ports) > 32 {
		errs = append(errs, field.TooMany(pp, len(spec.Ports), 32))
	}
	for i := range spec.Ports {
		errs = append(errs, validatePort(&spec.Ports[i], pp.Index(i))...)
	}

	if spec.Mode != "" {
		errs = append(errs, enum(sp.Child("mode"), string(spec.Mode), modes)...)
	}
	if spec.Schedule != nil {
		errs = append(errs, validateSchedule(spec.Schedule, sp.Child("schedule"))...)
	}
	return errs
}

func validateTarget(t *ztv1.Target, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	set := 0
	for _, b := range []bool{t.Service != "", t.Workload != nil, t.PodSelector != nil, t.KubernetesAPI != nil, t.External != nil} {
		if b {
			set++
		}
	}
	if set != 1 {
		errs = append(errs, field.Invalid(path, "", "target must set exactly one of service, workload, podSelector, kubernetesAPI or external"))
	}
	if t.Service != "" {
		errs = append(errs, serviceName(path.Child("service"), t.Service)...)
	}
	if t.Workload != nil {
		errs = append(errs, validateWorkloadRef(t.Workload, path.Child("workload"))...)
	}
	if t.PodSelector != nil {
		errs = append(errs, validateSelector(t.PodSelector, path.Child("podSelector"))...)
	}
	if t.KubernetesAPI != nil {
		rp := path.Child("kubernetesAPI", "rules")
		errs = append(errs, sizeOf(rp, t.KubernetesAPI.Rules == nil, len(t.KubernetesAPI.Rules), 1, 16, "list at least one rule")...)
		for i, r := range t.KubernetesAPI.Rules {
			if len(r.APIGroups) == 0 {
				errs = append(errs, field.Required(rp.Index(i).Child("apiGroups"), `list at least one API group ("" is the core group)`))
			}
			if len(r.Resources) == 0 {
				errs = append(errs, field.Required(rp.Index(i).Child("resources"), "list at least one resource"))
			}
			if len(r.Verbs) == 0 {
				errs = append(errs, field.Required(rp.Index(i).Child("verbs"), "list at least one verb"))
			}
		}
	}
	if t.External != nil {
		cp := path.Child("external", "cidrs")
		errs = append(errs, sizeOf(cp, t.External.CIDRs == nil, len(t.External.CIDRs), 1, 32, "list at least one CIDR")...)
		for i, c := range t.External.CIDRs {
			errs = append(errs, validateCIDR(cp.Index(i), c)...)
		}
	}
	return errs
}

func validateCaller(c *ztv1.Caller, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	set := 0
	for _, b := range []bool{c.Service != "", c.Workload != nil, c.ServiceAccount != "", c.PodSelector != nil, c.CIDR != ""} {
		if b {
			set++
		}
	}
	if set > 1 || (set == 0 && c.Namespace == "") {
		errs = append(errs, field.Invalid(path, "", "each from entry must set exactly one of service, workload, serviceAccount, podSelector or cidr, or namespace alone"))
	}
	if c.CIDR != "" && c.Namespace != "" {
		errs = append(errs, field.Forbidden(path.Child("namespace"), "cidr is a caller outside the cluster and takes no namespace"))
	}
	if c.Service != "" {
		errs = append(errs, serviceName(path.Child("service"), c.Service)...)
	}
	if c.Workload != nil {
		errs = append(errs, validateWorkloadRef(c.Workload, path.Child("workload"))...)
	}
	if len(c.ServiceAccount) > 253 {
		errs = append(errs, field.TooLong(path.Child("serviceAccount"), c.ServiceAccount, 253))
	} else if c.ServiceAccount != "" {
		for _, msg := range validation.IsDNS1123Subdomain(c.ServiceAccount) {
			errs = append(errs, field.Invalid(path.Child("serviceAccount"), c.ServiceAccount, msg))
		}
	}
	if c.PodSelector != nil {
		errs = append(errs, validateSelector(c.PodSelector, path.Child("podSelector"))...)
	}
	if c.CIDR != "" {
		errs = append(errs, validateCIDR(path.Child("cidr"), c.CIDR)...)
	}
	if c.Namespace != "" && (len(c.Namespace) > 63 || !namespaceNameRE.MatchString(c.Namespace)) {
		errs = append(errs, field.Invalid(path.Child("namespace"), c.Namespace, "must be a namespace name (lowercase letters, digits and '-', at most 63)"))
	}
	return errs
}

func validatePort(p *ztv1.PortRule, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch p.Port.Type {
	case intstr.Int:
		if p.Port.IntVal < 1 || p.Port.IntVal > 65535 {
			errs = append(errs, field.Invalid(path.Child("port"), p.Port.IntVal, "port must be a number from 1 to 65535 or a port name"))
		}
	case intstr.String:
		s := p.Port.StrVal
		if len(s) > 15 || !portNameRE.MatchString(s) || !hasLetterRE.MatchString(s) {
			errs = append(errs, field.Invalid(path.Child("port"), s, "port must be a number from 1 to 65535 or a port name (at most 15 lowercase letters, digits and '-')"))
		}
	}
	if p.Protocol != "" {
		errs = append(errs, enum(path.Child("protocol"), string(p.Protocol), protocols)...)
	}
	if len(p.HTTP) > 0 && protocolOf(p.Protocol) != "TCP" {
		errs = append(errs, field.Forbidden(path.Child("http"), "http rules apply to TCP ports only"))
	}
	for i, h := range p.HTTP {
		hp := path.Child("http").Index(i)
		for j, m := range h.Methods {
			errs = append(errs, enum(hp.Child("methods").Index(j), string(m), httpMethods)...)
		}
		for j, pa := range h.Paths {
			if !pathRE.MatchString(pa) {
				errs = append(errs, field.Invalid(hp.Child("paths").Index(j), pa, "must be an exact path, or a prefix ending in '*', e.g. /items/*"))
			}
		}
	}
	return errs
}

func validateSchedule(s *ztv1.Schedule, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.TimeZone != "" && !timeZoneRE.MatchString(s.TimeZone) {
		errs = append(errs, field.Invalid(path.Child("timeZone"), s.TimeZone, "must be an IANA time zone name, e.g. Europe/Berlin"))
	}
	wp := path.Child("windows")
	if len(s.Windows) == 0 {
		errs = append(errs, field.Required(wp, "list at least one window"))
	} else if len(s.Windows) > 16 {
		errs = append(errs, field.TooMany(wp, len(s.Windows), 16))
	}
	for i, w := range s.Windows {
		for j, d := range w.Days {
			errs = append(errs, enum(wp.Index(i).Child("days").Index(j), string(d), dayNames)...)
		}
		if !startRE.MatchString(w.Start) {
			errs = append(errs, field.Invalid(wp.Index(i).Child("start"), w.Start, "must be HH:MM (24-hour clock)"))
		}
		if !endRE.MatchString(w.End) {
			errs = append(errs, field.Invalid(wp.Index(i).Child("end"), w.End, "must be HH:MM (24-hour clock) or 24:00"))
		}
		if w.Start == w.End {
			errs = append(errs, field.Invalid(wp.Index(i).Child("end"), w.End, "start and end must differ"))
		}
	}
	return errs
}

// ValidateBaseline checks a ZeroTrustBaseline against the rules of its CRD schema, for the
// same reason as Validate.
func ValidateBaseline(b *ztv1.ZeroTrustBaseline) field.ErrorList {
	var errs field.ErrorList
	if b.Name == "" {
		errs = append(errs, field.Required(field.NewPath("metadata", "name"), ""))
	} else if len(b.Name) > 63 {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), b.Name, nameTooLong))
	}
	sp := field.NewPath("spec")
	if b.Spec.NamespaceSelector == nil {
		// Missing is not "select everything": the API server requires the field, and a
		// baseline that silently selected kube-system would be an outage.
		errs = append(errs, field.Required(sp.Child("namespaceSelector"), "select the namespaces the baseline applies to"))
	} else {
		errs = append(errs, validateSelector(b.Spec.NamespaceSelector, sp.Child("namespaceSelector"))...)
	}
	if n := b.Spec.Network; n != nil {
		for i, d := range n.DefaultDeny {
			errs = append(errs, enum(sp.Child("network", "defaultDeny").Index(i), string(d), directions)...)
		}
		errs = append(errs, validateDNS(n, sp.Child("network"))...)
	}
	if m := b.Spec.Mesh; m != nil && m.MTLS != "" {
		errs = append(errs, enum(sp.Child("mesh", "mtls"), string(m.MTLS), mtlsModes)...)
	}
	if b.Spec.PodSecurity != "" {
		errs = append(errs, enum(sp.Child("podSecurity"), string(b.Spec.PodSecurity), psaLevels)...)
	}
	if r := b.Spec.RBAC; r != nil {
		errs = append(errs, validateRBACAllow(r.Allow, sp.Child("rbac", "allow"))...)
	}
	return errs
}

// validateDNS mirrors the schema of spec.network.dns: only with allowDNS, a namespace name,
// a selector with known operators, and at most 8 distinct IP addresses as CEL's isIP
// accepts them (no zone, no IPv4-mapped IPv6, no leading zeros).
func validateDNS(n *ztv1.BaselineNetwork, path *field.Path) field.ErrorList {
	d := n.DNS
	if d == nil {
		return nil
	}
	var errs field.ErrorList
	if !n.AllowDNS {
		errs = append(errs, field.Required(path.Child("allowDNS"), "dns sets where allowDNS lets pods send name lookups: set allowDNS: true as well"))
	}
	dp := path.Child("dns")
	if d.Namespace != "" && (len(d.Namespace) > 63 || !namespaceNameRE.MatchString(d.Namespace)) {
		errs = append(errs, field.Invalid(dp.Child("namespace"), d.Namespace, "must be a namespace name (lowercase letters, digits and '-', at most 63)"))
	}
	if d.PodSelector != nil {
		// Stricter than the schema, which checks the operators only: the API server would
		// refuse the DNS NetworkPolicy of a selector with an invalid label.
		errs = append(errs, validateSelector(d.PodSelector, dp.Child("podSelector"))...)
	}
	ap := dp.Child("nodeLocalAddresses")
	if len(d.NodeLocalAddresses) > 8 {
		errs = append(errs, field.TooMany(ap, len(d.NodeLocalAddresses), 8))
	}
	seen := map[string]bool{}
	for i, a := range d.NodeLocalAddresses {
		if seen[a] {
			errs = append(errs, field.Duplicate(ap.Index(i), a))
		}
		seen[a] = true
		if ip, err := netip.ParseAddr(a); err != nil || ip.Zone() != "" || ip.Is4In6() {
			errs = append(errs, field.Invalid(ap.Index(i), a, "must be an IP address, e.g. 169.254.20.10"))
		}
	}
	return errs
}

// validateRBACAllow mirrors the schema of spec.rbac.allow: at most 32 entries, one per
// apiGroup and resource, each with a resource and 1 to 16 distinct non-empty verbs.
func validateRBACAllow(allow []ztv1.RBACException, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(allow) > 32 {
		errs = append(errs, field.TooMany(path, len(allow), 32))
	}
	seen := map[[2]string]bool{}
	for i, e := range allow {
		ep := path.Index(i)
		if k := [2]string{e.APIGroup, e.Resource}; seen[k] {
			errs = append(errs, field.Duplicate(ep, fmt.Sprintf("apiGroup %q resource %q", e.APIGroup, e.Resource)))
		} else {
			seen[k] = true
		}
		if e.Resource == "" {
			errs = append(errs, field.Required(ep.Child("resource"), "name the resource, e.g. pods/exec"))
		}
		errs = append(errs, sizeOf(ep.Child("verbs"), e.Verbs == nil, len(e.Verbs), 1, 16, "list the verbs allowed; empty does not mean every verb")...)
		verbs := map[string]bool{}
		for j, v := range e.Verbs {
			switch {
			case v == "":
				errs = append(errs, field.Required(ep.Child("verbs").Index(j), ""))
			case verbs[v]:
				errs = append(errs, field.Duplicate(ep.Child("verbs").Index(j), v))
			}
			verbs[v] = true
		}
	}
	return errs
}

// FormatFieldErrors writes validation errors for people: one "field: what is wrong" per
// error, without the empty "Invalid value" noise of field.ErrorList's default form.
func FormatFieldErrors(errs field.ErrorList) []string {
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		body := e.ErrorBody()
		if e.Type == field.ErrorTypeInvalid && e.Detail != "" {
			body = e.Detail
			if s, ok := e.BadValue.(string); !ok || s != "" {
				body += fmt.Sprintf(" (got %v)", e.BadValue)
			}
		}
		out = append(out, e.Field+": "+body)
	}
	return out
}

// nameTooLong is the message of the CRDs' rule on metadata.name.
const nameTooLong = "must be at most 63 characters: it is a label value on every generated object"

// sizeOf checks the size of a list as the schema's minItems and maxItems do, with the same
// kinds of error: a missing required list is Required, an empty one Invalid, a long one
// TooMany.
func sizeOf(path *field.Path, missing bool, n, lowest, highest int, detail string) field.ErrorList {
	switch {
	case missing && lowest > 0:
		return field.ErrorList{field.Required(path, detail)}
	case n < lowest:
		return field.ErrorList{field.Invalid(path, n, detail)}
	case n > highest:
		return field.ErrorList{field.TooMany(path, n, highest)}
	}
	return nil
}

func serviceName(path *field.Path, name string) field.ErrorList {
	if len(name) > 63 || !serviceNameRE.MatchString(name) {
		return field.ErrorList{field.Invalid(path, name, "must be a Service name (lowercase letters, digits and '-', starting with a letter, at most 63)")}
	}
	return nil
}

func validateWorkloadRef(w *ztv1.WorkloadReference, path *field.Path) field.ErrorList {
	errs := enum(path.Child("kind"), string(w.Kind), workloadKinds)
	if w.Name == "" {
		errs = append(errs, field.Required(path.Child("name"), ""))
	}
	return errs
}

func validateSelector(s *metav1.LabelSelector, path *field.Path) field.ErrorList {
	if _, err := metav1.LabelSelectorAsSelector(s); err != nil {
		return field.ErrorList{field.Invalid(path, "", err.Error())}
	}
	return nil
}

// validateCIDR accepts what the CRD's CEL accepts: an IPv4 or IPv6 CIDR with no host bits.
func validateCIDR(path *field.Path, s string) field.ErrorList {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return field.ErrorList{field.Invalid(path, s, "must be a CIDR, e.g. 203.0.113.0/24")}
	}
	if p.Masked() != p {
		return field.ErrorList{field.Invalid(path, s, fmt.Sprintf("must have no host bits set: did you mean %s?", p.Masked()))}
	}
	return nil
}

func enum(path *field.Path, v string, allowed []string) field.ErrorList {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return field.ErrorList{field.NotSupported(path, v, allowed)}
}
