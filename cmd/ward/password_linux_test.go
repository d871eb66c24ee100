//go:build linux

package main

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// openPTY opens a pseudo-terminal: the controller end (what a terminal
// emulator holds) and the terminal end (a program's standard input).
func openPTY(t *testing.T) (controller, tty *os.File) {
	t.Helper()
	controller, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { controller.Close() })
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, controller.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Skipf("unlock pseudo-terminal: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, controller.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Skipf("pseudo-terminal number: %v", e)
	}
	tty, err = os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("open pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { tty.Close() })
	return controller, tty
}

func echoOn(t *testing.T, tty *os.File) bool {
	var tio syscall.Termios
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, tty.Fd(), syscall.TCGETS, uintptr(unsafe.Pointer(&tio))); e != 0 {
		t.Fatalf("TCGETS: %v", e)
	}
	return tio.Lflag&syscall.ECHO != 0
}

// On a terminal, `admin user create` prompts and reads the password with
// echo off, so that it never shows on the screen; echo is back on after.
func TestAdminUserCreatePasswordIsNotEchoed(t *testing.T) {
	controller, tty := openPTY(t)
	if !echoOn(t, tty) {
		t.Skip("the pseudo-terminal starts without echo")
	}
	// What the terminal shows, read as it comes.
	var screen syncBuffer
	go func() {
		buf := make([]byte, 1024)
		for {
			n, err := controller.Read(buf)
			screen.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	env := sqliteEnv(t)
	env["WARD_SERVER_NAME"] = "clinic.example"
	migrated(t, env)
	iv := &invocation{args: []string{"admin", "user", "create", "--user", "terry"}, env: env}
	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), iv.args, iv.environ(), tty, &iv.stdout, &iv.stderr)
	}()
	// Type only once echo is off: typing earlier would show on any
	// terminal. Without the fix echo never goes off.
	deadline := time.Now().Add(10 * time.Second)
	for echoOn(t, tty) {
		select {
		case err := <-done:
			t.Fatalf("ended before reading a password: %v\n%s", err, iv.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("echo never went off; stderr: %q", iv.stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := controller.Write([]byte("typed-secret-99\r")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("admin user create: %v\n%s", err, iv.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("admin user create did not finish")
	}
	if !strings.Contains(iv.stdout.String(), "@terry:clinic.example") {
		t.Fatalf("stdout: %q", iv.stdout.String())
	}
	if !strings.Contains(iv.stderr.String(), "Password") || strings.Contains(iv.stderr.String(), "shown as you type") {
		t.Errorf("prompt: %q", iv.stderr.String())
	}
	time.Sleep(50 * time.Millisecond)
	if strings.Contains(screen.String(), "typed-secret") {
		t.Errorf("the terminal showed the password: %q", screen.String())
	}
	if !echoOn(t, tty) {
		t.Error("echo was left off")
	}
}
