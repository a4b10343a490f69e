package certs

// The Secret holding the webhook CA, only in the operator's namespace (a Role, not the
// ClusterRole). create cannot be limited to a name; get and update are.
// +kubebuilder:rbac:groups="",namespace=zerotrust-system,resources=secrets,verbs=create
// +kubebuilder:rbac:groups="",namespace=zerotrust-system,resources=secrets,verbs=get;update,resourceNames=zerotrust-operator-webhook-cert

// The operator's own ValidatingWebhookConfiguration, whose caBundle it keeps current.
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingwebhookconfigurations,verbs=get;patch,resourceNames=zerotrust-operator
