package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// A taken port stops dev before it starts anything, in one line that names
// the port and the flag that moves it.
func TestTakenPortNamesTheFlag(t *testing.T) {
	for _, flag := range []string{"-http-port", "-broker-port", "-pg-port"} {
		t.Run(flag, func(t *testing.T) {
			taken, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer taken.Close()
			port := strconv.Itoa(taken.Addr().(*net.TCPAddr).Port)
			args := []string{"-data", t.TempDir(), "-http-port", strconv.Itoa(freePort(t)),
				"-broker-port", strconv.Itoa(freePort(t)), "-pg-port", strconv.Itoa(freePort(t)), flag, port}
			// Cancelled: should the check pass, nothing gets far.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			err = run(ctx, args, io.Discard, io.Discard)
			var usage usageError
			if !errors.As(err, &usage) {
				t.Fatalf("run = %v, want the one-line message about port %s", err, port)
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, port) || !strings.Contains(msg, flag+" ") {
				t.Errorf("message %q: want one line naming port %s and %s", msg, port, flag)
			}
		})
	}
}

// Ctrl-C is how dev ends: it stops what it started and exits 0.
func TestInterruptExitsZero(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "dev")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	port := strconv.Itoa(freePort(t))
	cmd := exec.Command(bin, "-only", "broker", "-broker-port", port, "-data", t.TempDir())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.Contains(line, ":"+port) {
		t.Fatalf("first line %q (%v), want the broker's address", line, err)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after SIGINT: %v, want exit 0", err)
	}
}

// go tool task run:db next to run:consumer: -only db writes the DSN of its
// database where run:consumer finds it (.data/run-db.dsn), and removes it
// when it stops, so that run:consumer does not point at a database gone.
func TestOnlyDBWritesTheDSNForRunConsumer(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "dev")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data := t.TempDir()
	// PostgreSQL runs as its own account when we are root: let it in.
	for _, dir := range []string{filepath.Dir(data), data} {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "-only", "db", "-pg-port", strconv.Itoa(freePort(t)), "-data", data)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = cmd.Wait()
		if strings.Contains(stderr.String(), "server binaries not found") {
			t.Skip("no PostgreSQL server binaries")
		}
		t.Fatalf("no DSN on stdout (%v):\n%s", err, stderr.String())
	}
	file := filepath.Join(data, dsnFile)
	got, err := os.ReadFile(file)
	if err != nil || string(got) != line || !strings.HasPrefix(line, "postgres://") {
		t.Fatalf("%s holds %q (%v), want the DSN printed, %q", file, got, err, line)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v (%v), want 0600: it holds a password", file, fi.Mode().Perm(), err)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after SIGINT: %v, want exit 0\n%s", err, stderr.String())
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s is still there after dev stopped (%v)", file, err)
	}
}
