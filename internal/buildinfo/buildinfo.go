package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at link time (-ldflags -X); empty means "read the build".
var version string

// ModulePath is Murmur's module path.
const ModulePath = "github.com/murmurhq/murmur"

// Info describes one build.
type Info struct {
	// Version is "1.2.3", a module (pseudo-)version, or "dev".
	Version string
	// Commit is the VCS revision, shortened to 12 hex digits and suffixed
	// "-dirty" when the tree was modified, or "unknown".
	Commit string
	// Go is the Go version the binary was built with, e.g. "go1.26.8".
	Go string
}

// Read returns the running binary's build information.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return fromBuild(bi, version)
}

// String is the one line both commands print after their name:
// "1.2.3 (commit 0123456789ab, go1.26.8)".
func (i Info) String() string {
	return fmt.Sprintf("%s (commit %s, %s)", i.Version, i.Commit, i.Go)
}

// fromBuild derives Info from build information (nil when the binary has
// none) and the link-time version override.
func fromBuild(bi *debug.BuildInfo, override string) Info {
	info := Info{Version: "dev", Commit: "unknown", Go: runtime.Version()}
	if bi == nil {
		if override != "" {
			info.Version = override
		}
		return info
	}
	if bi.GoVersion != "" {
		info.Go = bi.GoVersion
	}
	mod := &bi.Main
	if mod.Path != ModulePath {
		// Murmur embedded in another program: use the dependency's version.
		mod = nil
		for _, d := range bi.Deps {
			if d.Path == ModulePath {
				mod = d
				if d.Replace != nil {
					mod = d.Replace
				}
				break
			}
		}
	}
	if mod != nil && mod.Version != "" && mod.Version != "(devel)" {
		info.Version = mod.Version
	}
	if override != "" {
		info.Version = override
	}
	var rev string
	var dirty bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if dirty {
			rev += "-dirty"
		}
		info.Commit = rev
	}
	return info
}
