// Package gorun makes a program started with `go run` stop when `go run` is
// stopped. `go run` passes SIGINT on to the program it runs but dies on
// SIGTERM without passing it on, which would leave the program running with
// nobody to stop it.
package gorun

import (
	"os"
	"path/filepath"
	"strconv"
)

// underGoRun reports whether the parent process is the go command.
func underGoRun() bool {
	exe, err := os.Readlink("/proc/" + strconv.Itoa(os.Getppid()) + "/exe")
	if err != nil {
		return false
	}
	return filepath.Base(exe) == "go"
}
