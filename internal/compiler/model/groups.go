package model

import (
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// PodGroup is a part of the target's pods with the ports to open on it, for backends that
// need port numbers where the policy names ports (Istio): a container port name may stand
// for different numbers on the pods of different workloads, and opening every number on
// every pod would open more than the policy says.
type PodGroup struct {
	// Selector selects the group's pods by labels only: the target's selector for the base
	// group, a workload's pod template labels for the others.
	Selector *metav1.LabelSelector
	// Workload names the group's workload ("Kind/name"); empty for the base group.
	Workload string
	// Rules are the ports to open on the group's pods, each with its number known.
	Rules []PortRule
}

// PodGroups splits the target for a backend that selects pods by labels only and matches
// ports by number. The first group, the base, selects every target pod with the target's
// own selector and opens the ports whose number is the same on all of them. A named port
// that the target's workloads declare with different numbers, or that some of them do not
// declare, is opened per workload: one more group per workload that declares it, with its
// own number. A policy that opens every port has the base group only.
//
// A target selector with matchExpressions cannot be written as labels: the base group is
// then absent and every workload is a group of its own, opening all the ports (every port
// when the policy opens every port). Pods of no workload are then not selected at all.
//
// denied names, one sentence each, what cannot be opened exactly: a named port no
// workload declares (the pods that may serve it are unknown), or a workload whose labels
// also select pods of another target workload with other numbers. What is denied stays
// closed: the base group still selects those pods.
func PodGroups(p *Policy) (groups []PodGroup, denied []string) {
	sel := p.Target.PodSelector
	rules := PortRules(p)
	labelsOnly := sel != nil && len(sel.MatchExpressions) == 0
	var base, perWorkload []PortRule
	for _, r := range rules {
		if labelsOnly && r.Number != 0 {
			base = append(base, r)
		} else {
			perWorkload = append(perWorkload, r)
		}
	}
	if labelsOnly {
		groups = append(groups, PodGroup{Selector: &metav1.LabelSelector{MatchLabels: copyLabels(sel.MatchLabels)}, Rules: base})
	}
	if len(perWorkload) == 0 && labelsOnly {
		return groups, nil
	}
	ws := p.Target.Workloads
	for i := range perWorkload {
		r := &perWorkload[i]
		if r.Port.Type != intstr.String {
			continue
		}
		declared := false
		for j := range ws {
			if ws[j].PortNumber(r.Port.StrVal, r.Protocol) != 0 {
				declared = true
				break
			}
		}
		if !declared {
			denied = append(denied, fmt.Sprintf("port %q: no Deployment, StatefulSet or DaemonSet of the target declares a container port of that name, so its number is unknown", r.Port.StrVal))
		}
	}
	for i := range ws {
		w := &ws[i]
		var own []PortRule
		for _, r := range perWorkload {
			if r.Port.Type == intstr.String {
				n := w.PortNumber(r.Port.StrVal, r.Protocol)
				if n == 0 {
					continue
				}
				r.Number = n
			}
			own = append(own, r)
		}
		if len(own) == 0 && (!p.AllPorts || labelsOnly) {
			continue
		}
		if other := overlapping(ws, i, own); other != "" {
			denied = append(denied, fmt.Sprintf("%s: its pod labels also select the pods of %s, which number the ports differently; give its pods a label of their own", w.Ref(), other))
			continue
		}
		groups = append(groups, PodGroup{Selector: &metav1.LabelSelector{MatchLabels: copyLabels(w.PodLabels)}, Workload: w.Ref(), Rules: own})
	}
	return groups, denied
}

// overlapping names another workload of ws whose pods the labels of ws[i] select and whose
// ports (own, as numbered for ws[i]) differ; "" when none.
func overlapping(ws []Workload, i int, own []PortRule) string {
	sel := labels.SelectorFromSet(ws[i].PodLabels)
	for j := range ws {
		if j == i || !sel.Matches(labels.Set(ws[j].PodLabels)) {
			continue
		}
		for _, r := range own {
			if r.Port.Type == intstr.String && ws[j].PortNumber(r.Port.StrVal, r.Protocol) != r.Number {
				return ws[j].Ref()
			}
		}
	}
	return ""
}

// WorkloadRefs are "Kind/name" of ws, sorted, joined for messages.
func WorkloadRefs(ws []Workload) string {
	out := make([]string, 0, len(ws))
	for i := range ws {
		out = append(out, ws[i].Ref())
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

func copyLabels(in map[string]string) map[string]string {
	if in == nil {
		return nil
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}
