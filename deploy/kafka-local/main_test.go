package main

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		give []string
	}{
		{"no command", nil},
		{"flag first", []string{"-port", "1"}},
		{"unknown command", []string{"restart"}},
		{"unknown flag", []string{"up", "-bogus"}},
		{"clean is for down only", []string{"up", "-clean"}},
		{"extra argument", []string{"status", "now"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := run(t.Context(), tt.give, io.Discard, quiet()); !errors.Is(err, errUsage) {
				t.Errorf("run(%q) = %v, want a usage error", tt.give, err)
			}
		})
	}
}

func TestStatusWithoutBroker(t *testing.T) {
	var out bytes.Buffer
	err := run(t.Context(), []string{"status", "-data", t.TempDir()}, &out, quiet())
	if !errors.Is(err, errStopped) || out.String() != "stopped\n" {
		t.Errorf("status = %v, %q; want errStopped and \"stopped\"", err, out.String())
	}
}

// A pid file left behind may name a PID that now belongs to something else:
// down removes the file and signals nothing.
func TestDownLeavesOtherProcessesAlone(t *testing.T) {
	other := exec.Command("sleep", "30")
	if err := other.Start(); err != nil {
		t.Skipf("no sleep to stand in for another process: %v", err)
	}
	t.Cleanup(func() {
		_ = other.Process.Kill()
		_ = other.Wait()
	})
	data := t.TempDir()
	pidFile := filepath.Join(data, pidFileName)
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(other.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	if err := run(t.Context(), []string{"down", "-data", data}, io.Discard, quiet()); err != nil {
		t.Fatalf("down: %v", err)
	}
	if err := other.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("down signalled a process that is not a broker: %v", err)
	}
	if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale pid file: %v, want it removed", err)
	}
	if _, err := os.Stat(data); err != nil {
		t.Errorf("data dir without -clean: %v, want it kept", err)
	}

	if err := run(t.Context(), []string{"down", "-data", data, "-clean"}, io.Discard, quiet()); err != nil {
		t.Fatalf("down -clean: %v", err)
	}
	if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data dir after down -clean: %v, want it removed", err)
	}
}

func TestReadPID(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		give    string
		want    int
		wantErr bool
	}{
		{"123\n", 123, false},
		{" 42 ", 42, false},
		{"", 0, true},
		{"0", 0, true},
		{"-5", 0, true},
		{"java", 0, true},
	}
	for i, tt := range tests {
		path := filepath.Join(dir, strconv.Itoa(i))
		if err := os.WriteFile(path, []byte(tt.give), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := readPID(path)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("readPID(%q) = %d, %v; want %d, error %v", tt.give, got, err, tt.want, tt.wantErr)
		}
	}
}
