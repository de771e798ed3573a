#pragma once
// The host half of `banger vm workspace prepare`: what of a git repository
// goes to the guest's /root/repo, read without changing anything in the
// repository (no index refresh, no new objects: git runs with
// GIT_OPTIONAL_LOCKS=0 and packs into a scratch directory).
//
// What lands in the guest, in both modes: the worktree's tracked files as
// they are on disk (modified or not; deleted ones stay deleted), untracked
// files only with include_untracked (never ignored ones), symlinks as
// symlinks, and a .git with the host's HEAD, index and config, so that
// `git status` in the guest shows what it shows on the host.
//   overlay   (default) .git holds only what HEAD and the index need: one
//             pack of HEAD's tree and the index's blobs, HEAD's commit marked
//             shallow. Cheap whatever the history; submodules stay empty.
//   full_copy .git is a copy of the host's (all history, branches, stashes,
//             and submodules' git dirs), and submodules' files come along.
//
// Everything here blocks (runs git, reads files): CLI side only.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "messages/wire.hpp"

namespace banger::workspace {

enum class mode { overlay, full_copy };

/// "overlay" / "full_copy"; anything else is ec::invalid_argument.
caf::expected<mode> parse_mode(const std::string& text);
const char* to_string(mode m);

struct options {
  std::string path = ".";
  mode m = mode::overlay;
  bool include_untracked = false;
};

enum class entry_kind { file, dir, symlink };

/// One thing in the stream.
struct entry {
  std::string path; // relative to the workspace root ("src/a.c", ".git/HEAD")
  entry_kind kind = entry_kind::file;
  std::string source; // host file to stream (file); "" when `data` holds it
  std::string data;   // the content of a generated file, a symlink's target
  std::uint64_t size = 0;
  std::uint32_t perm = 0644;
};

struct repo_info {
  std::string top;        // the worktree's root
  std::string git_dir;    // its git dir (per worktree)
  std::string common_dir; // objects, refs, config
  std::string head;       // HEAD's commit, "" in a repo without commits
  std::string head_ref;   // "refs/heads/main", "" when detached
};

/// A directory removed with everything in it when the last owner goes.
class scratch_dir {
public:
  static caf::expected<std::shared_ptr<scratch_dir>> make();
  ~scratch_dir();
  const std::string& path() const { return path_; }

private:
  explicit scratch_dir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

struct plan {
  repo_info repo;
  options opts;
  std::vector<entry> files; // the worktree part
  std::vector<entry> git;   // the .git part
  std::uint64_t file_bytes = 0;
  std::uint64_t git_bytes = 0;
  std::string fingerprint;              // of the host tree, see fingerprint()
  std::shared_ptr<scratch_dir> scratch; // holds the overlay pack
};

// Pure parts, unit-tested.

/// Splits `git ... -z` output at NULs (no empty last element).
std::vector<std::string> split_nul(std::string_view text);
/// The paths `git status --porcelain=v1 -z` names (a rename's old path too).
std::vector<std::string> status_paths(std::string_view porcelain);
/// Tracked plus (if any) untracked paths, sorted bytewise, without
/// duplicates and without anything unsafe (absolute, "..", ".git/...").
std::vector<std::string>
select_paths(std::vector<std::string> tracked,
             const std::vector<std::string>& untracked);
/// True for a relative path without ".." or empty components.
bool safe_relative_path(const std::string& path);
/// Blob ids of `git ls-files -s -z` output, gitlinks (commits) left out.
std::vector<std::string> index_blobs(std::string_view ls_files_stage);
/// Paths of gitlinks (submodules) in `git ls-files -s -z` output.
std::vector<std::string> index_gitlinks(std::string_view ls_files_stage);

// Reading the repository.

/// The repository PATH is in. Errors name PATH and say what to do: not a
/// directory, not in a git repository, a bare repository, git missing.
caf::expected<repo_info> inspect(const std::string& path);

/// What prepare would send. Nothing in the repository changes.
caf::expected<plan> make_plan(const options& opts);

/// A hash of the host tree's state: HEAD, `git status` and the content of
/// every file it names (untracked ones only with include_untracked).
/// Equal fingerprints: the guest's copy is still what the host has.
caf::expected<std::string> fingerprint(const repo_info& repo,
                                       bool include_untracked);

/// What the guest keeps in /root/repo/.git/banger-workspace.json.
struct state {
  std::string path; // the host repo's root
  std::string mode;
  bool include_untracked = false;
  std::string head;
  std::string head_ref;
  std::string fingerprint;
  std::string prepared_at;
};
wire::json to_json(const state& s);
/// Throws wire::decode_error on a malformed state.
state state_from_json(const wire::json& j);
state state_of(const plan& p, std::string prepared_at);

} // namespace banger::workspace
