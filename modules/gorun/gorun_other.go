//go:build !linux

package gorun

// FollowParent does nothing outside Linux.
func FollowParent() {}
