package compiler

import (
	"strings"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

// HTTPAllows reports whether a request with method and path is allowed by rules, with the
// meaning the API gives them: no rules allow everything; a rule allows a request that
// matches one of its methods (any when empty) and one of its paths (any when empty); a path
// ending in '*' is a prefix. Backends that enforce L7 translate rules to their own form;
// this is the reference they must agree with, and what kubectl-zt check applies.
func HTTPAllows(rules []ztv1.HTTPRule, method, path string) bool {
	if len(rules) == 0 {
		return true
	}
	for _, r := range rules {
		if matchMethod(r.Methods, method) && matchPath(r.Paths, path) {
			return true
		}
	}
	return false
}

func matchMethod(methods []ztv1.HTTPMethod, m string) bool {
	if len(methods) == 0 {
		return true
	}
	for _, x := range methods {
		if strings.EqualFold(string(x), m) {
			return true
		}
	}
	return false
}

func matchPath(paths []string, p string) bool {
	if len(paths) == 0 {
		return true
	}
	for _, x := range paths {
		if prefix, ok := strings.CutSuffix(x, "*"); ok {
			if strings.HasPrefix(p, prefix) {
				return true
			}
		} else if x == p {
			return true
		}
	}
	return false
}
