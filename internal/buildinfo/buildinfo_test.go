package buildinfo

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestFromBuild(t *testing.T) {
	vcs := []debug.BuildSetting{{Key: "vcs.revision", Value: "96d0ffadac40b8636419b0ee3fd2247ce413b954"}, {Key: "vcs.modified", Value: "true"}}
	tests := []struct {
		name     string
		bi       *debug.BuildInfo
		override string
		want     Info
	}{
		{"no build info", nil, "", Info{"dev", "unknown", runtime.Version()}},
		{"no build info, linked version", nil, "1.2.3", Info{"1.2.3", "unknown", runtime.Version()}},
		{"devel checkout with vcs", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: ModulePath, Version: "(devel)"}, Settings: vcs},
			"", Info{"dev", "96d0ffadac40-dirty", "go1.26.8"}},
		{"go install @version", &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Path: ModulePath, Version: "v1.4.0"}},
			"", Info{"v1.4.0", "unknown", "go1.26.1"}},
		{"linked version wins", &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Path: ModulePath, Version: "v1.4.0"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "false"}}},
			"1.4.0-rc1", Info{"1.4.0-rc1", "abc", "go1.26.1"}},
		{"embedded as a dependency", &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Path: "example.com/app", Version: "v9.9.9"},
			Deps: []*debug.Module{{Path: "other/mod", Version: "v1.0.0"}, {Path: ModulePath, Version: "v1.3.2"}}},
			"", Info{"v1.3.2", "unknown", "go1.26.1"}},
		{"replaced dependency", &debug.BuildInfo{Main: debug.Module{Path: "example.com/app"},
			Deps: []*debug.Module{{Path: ModulePath, Version: "v1.3.2", Replace: &debug.Module{Path: "../murmur", Version: ""}}}},
			"", Info{"dev", "unknown", runtime.Version()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fromBuild(tt.bi, tt.override); got != tt.want {
				t.Errorf("fromBuild = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	got := Info{"1.2.3", "0123456789ab", "go1.26.8"}.String()
	if want := "1.2.3 (commit 0123456789ab, go1.26.8)"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}
