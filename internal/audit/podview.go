package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Pods are the largest thing the audit reads, and it needs only their names and security
// contexts: their security view, name and namespace and the security contexts of the pod
// and of each container (init, ephemeral), which the Pods kept for the whole audit hold. Decoded whole, a 5-10 KB Pod costs some 75 KB of allocation
// (its managed fields alone a third of it); the audit of 50000 Pods was most of what the
// operator allocated at start-up. So Pods are listed as protobuf and read by walking the
// wire format (protowire) down to those few fields; only the security contexts themselves
// are decoded, by their generated code. Every other field is skipped unread.

// Protobuf field numbers, from k8s.io/api/core/v1/generated.proto and
// k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto (stable: protobuf field numbers are
// never reused).
const (
	unknownRaw = 2 // runtime.Unknown.raw: the encoded object

	listMetadata = 1 // PodList.metadata (ListMeta)
	listItems    = 2 // PodList.items
	listContinue = 3 // ListMeta.continue

	podMetadata = 1 // Pod.metadata (ObjectMeta)
	podSpec     = 2 // Pod.spec
	metaName    = 1 // ObjectMeta.name
	metaNS      = 3 // ObjectMeta.namespace

	specContainers          = 2  // PodSpec.containers
	specSecurityContext     = 14 // PodSpec.securityContext (PodSecurityContext)
	specInitContainers      = 20 // PodSpec.initContainers
	specEphemeralContainers = 34 // PodSpec.ephemeralContainers

	containerName            = 1  // Container.name, EphemeralContainerCommon.name
	containerSecurityContext = 15 // Container.securityContext, EphemeralContainerCommon.securityContext
	ephemeralCommon          = 1  // EphemeralContainer.ephemeralContainerCommon
)

// protobufMagic starts every protobuf-encoded response of the API server.
var protobufMagic = []byte{0x6b, 0x38, 0x73, 0x00}

// PodSource lists Pods for the audit through a core/v1 REST client (for example
// kubernetes.Interface's CoreV1().RESTClient()), as protobuf, decoding only their security
// view.
type PodSource struct {
	Client rest.Interface
}

// page lists one page of the namespace's Pods: their security views and the continue token.
// The response is read into buf, which is reused from page to page (the views copy what
// they keep).
func (s PodSource) page(ctx context.Context, buf *bytes.Buffer, namespace, cont string, limit int64) ([]corev1.Pod, string, error) {
	req := s.Client.Get().Namespace(namespace).Resource("pods").
		Param("limit", strconv.FormatInt(limit, 10)).
		SetHeader("Accept", "application/vnd.kubernetes.protobuf")
	if cont != "" {
		req = req.Param("continue", cont)
	}
	body, err := req.Stream(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("listing pods in %s: %w", namespace, err)
	}
	defer func() { _ = body.Close() }()
	buf.Reset()
	if _, err := buf.ReadFrom(body); err != nil {
		return nil, "", fmt.Errorf("listing pods in %s: %w", namespace, err)
	}
	pods, next, err := decodePodSecurityList(buf.Bytes())
	if err != nil {
		return nil, "", fmt.Errorf("listing pods in %s: %w", namespace, err)
	}
	return pods, next, nil
}

// decodePodSecurityList reads a protobuf-encoded PodList (as the API server sends it) into
// the security view of each Pod, and the list's continue token.
func decodePodSecurityList(data []byte) ([]corev1.Pod, string, error) {
	if !bytes.HasPrefix(data, protobufMagic) {
		return nil, "", errors.New("the response is not protobuf")
	}
	raw, err := field(data[len(protobufMagic):], unknownRaw)
	if err != nil {
		return nil, "", err
	}
	var pods []corev1.Pod
	var cont string
	err = eachField(raw, func(num protowire.Number, v []byte) error {
		switch num {
		case listMetadata:
			c, err := field(v, listContinue)
			cont = string(c)
			return err
		case listItems:
			p, err := decodePodSecurity(v)
			pods = append(pods, p)
			return err
		}
		return nil
	})
	return pods, cont, err
}

// decodePodSecurity reads one protobuf-encoded Pod into its security view.
func decodePodSecurity(data []byte) (corev1.Pod, error) {
	var p corev1.Pod
	err := eachField(data, func(num protowire.Number, v []byte) error {
		switch num {
		case podMetadata:
			return eachField(v, func(num protowire.Number, v []byte) error {
				switch num {
				case metaName:
					p.Name = string(v)
				case metaNS:
					p.Namespace = string(v)
				}
				return nil
			})
		case podSpec:
			return decodeSpecSecurity(v, &p.Spec)
		}
		return nil
	})
	return p, err
}

func decodeSpecSecurity(data []byte, spec *corev1.PodSpec) error {
	return eachField(data, func(num protowire.Number, v []byte) error {
		switch num {
		case specSecurityContext:
			spec.SecurityContext = &corev1.PodSecurityContext{}
			return spec.SecurityContext.Unmarshal(v)
		case specContainers, specInitContainers:
			c, err := decodeContainerSecurity(v)
			if num == specContainers {
				spec.Containers = append(spec.Containers, c)
			} else {
				spec.InitContainers = append(spec.InitContainers, c)
			}
			return err
		case specEphemeralContainers:
			common, err := field(v, ephemeralCommon)
			if err != nil {
				return err
			}
			c, err := decodeContainerSecurity(common)
			spec.EphemeralContainers = append(spec.EphemeralContainers, corev1.EphemeralContainer{
				EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: c.Name, SecurityContext: c.SecurityContext}})
			return err
		}
		return nil
	})
}

// decodeContainerSecurity reads a Container (or EphemeralContainerCommon, which numbers
// the two fields alike) into its name and security context.
func decodeContainerSecurity(data []byte) (corev1.Container, error) {
	var c corev1.Container
	err := eachField(data, func(num protowire.Number, v []byte) error {
		switch num {
		case containerName:
			c.Name = string(v)
		case containerSecurityContext:
			c.SecurityContext = &corev1.SecurityContext{}
			return c.SecurityContext.Unmarshal(v)
		}
		return nil
	})
	return c, err
}

// field returns the bytes of the last occurrence of field num (a message or string) in
// data, nil if it is absent.
func field(data []byte, num protowire.Number) ([]byte, error) {
	var out []byte
	err := eachField(data, func(n protowire.Number, v []byte) error {
		if n == num {
			out = v
		}
		return nil
	})
	return out, err
}

// eachField calls fn with the number and bytes of every length-delimited field (message,
// string, bytes) of the encoded message data, the only kind the audit reads; the others are
// skipped.
func eachField(data []byte, fn func(protowire.Number, []byte) error) error {
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return fmt.Errorf("decoding protobuf: %w", protowire.ParseError(n))
		}
		data = data[n:]
		var v []byte
		if typ == protowire.BytesType {
			v, n = protowire.ConsumeBytes(data)
		} else {
			n = protowire.ConsumeFieldValue(num, typ, data)
		}
		if n < 0 {
			return fmt.Errorf("decoding protobuf field %d: %w", num, protowire.ParseError(n))
		}
		data = data[n:]
		if typ != protowire.BytesType {
			continue
		}
		if err := fn(num, v); err != nil {
			return err
		}
	}
	return nil
}

// NewPodSource is a PodSource over cfg.
func NewPodSource(cfg *rest.Config) (*PodSource, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &PodSource{Client: cs.CoreV1().RESTClient()}, nil
}
