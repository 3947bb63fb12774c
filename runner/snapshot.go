package main

import (
	"io/fs"
	"path/filepath"
	"sort"
)

// fileStat is what a workdir snapshot keeps of a regular file: enough to tell it changed.
type fileStat struct {
	size  int64
	mtime int64 // UnixNano
}

type fileChange struct {
	Path   string  `json:"path"`
	Size   int64   `json:"size"`
	Mtime  float64 `json:"mtime"`
	Change string  `json:"change"` // "created" or "modified"
}

// snapshot lists the regular files under dir, recursively, by "/"-separated relative path. Symlinks
// are not followed.
func snapshot(dir string) map[string]fileStat {
	out := map[string]fileStat{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return nil
		}
		out[filepath.ToSlash(rel)] = fileStat{size: info.Size(), mtime: info.ModTime().UnixNano()}
		return nil
	})
	return out
}

// diffSnapshots lists files created or modified (size or mtime changed) and files deleted, sorted.
func diffSnapshots(before, after map[string]fileStat) ([]fileChange, []string) {
	files, deleted := []fileChange{}, []string{}
	for p, a := range after {
		b, existed := before[p]
		change := "created"
		if existed {
			if a == b {
				continue
			}
			change = "modified"
		}
		files = append(files, fileChange{Path: p, Size: a.size, Mtime: float64(a.mtime) / 1e9, Change: change})
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			deleted = append(deleted, p)
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	sort.Strings(deleted)
	return files, deleted
}
