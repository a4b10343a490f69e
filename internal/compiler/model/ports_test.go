package model

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

func TestPortRules(t *testing.T) {
	get := ztv1.HTTPRule{Methods: []ztv1.HTTPMethod{"GET", "GET"}, Paths: []string{"/b", "/a"}}
	post := ztv1.HTTPRule{Methods: []ztv1.HTTPMethod{"POST"}, Paths: []string{"/o"}}
	tests := map[string]struct {
		policy Policy
		want   []PortRule
	}{
		"every port": {Policy{AllPorts: true}, nil},
		"sorted, numbers first, then names, then protocol": {
			Policy{Ports: []Port{
				{Port: intstr.FromString("web"), Protocol: "TCP"},
				{Port: intstr.FromInt32(53), Number: 53, Protocol: "UDP"},
				{Port: intstr.FromInt32(53), Number: 53, Protocol: "TCP"},
			}},
			[]PortRule{
				{Port: intstr.FromInt32(53), Number: 53, Protocol: "TCP"},
				{Port: intstr.FromInt32(53), Number: 53, Protocol: "UDP"},
				{Port: intstr.FromString("web"), Protocol: "TCP"},
			},
		},
		"HTTP rules normalized and merged": {
			Policy{Ports: []Port{
				{Port: intstr.FromInt32(80), Number: 80, Protocol: "TCP", HTTP: []ztv1.HTTPRule{post, get}},
				{Port: intstr.FromInt32(80), Number: 80, Protocol: "TCP", HTTP: []ztv1.HTTPRule{get}},
			}},
			[]PortRule{{Port: intstr.FromInt32(80), Number: 80, Protocol: "TCP", HTTP: []ztv1.HTTPRule{
				{Methods: []ztv1.HTTPMethod{"GET"}, Paths: []string{"/a", "/b"}}, post}}},
		},
		"an entry without HTTP rules opens the port": {
			Policy{Ports: []Port{
				{Port: intstr.FromInt32(80), Number: 80, Protocol: "TCP", HTTP: []ztv1.HTTPRule{get}},
				{Port: intstr.FromInt32(80), Number: 80, Protocol: "TCP"},
			}},
			[]PortRule{{Port: intstr.FromInt32(80), Number: 80, Protocol: "TCP"}},
		},
		"a rule matching every request opens the port": {
			Policy{Ports: []Port{{Port: intstr.FromInt32(80), Number: 80, Protocol: "TCP", HTTP: []ztv1.HTTPRule{get, {}}}}},
			[]PortRule{{Port: intstr.FromInt32(80), Number: 80, Protocol: "TCP"}},
		},
		"a name and its number are one port, written by name": {
			Policy{Ports: []Port{
				{Port: intstr.FromInt32(8080), Number: 8080, Protocol: "TCP", HTTP: []ztv1.HTTPRule{post}},
				{Port: intstr.FromString("http"), Number: 8080, Protocol: "TCP", HTTP: []ztv1.HTTPRule{get}},
			}},
			[]PortRule{{Port: intstr.FromString("http"), Number: 8080, Protocol: "TCP", HTTP: []ztv1.HTTPRule{
				{Methods: []ztv1.HTTPMethod{"GET"}, Paths: []string{"/a", "/b"}}, post}}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := PortRules(&tc.policy); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
