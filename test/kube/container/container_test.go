package container

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMain(m *testing.M) {
	MaybeInit()
	os.Exit(m.Run())
}

// rootfs is a root filesystem to run in: an unpacked image (KCR_IMAGE_ROOTFS/<name>/rootfs), else the
// host's own (read-only, so nothing is written to it).
func testRootfs(t *testing.T) string {
	if dir := os.Getenv("KCR_IMAGE_ROOTFS"); dir != "" {
		if m, _ := filepath.Glob(filepath.Join(dir, "*", "rootfs")); len(m) > 0 {
			return m[0]
		}
	}
	return "/"
}

func run(t *testing.T, spec Spec) (string, error) {
	t.Helper()
	cmd, st, err := Command(spec)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		st.Abort()
		t.Fatal(err)
	}
	if err := st.Release(); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	return out.String(), err
}

func TestContainer(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	// Not t.TempDir: a user namespace's root must be able to reach the dirs (0755 all the way).
	if _, _, err := Command(Spec{Rootfs: "/", Root: "/tmp", Layer: "/tmp/l", Args: []string{"sh"}, UserNS: &IDMap{HostID: 1 << 30, Size: 65536}}); err == nil {
		t.Error("a writable root in a user namespace must be refused")
	}
	dir, err := os.MkdirTemp("", "kcr-container-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	data := filepath.Join(dir, "data")
	os.Mkdir(data, 0o777)
	os.Chmod(data, 0o777)
	os.WriteFile(filepath.Join(data, "in.txt"), []byte("hello"), 0o644)
	root := filepath.Join(dir, "root")
	os.Mkdir(root, 0o755)
	for i, userns := range []*IDMap{nil, {HostID: 1 << 30, Size: 65536}, nil} {
		readOnly := i < 2
		out, err := run(t, Spec{
			Rootfs: testRootfs(t), Root: root, ReadOnlyRoot: readOnly, Layer: filepath.Join(dir, fmt.Sprintf("layer%d", i)),
			Args: []string{"sh", "-c", "id -u; cat /proc/self/uid_map; cat /mnt/data/in.txt; echo out > /mnt/data/out.txt; touch /var/tmp/kcr-x 2>/dev/null && echo root-writable; hostname; echo $$"},
			Env:  []string{"PATH=/usr/bin:/bin"}, Dir: "/mnt/data", UID: 65532, GID: 65532, Hostname: "sandbox",
			Mounts: []Mount{{Source: data, Target: "/mnt/data"}}, UserNS: userns, NoNewPrivs: true,
		})
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		t.Logf("userns %v: %q", userns, lines)
		// A read-only root stays so; a writable one is an overlay (the image is never written).
		if lines[0] != "65532" || !strings.Contains(out, "hello") || strings.Contains(out, "root-writable") == readOnly || !strings.Contains(out, "sandbox") || lines[len(lines)-1] != "1" {
			t.Errorf("unexpected: %q", out)
		}
		b, err := os.ReadFile(filepath.Join(data, "out.txt"))
		if err != nil || string(b) != "out\n" {
			t.Errorf("out.txt: %q %v", b, err)
		}
		fi, _ := os.Stat(filepath.Join(data, "out.txt"))
		t.Logf("out.txt owner on the host: %v", fi.Sys())
		os.Remove(filepath.Join(data, "out.txt"))
	}
}
