package main

import (
	"io"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// seedGoCache copies the seed build cache (scripts/install.d/runner-go-cache.sh builds it) into the
// scratch GOCACHE, so no run rebuilds the standard library. A copy, not hard links: sandboxed code
// writes to its GOCACHE and must not be able to poison the shared seed. The copy goes through os.Root
// because earlier runs may have planted symlinks in the cache dir.
func (s *Server) seedGoCache() {
	defer s.goCacheSeeded.Store(true)
	start := time.Now()
	// An earlier run of the sandbox may have replaced the folder (it is the children's), with a named
	// pipe say: made anew. No user code runs while the seed is copied.
	dst, err := s.openScratchDir(dirGoCache)
	if err != nil {
		if err = s.freshDir(dirGoCache); err == nil {
			dst, err = s.openScratchDir(dirGoCache)
		}
	}
	if err != nil {
		log.Printf("runner: go cache: %v", err)
		return
	}
	defer dst.Close()
	seed := s.cfg.GoCacheSeed
	if _, err := os.Stat(seed); err != nil {
		log.Printf("runner: no go cache seed at %s; go builds will compile the standard library", seed)
		return
	}
	n := 0
	err = filepath.WalkDir(seed, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(seed, p)
		switch {
		case rel == ".":
			return nil
		case d.IsDir():
			if err := dst.Mkdir(rel, 0o755); err != nil && !os.IsExist(err) {
				return err
			}
		case d.Type().IsRegular():
			if err := copyInto(dst, rel, p); err != nil {
				return err
			}
			n++
		default:
			return nil
		}
		if s.cfg.ChildUID >= 0 && s.cfg.ChildUID != os.Geteuid() {
			return dst.Lchown(rel, s.cfg.ChildUID, s.cfg.ChildGID)
		}
		return nil
	})
	if err != nil {
		log.Printf("runner: go cache: %v", err)
		return
	}
	log.Printf("runner: go cache: copied %d files from %s in %v", n, seed, time.Since(start).Round(time.Millisecond))
}

func copyInto(dst *os.Root, name, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := dst.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NONBLOCK, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
